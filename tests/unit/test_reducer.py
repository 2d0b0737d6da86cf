"""ClusterState: events in, snapshots out."""

from __future__ import annotations

from dataclasses import replace

from state.events import (
    ActionNote,
    Attempt,
    ConfigRead,
    HaStatus,
    HostHealth,
    LogBatch,
    LogGap,
    Request,
    StubStatus,
)
from state.reducer import ClusterState, backend_names_from
from state.snapshot import BackendView, Snapshot
from state.upstreams import ProxyConfig, Upstream, UpstreamServer
from switchboard.inventory import parse

A, B = "198.18.0.21:8001", "198.18.0.22:8001"
T = 1_764_039_600.0


def _state() -> ClusterState:
    return ClusterState(cluster="lab", vip="198.18.0.100", proxies=("lb1", "lb2"),
                        backend_names={A: "web1", B: "web2"})


def _req(t: float, *tries: Attempt, status: int = 200) -> Request:
    return Request(t, status, 0.01, tries, "GET", "/")


def _config(host: str, *servers: UpstreamServer) -> ConfigRead:
    up = Upstream("web_servers", "round_robin", servers)
    return ConfigRead(host, T, ProxyConfig(host, (up,), {}, {}, {}))


def _backend(s: Snapshot, address: str) -> BackendView:
    return next(b for b in s.backends if b.address == address)


def test_shares_rates_and_status_classes() -> None:
    st = _state()
    reqs = [_req(T + i / 10, Attempt(A if i % 4 else B, 200, 0.01)) for i in range(100)]
    st.apply(LogBatch("lb1", tuple(reqs)))
    snap = st.snapshot(T + 9.5)  # the 10 s window holds seconds T .. T+9
    a, b = _backend(snap, A), _backend(snap, B)
    assert (a.windows["10s"].attempts, b.windows["10s"].attempts) == (75, 25)
    assert a.windows["10s"].share == 0.75 and b.windows["1m"].share == 0.25
    assert a.windows["10s"].rate == 7.5
    assert a.windows["1m"].status["2xx"] == 75 and a.windows["1m"].status["5xx"] == 0
    assert a.name == "web1" and a.state == "up"
    assert a.windows["1m"].p50_ms is not None and abs(a.windows["1m"].p50_ms - 10) < 0.2
    assert snap.requests == 100 and snap.proxies[0].rate == 10.0
    assert sum(a.sparkline) == 75 and len(a.sparkline) == 60


def test_hidden_errors_count_failures_a_later_attempt_served() -> None:
    st = _state()
    st.apply(LogBatch("lb1", (
        _req(T, Attempt(A, 502, 0.001), Attempt(B, 200, 0.01)),
        _req(T, Attempt(A, None, None), Attempt(B, 200, 0.01)),
        _req(T, Attempt(A, 502, 0.0), Attempt(B, 502, 0.0), status=502),
    )))
    snap = st.snapshot(T)
    a, b = _backend(snap, A), _backend(snap, B)
    assert a.windows["10s"].hidden_errors == 2
    assert a.windows["10s"].status == {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 2,
                                       "none": 1}
    assert b.windows["10s"].hidden_errors == 0 and b.windows["10s"].status["5xx"] == 1
    assert a.state == "failing" and b.state == "up"
    assert a.recent_errors[0] == "03:00:00 502 GET /"  # newest first: not retried
    assert a.recent_errors[1] == "03:00:00 no response GET / (retried elsewhere)"


def test_windows_age_out() -> None:
    st = _state()
    st.apply(LogBatch("lb1", (_req(T, Attempt(A, 200, 0.01)),)))
    def attempts(now: float) -> dict[str, int]:
        return {w: s.attempts for w, s in _backend(st.snapshot(now), A).windows.items()}
    assert attempts(T + 5) == {"10s": 1, "1m": 1, "5m": 1, "15m": 1}
    assert attempts(T + 30) == {"10s": 0, "1m": 1, "5m": 1, "15m": 1}
    assert attempts(T + 200) == {"10s": 0, "1m": 0, "5m": 1, "15m": 1}
    assert attempts(T + 600) == {"10s": 0, "1m": 0, "5m": 0, "15m": 1}
    assert attempts(T + 1000) == {"10s": 0, "1m": 0, "5m": 0, "15m": 0}


def test_old_seconds_move_to_the_coarse_ring_and_still_count() -> None:
    st = _state()
    st.apply(LogBatch("lb1", tuple(_req(T + s, Attempt(A, 200, 0.01)) for s in range(0, 400))))
    a = _backend(st.snapshot(T + 399), A)
    assert a.windows["10s"].attempts == 10 and a.windows["1m"].attempts == 60
    assert 300 <= a.windows["5m"].attempts <= 310  # coarse edge: ten seconds
    assert a.windows["15m"].attempts == 400
    # a late line for an evicted second still lands in the long windows
    st.apply(LogBatch("lb1", (_req(T + 100, Attempt(A, 200, 0.01)),)))
    assert _backend(st.snapshot(T + 399), A).windows["15m"].attempts == 401


def test_config_backends_appear_without_traffic_with_configured_share() -> None:
    st = _state()
    st.apply(_config("lb1", UpstreamServer(A, weight=3), UpstreamServer(B, weight=1),
                     UpstreamServer("198.18.0.23:8001", backup=True),
                     UpstreamServer("198.18.0.24:8001", down=True)))
    snap = st.snapshot(T)
    assert [b.address for b in snap.backends][:4] == [A, B, "198.18.0.23:8001",
                                                      "198.18.0.24:8001"]
    assert [b.configured_share for b in snap.backends] == [0.75, 0.25, 0.0, 0.0]
    assert [b.state for b in snap.backends] == ["up", "up", "backup", "down"]
    assert snap.backends[0].upstream == "web_servers" and snap.backends[0].config is not None


def test_group_name_attempts_count_against_the_upstream() -> None:
    st = _state()
    st.apply(_config("lb1", UpstreamServer(A)))
    st.apply(LogBatch("lb1", (_req(T, Attempt("web_servers", 502, 0.0), status=502),)))
    g = _backend(st.snapshot(T), "web_servers")
    assert g.upstream == "web_servers" and g.windows["10s"].status["5xx"] == 1


def test_drift_between_proxies() -> None:
    st = _state()
    st.apply(_config("lb1", UpstreamServer(A, weight=2), UpstreamServer(B)))
    st.apply(_config("lb2", UpstreamServer(A, weight=1)))
    assert st.snapshot(T).drift == (
        f"web_servers: {A} weight 2 on lb1, 1 on lb2",
        f"web_servers: {B} only on lb1",
    )


def _ha(host: str, holds: bool, resources: str, nodes: dict[str, str],
        links: dict[str, dict[str, str]] | None = None) -> HaStatus:
    return HaStatus(host, T, True, host, nodes, links or {}, resources, holds)


def test_ha_active_standby() -> None:
    st = _state()
    st.apply(_ha("lb1", True, "all", {"lb1": "active", "lb2": "active"},
                 {"lb2": {"eth0": "up"}}))
    st.apply(_ha("lb2", False, "none", {"lb1": "active", "lb2": "active"}))
    snap = st.snapshot(T)
    assert (snap.ha.active, snap.ha.standby) == ("lb1", "lb2")
    assert not (snap.ha.split_brain or snap.ha.peer_dead or snap.ha.links_degraded)
    assert snap.proxies[0].holds_vip and not snap.proxies[1].holds_vip
    assert snap.proxies[0].ha_node_status == "active"


def test_ha_split_brain_dead_peer_and_links() -> None:
    st = _state()
    st.apply(_ha("lb1", True, "all", {"lb1": "active", "lb2": "dead"}, {"lb2": {"eth0": "dead"}}))
    st.apply(_ha("lb2", True, "all", {"lb1": "dead", "lb2": "active"}))
    ha = st.snapshot(T).ha
    assert ha.split_brain and ha.peer_dead and ha.links_degraded
    assert ha.vip_holders == ("lb1", "lb2") and "SPLIT BRAIN" in ha.detail


def test_draining_follows_the_latest_drain_note_and_stub_status() -> None:
    st = _state()
    st.apply(_config("lb1", UpstreamServer(A), UpstreamServer(B)))
    st.apply(ActionNote(T, "drain", "draining web1", backend="web1"))
    st.apply(StubStatus("web1", T, 7, 0, 1, 6, 10, 10, 20))
    snap = st.snapshot(T)
    assert _backend(snap, A).state == "draining" and _backend(snap, A).active_connections == 7
    st.apply(ActionNote(T + 1, "undrain", "web1 back", backend="web1"))
    snap = st.snapshot(T + 1)
    assert _backend(snap, A).state == "up"
    assert [e.action for e in snap.events] == ["undrain", "drain"]


def test_proxy_health_gaps_and_malformed() -> None:
    st = _state()
    st.apply(HostHealth("lb2", "retrying", T, retry_in=4.0, error="connection refused"))
    st.apply(LogGap("lb1", "rotated", None, T))
    st.apply(LogBatch("lb1", (), malformed=3, malformed_sample="junk"))
    snap = st.snapshot(T)
    lb1, lb2 = snap.proxies
    assert (lb1.gaps, lb1.malformed, lb1.malformed_sample) == (1, 3, "junk")
    assert (lb2.connection, lb2.retry_in, lb2.connection_error) == (
        "retrying", 4.0, "connection refused")
    assert snap.malformed == 3 and snap.last_event_at == T


def test_snapshot_is_immutable_and_to_json_works() -> None:
    st = _state()
    st.apply(LogBatch("lb1", (_req(T, Attempt(A, 200, 0.01)),)))
    snap = st.snapshot(T)
    out = snap.to_json("15m")
    assert out["backends"][0]["attempts"] == 1 and out["window"] == "15m"
    st.apply(LogBatch("lb1", (_req(T, Attempt(A, 200, 0.01)),)))
    assert _backend(snap, A).windows["10s"].attempts == 1


def test_from_inventory_maps_backend_addresses_to_names() -> None:
    inv = parse("""
[cluster]
name = "lab"
vip = "198.18.0.100"
[[hosts]]
name = "lb1"
role = "lb"
address = "198.18.0.11"
[[hosts]]
name = "web1"
role = "web"
address = "198.18.0.21"
port = 8001
[[hosts]]
name = "web6"
role = "web"
address = "fd00::6"
port = 8001
""")
    st = ClusterState.from_inventory(inv)
    assert st.backend_names == {A: "web1", "[fd00::6]:8001": "web6"}
    assert backend_names_from(inv.backends) == st.backend_names
    assert [p.name for p in st.snapshot(T).proxies] == ["lb1"]


def test_a_nodes_dead_link_to_itself_is_not_degraded() -> None:
    # Recorded on the lab (ucast): `cl_status hblinkstatus lb1 eth0` run on lb1 says "dead".
    st = _state()
    st.apply(_ha("lb1", True, "all", {"lb1": "active", "lb2": "active"},
                 {"lb1": {"eth0": "dead"}, "lb2": {"eth0": "up"}}))
    st.apply(_ha("lb2", False, "none", {"lb1": "active", "lb2": "active"},
                 {"lb1": {"eth0": "up"}, "lb2": {"eth0": "dead"}}))
    assert not st.snapshot(T).ha.links_degraded
    st.apply(_ha("lb2", False, "none", {"lb1": "active", "lb2": "active"},
                 {"lb1": {"eth0": "dead"}, "lb2": {"eth0": "dead"}}))
    ha = st.snapshot(T).ha
    assert ha.links_degraded and "lb1/eth0 dead" in ha.detail


def test_a_lost_proxys_last_ha_reading_is_forgotten() -> None:
    st = _state()
    st.apply(_ha("lb1", True, "all", {"lb1": "active", "lb2": "active"}))
    st.apply(HostHealth("lb1", "retrying", T, retry_in=2.0, error="timed out"))
    st.apply(_ha("lb2", True, "all", {"lb1": "dead", "lb2": "active"}))
    ha = st.snapshot(T).ha
    assert not ha.split_brain and ha.active == "lb2" and ha.vip_holders == ("lb2",)
    assert ha.peer_dead


def test_data_age_follows_the_stalest_live_log_stream_not_the_ha_poller() -> None:
    st = _state()
    for host in ("lb1", "lb2"):
        st.apply(HostHealth(host, "connected", T))
    st.apply(LogBatch("lb1", (), received_at=T + 20))
    st.apply(LogBatch("lb2", (), received_at=T + 5))  # lb2's follower went quiet after this
    st.apply(_ha("lb1", True, "all", {"lb1": "active", "lb2": "active"}))  # at T, and...
    st.apply(replace(_ha("lb2", False, "none", {}), at=T + 21))  # ...the poller still reports
    assert st.snapshot(T + 21).last_event_at == T + 5
    st.apply(HostHealth("lb2", "retrying", T + 22, retry_in=1.0))
    assert st.snapshot(T + 22).last_event_at == T + 20  # a lost proxy has its own banner


def test_an_unreadable_stub_status_makes_connections_unknown() -> None:
    st = _state()
    st.apply(_config("lb1", UpstreamServer(A), UpstreamServer(B)))
    st.apply(StubStatus("web1", T, 7, 0, 1, 6, 10, 10, 20))
    assert _backend(st.snapshot(T), A).active_connections == 7
    st.apply(StubStatus("web1", T + 2, 0, 0, 0, 0, 0, 0, 0, error="ConnectError"))
    assert _backend(st.snapshot(T + 2), A).active_connections is None


def test_an_unreadable_config_is_shown_until_a_read_succeeds() -> None:
    s = _state()
    s.apply(_config("lb1", UpstreamServer(A, weight=2)))
    s.apply(ConfigRead("lb1", T + 30, None, error="nginx -T exited with 1: sudo: a password "
                                                  "is required"))
    lb1 = next(p for p in s.snapshot(T + 31).proxies if p.name == "lb1")
    assert lb1.config_error is not None and "password" in lb1.config_error
    # the last good config stays in use meanwhile: weights are still known
    assert next(b for b in s.snapshot(T + 31).backends if b.address == A).config is not None
    assert s.snapshot(T + 31).to_json()["proxies"][0]["config_error"] == lb1.config_error
    s.apply(_config("lb1", UpstreamServer(A, weight=2)))
    assert next(p for p in s.snapshot(T + 32).proxies if p.name == "lb1").config_error is None
