"""The header (cluster, VIP, HA, connections, clock, data age) and the banner for alarms."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from console import format as fmt
from console.columns import Palette
from state.snapshot import Snapshot

DOT = {"connected": "●", "connecting": "◌", "retrying": "◌", "failed": "✖"}


@dataclass(frozen=True)
class Alarm:
    """A condition the operator must not miss."""

    kind: str  # "split-brain" | "peer-dead" | "stale" | "disconnected" | "no-vip" | "config"
    message: str


def data_age(snap: Snapshot, now: float) -> float | None:
    return None if snap.last_event_at is None else max(0.0, now - snap.last_event_at)


def alarms(snap: Snapshot, now: float, stale_after: float, waiting_since: float) -> list[Alarm]:
    """Every alarm the snapshot raises, worst first."""
    out: list[Alarm] = []
    ha = snap.ha
    if ha.split_brain:
        holders = ", ".join(ha.vip_holders) or "both"
        out.append(Alarm("split-brain", f"SPLIT BRAIN: VIP {ha.vip} held by {holders} — "
                         f"{ha.detail}"))
    if ha.peer_dead:
        out.append(Alarm("peer-dead", f"HA PEER DEAD: {ha.detail} — no standby to fail over to"))
    if not ha.vip_holders and not ha.split_brain:
        out.append(Alarm("no-vip", f"VIP {ha.vip} IS HELD BY NO PROXY — clients cannot connect"))
    for p in snap.proxies:
        if p.connection in ("retrying", "failed"):
            why = f": {p.connection_error}" if p.connection_error else ""
            retry = f" (retry in {fmt.duration(p.retry_in)})" if p.retry_in is not None else ""
            out.append(Alarm("disconnected",
                             f"{p.name} DISCONNECTED ({p.connection}{why}){retry} — its figures "
                             "are missing"))
    for p in snap.proxies:
        if p.config_error and p.connection == "connected":
            out.append(Alarm("config", f"{p.name} CONFIG NOT READ ({p.config_error}) — weights "
                             "and flags shown are from its last good read, if any"))
    age = data_age(snap, now)
    if age is None:
        if now - waiting_since > stale_after:
            out.append(Alarm("stale", f"NO DATA: nothing received for "
                             f"{fmt.duration(now - waiting_since)}"))
    elif age > stale_after:
        out.append(Alarm("stale", f"STALE DATA: no event for {fmt.duration(age)} — the figures "
                         "below are old"))
    return out


def signature(*texts: Text) -> tuple[object, ...]:
    """What the texts look like on screen: equal signatures draw the same cells.

    (``Text.__eq__`` ignores the base style, so it cannot tell a colour change.)
    """
    return tuple((t.plain, t.style, tuple(t.spans), t.justify, t.overflow, t.no_wrap)
                 for t in texts)


def _shape(plain: str) -> tuple[tuple[int, int], ...]:
    """Where the words fall: the same shape wraps onto the same number of lines."""
    return tuple((m.start(), cell_len(m.group())) for m in re.finditer(r"\S+", plain))


class Banner(Static):
    """Docked at the top in error colours; hidden when there is nothing to say."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[object, ...] | None = None
        self._shape: tuple[tuple[int, int], ...] | None = None

    def show_alarms(self, found: list[Alarm]) -> None:
        """Redraw only when the words change; lay out again only when the lines may."""
        text = Text()
        for i, a in enumerate(found):
            if i:
                text.append("\n")
            text.append(" ⚠ " + a.message)
        shown = signature(text)
        if shown == self._shown:
            return
        self._shown = shown
        shape = _shape(text.plain)
        # Its height follows its wrapped text; a stale-data age ticking each second keeps
        # the words where they are, so only the first draw and a new shape need a layout.
        layout = shape != self._shape or self.display != bool(found)
        self._shape = shape
        self.display = bool(found)
        self.set_class(bool(found), "-alarm")
        self.update(text, layout=layout)


class HeaderBar(Static):
    """Two lines: who we look at and the HA picture; then each host's link and the data age."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[object, ...] | None = None

    def show_state(self, snap: Snapshot, now: float, window: str, accent: str | None,
                   palette: Palette, read_only: bool) -> None:
        """Redraw only when a character or a colour changes: when idle, once a second."""
        parts = header_parts(snap, now, window, accent, palette, read_only)
        shown = signature(*parts)
        if shown == self._shown:
            return
        self._shown = shown
        # Two lines high whatever it says (the stylesheet fixes it): no layout pass needed.
        self.update(header_grid(*parts), layout=False)


def render_header(snap: Snapshot, now: float, window: str, accent: str | None,
                  pal: Palette, read_only: bool) -> RenderableType:
    return header_grid(*header_parts(snap, now, window, accent, pal, read_only))


def header_parts(snap: Snapshot, now: float, window: str, accent: str | None,
                 pal: Palette, read_only: bool) -> tuple[Text, Text, Text, Text]:
    """The header's four texts: top left, top right (clock), bottom left, bottom right."""
    ha = snap.ha
    top = Text(no_wrap=True, overflow="ellipsis")
    top.append(f" {snap.cluster} ", style=f"bold reverse {accent}" if accent else "bold reverse")
    if read_only:
        top.append(" READ-ONLY", style=f"bold {pal.warning}")
    holder = ", ".join(ha.vip_holders) if ha.vip_holders else "nobody"
    vip_style = pal.error if ha.split_brain or not ha.vip_holders else pal.success
    top.append(" VIP ")
    top.append(f"{ha.vip}→{holder}", style=f"bold {vip_style}")
    top.append("  ")
    nodes = []
    for p in snap.proxies:
        word = p.ha_node_status or "?"
        # Heartbeat calls every live node "active"; a node is only active if it holds the VIP.
        role = ("active" if p.name == ha.active else "standby" if p.name == ha.standby
                else "up" if word == "active" and not p.holds_vip else word)
        style = pal.error if word in ("dead", "?") else ""
        nodes.append((f"{p.name} {role}", style))
    for i, (label, style) in enumerate(nodes):
        if i:
            top.append(" · ", style=pal.muted)
        top.append(label, style=style)
    links = "links degraded" if ha.links_degraded else "links ok"
    top.append(" · ", style=pal.muted)
    top.append(links, style=pal.warning if ha.links_degraded else pal.success)

    bottom = Text(no_wrap=True, overflow="ellipsis")
    for p in snap.proxies:
        style = {"connected": pal.success, "connecting": pal.warning}.get(p.connection, pal.error)
        bottom.append(f" {p.name} ")
        bottom.append(f"{DOT.get(p.connection, '?')} {p.connection}", style=style)
    bottom.append(f"  {ha.driver}", style=pal.muted)
    age = data_age(snap, now)
    bottom.append("  data age ")
    bottom.append(fmt.duration(age), style=pal.muted if age is not None and age < 3 else "bold")
    bottom.append(f"  window {window}")

    right = Text(fmt.clock(now) + "Z ", style="bold", no_wrap=True)
    return top, right, bottom, Text(f"{fmt.count(snap.requests)} req ", style=pal.muted)


def header_grid(top: Text, right: Text, bottom: Text, requests: Text) -> RenderableType:
    grid = Table.grid(expand=True)
    grid.add_column(ratio=1, no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_row(top, right)
    grid.add_row(bottom, requests)
    return Group(grid)
