"""The backends table as data: which columns fit, what each cell says, how rows sort and flag."""

from __future__ import annotations

import bisect
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rich.console import JustifyMethod, OverflowMethod
from rich.text import Text

from console import format as fmt
from state.snapshot import BackendView, WindowStats

SHARE_DRIFT_POINTS = 10.0  # observed vs configured share, in percentage points
SHARE_MIN_ATTEMPTS = 20  # below this a share is noise, not a finding
SLOW_FACTOR = 2.0  # p95 above this many times the peers' median p95

STATE_ORDER = {"failing": 0, "down": 1, "draining": 2, "unknown": 3, "backup": 4, "up": 5}


@dataclass(frozen=True)
class Palette:
    """Theme colours the cells use (Rich style strings), taken from the running theme."""

    error: str = "red"
    warning: str = "yellow"
    success: str = "green"
    muted: str = "grey50"
    bar: str = "blue"


@dataclass(frozen=True)
class Context:
    """What a row needs to know about its peers to decide whether it stands out.

    Built once per snapshot (``context``) so that judging every row stays linear.
    """

    window: str
    peer_p95_median: float | None
    p95s: tuple[float, ...] = ()  # every backend's p95 in the window, ascending

    def median_without(self, value: float) -> float | None:
        """The median p95 of the others: this sorted list less one ``value``."""
        values = self.p95s
        n = len(values) - 1
        if n <= 0:
            return None
        gone = bisect.bisect_left(values, value)

        def at(k: int) -> float:
            return values[k] if k < gone else values[k + 1]

        half = n // 2
        return at(half) if n % 2 else (at(half - 1) + at(half)) / 2


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    priority: int  # lower fits first when the terminal is narrow
    numeric: bool = True
    descending: bool = True  # the first click sorts the worst/busiest first


COLUMNS: tuple[Column, ...] = (
    Column("name", "backend", 16, 0, numeric=False, descending=False),
    Column("state", "state", 8, 1, numeric=False, descending=False),
    Column("weight", "wt cfg", 6, 6),
    Column("share", "observed", 12, 2, numeric=False),
    Column("rate", "req/s", 6, 3),
    Column("s2xx", "2xx", 6, 10),
    Column("s4xx", "4xx", 5, 9),
    Column("s5xx", "5xx", 4, 4),
    Column("hidden", "hid", 3, 8),
    Column("p50", "p50", 5, 11),
    Column("p95", "p95", 5, 5),
    Column("p99", "p99", 5, 7),
    Column("spark", "last 60 s", 30, 12, numeric=False),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
SCROLLBAR = 2
SPARK_MAX = 60  # one cell per second of the 60-point history


def fit(width: int, padding: int = 1) -> tuple[Column, ...]:
    """The columns that fit ``width`` cells, in display order.

    The name narrows on small terminals; the sparkline, added last, takes the room left.
    """
    chosen: dict[str, int] = {}
    name_width = 16 if width >= 120 else 11
    used = SCROLLBAR
    for col in sorted(COLUMNS, key=lambda c: c.priority):
        w = name_width if col.key == "name" else col.width
        if used + w + 2 * padding <= width:
            chosen[col.key] = w
            used += w + 2 * padding
    if "spark" in chosen:
        chosen["spark"] = min(SPARK_MAX, chosen["spark"] + width - used)
    return tuple(
        Column(c.key, c.label, chosen[c.key], c.priority, c.numeric, c.descending)
        for c in COLUMNS if c.key in chosen
    )


@lru_cache(maxsize=4096)
def natural(text: str) -> tuple[str | int, ...]:
    """Sort key that puts web2 before web10."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text.lower()))


def row_key(b: BackendView) -> str:
    """A row's identity: the same server may sit in two upstream blocks."""
    return f"{b.upstream}/{b.address}" if b.upstream else b.address


def context(backends: Sequence[BackendView], window: str) -> Context:
    p95s = [b.windows[window].p95_ms for b in backends if window in b.windows]
    values = sorted(p for p in p95s if p is not None)
    return Context(window, statistics.median(values) if values else None, tuple(values))


def stats(b: BackendView, window: str) -> WindowStats:
    return b.windows.get(window) or WindowStats()


def share_drifts(b: BackendView, window: str) -> bool:
    w = stats(b, window)
    if b.configured_share is None or w.attempts < SHARE_MIN_ATTEMPTS:
        return False
    return abs(w.share - b.configured_share) * 100 > SHARE_DRIFT_POINTS


def is_slow(b: BackendView, ctx: Context) -> bool:
    """p95 more than twice the median of its peers' p95 (the others, not itself).

    ``ctx`` must come from the backends ``b`` is one of.
    """
    mine = stats(b, ctx.window).p95_ms
    if mine is None:
        return False
    peers = ctx.median_without(mine)
    return peers is not None and mine > SLOW_FACTOR * peers


def flagged(b: BackendView, window: str, backends: Sequence[BackendView]) -> bool:
    return share_drifts(b, window) or is_slow(b, context(backends, window))


def _num(text: str, style: str = "") -> Text:
    return Text(text, style=style, justify="right", overflow="ellipsis", no_wrap=True)


def _state_style(state: str, pal: Palette) -> str:
    return {
        "down": f"bold {pal.error}",
        "failing": f"bold reverse {pal.error}",
        "draining": pal.warning,
        "backup": pal.muted,
        "unknown": pal.muted,
    }.get(state, pal.success)


Spec = tuple[str, str]  # what a cell shows: its text and its style; the column does the rest


def look(col: Column) -> tuple[JustifyMethod | None, OverflowMethod | None]:
    """How a column lays its text out: numbers right-aligned, the name cut with '…'."""
    if col.numeric:
        return "right", "ellipsis"
    return None, "ellipsis" if col.key == "name" else None


def cell_text(col: Column, spec: Spec) -> Text:
    """The cell ``spec`` drawn in ``col``."""
    justify, overflow = look(col)
    return Text(spec[0], style=spec[1], justify=justify, overflow=overflow, no_wrap=True)


def specs(
    b: BackendView, ctx: Context, columns: Sequence[Column], pal: Palette,
    spark: str | None = None,
) -> tuple[Spec, ...]:
    """What every visible cell of one backend's row shows, already rounded as displayed.

    Comparing these between frames tells which cells really changed. ``spark`` is the
    sparkline text when the caller keeps it cached.
    """
    window = ctx.window
    w = stats(b, window)
    drift = share_drifts(b, window)
    slow = is_slow(b, ctx)
    status = w.status
    out: list[Spec] = []
    for col in columns:
        k = col.key
        if k == "name":
            mark = "▲ " if drift or slow else ""
            out.append((mark + b.label, f"bold {pal.warning}" if mark else ""))
        elif k == "state":
            out.append((b.state, _state_style(b.state, pal)))
        elif k == "weight":
            weight = str(b.config.weight) if b.config else "–"
            out.append((f"{weight} {fmt.pct(b.configured_share):>4}", ""))
        elif k == "share":
            out.append((fmt.share_bar(w.share if w.attempts else None, col.width),
                        f"bold {pal.warning}" if drift else pal.bar))
        elif k == "rate":
            out.append((fmt.rate(w.rate), ""))
        elif k in ("s2xx", "s4xx", "s5xx"):
            n = status.get(k[1:], 0)
            out.append((fmt.count(n, col.width),
                        pal.error if k == "s5xx" and n else (pal.muted if not n else "")))
        elif k == "hidden":
            out.append((fmt.count(w.hidden_errors, col.width),
                        pal.warning if w.hidden_errors else pal.muted))
        elif k in ("p50", "p95", "p99"):
            value = getattr(w, f"{k}_ms")
            out.append((fmt.ms(value), f"bold {pal.warning}" if slow and k == "p95" else ""))
        elif k == "spark":
            out.append((fmt.sparkline(b.sparkline, col.width) if spark is None else spark,
                        pal.success))
    return tuple(out)


def cells(
    b: BackendView, ctx: Context, columns: Sequence[Column], pal: Palette,
) -> dict[str, Text]:
    """Every visible cell of one backend's row."""
    return {col.key: cell_text(col, spec)
            for col, spec in zip(columns, specs(b, ctx, columns, pal), strict=True)}


def _ms_or_low(value: float | None) -> float:
    return value if value is not None else -1.0


_SORT: dict[str, Callable[[BackendView, WindowStats], Any]] = {
    "name": lambda b, w: natural(b.label),
    "state": lambda b, w: STATE_ORDER.get(b.state, 9),
    "weight": lambda b, w: b.config.weight if b.config else -1,
    "share": lambda b, w: w.share,
    "rate": lambda b, w: w.rate,
    "s2xx": lambda b, w: w.status.get("2xx", 0),
    "s4xx": lambda b, w: w.status.get("4xx", 0),
    "s5xx": lambda b, w: w.status.get("5xx", 0),
    "hidden": lambda b, w: w.hidden_errors,
    "p50": lambda b, w: _ms_or_low(w.p50_ms),
    "p95": lambda b, w: _ms_or_low(w.p95_ms),
    "p99": lambda b, w: _ms_or_low(w.p99_ms),
    "spark": lambda b, w: sum(b.sparkline[-10:]),
}


def sort_value(col: str, b: BackendView, window: str) -> Any:
    """What a column sorts by: the figure, never its rendered text."""
    return _SORT[col](b, stats(b, window))


def order(
    backends: Sequence[BackendView], window: str, sort: str, reverse: bool
) -> list[BackendView]:
    """Rows in display order: by the sort column, ties by name, stable between ticks."""
    col = COLUMN_BY_KEY[sort]
    by_name = sorted(backends, key=lambda b: (natural(b.label), row_key(b)))
    descending = col.descending != reverse
    return sorted(by_name, key=lambda b: sort_value(sort, b, window), reverse=descending)


def matches(b: BackendView, text: str) -> bool:
    """Case-insensitive match of the filter against name, address, state and upstream."""
    needle = text.strip().lower()
    if not needle:
        return True
    hay = " ".join(x for x in (b.name, b.address, b.state, b.upstream) if x).lower()
    return all(part in hay for part in needle.split())
