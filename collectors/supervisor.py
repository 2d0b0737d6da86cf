"""Owns the collectors' asyncio tasks: starts them, restarts failures with backoff, cancels all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

Job = Callable[[], Coroutine[Any, Any, None]]


class Backoff:
    """Jittered exponential delays: base, 2*base, 4*base ... capped, each scaled by 0.5-1.0.

    The jitter keeps a fleet of sessions that lost the network together from reconnecting
    in lock-step.
    """

    def __init__(self, base: float = 0.5, cap: float = 15.0, *,
                 rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        ceiling: float = min(self.cap, self.base * 2.0 ** self.failures)
        self.failures += 1
        return ceiling * (0.5 + self._rng.random() / 2)

    def reset(self) -> None:
        self.failures = 0


class Supervisor:
    """Runs named jobs as owned tasks; a job that raises is logged and restarted after a delay."""

    def __init__(self, *, base: float = 0.5, cap: float = 15.0,
                 on_crash: Callable[[str, BaseException, float], None] | None = None) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._base = base
        self._cap = cap
        self._on_crash = on_crash
        self._closing = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, t in self._tasks.items() if not t.done())

    def start(self, name: str, job: Job, *, restart: bool = True) -> None:
        """Run ``job()`` under ``name``; with ``restart`` it is run again whenever it ends."""
        if self._closing:
            raise RuntimeError("supervisor is stopping")
        old = self._tasks.get(name)
        if old is not None and not old.done():
            raise ValueError(f"a job named {name!r} is already running")
        self._tasks[name] = asyncio.create_task(self._guard(name, job, restart), name=name)

    async def _guard(self, name: str, job: Job, restart: bool) -> None:
        backoff = Backoff(self._base, self._cap)
        while True:
            loop = asyncio.get_running_loop()
            began = loop.time()
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if loop.time() - began > self._cap * 2:
                    backoff.reset()  # it ran fine for a while: this is a fresh failure
                delay = backoff.next()
                log.warning("%s failed (%s: %s); restarting in %.1f s", name,
                            type(e).__name__, e, delay, exc_info=e)
                if self._on_crash is not None:
                    self._on_crash(name, e, delay)
                if not restart:
                    return
                await asyncio.sleep(delay)
                continue
            if not restart:
                return
            backoff.reset()
            await asyncio.sleep(self._base)

    async def cancel(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self) -> None:
        """Cancel every job and wait until each has finished its cleanup."""
        self._closing = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._closing = False
