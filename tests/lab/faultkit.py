"""Tools the acceptance and fault tests share: a fast feed, bounded traffic, log line counts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collectors.runtime import ClusterFeed
from lab import cluster, daemons, netns, procs, topology
from state.events import Event, LogBatch
from state.snapshot import BackendView, ProxyView, Snapshot
from switchboard.inventory import Inventory
from tests.lab.conftest import Lab

ROOT = Path(__file__).resolve().parents[2]
PROXIES = ("lb1", "lb2")
UPSTREAM = "/etc/nginx/conf.d/upstream.conf"
ACCESS_LOG = "/var/log/nginx/access.log"
SWITCHBOARD = str(Path(sys.executable).with_name("switchboard"))


async def until(check: Callable[[], bool], what: str, within: float = 30.0,
                step: float = 0.1) -> float:
    """Wait for a state the cluster reaches by itself (a bound, not a timing assertion);
    returns the seconds it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not check():
        if loop.time() - start > within:
            pytest.fail(f"{what}: not within {within:.0f} s")
        await asyncio.sleep(step)
    return loop.time() - start


@contextlib.asynccontextmanager
async def live_feed(lab: Lab, keepalive: float = 5.0, *,
                    inventory: Inventory | None = None) -> AsyncIterator[ClusterFeed]:
    """A ClusterFeed polling fast, returned once every host is connected and every proxy's
    log is followed (so every line written from now on is counted). ``inventory``: another
    view of the lab (the sudo one) instead of the root one."""
    feed = ClusterFeed(inventory or lab.inventory, ha_interval=0.5, stub_interval=0.5,
                       log_poll=0.1, keepalive=keepalive)
    async with feed:
        await until(lambda: all(s.connected for s in feed.sessions.values())
                    and all(t.position.inode not in ("", "-") for t in feed.tailers.values()),
                    "every host connected and every access log followed")
        yield feed


def proxy(snap: Snapshot, name: str) -> ProxyView:
    return next(p for p in snap.proxies if p.name == name)


def backend(snap: Snapshot, name: str) -> BackendView:
    return next(b for b in snap.backends if b.name == name)


# -- logs ----------------------------------------------------------------------------------


def on_host(host: str, path: str) -> Path:
    """A path inside a lab host, seen from this machine (the host's private tree)."""
    return topology.hosts_dir() / host / path.lstrip("/")


def nsenter(host: str, *argv: str) -> str:
    proc = daemons.nsenter(cluster.holders()[host], *argv)
    assert proc.returncode == 0, f"{host}: {' '.join(argv)}: {proc.stderr}"
    return proc.stdout


async def log_size(feed: ClusterFeed, host: str, path: str = ACCESS_LOG) -> int:
    """The size of a host's log now, read over its SSH session."""
    out = await feed.session(host).run(["stat", "-c", "%s", "--", path])
    return int(out.stdout)


async def lines_after(feed: ClusterFeed, host: str, offset: int,
                      path: str = ACCESS_LOG) -> int:
    """Lines a host's log holds after byte ``offset``, counted over SSH on the host."""
    out = await feed.session(host).run_script(
        'tail -c +"$(($2 + 1))" -- "$1" | wc -l', path, str(offset))
    return int(out.stdout)


class Ledger:
    """Every request URI the feed's state applies, by proxy, in order (it wraps the state's
    ``apply``): tells a line lost from a line counted twice where counts cannot."""

    def __init__(self, feed: ClusterFeed) -> None:
        self.uris: dict[str, list[str]] = {}
        apply = feed.state.apply

        def record(event: Event) -> None:
            if isinstance(event, LogBatch):
                self.uris.setdefault(event.host, []).extend(r.uri for r in event.requests)
            apply(event)

        feed.state.apply = record  # type: ignore[method-assign]

    def having(self, host: str, marker: str) -> list[str]:
        return [u for u in self.uris.get(host, []) if marker in u]


# -- traffic -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    sent: int
    ok: int
    failed: int
    seconds: float
    summary: str

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


async def traffic(rate: float, seconds: float, *urls: str) -> Sent:
    """The lab's bounded generator (`python -m lab traffic`) in its own process: ``rate`` x
    ``seconds`` requests, round robin over ``urls`` (default the VIP)."""
    argv = [sys.executable, "-m", "lab", "traffic", "--rate", f"{rate:g}",
            "--seconds", f"{seconds:g}"]
    for url in urls or (f"http://{topology.VIP}/",):
        argv += ["--url", url]
    proc = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds + 30)
    finally:
        if proc.returncode is None:
            proc.kill()  # our own child, by its PID
            await proc.wait()
    text = out.decode(errors="replace")
    m = re.search(r"sent=(\d+) ok=(\d+) failed=(\d+) seconds=([\d.]+)", text)
    assert m, f"no summary from the traffic generator: {text[-500:]}"
    return Sent(int(m[1]), int(m[2]), int(m[3]), float(m[4]), text.strip().splitlines()[-1])


# -- restoring the lab -------------------------------------------------------------------


def switchboard(*args: str, timeout: float = 90,
                inventory: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI on the lab, its audit log kept out of the user's home; ``inventory``:
    another view of the lab (default the root one)."""
    env = {**os.environ, "XDG_STATE_HOME": "/tmp/switchboard-lab-tests",
           "XDG_CONFIG_HOME": "/tmp/switchboard-lab-tests"}
    path = inventory or topology.inventory_path()
    return subprocess.run([SWITCHBOARD, "--inventory", str(path), *args],
                          capture_output=True, text=True, timeout=timeout, check=False, env=env,
                          cwd=ROOT)


@contextlib.contextmanager
def upstream_kept() -> Iterator[dict[str, str]]:
    """The proxies' upstream files as found; put back (and reloaded) if a test left them
    changed, with any staged or backup copies removed."""
    saved = {h: on_host(h, UPSTREAM).read_text() for h in PROXIES}
    try:
        yield saved
    finally:
        for h in PROXIES:
            live = on_host(h, UPSTREAM)
            for stray in live.parent.glob("*.switchboard-new"):
                stray.unlink()
            if live.read_text() != saved[h]:
                live.write_text(saved[h])
                nsenter(h, "nginx", "-s", "reload")


def ensure_running(host: str, service: str) -> None:
    """Start a daemon again if a test stopped it and could not restart it itself."""
    rec = next(r for r in procs.records() if r.key == f"{host}.{service}")
    if not procs.alive(rec):
        cluster.restart_daemon(host, service)


def vip_holders() -> list[str]:
    return [h.name for h in cluster.saved_hosts() or ()
            if h.role == "lb" and topology.VIP in netns.addresses(h.netns)]


def wait_one_vip_holder(within: float = 60.0) -> str:
    """Block until Heartbeat settles with exactly one proxy holding the VIP."""
    deadline = time.monotonic() + within
    while len(holders := vip_holders()) != 1:
        assert time.monotonic() < deadline, f"VIP holders after {within:.0f} s: {holders}"
        time.sleep(0.2)
    return holders[0]


def forget_vip_neighbour() -> None:
    """Drop this machine's ARP entry for the VIP: a takeover's gratuitous ARP sent while the
    link was down never arrived, and the stale entry would point at the old holder."""
    subprocess.run(["ip", "neigh", "flush", "to", topology.VIP], check=False,
                   capture_output=True)


KILL = signal.SIGKILL
