"""The soak: log lines and traffic for a long while through one Switchboard, a drain and a
failover in the middle, watching for lost lines and growth in memory, tasks and descriptors."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from actions.audit import AuditLog
from actions.dispatcher import ClusterActions
from actions.intents import Drain, Failover, Intent, Undrain
from collectors.runtime import ClusterFeed
from console.app import SwitchboardApp
from console.screens.help import HelpScreen
from lab import traffic
from state.snapshot import Snapshot
from switchboard.inventory import Inventory

ACCESS_LOG = "/var/log/nginx/access.log"
# Synthetic lines name upstream servers that exist nowhere (and get no packet): they load the
# ingest path without touching the backends a drain watches.
SYNTHETIC_BACKENDS = ("198.18.0.91:8001", "198.18.0.92:8001")

# Appends synthetic lines in the proxy's own log format at a bounded rate for a bounded time,
# one write(2) per batch on an O_APPEND descriptor (so nginx's own lines never interleave).
WRITER = r"""
import os, sys, time
path, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
backends = sys.argv[4:]
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
start = time.time(); written = 0; n = 0
while True:
    now = time.time()
    if now - start >= seconds:
        break
    due = int((now - start) * rate) - written
    if due > 0:
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
        lines = []
        for _ in range(due):
            n += 1
            b = backends[n % len(backends)]
            lines.append('198.18.0.1 - - [%s] "GET /soak/%d HTTP/1.1" 200 12 "-" '
                         '"switchboard-soak" rt=0.001 ua="%s" us="200" urt="0.001" '
                         'msec=%.3f\n' % (stamp, n, b, now))
        os.write(fd, "".join(lines).encode())
        written += due
    time.sleep(0.02)
print(written)
"""


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the start
    rss_mib: float
    tasks: int
    fds: int
    ticks: int
    requests: int
    help_opened: bool


@dataclass
class SoakReport:
    seconds: float
    rate: float
    samples: list[Sample] = field(default_factory=list)
    logged: dict[str, int] = field(default_factory=dict)  # lines the proxies' logs gained
    seen: dict[str, int] = field(default_factory=dict)  # lines the state counted meanwhile
    synthetic: int = 0
    actions: list[str] = field(default_factory=list)
    actions_ok: bool = True
    client: traffic.Result | None = None

    def problems(self) -> list[str]:
        out = [f"{host}: the log gained {n} lines, the state counted {self.seen.get(host, 0)}"
               for host, n in self.logged.items() if self.seen.get(host, 0) != n]
        if not self.actions_ok:
            out.append("an action failed: " + " | ".join(self.actions))
        if len(self.samples) >= 2:
            first, last = self.samples[0], self.samples[-1]
            if last.tasks > first.tasks + 3:
                out.append(f"asyncio tasks grew from {first.tasks} to {last.tasks}")
            if last.fds > first.fds + 5:
                out.append(f"file descriptors grew from {first.fds} to {last.fds}")
            settled = self.settled_sample()
            if last.rss_mib - settled.rss_mib > 32:
                out.append(f"memory grew from {settled.rss_mib:.1f} MiB at {settled.at:.0f} s "
                           f"to {last.rss_mib:.1f} MiB")
            stalls = [s.at for prev, s in zip(self.samples, self.samples[1:], strict=False)
                      if s.ticks == prev.ticks]
            if stalls:
                out.append(f"the dashboard did not refresh between samples at {stalls} s")
        unanswered = [s.at for s in self.samples if not s.help_opened]
        if unanswered:
            out.append(f"the dashboard did not open help on '?' at {unanswered} s")
        return out

    def settled_sample(self) -> Sample:
        """The first sample once the 15-minute windows are full, or halfway for short runs:
        memory may grow until then, and must stay flat after."""
        settle = min(self.seconds / 2, 960.0)
        return next((s for s in self.samples if s.at >= settle), self.samples[-1])

    def render(self) -> str:
        lines = [f"soak: {self.seconds:.0f} s, {self.rate:.0f} synthetic lines/s "
                 f"({self.synthetic} written) plus traffic through the VIP"]
        lines += [f"  t={s.at:6.0f}s rss={s.rss_mib:6.1f} MiB tasks={s.tasks:3d} fds={s.fds:3d} "
                  f"frames={s.ticks:5d} requests={s.requests}" for s in self.samples]
        lines += [f"  {host}: log +{n} lines, state +{self.seen.get(host, 0)}"
                  for host, n in self.logged.items()]
        lines += [f"  action: {a}" for a in self.actions]
        if self.client is not None:
            lines.append("  clients: " + self.client.summary())
        problems = self.problems()
        lines.append("soak: " + ("OK" if not problems else "PROBLEMS: " + "; ".join(problems)))
        return "\n".join(lines)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def soak(inventory: Inventory, *, seconds: float, rate: float, traffic_rate: float = 50,
               sample_every: float = 10.0, with_actions: bool = True,
               audit_path: Path | None = None,
               say: Callable[[str], None] = lambda _: None) -> SoakReport:
    """Runs the dashboard headless on a real feed for ``seconds`` while the proxies' logs grow
    by ``rate`` synthetic lines/s (split between them) and clients send ``traffic_rate``
    requests/s through the VIP; drains, undrains and fails over in the middle."""
    traffic.check_bounds(traffic_rate, seconds)
    report = SoakReport(seconds=seconds, rate=rate)
    feed = ClusterFeed(inventory)
    actions = ClusterActions(feed, inventory, AuditLog(audit_path))
    app = SwitchboardApp(feed, dispatcher=actions)
    ticks = 0
    tick = app.tick

    def counting_tick() -> None:
        nonlocal ticks
        ticks += 1
        tick()

    app.tick = counting_tick  # type: ignore[method-assign]
    proxies = [h.name for h in inventory.proxies]
    async with app.run_test(headless=True, size=(120, 40)) as pilot:
        await _until(lambda: _connected(feed.snapshot(), proxies), 30, "proxies connected")
        await asyncio.sleep(2)  # the tailers start from the end of the logs they find
        before = {h: await _log_lines(feed, h) for h in proxies}
        counted = {p.name: p.requests + p.malformed for p in feed.snapshot().proxies}
        start = time.monotonic()

        async def sampler() -> None:
            while (at := time.monotonic() - start) < seconds:
                await pilot.press("question_mark")
                await pilot.pause()
                opened = isinstance(app.screen, HelpScreen)
                if opened:
                    await pilot.press("escape")
                snap = feed.snapshot()
                report.samples.append(Sample(
                    at=at, rss_mib=_rss_mib(), tasks=len(asyncio.all_tasks()),
                    fds=len(os.listdir("/proc/self/fd")), ticks=ticks,
                    requests=snap.requests, help_opened=opened))
                say(f"t={at:.0f}s rss={report.samples[-1].rss_mib:.1f} MiB "
                    f"requests={snap.requests}")
                await asyncio.sleep(sample_every)

        async def writers() -> None:
            runs = [feed.session(h).run(["python3", "-c", WRITER, ACCESS_LOG,
                                         str(rate / len(proxies)), str(seconds),
                                         *SYNTHETIC_BACKENDS], timeout=seconds + 30)
                    for h in proxies]
            for result in await asyncio.gather(*runs):
                report.synthetic += int(result.stdout.strip() or 0)

        async def operate() -> None:
            if not with_actions:
                return
            await asyncio.sleep(seconds / 4)
            backend = inventory.backends[0].name
            for intent in (Drain(backend), Undrain(backend), Failover()):
                await _apply(actions, intent, report, say)
                await asyncio.sleep(min(10.0, seconds / 10))

        async def clients() -> None:
            report.client = await traffic.send(traffic_rate, seconds)

        async with asyncio.TaskGroup() as group:
            group.create_task(sampler())
            group.create_task(writers())
            group.create_task(operate())
            group.create_task(clients())
        await _settle(feed)
        after = {h: await _log_lines(feed, h) for h in proxies}
        final = {p.name: p.requests + p.malformed for p in feed.snapshot().proxies}
        report.logged = {h: after[h] - before[h] for h in proxies}
        report.seen = {h: final[h] - counted.get(h, 0) for h in proxies}
    return report


async def _apply(actions: ClusterActions, intent: Intent, report: SoakReport,
                 say: Callable[[str], None]) -> None:
    try:
        plan = actions.plan(intent)
        result = await actions.apply(intent, plan, lambda line: None)
    except Exception as exc:  # a refusal is a finding of the soak, not a crash of it
        report.actions.append(f"{intent.describe()}: refused: {exc}")
        report.actions_ok = False
        return
    report.actions.append(f"{intent.describe()}: {'ok' if result.ok else 'FAILED'} in "
                          f"{result.duration_s:.1f} s")
    report.actions_ok &= result.ok
    say(report.actions[-1])


def _connected(snap: Snapshot, proxies: list[str]) -> bool:
    up = {p.name for p in snap.proxies if p.connection == "connected"}
    return all(p in up for p in proxies) and snap.ha.active is not None


async def _until(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"soak: {what} not reached within {within:.0f} s")
        await asyncio.sleep(0.2)


async def _settle(feed: ClusterFeed) -> None:
    """Wait until the state stops counting (the tailers have caught up), at most 30 s."""
    last = -1
    for _ in range(30):
        now = feed.snapshot().requests
        if now == last:
            return
        last = now
        await asyncio.sleep(1.0)


async def _log_lines(feed: ClusterFeed, host: str) -> int:
    out = await feed.session(host).run(["wc", "-l", "--", ACCESS_LOG])
    return int(out.stdout.split()[0])
