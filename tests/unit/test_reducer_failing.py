"""A backend nginx stopped sending to after it failed is shown failing, not up."""

from __future__ import annotations

from state.events import Attempt, LogBatch, Request
from state.reducer import ClusterState
from state.snapshot import Snapshot

A, B = "198.18.0.21:8001", "198.18.0.22:8001"
T = 1_764_039_600.0


def _state(*requests: Request) -> ClusterState:
    s = ClusterState(cluster="lab", proxies=("lb1",), backend_names={A: "web1", B: "web2"})
    s.apply(LogBatch("lb1", requests))
    return s


def _ok(t: float, address: str) -> Request:
    return Request(t, 200, 0.01, (Attempt(address, 200, 0.01),), "GET", "/")


def _retried(t: float) -> Request:
    """web2 refused the connection; nginx served the request from web1."""
    return Request(t, 200, 0.01, (Attempt(B, 502, 0.0), Attempt(A, 200, 0.01)), "GET", "/")


def _web2(s: Snapshot) -> str:
    return next(b.state for b in s.backends if b.address == B)


def test_the_last_attempts_failing_make_it_failing_though_it_served_more_before() -> None:
    # web2 served 20 requests, then died: nginx tried it twice (max_fails=2) and took it
    # out of rotation for fail_timeout, so nothing but those two failures follows.
    ok = [_ok(T + i * 0.05, a) for i in range(40) for a in ((A, B)[i % 2],)]
    s = _state(*ok, _retried(T + 2.0), _retried(T + 2.1), *(_ok(T + 2.2 + i * 0.05, A)
                                                           for i in range(20)))
    for later in (3, 9, 30):
        assert _web2(s.snapshot(T + later)) == "failing"


def test_a_success_after_a_failure_puts_it_back_up() -> None:
    s = _state(*(_ok(T + i * 0.1, B) for i in range(10)), _retried(T + 1.0), _ok(T + 1.1, B))
    assert _web2(s.snapshot(T + 2)) == "up"


def test_one_failure_after_successes_is_not_an_outage() -> None:
    s = _state(*(_ok(T + i * 0.1, B) for i in range(10)), _retried(T + 1.0))
    assert _web2(s.snapshot(T + 2)) == "up"


def test_an_old_failure_is_forgotten_after_a_minute() -> None:
    s = _state(_ok(T, B), _retried(T + 1.0), _retried(T + 1.1))
    assert _web2(s.snapshot(T + 30)) == "failing"
    assert _web2(s.snapshot(T + 62)) == "unknown"
