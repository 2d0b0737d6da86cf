"""Benchmark: lines/s reaching the state through real SSH sessions to the lab's proxies."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bench import common, genlog, labkit
from state.events import Event, LogBatch
from state.logformat import LineParser, compile_format
from state.reducer import ClusterState
from switchboard.inventory import Host

if TYPE_CHECKING:
    from collectors.ssh import HostSession

NAME = "ssh_ingest"
LINES, QUICK_LINES = 300_000, 50_000  # per proxy
TARGET = 50_000.0  # lines/s across two proxies on one core
TIMEOUT = 90.0
FLOOR_READ = 1 << 20


class Sink:
    """The state, fed by every host's events; says when ``target`` lines have arrived."""

    def __init__(self, hosts: Sequence[Host], target: int) -> None:
        self.state = ClusterState(cluster="bench", proxies=[h.name for h in hosts])
        self.target = target
        self.lines = 0
        self.done = asyncio.Event()

    def publish(self, event: Event) -> None:
        self.state.apply(event)
        if isinstance(event, LogBatch):
            self.lines += len(event.requests) + event.malformed
            if self.lines >= self.target:
                self.done.set()


async def via_tailer(hosts: Sequence[Host], lines: int) -> tuple[float, float]:
    """(wall, client CPU) for the collector's tailer to read every proxy's bench log."""
    from collectors.follow import Position
    from collectors.tailer import LogTailer

    sink = Sink(hosts, lines * len(hosts))
    async with labkit.sessions(hosts, sink.publish) as live:
        tailers = []
        for s in live:
            parser = compile_format(genlog.FORMAT, name="upstreamlog")
            t = LogTailer(s, labkit.BENCH_LOG, sink.publish, always(parser))
            # Inode "-" means "no file seen yet": the follower starts the file at byte 0.
            t.position = Position(inode="-")
            tailers.append(t)
        w, c = time.perf_counter(), time.process_time()
        tasks = [asyncio.create_task(t.run()) for t in tailers]
        try:
            await asyncio.wait_for(sink.done.wait(), TIMEOUT)
            wall, cpu = time.perf_counter() - w, time.process_time() - c
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return wall, cpu


def always(parser: LineParser) -> Callable[[list[bytes]], LineParser]:
    """The tailer's parser_for: the same parser whatever the lines (the format is known)."""
    return lambda _lines: parser


async def _cat(session: HostSession, parser: LineParser, sink: Sink, host: str) -> None:
    conn = await session.connection(15.0)
    proc = await conn.create_process(f"cat {labkit.BENCH_LOG}", encoding=None)
    pending = b""
    while chunk := await proc.stdout.read(FLOOR_READ):
        data = pending + chunk
        cut = data.rfind(b"\n")
        pending = data[cut + 1:]
        if cut >= 0:
            reqs, bad, sample = parser.parse_lines(data[:cut].split(b"\n"))
            sink.publish(LogBatch(host, tuple(reqs), bad, time.time(), sample))
    proc.close()


async def via_cat(hosts: Sequence[Host], lines: int) -> tuple[float, float]:
    """The transport floor: ``cat`` over the same kind of session, parser and state in-process."""
    sink = Sink(hosts, lines * len(hosts))
    async with labkit.sessions(hosts, sink.publish) as live:
        w, c = time.perf_counter(), time.process_time()
        await asyncio.wait_for(asyncio.gather(*(
            _cat(s, compile_format(genlog.FORMAT), sink, h.name)
            for s, h in zip(live, hosts, strict=True))), TIMEOUT)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
    assert sink.lines == lines * len(hosts), (sink.lines, lines * len(hosts))
    return wall, cpu


def main(argv: Sequence[str] | None = None) -> int:
    opts = common.options(argv, __doc__ or "")
    inv = labkit.lab_inventory()
    if inv is None:
        common.say(f"{NAME}: the lab is not up ('python -m lab up'): nothing measured")
        common.summary(NAME, status="no-lab")
        return 0
    lines = QUICK_LINES if opts.quick else LINES
    proxies = inv.proxies[:2]
    path = genlog.cached_file(lines, seed=2)
    common.header(NAME, f"{lines:,} lines per proxy ({path.stat().st_size / 1e6:.0f} MB) "
                  f"written to {labkit.BENCH_LOG} on {', '.join(h.name for h in proxies)}, "
                  "read from byte 0")
    common.say("  the proxies' follower scripts run on this same 2-core box: they take CPU too")
    for h in proxies:
        labkit.upload(h, path, labkit.BENCH_LOG)
    why_not = labkit.collectors_landed()
    try:
        # --quick measures only the figure the target is about: two proxies.
        singles = 0 if opts.quick else opts.reps
        floor1 = [asyncio.run(via_cat(proxies[:1], lines)) for _ in range(singles)]
        floor2 = [asyncio.run(via_cat(proxies, lines)) for _ in range(opts.reps)]
        if floor1:
            common.row("floor: cat over SSH + parser + state, 1 proxy",
                       [lines / w for w, _ in floor1], "lines/s")
        common.row("floor: cat over SSH + parser + state, 2 proxies",
                   [2 * lines / w for w, _ in floor2], "lines/s")
        common.row("floor: client CPU per 10k lines, 2 proxies",
                   [c / (2 * lines) * 1e4 * 1000 for _, c in floor2], "ms")
        floor_rate = common.median([2 * lines / w for w, _ in floor2])
        if why_not is not None:
            common.say(f"  collectors' tailer not measured: {why_not}")
            common.say("  (figures above are the transport floor, not the tailer)")
            common.summary(NAME, lines=lines, tailer="not-measured", floor_2=floor_rate)
            return 0
        one = [asyncio.run(via_tailer(proxies[:1], lines)) for _ in range(singles)]
        two = [asyncio.run(via_tailer(proxies, lines)) for _ in range(opts.reps)]
    finally:
        for h in proxies:
            labkit.remove(h, labkit.BENCH_LOG)
    rate1 = [lines / w for w, _ in one]
    rate2 = [2 * lines / w for w, _ in two]
    cpu2 = [c / (2 * lines) * 1e4 * 1000 for _, c in two]
    if rate1:
        common.row("collectors.tailer.LogTailer, 1 proxy", rate1, "lines/s")
    common.row("collectors.tailer.LogTailer, 2 proxies", rate2, "lines/s")
    common.row("tailer: client CPU per 10k lines, 2 proxies", cpu2, "ms")
    common.row("tailer: client CPU share, 2 proxies", [c / w for w, c in two], "cores")
    met = common.median(rate2) >= TARGET
    common.say(f"  tailer / floor (2 proxies): {common.median(rate2) / floor_rate:.2f}x; "
               f"target {TARGET:,.0f} lines/s across two proxies: {'met' if met else 'NOT met'}")
    common.summary(NAME, lines=lines, tailer_1=common.median(rate1),
                   tailer_2=common.median(rate2), cpu_ms_per_10k=common.median(cpu2),
                   floor_2=floor_rate, ratio_floor=common.median(rate2) / floor_rate,
                   target_met="yes" if met else "no")
    return 0


if __name__ == "__main__":
    sys.exit(main())
