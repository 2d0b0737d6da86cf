"""The one table of keys and actions; the footer, the help screen and the palette come from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual.binding import Binding

Group = Literal["navigate", "view", "act"]

GROUP_TITLES: dict[Group, str] = {
    "navigate": "Navigate",
    "view": "View",
    "act": "Act on the cluster",
}


@dataclass(frozen=True)
class Key:
    """One key: what it runs, how it is described, and whether it changes the cluster."""

    key: str  # Textual key name(s), comma-separated
    action: str  # an App action, with arguments if any: "window('1m')"
    title: str  # short, for the footer and the palette
    help: str  # one sentence, for the help screen and the palette
    group: Group
    # In the footer: always, never, or only in read-only mode, where acting keys leave room.
    footer: bool | Literal["read-only"] = True
    display: str | None = None  # how the key is shown when its name is not what one types

    @property
    def mutates(self) -> bool:
        """Whether the key asks for a change on the cluster (refused in --read-only)."""
        return self.group == "act"

    @property
    def shown(self) -> str:
        return self.display or self.key


KEYS: tuple[Key, ...] = (
    Key("enter", "detail", "Detail", "Open the selected backend's detail screen.", "navigate",
        footer=False, display="⏎"),
    Key("slash", "filter", "Filter", "Filter backends by text (name, address, state).",
        "navigate", display="/"),
    Key("s", "cycle_sort", "Sort", "Sort by the next column (click a header to sort by it; "
        "again to reverse).", "navigate", footer="read-only"),
    Key("e", "focus_events", "Events", "Move the focus to the event log (Tab to come back).",
        "navigate", footer=False),
    Key("1", "window('10s')", "10s", "Show figures over the last 10 seconds.", "view",
        footer=False),
    Key("2", "window('1m')", "1m", "Show figures over the last minute.", "view", footer=False),
    Key("3", "window('5m')", "5m", "Show figures over the last 5 minutes.", "view", footer=False),
    Key("4", "window('15m')", "15m", "Show figures over the last 15 minutes.", "view",
        footer=False),
    Key("t", "cycle_window", "Window", "Cycle the window: 10s, 1m, 5m, 15m.", "view",
        footer="read-only"),
    Key("question_mark", "help", "Help", "Show every key and what it does.", "view",
        display="?"),
    Key("escape", "escape", "Back", "Clear and close the filter; leave a detail screen.",
        "navigate", footer=False, display="esc"),
    Key("q", "quit", "Quit", "Leave the console; while an action runs, asks to press q again.",
        "view"),
    Key("w", "set_weight", "Weight", "Set the selected backend's weight (prompts for a "
        "number), then confirm the plan.", "act"),
    Key("d", "toggle_down", "Down", "Mark the selected backend down, or up again.", "act"),
    Key("b", "toggle_backup", "Backup", "Make the selected backend a backup server, or a "
        "primary again.", "act"),
    Key("D", "toggle_drain", "Drain", "Drain the selected backend (no new requests, wait for "
        "connections), or undrain it.", "act"),
    Key("r", "reload", "Reload", "Validate (nginx -t) and reload the proxies' configuration.",
        "act"),
    Key("F", "failover", "Failover", "Move the VIP to the standby proxy (always asks you to "
        "type the cluster name).", "act"),
)


def visible(read_only: bool) -> tuple[Key, ...]:
    """The keys an operator is offered: in read-only mode, none that act."""
    return tuple(k for k in KEYS if not (read_only and k.mutates))


def in_footer(k: Key, read_only: bool) -> bool:
    if read_only and k.mutates:
        return False
    return read_only if k.footer == "read-only" else bool(k.footer)


def _footer_order(k: Key) -> int:
    """Help first and quit last; between them what acts, so 80 columns show all of it."""
    if k.action == "help":
        return 0
    if k.action == "quit":
        return 3
    return 1 if k.mutates else 2


def bindings(read_only: bool) -> list[Binding]:
    """Textual bindings for the App, in footer order.

    Acting keys stay bound in read-only mode, hidden, so that pressing one says why
    nothing happens instead of doing nothing.
    """
    return [
        Binding(k.key, k.action, k.title, show=in_footer(k, read_only), key_display=k.display)
        for k in sorted(KEYS, key=_footer_order)
    ]


def find(action: str) -> Key:
    for k in KEYS:
        if k.action == action:
            return k
    raise KeyError(action)
