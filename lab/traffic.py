"""A bounded HTTP load against the lab's VIP: a fixed rate for a fixed time, then a summary."""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from lab import procs, topology
from switchboard.errors import UsageError

MAX_RATE = 5000.0
MAX_SECONDS = 3600.0
MAX_IN_FLIGHT = 256
PATHS = ("/", "/index.php", "/", "/index.html")


@dataclass
class Result:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return self.failed == 0

    def summary(self) -> str:
        counts = " ".join(f"{k}={v}" for k, v in sorted(self.statuses.items()))
        return (f"traffic: sent={self.sent} ok={self.ok} failed={self.failed} "
                f"seconds={self.seconds:.1f} statuses: {counts or '-'}")


def check_bounds(rate: float, seconds: float) -> None:
    if not 0 < rate <= MAX_RATE:
        raise UsageError(f"--rate must be in (0, {MAX_RATE:.0f}] requests/s, not {rate}")
    if not 0 < seconds <= MAX_SECONDS:
        raise UsageError(f"--seconds must be in (0, {MAX_SECONDS:.0f}], not {seconds}")


def numbered(url: str, i: int) -> str:
    """``url`` asking for request number ``i``: every line it leaves in an access log is
    unique, so a test can tell a line lost from a line counted twice."""
    return f"{url}{'&' if '?' in url else '?'}seq={i}"


def default_urls() -> list[str]:
    return [f"http://{topology.VIP}{p}" for p in PATHS]


def run(rate: float, seconds: float, urls: Sequence[str] | None = None) -> Result:
    check_bounds(rate, seconds)
    return asyncio.run(_run(rate, seconds, list(urls or default_urls())))


async def send(rate: float, seconds: float, urls: Sequence[str] | None = None) -> Result:
    """The same as :func:`run`, inside a running event loop."""
    check_bounds(rate, seconds)
    return await _run(rate, seconds, list(urls or default_urls()))


async def _run(rate: float, seconds: float, urls: list[str]) -> Result:
    result = Result()
    total = int(rate * seconds)
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=32)
    # trust_env off: no proxy from the environment may stand between us and the bridge.
    async with httpx.AsyncClient(timeout=5.0, limits=limits, trust_env=False) as client:

        async def one(url: str) -> None:
            try:
                resp = await client.get(url, headers={"User-Agent": "switchboard-lab-traffic"})
                result.statuses[str(resp.status_code)] += 1
                if resp.status_code < 400:
                    result.ok += 1
                else:
                    result.failed += 1
            except httpx.HTTPError as e:
                result.statuses[type(e).__name__] += 1
                result.failed += 1
            finally:
                gate.release()

        start = time.monotonic()
        async with asyncio.TaskGroup() as group:
            for i in range(total):
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await gate.acquire()
                result.sent += 1
                group.create_task(one(numbered(urls[i % len(urls)], i)))
        result.seconds = time.monotonic() - start
    return result


def start_background(rate: float, seconds: float) -> procs.Record:
    """Run the generator as its own process, recorded so `lab down` stops it."""
    check_bounds(rate, seconds)
    argv = [sys.executable, "-m", "lab", "traffic",
            "--rate", str(rate), "--seconds", str(seconds)]
    rec = procs.spawn("traffic", argv, log=topology.runtime() / "traffic.log")
    print(f"lab: traffic {rate:g} req/s for {seconds:g}s in the background (pid {rec.pid})",
          file=sys.stderr)
    return rec
