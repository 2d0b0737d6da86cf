"""`python -m bench [--quick] [NAME...]`: run the benchmarks, each in its own process."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence

from bench import common

# Run order: the lab-free ones first, so a missing lab costs only the last ones.
BENCHMARKS = ("ingest", "memory", "frame", "console_memory", "freshness", "ssh_ingest",
              "actions")
TIME_LIMIT = {"ingest": 240.0, "memory": 240.0, "frame": 120.0, "console_memory": 600.0,
              "freshness": 120.0, "ssh_ingest": 180.0, "actions": 180.0}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"benchmarks to run (default all: {', '.join(BENCHMARKS)})")
    p.add_argument("--quick", action="store_true", help="about a minute in all")
    p.add_argument("--reps", type=int, default=0, help="repetitions per figure")
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    extra = (["--quick"] if args.quick else []) + (["--reps", str(args.reps)] if args.reps
                                                   else [])
    summaries: list[str] = []
    failed: list[str] = []
    started = time.monotonic()
    for name in args.names or BENCHMARKS:
        common.say(f"\n=== {name} ===")
        # A process each: one benchmark's memory, threads or event loop cannot skew the next.
        try:
            proc = subprocess.run([common.python(), "-m", f"bench.{name}", *extra],
                                  env=common.env(), stdout=subprocess.PIPE, text=True,
                                  timeout=TIME_LIMIT[name], check=False)
        except subprocess.TimeoutExpired as e:
            out = e.stdout if isinstance(e.stdout, str) else ""
            print(out, end="")
            failed.append(f"{name} (over {TIME_LIMIT[name]:.0f} s)")
            continue
        print(proc.stdout, end="", flush=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")]
        summaries.extend(lines[-1:])
        if proc.returncode != 0:
            failed.append(f"{name} (exit {proc.returncode})")
    common.say(f"\n=== summary ({time.monotonic() - started:.0f} s) ===")
    for line in summaries:
        common.say(line)
    for name in failed:
        common.say(f"FAILED {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
