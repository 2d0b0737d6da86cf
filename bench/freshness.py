"""Benchmark: delay from a line's write to its effect in the state, at 2,000 and 20,000 lines/s.

A writer process appends lines stamped with their write time in ``$msec``; the state's
``apply`` is wrapped so each request's delay is taken right after the reducer has counted
it. Readers: `switchboard watch`'s own follow loop (in-process, at its default interval and
at a short one) and, when the collectors are there, the SSH tailer on a lab proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import SupportsIndex

from bench import common, genlog, labkit
from state.events import Event, LogBatch
from state.logformat import compile_format
from state.reducer import ClusterState
from switchboard.commands import watch

NAME = "freshness"
RATES = (2_000, 20_000)
TARGET_MS = 250.0
WRITE_EVERY = 0.005  # the writer's tick: nginx's buffered log writes come about this often


class _Stop(Exception):
    pass


def write(path: Path, rate: float, seconds: float) -> None:
    """The writer: append ``rate`` lines/s for ``seconds``, each stamped when written."""
    pool = genlog.templates(3)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    start = time.monotonic()
    written = 0
    try:
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate) - written
            if due > 0:
                os.write(fd, genlog.lines_now(due, pool=pool, offset=written))
                written += due
            time.sleep(WRITE_EVERY)
        if (rest := int(seconds * rate) - written) > 0:
            os.write(fd, genlog.lines_now(rest, pool=pool, offset=written))
    finally:
        os.close(fd)


def start_writer(path: Path, rate: float, seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([common.python(), "-m", "bench.freshness", "--writer", str(path),
                             str(rate), str(seconds)], env=common.env())


class Recorder:
    """Wraps a state's apply: the delay of every request, once the reducer has it."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.delays: list[float] = []
        self._apply = state.apply

    def __call__(self, event: Event) -> None:
        self._apply(event)
        if isinstance(event, LogBatch) and event.requests:
            now = time.time()
            self.delays.extend(now - r.timestamp for r in event.requests)


def via_watch(rate: float, seconds: float, interval: float) -> list[float]:
    """Delays through `switchboard watch --from-file`'s follow loop, run in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "access.log"
        path.touch()
        state = ClusterState(cluster="bench", proxies=("access.log",))
        rec = Recorder(state)
        state.apply = rec  # type: ignore[method-assign]
        ingest = watch.FileIngest(path, state, "access.log", compile_format(genlog.FORMAT))
        args = argparse.Namespace(json=True, window="1m", interval=interval)
        writer = start_writer(path, rate, seconds)
        deadline = time.monotonic() + seconds + 10.0
        real_sleep = watch._sleep
        last_pass = False

        def sleep(s: float | SupportsIndex) -> None:
            # Stop after the first full read that began once the writer had finished.
            nonlocal last_pass
            if last_pass or time.monotonic() > deadline:
                raise _Stop
            last_pass = writer.poll() is not None
            real_sleep(s)

        watch._sleep = sleep
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(_Stop):
                watch._follow(path.open("rb"), ingest, args)
        finally:
            watch._sleep = real_sleep
            writer.wait()
        return rec.delays


async def _tail(rate: float, seconds: float) -> list[float]:
    from collectors.follow import Position
    from collectors.tailer import LogTailer

    inv = labkit.lab_inventory()
    assert inv is not None
    host = inv.proxies[0]
    local = labkit.host_path(host, labkit.FRESH_LOG)
    local.write_bytes(b"")
    state = ClusterState(cluster="bench", proxies=(host.name,))
    rec = Recorder(state)
    parser = compile_format(genlog.FORMAT)
    async with labkit.sessions([host], rec) as live:
        tailer = LogTailer(live[0], labkit.FRESH_LOG, rec, lambda _lines: parser)
        tailer.position = Position(inode="-")
        task = asyncio.create_task(tailer.run())
        try:
            await asyncio.sleep(1.0)  # the follower is up and has sent its first frame
            # The writer runs in the root namespace on the proxy's own file tree: for the
            # follower inside lb1 it is the same file nginx would append to.
            writer = start_writer(local, rate, seconds)
            await asyncio.to_thread(writer.wait)
            await asyncio.sleep(1.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    local.unlink(missing_ok=True)
    return rec.delays


def report(label: str, delays: list[float], expected: int) -> tuple[float, float]:
    ms = [d * 1000 for d in delays]
    p50, p99 = common.percentile(ms, 50), common.percentile(ms, 99)
    common.say(f"  {label:<52} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  max "
               f"{max(ms, default=float('nan')):7.1f} ms  lines {len(ms):,}/{expected:,}  "
               f"{'ok' if p99 < TARGET_MS else 'OVER'}")
    return p50, p99


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--writer":
        write(Path(argv[1]), float(argv[2]), float(argv[3]))
        return 0
    opts = common.options(argv, __doc__ or "")
    seconds = 2.0 if opts.quick else 8.0
    common.header(NAME, f"writer process appends every {WRITE_EVERY * 1000:g} ms for "
                  f"{seconds:g} s per run; delay = time the reducer has the line - $msec; "
                  f"target p99 < {TARGET_MS:g} ms")
    figures: dict[str, float | str] = {}
    def follow(interval: float) -> Callable[[float], list[float]]:
        return lambda rate: via_watch(rate, seconds, interval)

    runs: list[tuple[str, str, Callable[[float], list[float]]]] = [
        (key, f"watch follow loop, --interval {interval:g} s", follow(interval))
        for key, interval in (("watch1s", 1.0), ("watch100ms", 0.1))
        if not (opts.quick and interval == 1.0)]  # 1 s polling is ~1 s late by design
    why_not = labkit.collectors_landed()
    if labkit.lab_inventory() is None:
        why_not = "the lab is not up"
    if why_not is None:
        runs.append(("tailer", "SSH tailer on lb1 (default 0.25 s poll)",
                     lambda r: asyncio.run(_tail(r, seconds))))
    for rate in RATES:
        for key, label, run in runs:
            _, p99 = report(f"{rate:>6,}/s {label}", run(rate), int(rate * seconds))
            figures[f"{key}_{rate // 1000}k_p99_ms"] = p99
    if why_not is not None:
        common.say(f"  SSH tailer not measured: {why_not}")
    common.summary(NAME, **figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
