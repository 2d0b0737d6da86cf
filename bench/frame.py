"""Benchmark: the dashboard's cost per frame (10/100/500 backends) and its CPU while idle."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

from bench import common
from console.app import REFRESH_HZ, SwitchboardApp
from state.snapshot import Snapshot
from tests.unit import console_fixtures as fx

NAME = "frame"
SIZES = (10, 100, 500)
SCREEN = (160, 50)
BUDGET_MS = 16.0
IDLE_LIMIT = 0.02


def snapshot(n: int, variant: int) -> Snapshot:
    """``n`` backends whose figures change with ``variant``, so every cell is rewritten."""
    backends = tuple(
        fx.backend(i, weight=1 + i % 3, cfg_share=1 / n,
                   rate=5.0 + (i * 37 + variant * 11) % 50, share=1 / n,
                   p50=2.0 + (i + variant) % 7, p95=10.0 + (i * 13 + variant) % 40,
                   p99=50.0 + (i + variant) % 30, state="down" if i % 29 == 0 else "up")
        for i in range(1, n + 1))
    return replace(fx.healthy(), backends=backends, requests=813_549 + variant * 1000)


async def frames(n: int, count: int) -> tuple[list[float], list[float], list[float]]:
    """Per frame: (CPU ms of the update, CPU ms of update + render, wall ms of both)."""
    variants = [snapshot(n, v) for v in range(4)]
    feed = fx.FakeFeed(variants[0])
    # The app's own timer is slowed right down so that only the frames driven here count.
    app = SwitchboardApp(feed, clock=fx.frozen_clock(), refresh_hz=0.01)
    update, total, wall = [], [], []
    async with app.run_test(size=SCREEN) as pilot:
        await pilot.pause()
        for k in range(count + 2):
            feed.push(variants[(k + 1) % len(variants)])
            w, c = time.perf_counter(), time.process_time()
            app.tick()
            c_update = time.process_time() - c
            await pilot.pause()
            c_total, w_total = time.process_time() - c, time.perf_counter() - w
            if k >= 2:  # the first frames also build rows and measure columns
                update.append(c_update * 1000)
                total.append(c_total * 1000)
                wall.append(w_total * 1000)
    return update, total, wall


async def pause_floor(count: int) -> list[float]:
    """CPU ms of ``pilot.pause()`` with nothing to redraw: the harness's own share."""
    app = SwitchboardApp(fx.FakeFeed(snapshot(10, 0)), clock=fx.frozen_clock(),
                         refresh_hz=0.01)
    out = []
    async with app.run_test(size=SCREEN) as pilot:
        await pilot.pause()
        for _ in range(count):
            c = time.process_time()
            await pilot.pause()
            out.append((time.process_time() - c) * 1000)
    return out


async def idle(n: int, seconds: float, live: bool) -> float:
    """CPU share of the app running at its own refresh rate; ``live`` pushes new data."""
    variants = [snapshot(n, v) for v in range(4)]
    feed = fx.FakeFeed(variants[0])
    app = SwitchboardApp(feed, clock=time.time)
    async with app.run_test(size=SCREEN) as pilot:
        await pilot.pause(1.0)
        w, c = time.perf_counter(), time.process_time()
        k = 0
        while time.perf_counter() - w < seconds:
            await asyncio.sleep(1 / REFRESH_HZ)
            if live:
                k += 1
                feed.push(variants[k % len(variants)])
        share = (time.process_time() - c) / (time.perf_counter() - w)
    return share


def main(argv: Sequence[str] | None = None) -> int:
    opts = common.options(argv, __doc__ or "")
    count = 6 if opts.quick else 30
    idle_seconds = 2.0 if opts.quick else 10.0
    common.header(NAME, f"headless App.run_test at {SCREEN[0]}x{SCREEN[1]}, fake feed; "
                  f"{count} frames per size, each a new snapshot; CPU time (process_time)")
    floor = asyncio.run(pause_floor(count))
    common.row("pilot.pause() alone (harness floor)", floor, "ms CPU")
    per_size: dict[int, float] = {}
    for n in SIZES:
        update, total, wall = asyncio.run(frames(n, count))
        common.row(f"{n} backends: tick() (data -> widgets)", update, "ms CPU")
        common.row(f"{n} backends: tick() + render", total, "ms CPU")
        common.row(f"{n} backends: tick() + render (wall incl. idle wait)", wall, "ms")
        per_size[n] = common.median(total) - common.median(floor)
        common.say(f"  {n} backends: frame = {per_size[n]:.1f} ms CPU (floor removed)")
    quiet = asyncio.run(idle(100, idle_seconds, live=False))
    busy = asyncio.run(idle(100, idle_seconds, live=True))
    common.say(f"  idle, 100 backends, {idle_seconds:g} s at {REFRESH_HZ:g} Hz refresh, same "
               f"snapshot: {quiet:.2%} CPU (target < {IDLE_LIMIT:.0%})")
    common.say(f"  live, 100 backends, a new snapshot every refresh: {busy:.2%} CPU")
    met = per_size[100] < BUDGET_MS
    common.say(f"  target < {BUDGET_MS:g} ms at 100 backends: {'met' if met else 'NOT met'}; "
               f"idle: {'met' if quiet < IDLE_LIMIT else 'NOT met'}")
    common.summary(NAME, frame10_ms=per_size[10], frame100_ms=per_size[100],
                   frame500_ms=per_size[500], idle_cpu=quiet, live_cpu=busy,
                   floor_ms=common.median(floor))
    return 0


if __name__ == "__main__":
    sys.exit(main())
