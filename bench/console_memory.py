"""Benchmark: the dashboard's memory under the soak's load, lab-free, on a simulated clock.

The console runs headless (``App.run_test``) on ``SimFeed`` (bench/simfeed.py), which takes
the collectors' place. Each frame moves the simulated clock one refresh period on, so the
15-minute windows fill in a few minutes of wall time, and the soak's chores keep its
schedule: help opened and closed every 10 s, a notification a minute, a drain, an undrain
and a failover. Memory that still grows once the windows are full is a leak. Three phases:
up to the full windows; then untraced, sampling RSS, allocated blocks, gc objects and DOM
nodes (growth per simulated minute, and which widget types grew); then one help cycle under
``tracemalloc`` (it slows this load 8 to 30 times), which says where memory that stayed was
allocated and, for a closed widget still alive, where it was made and what holds it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields

from textual.dom import DOMNode
from textual.pilot import Pilot

from bench import common, leaks
from bench.simfeed import NOTE_EVERY, SimFeed
from console.app import REFRESH_HZ, SwitchboardApp
from console.screens.help import HelpScreen

NAME = "console_memory"
SCREEN = (160, 50)
WARM_S = 900.0  # the widest window: from here on every figure has 15 minutes behind it
HELP_EVERY = 10.0  # the soak's sampler opens and closes help this often
SETTLE_FRAMES = 5  # frames under tracemalloc before its first snapshot


@dataclass(frozen=True)
class Plan:
    rate: float  # log lines per simulated second, split between the two proxies
    console_from: float  # simulated second the console starts at (the state is fed from 0)
    minutes: float  # simulated minutes measured untraced once the windows are full
    every: float  # simulated minutes between those samples
    trace_minutes: float  # then simulated minutes under tracemalloc
    frames: int  # tracemalloc frames kept per allocation
    # Help opened and closed this many times when the console starts, so that caches bounded
    # by a number of closed widgets (textual#6665: 1,024) are as full as the soak's would be.
    prime: int = 0
    size: tuple[int, int] = SCREEN  # the terminal, columns x lines


TRACED = 1.5 * HELP_EVERY / 60  # simulated minutes traced: one help cycle well inside
FULL = Plan(rate=5000.0, console_from=0.0, minutes=10.0, every=1.0, trace_minutes=TRACED,
            frames=12)
QUICK = Plan(rate=500.0, console_from=WARM_S - 90, minutes=1.5, every=0.5,
             trace_minutes=TRACED, frames=1, prime=70)


@dataclass(frozen=True)
class Sample:
    at_s: float  # simulated seconds since the start
    rss_mib: float
    blocks: int  # sys.getallocatedblocks(): live blocks of Python's allocator
    objects: int  # objects the garbage collector tracks
    nodes: int  # Textual DOM nodes alive (attached to the app or not)
    traced: bool  # under tracemalloc: the figures below mean something
    traced_mib: float  # alive and allocated since tracing began
    peak_mib: float


def _mib(n: int) -> float:
    return n / (1 << 20)


class Soak:
    """Drives the app frame by frame on the simulated clock, doing the soak's chores."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.feed = SimFeed(plan.rate, frame_s=1 / REFRESH_HZ)
        # The app's own timer is slowed right down: every frame is driven from here.
        self.app = SwitchboardApp(self.feed, clock=self.feed.clock, refresh_hz=0.01)
        self.frames = 0
        self.helps = 0
        self.began = time.perf_counter()
        self.samples: list[Sample] = []
        self.types: list[tuple[float, Counter[type]]] = []  # gc objects, untraced samples
        self.before: tracemalloc.Snapshot | None = None
        self.after: tracemalloc.Snapshot | None = None
        self.trace_span = (0.0, 0.0)  # simulated seconds of the two snapshots
        self.leaked: Counter[str] = Counter()  # closed widgets made under tracing, alive
        total = WARM_S + (plan.minutes + plan.trace_minutes) * 60
        quarter = total / 4  # the soak's operate(): a quarter in, three actions 10 s apart
        self._chores = [(quarter, "drain", "web1"), (quarter + 10, "undrain", "web1"),
                        (quarter + 20, "failover", None)]

    @property
    def at(self) -> float:
        return self.feed.now - self.feed.started_at

    def _step(self) -> None:
        """One refresh period of simulated time: the collectors' events, then the chores."""
        self.feed.advance()
        while self._chores and self.at >= self._chores[0][0]:
            _, action, backend = self._chores.pop(0)
            self.feed.act(action, backend, steps=5)

    async def _help(self, pilot: Pilot[int]) -> None:
        """What the soak's sampler does: open help, check it is there, close it."""
        await pilot.press("question_mark")
        await pilot.pause()
        self.helps += isinstance(self.app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()

    async def _frame(self, pilot: Pilot[int]) -> None:
        self._step()
        self.app.tick()
        self.frames += 1
        # Waits for every widget's messages and draws the screen, without pause()'s 20 ms
        # wait for an idle CPU: the frames here are back to back.
        await pilot.pause(0)
        if self.frames % round(HELP_EVERY * REFRESH_HZ) == 0:
            await self._help(pilot)
        if self.frames % round(NOTE_EVERY * REFRESH_HZ) == 0:
            self.app.notify(f"simulated minute {self.at / 60:.0f}", title="soak",
                            timeout=2.0)

    async def run(self) -> None:
        plan = self.plan
        await self.feed.start()
        self._sample()
        while self.at < plan.console_from:
            self._step()
        measured = WARM_S + plan.minutes * 60
        async with self.app.run_test(headless=True, size=plan.size) as pilot:
            await pilot.pause()
            for _ in range(plan.prime):
                # Straight to the screens, not through keys: the same widgets, 4x sooner.
                self.app.action_help()
                await pilot.pause(0)
                self.app.pop_screen()
                await pilot.pause(0)
            while self.at < WARM_S:
                await self._frame(pilot)
            self._sample()
            next_sample = self.at + plan.every * 60
            while self.at < measured:
                await self._frame(pilot)
                if self.at >= next_sample:
                    self._sample()
                    next_sample += plan.every * 60
            await self._traced(pilot, measured + plan.trace_minutes * 60)

    async def _traced(self, pilot: Pilot[int], until: float) -> None:
        """Frames under tracemalloc; snapshots after a few frames and at the end."""
        self.feed.parse_ahead(round((until - self.at) * REFRESH_HZ) + SETTLE_FRAMES + 1)
        tracemalloc.start(self.plan.frames)
        for _ in range(SETTLE_FRAMES):
            await self._frame(pilot)
        gc.collect()
        self.before = tracemalloc.take_snapshot()
        census = leaks.Census()
        self._sample()
        began = self.at
        step = max(1.0, (until - began) / 3)
        next_sample = began + step
        while self.at < until:
            await self._frame(pilot)
            if self.at >= next_sample:
                self._sample()
                next_sample += step
        gc.collect()
        self.after = tracemalloc.take_snapshot()
        self.trace_span = (began, self.at)
        self.leaked = leaks.report(census, str(common.ROOT) + "/", common.say)
        tracemalloc.stop()

    def _sample(self) -> None:
        gc.collect()
        objects = gc.get_objects()
        types = Counter(type(o) for o in objects)
        nodes = sum(n for t, n in types.items() if issubclass(t, DOMNode))
        current, peak = tracemalloc.get_traced_memory()
        s = Sample(self.at, common.rss_mib(), sys.getallocatedblocks(), len(objects), nodes,
                   tracemalloc.is_tracing(), _mib(current), _mib(peak))
        del objects
        if not s.traced:
            self.types.append((self.at, types))
        self.samples.append(s)
        traced = (f"  traced {s.traced_mib:6.2f} MiB peak {s.peak_mib:6.2f}"
                  if s.traced else "")
        common.say(f"  t={s.at_s / 60:5.1f} min  rss {s.rss_mib:6.1f} MiB  blocks "
                   f"{s.blocks:>9,}  gc objects {s.objects:>9,}  nodes {s.nodes:>5,}  "
                   f"frames {self.frames:>5,}  lines {self.feed.lines:>10,}  wall "
                   f"{time.perf_counter() - self.began:4.0f} s{traced}")


def slope(samples: Sequence[Sample], field: str) -> float:
    """Least-squares growth of ``field`` per simulated minute over the samples."""
    xs = [s.at_s / 60 for s in samples]
    ys = [float(getattr(s, field)) for s in samples]
    if len(xs) < 2:
        return 0.0
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def show_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, frames: int,
                top: int = 10) -> float:
    """Print the allocation sites that grew most; returns the traced growth in bytes."""
    # Left out: the first snapshot, alive while the second is taken.
    skip = tracemalloc.Filter(False, tracemalloc.__file__)
    before, after = before.filter_traces((skip,)), after.filter_traces((skip,))
    stats = after.compare_to(before, "traceback" if frames > 1 else "lineno")
    root = str(common.ROOT) + "/"
    for s in [s for s in stats if s.size_diff > 0][:top]:
        common.say(f"  {s.size_diff / 1024:+9.1f} KiB {s.count_diff:+8,} blocks  "
                   f"(now {s.size / 1024:.1f} KiB)")
        for line in s.traceback.format(most_recent_first=True):
            if line.startswith("  File"):
                common.say("      " + line.strip().replace(root, "").replace(
                    "/.venv/lib/python3.11/site-packages/", "<venv>/"))
    return sum(s.size_diff for s in stats)


def _name(kind: type) -> str:
    """``list``, ``rich.Style``, ``textual.Style``: short, yet telling same names apart."""
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__.split('.')[0]}.{kind.__qualname__}"


def _size(text: str) -> tuple[int, int]:
    columns, _, lines = text.partition("x")
    try:
        return int(columns), int(lines)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give COLUMNSxLINES, e.g. 120x40") from None


def parse(argv: Sequence[str] | None) -> Plan:
    p = argparse.ArgumentParser(prog=f"python -m bench.{NAME}", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="500 lines/s, console from minute 13.5, 1.5 min measured, 15 s traced")
    p.add_argument("--reps", type=int, default=0, help="ignored: one run gives the figures")
    p.add_argument("--rate", type=float, help="log lines per simulated second")
    p.add_argument("--minutes", type=float, help="simulated minutes measured untraced")
    p.add_argument("--trace-minutes", type=float, help="simulated minutes under tracemalloc")
    p.add_argument("--frames", type=int, help="tracemalloc frames kept per allocation")
    p.add_argument("--prime", type=int, help="help opened this many times at console start")
    p.add_argument("--size", type=_size,
                   help=f"terminal size (default {SCREEN[0]}x{SCREEN[1]}; the soak's 120x40)")
    a = p.parse_args(argv)
    plan = QUICK if a.quick else FULL
    given = {f.name: getattr(a, f.name) for f in fields(Plan)
             if getattr(a, f.name, None) is not None}
    return Plan(**{**plan.__dict__, **given})


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse(argv)
    columns, lines = plan.size
    common.header(NAME, f"SwitchboardApp headless at {columns}x{lines} on a simulated "
                  f"feed: {plan.rate:g} lines/s, {REFRESH_HZ:g} frames per simulated s from "
                  f"minute {plan.console_from / 60:g}, help every {HELP_EVERY:g} s (and "
                  f"{plan.prime} times at the start); windows "
                  f"full at minute {WARM_S / 60:g}, then {plan.minutes:g} min untraced and "
                  f"{plan.trace_minutes:g} min under tracemalloc")
    soak = Soak(plan)
    began = time.perf_counter()
    asyncio.run(soak.run())
    wall = time.perf_counter() - began
    assert soak.before is not None and soak.after is not None
    untraced = [s for s in soak.samples if s.at_s >= WARM_S and not s.traced]
    traced_min = (soak.trace_span[1] - soak.trace_span[0]) / 60
    counted = [types for at, types in soak.types if at >= WARM_S]
    more = counted[-1] - counted[0]
    for what, kinds in (("gc objects", more), ("DOM nodes", Counter(
            {t: n for t, n in more.items() if issubclass(t, DOMNode)}))):
        common.say(f"  {what} alive, growth by type after the windows filled: " + (", ".join(
            f"{_name(t)} {n:+,}" for t, n in kinds.most_common(8)) or "none"))
    common.say("  allocation sites that grew under tracemalloc (top, by size; bounded caches "
               "refilled since tracing began count too):")
    grown = show_growth(soak.before, soak.after, plan.frames)
    per_min = {f: slope(untraced, f) for f in ("rss_mib", "blocks", "objects", "nodes")}
    common.say(f"  traced: {grown / 1024:+.0f} KiB between the snapshots, "
               f"{traced_min:.2g} simulated min apart")
    common.say(f"  after the windows filled, per simulated minute: rss "
               f"{per_min['rss_mib'] * 1024:+.0f} KiB, blocks {per_min['blocks']:+,.0f}, "
               f"gc objects {per_min['objects']:+,.0f}, DOM nodes {per_min['nodes']:+.1f} "
               f"({soak.frames:,} frames, help opened {soak.helps} times, {wall:.0f} s wall)")
    common.summary(NAME, rate=plan.rate, frames=soak.frames, helps=soak.helps,
                   rss_kib_per_min=per_min["rss_mib"] * 1024,
                   blocks_per_min=per_min["blocks"], objects_per_min=per_min["objects"],
                   nodes_per_min=per_min["nodes"], traced_kib=grown / 1024,
                   leaked_widgets=sum(soak.leaked.values()), wall_s=wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
