"""Sliding windows of upstream attempts: a 1-s bucket ring for the last minute, 10-s beyond.

Each second's figures live in exactly one place: in the fine ring (60 one-second buckets)
until a newer second needs its slot, then folded into the coarse ring (90 ten-second buckets,
15 minutes). So the 10 s and 1 min views are exact to the second, and the 5 and 15 min views
are exact to ten seconds at their old edge. Memory is a fixed number of buckets per backend,
each with at most one bounded sketch, whatever the traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

from state.histogram import LatencyHistogram
from state.snapshot import STATUS_CLASSES, WINDOW_SECONDS

FINE_SLOTS = 60
COARSE_WIDTH = 10
COARSE_SLOTS = 90
NONE_CLASS = len(STATUS_CLASSES) - 1  # index of "none" in STATUS_CLASSES
QUANTILES = (0.50, 0.95, 0.99)
# nginx logs upstream times in whole milliseconds, so a second's latencies repeat a lot:
# counting each distinct value and adding it to the sketch once, weighted, is several times
# cheaper than one sketch add per attempt and gives the same bins. The cap bounds memory.
PENDING_LIMIT = 256


def status_class(status: int | None) -> int:
    """Index into STATUS_CLASSES; "none" for no response or a status nginx cannot send."""
    if status is None or not 100 <= status < 600:
        return NONE_CLASS
    return status // 100 - 1


class Bucket:
    """Counts for one second (fine ring) or ten seconds (coarse ring)."""

    __slots__ = ("_hist", "attempts", "failures", "hidden", "pending", "status", "tag")

    def __init__(self, tag: int = -1) -> None:
        self.tag = tag
        self.attempts = 0
        self.failures = 0
        self.hidden = 0
        self.status = [0] * len(STATUS_CLASSES)
        self.pending: dict[float, int] = {}  # latency (ms) -> count, not yet in the sketch
        self._hist: LatencyHistogram | None = None

    def reset(self, tag: int) -> None:
        self.tag = tag
        self.attempts = self.failures = self.hidden = 0
        self.status = [0] * len(STATUS_CLASSES)
        self.pending = {}
        self._hist = None

    @property
    def hist(self) -> LatencyHistogram | None:
        """Every latency of the bucket, pending ones folded in first."""
        if self.pending:
            self.flush()
        return self._hist

    @hist.setter
    def hist(self, value: LatencyHistogram | None) -> None:
        self._hist = value

    def flush(self) -> None:
        h = self._hist
        if h is None:
            h = self._hist = LatencyHistogram()
        add = h.add
        for ms, n in self.pending.items():
            add(ms, n)
        self.pending = {}

    def absorb(self, other: Bucket, *, adopt: bool = False) -> None:
        """Add another bucket's figures; ``adopt`` lets it take over the other's histogram."""
        self.attempts += other.attempts
        self.failures += other.failures
        self.hidden += other.hidden
        self.status = [a + b for a, b in zip(self.status, other.status, strict=True)]
        theirs = other.hist
        if theirs is not None:
            mine = self.hist
            if mine is None:
                self.hist = theirs if adopt else theirs.copy()
            else:
                mine.merge(theirs)


@dataclass
class Totals:
    """One window's figures, before they become a frozen WindowStats."""

    attempts: int = 0
    failures: int = 0
    hidden: int = 0
    status: tuple[int, ...] = (0,) * len(STATUS_CLASSES)
    quantiles_ms: tuple[float | None, ...] = (None,) * len(QUANTILES)


class AttemptWindows:
    """One backend's attempts over the last 15 minutes, bucketed by the request's second."""

    __slots__ = ("_cache", "_coarse_cache", "coarse", "coarse_version", "fine", "newest",
                 "version")

    def __init__(self) -> None:
        self.fine = [Bucket() for _ in range(FINE_SLOTS)]
        self.coarse = [Bucket() for _ in range(COARSE_SLOTS)]
        self.version = 0
        self.coarse_version = 0
        self.newest = -1
        self._cache: tuple[int, int, dict[str, Totals]] | None = None
        # The coarse ring changes about once a second; its sums per window are reused between.
        self._coarse_cache: tuple[int, int, list[Bucket]] | None = None

    def record(self, second: int, cls: int, failed: bool, hidden: bool, ms: float | None) -> None:
        """Count one attempt; ``cls`` from status_class, ``ms`` its upstream time."""
        b = self.fine[second % FINE_SLOTS]
        if b.tag != second:
            if b.tag > second:
                # The slot already holds a newer second: this one belongs to the coarse ring.
                old = self._coarse(second)
                if old is None:
                    return
                self.coarse_version += 1
                b = old
            else:
                if b.attempts:
                    self._evict(b)
                b.reset(second)
        self.version += 1
        if second > self.newest:
            self.newest = second
        b.attempts += 1
        b.status[cls] += 1
        if failed:
            b.failures += 1
            if hidden:
                b.hidden += 1
        if ms is not None:
            pending = b.pending
            pending[ms] = pending.get(ms, 0) + 1
            if len(pending) > PENDING_LIMIT:
                b.flush()

    def _coarse(self, second: int) -> Bucket | None:
        """The coarse bucket for a second, None when it is older than the ring holds."""
        index = second // COARSE_WIDTH
        c = self.coarse[index % COARSE_SLOTS]
        if c.tag != index:
            if c.tag > index:
                return None
            c.reset(index)
        return c

    def _evict(self, b: Bucket) -> None:
        c = self._coarse(b.tag)
        self.coarse_version += 1
        if c is not None:
            c.absorb(b, adopt=True)
        b.hist = None

    def per_second(self, now: int, points: int = FINE_SLOTS) -> tuple[float, ...]:
        """Attempts in each of the last ``points`` seconds up to ``now``, oldest first."""
        fine = self.fine
        out: list[float] = []
        for s in range(now - points + 1, now + 1):
            b = fine[s % FINE_SLOTS]
            out.append(float(b.attempts) if b.tag == s else 0.0)
        return tuple(out)

    def recent_failures(self, now: int, seconds: int = 10) -> tuple[int, int]:
        """(attempts, failures) in the last ``seconds`` seconds, for the "failing" state."""
        attempts = failures = 0
        for b in self.fine:
            if now - seconds < b.tag <= now:
                attempts += b.attempts
                failures += b.failures
        return attempts, failures

    def totals(self, now: int) -> dict[str, Totals]:
        """Figures for every window in WINDOW_SECONDS, ending at second ``now`` inclusive."""
        if self._cache is not None and self._cache[:2] == (now, self.version):
            return self._cache[2]
        names = sorted(WINDOW_SECONDS, key=WINDOW_SECONDS.__getitem__)
        spans = [WINDOW_SECONDS[n] for n in names]
        # Each bucket goes to the narrowest window that holds it; wider windows add them up.
        parts: list[list[Bucket]] = [[] for _ in names]
        for b in self.fine:
            if b.attempts and b.tag <= now:
                age = now - b.tag
                for i, span in enumerate(spans):
                    if age < span:
                        parts[i].append(b)
                        break
        coarse = self._coarse_sums(now, spans)
        out: dict[str, Totals] = {}
        acc = Bucket()
        for name, part, extra in zip(names, parts, coarse, strict=True):
            for b in part:
                acc.absorb(b)
            if extra.attempts:
                acc.absorb(extra)
            hist = acc.hist
            q = hist.quantiles(QUANTILES) if hist is not None else (None,) * 3
            out[name] = Totals(acc.attempts, acc.failures, acc.hidden, tuple(acc.status), q)
        self._cache = (now, self.version, out)
        return out

    def _coarse_sums(self, now: int, spans: list[int]) -> list[Bucket]:
        """The coarse buckets summed per narrowest window that holds them."""
        if self._coarse_cache is not None and self._coarse_cache[:2] == (now,
                                                                         self.coarse_version):
            return self._coarse_cache[2]
        sums = [Bucket() for _ in spans]
        for c in self.coarse:
            if c.attempts and c.tag * COARSE_WIDTH <= now:
                # A coarse bucket counts when any of its seconds is inside the window.
                age = now - (c.tag * COARSE_WIDTH + COARSE_WIDTH - 1)
                for i, span in enumerate(spans):
                    if age < span:
                        sums[i].absorb(c)
                        break
        self._coarse_cache = (now, self.coarse_version, sums)
        return sums


class CountRing:
    """Per-second counts for the last minute (a proxy's client requests)."""

    __slots__ = ("counts", "tags")

    def __init__(self) -> None:
        self.tags = [-1] * FINE_SLOTS
        self.counts = [0] * FINE_SLOTS

    def add(self, second: int, n: int = 1) -> None:
        i = second % FINE_SLOTS
        tag = self.tags[i]
        if tag == second:
            self.counts[i] += n
        elif tag < second:
            self.tags[i] = second
            self.counts[i] = n

    def total(self, now: int, seconds: int) -> int:
        return sum(c for t, c in zip(self.tags, self.counts, strict=True)
                   if now - seconds < t <= now)
