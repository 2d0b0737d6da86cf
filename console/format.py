"""Formats numbers, durations, shares, bars and sparklines into short fixed-width text."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from functools import lru_cache

_EIGHTHS = " ▏▎▍▌▋▊▉"
_SPARK = "▁▂▃▄▅▆▇█"


def rate(value: float | None) -> str:
    """Requests per second: 3 significant figures, 'k' above ten thousand."""
    if value is None:
        return "–"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def count(value: int | None, width: int | None = None) -> str:
    """A count; with ``width``, shortened (1.7k, 17k, 2M) to fit rather than cut to '17…'."""
    if value is None:
        return "–"
    if width is None:
        if value >= 10_000_000:
            return f"{value / 1_000_000:.0f}M"
        if value >= 100_000:
            return f"{value / 1000:.0f}k"
        return str(value)
    text = str(value)
    for divisor, unit in ((1_000, "k"), (1_000_000, "M"), (1_000_000_000, "G")):
        if len(text) <= width:
            break
        for digits in (1, 0):
            short = f"{value / divisor:.{digits}f}{unit}"
            if len(short) <= width and not short.startswith("1000"):
                return short
    return text


def ms(value: float | None) -> str:
    """Milliseconds, without a unit: '4.2', '38', '1.2s' beyond a second."""
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value / 1000:.1f}s"
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}"


def pct(share: float | None) -> str:
    """A 0..1 share as a whole percentage."""
    if share is None:
        return "–"
    return f"{share * 100:.0f}%"


def duration(seconds: float | None) -> str:
    """An age or a wait: '0.4s', '12s', '3m05s', '2h10m'."""
    if seconds is None:
        return "–"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def clock(epoch: float) -> str:
    """UTC wall-clock time; on-call rotations span time zones, UTC is what the logs say."""
    return time.strftime("%H:%M:%S", time.gmtime(epoch))


def bar(fraction: float | None, width: int) -> str:
    """A horizontal bar in eighths of a cell, padded to ``width``."""
    if fraction is None or width <= 0:
        return " " * max(width, 0)
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (_EIGHTHS[part] if part else "")
    return text.ljust(width)


def share_bar(share: float | None, width: int) -> str:
    """``████▌ 52%``: a bar then the percentage, fitting ``width`` cells."""
    label = pct(share).rjust(4)
    return bar(share, max(width - 5, 1)) + " " + label


@lru_cache(maxsize=64)
def _buckets(count: int, width: int) -> tuple[tuple[int, int], ...]:
    """Which of ``count`` points each of ``width`` cells covers (never none)."""
    step = count / width
    return tuple((int(i * step), max(int((i + 1) * step), int(i * step) + 1))
                 for i in range(width))


def sparkline(values: Sequence[float], width: int) -> str:
    """The last values as block characters, scaled to their own maximum.

    When there are more points than cells, each cell shows the maximum of its points,
    so a one-second burst is never averaged away.
    """
    if width <= 0:
        return ""
    points = list(values)
    if not points:
        return " " * width
    if len(points) > width:
        points = [max(points[a:b]) for a, b in _buckets(len(points), width)]
    top = max(points)
    if top <= 0 or math.isnan(top):
        text = _SPARK[0] * len(points)
    else:
        # A list, not a generator: join builds one anyway. Drawn for every row each second.
        last, chars = len(_SPARK) - 1, _SPARK
        text = "".join([chars[min(last, int(p / top * last + 0.5))] for p in points])
    return text.rjust(width)
