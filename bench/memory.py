"""Benchmark: resident memory while 10 million generated lines stream through parser + state."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from bench import common, genlog
from state.events import LogBatch
from state.logformat import compile_format
from state.reducer import ClusterState

NAME = "memory"
# (lines, sample every, simulated requests/s): the 15-minute windows fill after
# 900 s x rate lines, so every sample after that should be level.
FULL = (10_000_000, 1_000_000, 2000.0)
QUICK = (1_000_000, 100_000, 500.0)
FLAT_MIB = 5.0  # growth after the windows are full that still counts as flat


def main(argv: Sequence[str] | None = None) -> int:
    opts = common.options(argv, __doc__ or "")
    total, every, rate = QUICK if opts.quick else FULL
    warm = int(900 * rate)
    common.header(NAME, f"{total:,} lines generated on the fly at a simulated {rate:g} req/s "
                  f"(15-min windows full after {warm:,} lines), VmRSS every {every:,}")
    parser = compile_format(genlog.FORMAT, name="upstreamlog")
    state = ClusterState(cluster="bench", proxies=("lb1",))
    samples: list[tuple[int, float]] = [(0, common.rss_mib())]
    common.say(f"  {0:>12,} lines  {samples[0][1]:8.1f} MiB")
    done = 0
    started = time.perf_counter()
    next_sample = every
    # ~256 lines a block: the size of the tailer's batches.
    for block in genlog.chunks(total, rate=rate, chunk_lines=256):
        reqs, bad, sample = parser.parse_chunk(block)
        state.apply(LogBatch("lb1", tuple(reqs), bad, 0.0, sample))
        done += len(reqs) + bad
        if done >= next_sample:
            rss = common.rss_mib()
            samples.append((done, rss))
            elapsed = time.perf_counter() - started
            common.say(f"  {done:>12,} lines  {rss:8.1f} MiB   ({done / elapsed:,.0f} lines/s "
                       "incl. generation)")
            next_sample += every
    snap = state.snapshot(state.snapshot(0).proxies[0].last_line_at or 0.0)
    assert snap.requests == total, (snap.requests, total)
    after_warm = [r for n, r in samples if n >= warm] or [samples[-1][1]]
    growth = after_warm[-1] - after_warm[0]
    spread = max(after_warm) - min(after_warm)
    flat = spread <= FLAT_MIB
    common.say(f"  after the windows filled: first {after_warm[0]:.1f} MiB, last "
               f"{after_warm[-1]:.1f} MiB, growth {growth:+.1f} MiB, spread {spread:.1f} MiB "
               f"-> {'flat' if flat else 'NOT flat'} (limit {FLAT_MIB:g} MiB)")
    common.summary(NAME, lines=total, rss_start_mib=samples[0][1],
                   rss_warm_mib=after_warm[0], rss_end_mib=samples[-1][1],
                   growth_mib=growth, spread_mib=spread, flat="yes" if flat else "no")
    return 0


if __name__ == "__main__":
    sys.exit(main())
