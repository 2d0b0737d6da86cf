"""The event log: the feed's notes and the transitions the console noticed, newest first."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console import format as fmt
from console.columns import Palette
from state.events import ActionNote
from state.snapshot import Snapshot

Level = Literal["info", "success", "warning", "error"]
ICON = {"info": "·", "success": "✔", "warning": "⚠", "error": "✖"}
LIMIT = 200


def transitions(old: Snapshot | None, new: Snapshot) -> list[ActionNote]:
    """What changed between two snapshots that an operator would want written down."""
    if old is None:
        return []
    at = new.at
    notes: list[ActionNote] = []
    before = {p.name: p for p in old.proxies}
    for p in new.proxies:
        was = before.get(p.name)
        if was is not None and was.connection != p.connection:
            level: Level = "success" if p.connection == "connected" else "warning"
            if p.connection == "failed":
                level = "error"
            why = f": {p.connection_error}" if p.connection_error else ""
            notes.append(ActionNote(at, "connection", f"{p.name} {was.connection} → "
                                    f"{p.connection}{why}", level))
    if old.ha.vip_holders != new.ha.vip_holders:
        holders = ", ".join(new.ha.vip_holders) or "nobody"
        notes.append(ActionNote(at, "ha", f"VIP {new.ha.vip} now held by {holders}", "warning"))
    if old.ha.split_brain != new.ha.split_brain:
        notes.append(ActionNote(at, "ha", "split brain began" if new.ha.split_brain
                                else "split brain ended",
                                "error" if new.ha.split_brain else "success"))
    if old.ha.peer_dead != new.ha.peer_dead:
        notes.append(ActionNote(at, "ha", "HA peer dead" if new.ha.peer_dead
                                else "HA peer back", "error" if new.ha.peer_dead else "success"))
    states = {b.address: b.state for b in old.backends}
    for b in new.backends:
        was_state = states.get(b.address)
        if was_state is not None and was_state != b.state:
            state_level: Level = "error" if b.state in ("down", "failing") else "info"
            notes.append(ActionNote(at, "backend", f"{b.label} {was_state} → {b.state}",
                                    state_level, backend=b.address))
    return notes


class EventLog(VerticalScroll, can_focus=True):
    """Newest first; keeps the last ``LIMIT`` entries."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._notes: deque[ActionNote] = deque(maxlen=LIMIT)
        self._seen: set[tuple[float, str, str]] = set()
        self._version = 0
        self._rendered: tuple[int, Palette] | None = None
        self.palette = Palette()

    def compose(self) -> ComposeResult:
        yield Static(id="event-lines")

    @property
    def notes(self) -> list[ActionNote]:
        # Equal times (a frozen clock, one batch) keep arrival order: later ones on top.
        ranked = sorted(enumerate(self._notes), key=lambda p: (p[1].at, p[0]), reverse=True)
        return [n for _, n in ranked]

    def add(self, notes: Iterable[ActionNote]) -> None:
        for n in notes:
            ident = (n.at, n.action, n.message)
            if ident in self._seen:
                continue
            if len(self._notes) == self._notes.maxlen:
                old = self._notes[0]
                self._seen.discard((old.at, old.action, old.message))
            self._seen.add(ident)
            self._notes.append(n)
            self._version += 1

    def render_notes(self) -> None:
        version = (self._version, self.palette)
        if version == self._rendered:
            return
        self._rendered = version
        style = {"error": self.palette.error, "warning": self.palette.warning,
                 "success": self.palette.success, "info": ""}
        text = Text(no_wrap=True, overflow="ellipsis")
        notes = self.notes
        for i, n in enumerate(notes):
            if i:
                text.append("\n")
            text.append(fmt.clock(n.at) + " ", style=self.palette.muted)
            text.append(ICON.get(n.level, "·") + " ", style=style.get(n.level, ""))
            text.append(f"{n.action}: ", style="bold")
            text.append(n.message, style=style.get(n.level, ""))
        if not notes:
            text.append("no events yet", style=self.palette.muted)
        self.query_one("#event-lines", Static).update(text)
