"""Checks around plans: failover pre-flight from the HA view, peer links, drain log quiet."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from actions.checks import drain_quiet, failover_problems, peer_links
from actions.report import CheckFailed
from actions.runner import Completed
from state.events import ConnectionState
from state.snapshot import BackendView, HaView, ProxyView, Snapshot, WindowStats

WEB1 = "198.18.0.21:8001"


def snap(at: float = 100.0, *, spark: Sequence[float] = (0.0,) * 60, drift: tuple[str, ...] = (),
         active: str | None = "lb1", split: bool = False, dead: bool = False,
         links: bool = False,
         lb2_connection: ConnectionState = "connected", lb2_word: str = "active") -> Snapshot:
    ha = HaView("heartbeat", "198.18.0.100", (active,) if active else (), active, "lb2", split,
                dead, links, "detail")
    proxies = (ProxyView("lb1", "connected", None, None, 0, 0, 0, None, None, True, "active", 0,
                         None),
               ProxyView("lb2", lb2_connection, "refused" if lb2_connection != "connected"
                         else None, None, 0, 0, 0, None, None, False, lb2_word, 0, None))
    backend = BackendView(WEB1, "web1", "web_servers", "down", None, None,
                          {"10s": WindowStats()}, tuple(spark))
    return Snapshot(at, "lab", 0, 0, (backend,), proxies, ha, drift)


def test_failover_pre_flight_reads_the_ha_view() -> None:
    assert failover_problems(snap(), "lb1", "lb2") == []
    assert failover_problems(None, "lb1", "lb2") == [
        "no snapshot of the cluster yet: wait for the collectors"]
    problems = failover_problems(snap(split=True, dead=True, links=True, lb2_connection="failed",
                                      lb2_word="dead", drift=("web_servers: x",)), "lb1", "lb2")
    assert [p.split(" ")[0] for p in problems] == ["split", "Heartbeat", "Heartbeat", "lb2",
                                                   "Heartbeat", "the"]
    assert "lb2 is not reachable over SSH (failed: refused)" in problems
    assert failover_problems(snap(active="lb2"), "lb1", "lb2")[0].startswith(
        "the HA view says the active proxy is lb2")


class Runner:
    def __init__(self, stdout: str) -> None:
        self.stdout = stdout
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    async def run(self, host: str, argv: Sequence[str], *, input: str | None = None,
                  timeout: float = 30.0) -> Completed:  # noqa: ASYNC109
        self.calls.append((host, tuple(argv)))
        return Completed(0, self.stdout, "")


async def test_peer_links_need_the_peer_active_and_every_link_up() -> None:
    ok = Runner("@@ node lb2\nactive\n@@ link lb2 eth0\nup\n@@ link lb2 eth1\nup\n")
    detail = await peer_links(ok, "lb1", "lb2", "lb2").run(lambda _l: None)
    assert detail == "lb2 active; links eth0 up, eth1 up"
    # cl_status needs no root: the check runs as the SSH user, never through sudo
    assert ok.calls[0][1][:2] == ("sh", "-c") and ok.calls[0][1][-1] == "lb2"
    for out, why in (("@@ node lb2\ndead\n@@ link lb2 eth0\ndead\n", "says lb2 is dead"),
                     ("@@ node lb2\nactive\n@@ link lb2 eth0\ndead\n",
                      "links to lb2: eth0 dead"),
                     ("@@ node lb2\nactive\n", "no heartbeat link listed"),
                     ("", "says lb2 is unknown")):
        with pytest.raises(CheckFailed, match=why):
            await peer_links(Runner(out), "lb1", "lb2", "lb2").run(lambda _l: None)


class Wall:
    """A clock that the check's sleeps move forward, and snapshots that follow it."""

    def __init__(self, start: float, attempts_at: Sequence[int] = ()) -> None:
        self.now = start
        self.attempts_at = list(attempts_at)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds

    def snapshot(self) -> Snapshot:
        second = int(self.now)
        spark = [float(sum(1 for a in self.attempts_at if a == s))
                 for s in range(second - 59, second + 1)]
        return snap(self.now, spark=spark)


async def test_drain_quiet_waits_for_seconds_without_attempts() -> None:
    wall = Wall(1000.2, attempts_at=[1000, 1001, 1003])  # stragglers logged after the drain
    lines: list[str] = []
    check = drain_quiet("web1", [WEB1], wall.snapshot, quiet=3, timeout=60, sleep=wall.sleep,
                        wall=wall)
    detail = await check.run(lines.append)
    assert detail == "no new request to web1 in the logs for 3 s"
    assert wall.now >= 1003 + 1 + 3 + 1  # quiet seconds after the last attempt, plus log lag
    assert lines and lines[0].startswith("draining web1: waiting for 3 s without new requests")
    assert check.undo_on_failure is False


async def test_drain_quiet_gives_up_when_requests_keep_coming() -> None:
    wall = Wall(1000.0, attempts_at=list(range(1000, 1100)))
    check = drain_quiet("web1", [WEB1], wall.snapshot, quiet=3, timeout=10, sleep=wall.sleep,
                        wall=wall)
    with pytest.raises(CheckFailed, match="still show new requests to web1 after 10 s"):
        await check.run(lambda _l: None)


async def test_vip_that_never_moves_fails_the_post_check() -> None:
    from actions.checks import vip_moved

    wall = Wall(0.0)
    ip = Runner("2: eth0    inet 198.18.0.100/24 scope global secondary eth0\n")
    check = vip_moved(ip, "198.18.0.100", "lb1", "lb2", sleep=wall.sleep, clock=wall)
    with pytest.raises(CheckFailed, match=r"after 30 s 198\.18\.0\.100 is on lb2, lb1"):
        await check.run(lambda _l: None)


async def test_requests_through_the_vip_must_succeed_and_reach_the_new_active() -> None:
    import httpx

    from actions.checks import requests_through_vip

    wall = Wall(0.0)
    bad = httpx.MockTransport(lambda request: httpx.Response(502))
    check = requests_through_vip("198.18.0.100", "lb2", wall.snapshot, sleep=wall.sleep,
                                 clock=wall, transport=bad)
    with pytest.raises(CheckFailed, match=r"5 of 5 requests to http://198\.18\.0\.100/ failed: "
                                          "HTTP 502"):
        await check.run(lambda _l: None)
    good = httpx.MockTransport(lambda request: httpx.Response(200))
    silent = requests_through_vip("198.18.0.100", "lb2", wall.snapshot, sleep=wall.sleep,
                                  clock=wall, transport=good)
    with pytest.raises(CheckFailed, match="lb2's access log shows no new line after 10 s"):
        await silent.run(lambda _l: None)
