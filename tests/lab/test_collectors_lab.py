"""The collectors against the real lab: sessions, Heartbeat, nginx -T, stub_status, log rotation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import httpx
import pytest

from collectors.runtime import ClusterFeed
from state.events import ConfigRead, Event, HaStatus, LogBatch, LogGap, StubStatus
from tests.lab.conftest import Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

E = TypeVar("E", bound=Event)


class Recorded:
    def __init__(self, feed: ClusterFeed) -> None:
        self.events: list[Event] = []
        apply = feed.state.apply

        def record(event: Event) -> None:
            self.events.append(event)
            apply(event)

        feed.state.apply = record  # type: ignore[method-assign]

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def uris(self, nonce: str) -> list[str]:
        return [r.uri for e in self.events if isinstance(e, LogBatch)
                for r in e.requests if nonce in r.uri]


async def until(predicate: Callable[[], bool], within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def feed(lab: Lab) -> AsyncIterator[tuple[ClusterFeed, Recorded]]:
    f = ClusterFeed(lab.inventory, ha_interval=0.5, stub_interval=0.5, log_poll=0.1)
    rec = Recorded(f)
    async with f:
        names = [h.name for h in lab.inventory.hosts]
        await until(lambda: all(f.sessions[n].connected for n in names))
        await until(lambda: all(f.tailers[p.name].position.inode != ""
                                for p in lab.inventory.proxies))
        yield f, rec


async def _traffic(vip: str, nonce: str, n: int) -> None:
    async with httpx.AsyncClient(timeout=5.0) as client:
        for i in range(n):
            await client.get(f"http://{vip}/?sbtest={nonce}-{i}")


async def test_everything_is_collected_from_the_lab(lab: Lab,
                                                    feed: tuple[ClusterFeed, Recorded]) -> None:
    f, rec = feed
    proxies = [p.name for p in lab.inventory.proxies]
    await until(lambda: {e.host for e in rec.of(HaStatus)} >= set(proxies)
                and {e.host for e in rec.of(ConfigRead)} >= set(proxies)
                and {e.host for e in rec.of(StubStatus)} >= {h.name for h in lab.inventory.hosts})
    latest = {e.host: e for e in rec.of(HaStatus)}
    assert all(s.heartbeat_running and s.error is None for s in latest.values())
    assert sum(s.holds_vip for s in latest.values()) == 1
    for s in latest.values():
        assert s.local_node == s.host and set(s.nodes) == set(proxies)
        assert all(state == "active" for state in s.nodes.values())
    for read in rec.of(ConfigRead):
        assert read.error is None and read.config
        (upstream,) = [u for u in read.config.upstreams if u.name == "web_servers"]
        assert [s.address for s in upstream.servers] == ["198.18.0.21:8001", "198.18.0.22:8001"]
        assert read.config.access_logs["/var/log/nginx/access.log"] == "upstreamlog"
    nonce = uuid.uuid4().hex[:12]
    await _traffic(lab.inventory.vip, nonce, 40)
    await until(lambda: len(rec.uris(nonce)) >= 40)
    batches = rec.of(LogBatch)
    assert sum(b.malformed for b in batches) == 0
    mine = [r for b in batches for r in b.requests if nonce in r.uri]
    assert {a.address for r in mine for a in r.attempts} == {"198.18.0.21:8001",
                                                            "198.18.0.22:8001"}
    snap = f.snapshot()
    assert snap.requests >= 40 and all(p.connection == "connected" for p in snap.proxies)
    assert {b.address for b in snap.backends if b.windows["1m"].attempts} >= {
        "198.18.0.21:8001", "198.18.0.22:8001"}


async def test_real_logrotate_rename_and_reopen_loses_no_line(
        lab: Lab, feed: tuple[ClusterFeed, Recorded]) -> None:
    f, rec = feed
    await until(lambda: any(isinstance(e, HaStatus) and e.holds_vip for e in rec.events))
    active = next(e.host for e in rec.events if isinstance(e, HaStatus) and e.holds_vip)
    session = f.session(active)
    log = lab.inventory.host(active).access_log
    nonce = uuid.uuid4().hex[:12]
    traffic = asyncio.create_task(_traffic(lab.inventory.vip, nonce, 300))
    await until(lambda: len(rec.uris(nonce)) >= 50)
    # what logrotate does: rename, then tell nginx to reopen (lines in between go to .1)
    await session.run(["mv", "-f", "--", log, log + ".1"])
    await asyncio.sleep(0.2)
    await session.run(["nginx", "-s", "reopen"])
    await traffic
    await until(lambda: len(rec.uris(nonce)) >= 300)
    await asyncio.sleep(1.0)
    numbers = sorted(int(u.rsplit("-", 1)[1]) for u in rec.uris(nonce))
    assert numbers == list(range(300))
    assert not [e for e in rec.events if isinstance(e, LogGap)]


async def test_a_dropped_connection_resumes_the_log_without_loss(
        lab: Lab, feed: tuple[ClusterFeed, Recorded]) -> None:
    f, rec = feed
    nonce = uuid.uuid4().hex[:12]
    await _traffic(lab.inventory.vip, nonce, 20)
    await until(lambda: len(rec.uris(nonce)) >= 20)
    sessions = [f.session(p.name) for p in lab.inventory.proxies]
    generations = [s.generation for s in sessions]
    for s in sessions:
        s.drop()
    await _traffic(lab.inventory.vip, nonce + "b", 20)
    await until(lambda: all(s.generation > g and s.connected
                            for s, g in zip(sessions, generations, strict=True)))
    await until(lambda: len(rec.uris(nonce)) >= 40)
    await asyncio.sleep(1.0)
    assert len(rec.uris(nonce)) == 40 and len(set(rec.uris(nonce))) == 40
