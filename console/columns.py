"""The backends table as data: which columns fit, what each cell says, how rows sort and flag."""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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
    """What a row needs to know about its peers to decide whether it stands out."""

    window: str
    peer_p95_median: float | None


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


def natural(text: str) -> tuple[str | int, ...]:
    """Sort key that puts web2 before web10."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text.lower()))


def row_key(b: BackendView) -> str:
    """A row's identity: the same server may sit in two upstream blocks."""
    return f"{b.upstream}/{b.address}" if b.upstream else b.address


def context(backends: Sequence[BackendView], window: str) -> Context:
    p95s = [b.windows[window].p95_ms for b in backends if window in b.windows]
    values = [p for p in p95s if p is not None]
    return Context(window, statistics.median(values) if values else None)


def stats(b: BackendView, window: str) -> WindowStats:
    return b.windows.get(window) or WindowStats()


def share_drifts(b: BackendView, window: str) -> bool:
    w = stats(b, window)
    if b.configured_share is None or w.attempts < SHARE_MIN_ATTEMPTS:
        return False
    return abs(w.share - b.configured_share) * 100 > SHARE_DRIFT_POINTS


def is_slow(b: BackendView, ctx: Context, backends: Sequence[BackendView]) -> bool:
    """p95 more than twice the median of its peers' p95 (the others, not itself)."""
    mine = stats(b, ctx.window).p95_ms
    if mine is None:
        return False
    peers = [stats(o, ctx.window).p95_ms for o in backends if o is not b]
    values = [p for p in peers if p is not None]
    if not values:
        return False
    return mine > SLOW_FACTOR * statistics.median(values)


def flagged(b: BackendView, window: str, backends: Sequence[BackendView]) -> bool:
    return share_drifts(b, window) or is_slow(b, context(backends, window), backends)


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


def cells(
    b: BackendView, window: str, backends: Sequence[BackendView], columns: Sequence[Column],
    pal: Palette,
) -> dict[str, Text]:
    """Every visible cell of one backend's row."""
    w = stats(b, window)
    drift = share_drifts(b, window)
    slow = is_slow(b, context(backends, window), backends)
    status = w.status
    out: dict[str, Text] = {}
    for col in columns:
        k = col.key
        if k == "name":
            mark = "▲ " if drift or slow else ""
            out[k] = Text(mark + b.label, overflow="ellipsis", no_wrap=True,
                          style=f"bold {pal.warning}" if mark else "")
        elif k == "state":
            out[k] = Text(b.state, style=_state_style(b.state, pal), no_wrap=True)
        elif k == "weight":
            weight = str(b.config.weight) if b.config else "–"
            out[k] = _num(f"{weight} {fmt.pct(b.configured_share):>4}")
        elif k == "share":
            out[k] = Text(fmt.share_bar(w.share if w.attempts else None, col.width),
                          style=f"bold {pal.warning}" if drift else pal.bar, no_wrap=True)
        elif k == "rate":
            out[k] = _num(fmt.rate(w.rate))
        elif k in ("s2xx", "s4xx", "s5xx"):
            n = status.get(k[1:], 0)
            style = pal.error if k == "s5xx" and n else (pal.muted if not n else "")
            out[k] = _num(fmt.count(n), style)
        elif k == "hidden":
            out[k] = _num(fmt.count(w.hidden_errors), pal.warning if w.hidden_errors else pal.muted)
        elif k in ("p50", "p95", "p99"):
            value = getattr(w, f"{k}_ms")
            out[k] = _num(fmt.ms(value), f"bold {pal.warning}" if slow and k == "p95" else "")
        elif k == "spark":
            out[k] = Text(fmt.sparkline(b.sparkline, col.width), style=pal.success, no_wrap=True)
    return out


def sort_value(col: str, b: BackendView, window: str) -> Any:
    """What a column sorts by: the figure, never its rendered text."""
    w = stats(b, window)
    getters: dict[str, Callable[[], Any]] = {
        "name": lambda: natural(b.label),
        "state": lambda: STATE_ORDER.get(b.state, 9),
        "weight": lambda: b.config.weight if b.config else -1,
        "share": lambda: w.share,
        "rate": lambda: w.rate,
        "s2xx": lambda: w.status.get("2xx", 0),
        "s4xx": lambda: w.status.get("4xx", 0),
        "s5xx": lambda: w.status.get("5xx", 0),
        "hidden": lambda: w.hidden_errors,
        "p50": lambda: w.p50_ms if w.p50_ms is not None else -1.0,
        "p95": lambda: w.p95_ms if w.p95_ms is not None else -1.0,
        "p99": lambda: w.p99_ms if w.p99_ms is not None else -1.0,
        "spark": lambda: sum(b.sparkline[-10:]),
    }
    return getters[col]()


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
