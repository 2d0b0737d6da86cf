"""What every benchmark shares: options, medians, timing, memory and the summary line."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Options:
    quick: bool = False
    reps: int = 3


def options(argv: Sequence[str] | None, description: str) -> Options:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a shorter run (about a minute overall)")
    p.add_argument("--reps", type=int, default=0, help="repetitions (default 3, quick 2)")
    a = p.parse_args(argv)
    return Options(quick=a.quick, reps=a.reps or (2 if a.quick else 3))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in 0..100."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def repeat(reps: int, fn: Callable[[], float]) -> list[float]:
    """Run ``fn`` (which returns one figure) ``reps`` times."""
    return [fn() for _ in range(reps)]


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def rss_mib() -> float:
    """This process's resident set size (VmRSS) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fmt(value: float | int | str) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "nan"
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def say(*parts: object) -> None:
    print(*parts, flush=True)


def header(name: str, text: str) -> None:
    """The first line of a benchmark, with the machine's load: this box is shared."""
    one, five, _ = os.getloadavg()
    say(f"{name}: {text}")
    say(f"  load average {one:.1f} / {five:.1f} (1/5 min) on {os.cpu_count()} CPUs"
        + ("  -- BUSY: other work competes; CPU-time figures are the steadier ones"
           if one > 1.5 else ""))


def row(label: str, values: Sequence[float], unit: str) -> None:
    """One figure: its median and every repetition."""
    each = " ".join(fmt(v) for v in values)
    say(f"  {label:<44} {fmt(median(values)):>10} {unit}   (runs: {each})")


def summary(name: str, **figures: float | int | str) -> None:
    """The last line of every benchmark, for scripts comparing runs."""
    say(f"BENCH {name} " + " ".join(f"{k}={fmt(v)}" for k, v in figures.items()))


def python() -> str:
    return sys.executable


def env() -> dict[str, str]:
    """The environment for child Python processes: the repo importable, nothing buffered."""
    out = dict(os.environ)
    out["PYTHONPATH"] = str(ROOT) + (os.pathsep + out["PYTHONPATH"]
                                     if out.get("PYTHONPATH") else "")
    out["PYTHONUNBUFFERED"] = "1"
    return out
