"""Console formatting and table rules: numbers, bars, sparklines, columns that fit, flags."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from actions import intents
from console import columns as cols
from console import format as fmt
from console import operate
from tests.unit import console_fixtures as fx


def test_numbers_are_short_and_fixed_width() -> None:
    assert fmt.rate(None) == "–"
    assert fmt.rate(3.14159) == "3.14"
    assert fmt.rate(45.26) == "45.3"
    assert fmt.rate(161.4) == "161"
    assert fmt.rate(25_000) == "25k"
    assert fmt.ms(4.25) == "4.2"
    assert fmt.ms(96.4) == "96"
    assert fmt.ms(1834) == "1.8s"
    assert fmt.count(812_345) == "812k"
    assert fmt.duration(0.42) == "0.4s"
    assert fmt.duration(42) == "42s"
    assert fmt.duration(185) == "3m05s"
    assert fmt.duration(7800) == "2h10m"
    assert fmt.clock(fx.NOW) == "03:00:00"


def test_share_bar_uses_eighths_and_fits_its_width() -> None:
    assert fmt.bar(0.5, 8) == "████    "
    assert fmt.bar(0.52, 10) == "█████▎    "  # 41.6 eighths round to 42
    text = fmt.share_bar(0.52, 12)
    assert len(text) == 12 and text.endswith(" 52%") and text.startswith("███▋")
    assert fmt.share_bar(None, 12).strip() == "–"


def test_sparkline_scales_to_its_max_and_keeps_bursts() -> None:
    assert fmt.sparkline([0, 1, 2, 4], 4) == "▁▃▅█"
    assert fmt.sparkline([], 3) == "   "
    assert fmt.sparkline([0, 0], 2) == "▁▁"
    # 60 points into 30 cells: a single-second spike must survive.
    points = [1.0] * 60
    points[31] = 50.0
    line = fmt.sparkline(points, 30)
    assert len(line) == 30 and line.count("█") == 1 and line[15] == "█"


def test_narrow_terminals_drop_sparkline_and_p50_first() -> None:
    narrow = [c.key for c in cols.fit(80)]
    wide = [c.key for c in cols.fit(160)]
    assert "spark" not in narrow and "p50" not in narrow
    assert {"name", "state", "share", "rate", "s5xx", "p95", "p99"} <= set(narrow)
    assert "spark" in wide and "p50" in wide and "s2xx" in wide
    assert sum(c.width + 2 for c in cols.fit(80)) + cols.SCROLLBAR <= 80


def test_flags_share_drift_and_slow_backend_only() -> None:
    snap = fx.healthy()
    web1, web2, web3, _web4 = snap.backends
    assert cols.flagged(web3, "1m", snap.backends)  # 5% observed vs 17% configured, slow p95
    assert not cols.flagged(web1, "1m", snap.backends)
    assert not cols.flagged(web2, "1m", snap.backends)
    assert cols.share_drifts(web3, "1m") and cols.is_slow(web3, cols.context(snap.backends, "1m"))


def test_order_sorts_by_figures_not_text() -> None:
    snap = fx.healthy()
    by_rate = [b.name for b in cols.order(snap.backends, "1m", "rate", reverse=False)]
    assert by_rate == ["web1", "web2", "web3", "web4"]
    by_p95 = [b.name for b in cols.order(snap.backends, "1m", "p95", reverse=True)]
    assert by_p95 == ["web4", "web1", "web2", "web3"]  # no p95 sorts lowest
    by_state = [b.name for b in cols.order(snap.backends, "1m", "state", reverse=False)]
    assert by_state[-1] != "web4" and by_state.index("web4") == 0


def test_filter_matches_name_address_and_state() -> None:
    web3 = fx.healthy().backends[2]
    assert cols.matches(web3, "WEB3")
    assert cols.matches(web3, "198.18.0.23")
    assert cols.matches(web3, "up web")
    assert not cols.matches(web3, "backup")


def test_intents_follow_the_backend_state() -> None:
    web1, _web2, _web3, web4 = fx.healthy().backends
    assert operate.toggle_down(web1) == intents.MarkDown("web1", upstream="web_servers")
    assert operate.toggle_down(replace(web1, state="down")) == intents.MarkUp(
        "web1", upstream="web_servers")
    assert operate.toggle_backup(web4) == intents.SetBackup("web4", on=False,
                                                            upstream="web_servers")
    assert operate.toggle_drain(web1) == intents.Drain("web1", upstream="web_servers")
    assert operate.toggle_drain(replace(web1, state="draining")) == intents.Undrain(
        "web1", upstream="web_servers")
    nameless = replace(web1, name=None)
    assert operate.target(nameless) == "198.18.0.21:8001"


def test_confirmation_word_for_risky_cases() -> None:
    snap = fx.healthy()
    web1 = snap.backends[0]
    kw: dict[str, Any] = {"cluster": "prod-eu", "backends": snap.backends}
    assert operate.confirm_word(intents.MarkDown("web1"), "normal", protected=False,
                                backend=web1, **kw) is None
    assert operate.confirm_word(intents.MarkDown("web1"), "risky", protected=False,
                                backend=web1, **kw) == "web1"
    assert operate.confirm_word(intents.Reload(), "normal", protected=True, backend=None,
                                **kw) == "prod-eu"
    assert operate.confirm_word(intents.Failover(), "normal", protected=False, backend=None,
                                **kw) == "prod-eu"
    lone = fx.last_active()
    assert operate.confirm_word(intents.Drain("web1"), "normal", protected=False,
                                backend=lone.backends[0], cluster="prod-eu",
                                backends=lone.backends) == "web1"


def test_counts_shorten_to_fit_their_column_instead_of_being_cut() -> None:
    assert [fmt.count(v, 3) for v in (17, 999, 1705, 999_999)] == ["17", "999", "2k", "1M"]
    assert [fmt.count(v, 4) for v in (1705, 17_050, 999_999, 1_700_000)] == [
        "1705", "17k", "1.0M", "1.7M"]
    assert all(len(fmt.count(v, w)) <= w for v in (9, 12_345, 10**7, 10**10 - 1)
               for w in (3, 4, 5, 6))
