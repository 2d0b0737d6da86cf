"""Latency histograms: accuracy and merging."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from state.histogram import RELATIVE_ACCURACY, LatencyHistogram, merged

latencies = st.lists(st.floats(min_value=0.05, max_value=60_000.0), min_size=1, max_size=300)


def _fill(values: list[float]) -> LatencyHistogram:
    h = LatencyHistogram()
    for v in values:
        h.add(v)
    return h


def _close(a: float | None, b: float | None) -> bool:
    assert a is not None and b is not None
    return abs(a - b) <= 2 * RELATIVE_ACCURACY * max(abs(a), abs(b)) + 1e-9


def test_quantiles_within_relative_accuracy_of_the_true_value() -> None:
    values = [float(i) for i in range(1, 1001)]
    h = _fill(values)
    for q, exact in ((0.5, 500.0), (0.95, 950.0), (0.99, 990.0)):
        got = h.quantile(q)
        assert got is not None
        assert abs(got - exact) <= RELATIVE_ACCURACY * exact + 1.0


def test_empty_histogram_has_no_quantiles() -> None:
    assert LatencyHistogram().quantile(0.5) is None
    assert merged([None, LatencyHistogram()]) is None


def test_zero_latency_is_counted() -> None:
    h = _fill([0.0, 0.0, 5.0])
    assert h.count == 3
    assert h.quantile(0.0) == 0.0


def test_memory_is_bounded_by_the_bin_limit() -> None:
    h = _fill([1.0001**i for i in range(0, 200_000, 7)] + [1e-6, 1e9])
    assert len(h._sketch._store.bins) <= 2048


@settings(max_examples=60, deadline=None)
@given(latencies, latencies)
def test_merge_equals_one_sketch_fed_both_streams(a: list[float], b: list[float]) -> None:
    ha, hb, both = _fill(a), _fill(b), _fill(a + b)
    m = merged([ha, hb])
    assert m is not None and m.count == len(a) + len(b)
    for q in (0.5, 0.95, 0.99):
        assert _close(m.quantile(q), both.quantile(q))
    # merging leaves the inputs untouched
    assert ha.count == len(a) and hb.count == len(b)


@settings(max_examples=60, deadline=None)
@given(latencies)
def test_quantile_is_close_to_a_sample_value(values: list[float]) -> None:
    h = _fill(values)
    ordered = sorted(values)
    for q in (0.5, 0.99):
        exact = ordered[int(q * (len(ordered) - 1))]
        got = h.quantile(q)
        assert got is not None
        assert abs(got - exact) <= RELATIVE_ACCURACY * exact * 1.0001
