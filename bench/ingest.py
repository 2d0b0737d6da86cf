"""Benchmark: lines/s of parse + aggregate on one core, beside GoAccess and a bare regex."""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bench import common, genlog
from state.events import LogBatch
from state.logformat import compile_format
from state.reducer import ClusterState

NAME = "ingest"
LINES, QUICK_LINES = 1_000_000, 100_000
# The SSH tailer reads its stream 256 KiB at a time (collectors.tailer.READ_SIZE), so a busy
# log reaches the parser in batches of about a thousand lines; the same cut is used here.
BLOCK = 256 << 10
GOACCESS_FORMAT = ('%h - %e [%d:%t %^] "%r" %s %b "%R" "%u" rt=%T ua="%^" us="%^" '
                   'urt="%^" msec=%^')


def blocks(data: bytes, size: int = BLOCK) -> Iterator[list[bytes]]:
    """The data as lists of lines without newlines, cut at the last newline of each block."""
    start, end = 0, len(data)
    while start < end:
        cut = data.rfind(b"\n", start, min(start + size, end)) + 1
        if cut <= start:
            cut = min(start + size, end)
        yield data[start:cut - 1 if data[cut - 1:cut] == b"\n" else cut].split(b"\n")
        start = cut


def parser_only(data: bytes) -> int:
    parser = compile_format(genlog.FORMAT, name="upstreamlog")
    n = 0
    for lines in blocks(data):
        reqs, bad, _ = parser.parse_lines(lines)
        n += len(reqs) + bad
    return n


def parser_and_state(data: bytes) -> ClusterState:
    parser = compile_format(genlog.FORMAT, name="upstreamlog")
    state = ClusterState(cluster="bench", proxies=("lb1",))
    for lines in blocks(data):
        reqs, bad, sample = parser.parse_lines(lines)
        state.apply(LogBatch("lb1", tuple(reqs), bad, 0.0, sample))
    return state


_BASELINE = re.compile(
    r'(\S+) - (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)" '
    r'rt=(\S+) ua="([^"]*)" us="([^"]*)" urt="([^"]*)" msec=(\S+)')


def regex_baseline(data: bytes) -> dict[str, int]:
    """The least a Python tool can do: one regex, split the upstream list, count per server."""
    counts: dict[str, int] = {}
    match = _BASELINE.match
    for lines in blocks(data, 1 << 20):
        for line in b"\n".join(lines).decode().split("\n"):
            m = match(line)
            if m is None:
                continue
            for addr in m.group(10).split(", "):
                counts[addr] = counts.get(addr, 0) + 1
    return counts


def child_seconds(argv: Sequence[str]) -> tuple[float, float, str]:
    """(wall, CPU of the child, stdout) of one subprocess run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=common.env(), check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


# The watch command alone, for when the full CLI cannot import a module still being written.
_WATCH_ONLY = (
    "import argparse, sys\n"
    "from switchboard.commands import watch\n"
    "p = argparse.ArgumentParser()\n"
    "p.add_argument('--inventory')\n"
    "p.add_argument('--accept-new-host-keys', action='store_true')\n"
    "watch.register(p.add_subparsers())\n"
    "a = p.parse_args()\n"
    "sys.exit(a.run(a))\n"
)


def watch_argv(path: Path) -> tuple[list[str], str]:
    """The end-to-end command and how it is run: the real CLI when it imports."""
    args = ["watch", "--json", "--once", "--from-file", str(path)]
    probe = subprocess.run([common.python(), "-c", "import switchboard.cli as c; c.build_parser()"],
                           capture_output=True, env=common.env(), check=False)
    if probe.returncode == 0:
        return [common.python(), "-m", "switchboard.cli", *args], "switchboard watch"
    return ([common.python(), "-c", _WATCH_ONLY, *args],
            "watch command module (the full CLI does not import right now)")


def goaccess_argv(path: Path, out: Path) -> list[str]:
    # One thread is all this build has (no --jobs); no config file, no on-disk database.
    return ["goaccess", str(path), "--no-global-config", "--no-progress",
            f"--log-format={GOACCESS_FORMAT}", "--date-format=%d/%b/%Y",
            "--time-format=%H:%M:%S", "-o", str(out)]


def main(argv: Sequence[str] | None = None) -> int:
    opts = common.options(argv, __doc__ or "")
    count = QUICK_LINES if opts.quick else LINES
    path = genlog.cached_file(count)
    data = path.read_bytes()
    common.header(NAME, f"{count:,} lines, {len(data) / 1e6:.0f} MB, {path}")
    common.say(f"  one core each; {opts.reps} runs, median shown; parser batches of "
               f"{BLOCK >> 10} KiB (~{count * BLOCK // max(1, len(data))} lines)")
    common.say("  peer: GoAccess counts more panels (visitors, URLs, agents...); "
               "Switchboard keeps per-backend windows and latency sketches")

    state = parser_and_state(data)
    snap = state.snapshot(state.snapshot(0).proxies[0].last_line_at or 0.0)
    assert snap.requests == count, f"parsed {snap.requests} of {count} lines"

    def rates(fn: Callable[[bytes], object]) -> tuple[list[float], list[float]]:
        """lines/s by the wall clock and per CPU-second, for each repetition."""
        runs = [common.timed(lambda: fn(data)) for _ in range(opts.reps)]
        return [count / w for w, _ in runs], [count / c for _, c in runs]

    parser, parser_cpu = rates(parser_only)
    full, full_cpu = rates(parser_and_state)
    base, base_cpu = rates(regex_baseline)

    watch_wall, watch_cpu = [], []
    watch_cmd, how = watch_argv(path)
    common.say(f"  (c) runs the {how}")
    for _ in range(opts.reps):
        wall, cpu, out = child_seconds(watch_cmd)
        got = json.loads(out.splitlines()[-1])
        assert got["requests"] == count, f"watch saw {got['requests']} requests"
        watch_wall.append(count / wall)
        watch_cpu.append(count / cpu)

    ga_wall, ga_cpu = [], []
    if shutil.which("goaccess"):
        with tempfile.TemporaryDirectory() as tmp:
            out_file = Path(tmp) / "goaccess.json"
            for _ in range(opts.reps):
                wall, cpu, _ = child_seconds(goaccess_argv(path, out_file))
                report = json.loads(out_file.read_text())
                assert report["general"]["valid_requests"] == count, report["general"]
                ga_wall.append(count / wall)
                ga_cpu.append(count / cpu)
    else:
        common.say("  goaccess not installed: no peer figure")

    common.say("  lines/s by the wall clock, then per CPU-second of the process doing the work")
    common.row("(a) parser alone (wall)", parser, "lines/s")
    common.row("(a) parser alone (CPU)", parser_cpu, "lines/s")
    common.row("(b) parser + ClusterState.apply (wall)", full, "lines/s")
    common.row("(b) parser + ClusterState.apply (CPU)", full_cpu, "lines/s")
    common.row("(c) switchboard watch --once (wall)", watch_wall, "lines/s")
    common.row("(c) switchboard watch --once (CPU)", watch_cpu, "lines/s")
    common.row("(d) goaccess, one thread (wall)", ga_wall, "lines/s")
    common.row("(d) goaccess, one thread (CPU)", ga_cpu, "lines/s")
    common.row("(e) one-regex Python baseline (wall)", base, "lines/s")
    common.row("(e) one-regex Python baseline (CPU)", base_cpu, "lines/s")
    m = common.median
    nan = float("nan")
    ratio_b = m(full_cpu) / m(ga_cpu) if ga_cpu else nan
    ratio_c = m(watch_cpu) / m(ga_cpu) if ga_cpu else nan
    ratio_c_wall = m(watch_wall) / m(ga_wall) if ga_wall else nan
    common.say(f"  per CPU-second: Switchboard (b) / GoAccess {ratio_b:.2f}x, watch (c) / "
               f"GoAccess {ratio_c:.2f}x; wall clock: watch / GoAccess {ratio_c_wall:.2f}x "
               "(target >= 1.0x)")
    versus_regex = m(full_cpu) / m(base_cpu)
    common.say(f"  per CPU-second: Switchboard (b) / regex baseline {versus_regex:.2f}x")
    common.summary(NAME, lines=count, parser_cpu=m(parser_cpu), parser_state_cpu=m(full_cpu),
                   watch_cpu=m(watch_cpu), goaccess_cpu=m(ga_cpu), baseline_cpu=m(base_cpu),
                   watch_wall=m(watch_wall), goaccess_wall=m(ga_wall),
                   ratio_goaccess=ratio_b, ratio_watch_goaccess=ratio_c,
                   ratio_watch_goaccess_wall=ratio_c_wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
