"""The console's two doors: a Feed it reads snapshots from, a dispatcher it sends intents to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

from rich.console import RenderableType

from state.snapshot import Snapshot

Risk = Literal["normal", "risky"]


@runtime_checkable
class Feed(Protocol):
    """Serves the latest cluster snapshot; the console polls it at a fixed rate."""

    def snapshot(self) -> Snapshot:
        """The latest snapshot: cheap to call, immutable."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class PlanPreview(Protocol):
    """What the operator confirms before an action runs."""

    @property
    def title(self) -> str: ...

    @property
    def risk(self) -> Risk: ...

    def render(self) -> str:
        """The plain-text plan, steps and diffs, as `--dry-run` prints it."""
        ...

    def __rich__(self) -> RenderableType: ...


class ActionResult(Protocol):
    @property
    def ok(self) -> bool: ...

    @property
    def message(self) -> str: ...


class ActionDispatcher(Protocol):
    """Turns intents (``actions.intents``) into plans and runs confirmed plans."""

    def plan(self, intent: object) -> PlanPreview: ...

    async def apply(
        self, intent: object, plan: object, progress: Callable[[str], None]
    ) -> ActionResult: ...
