"""The proxy panel: each proxy's traffic, parse health, connections, VIP, and config drift."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from console import format as fmt
from console.columns import Palette
from console.widgets.header import signature
from state.snapshot import Snapshot


class ProxyPanel(Static):
    """One line per proxy, then one line per drift between their upstream blocks."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[object, ...] | None = None

    def show_state(self, snap: Snapshot, palette: Palette) -> None:
        """Redraw only when what the panel says changes (a rate's last digit, a state)."""
        rows, lines = proxy_parts(snap, palette)
        shown = signature(*(t for row in rows for t in row), *lines)
        if shown == self._shown:
            return
        self._shown = shown
        # Its size comes from the stylesheet, never from its text: no layout pass needed.
        self.update(proxies_group(rows, lines), layout=False)


def render_proxies(snap: Snapshot, pal: Palette) -> RenderableType:
    return proxies_group(*proxy_parts(snap, pal))


def proxies_group(rows: list[list[Text]], lines: list[Text]) -> RenderableType:
    grid = Table.grid(padding=(0, 1))
    for _ in range(7):
        grid.add_column(no_wrap=True)
    for row in rows:
        grid.add_row(*row)
    return Group(grid, *lines)


def proxy_parts(snap: Snapshot, pal: Palette) -> tuple[list[list[Text]], list[Text]]:
    """The grid's rows (one per proxy) and the lines under it (drifts, a bad line)."""
    rows: list[list[Text]] = []
    for p in snap.proxies:
        conn_style = {"connected": pal.success, "connecting": pal.warning}.get(
            p.connection, pal.error)
        vip = Text("VIP", style=f"bold {pal.success}") if p.holds_vip else Text("   ")
        malformed = Text(f"bad {fmt.count(p.malformed)}",
                         style=pal.warning if p.malformed else pal.muted)
        conns = "–" if p.active_connections is None else str(p.active_connections)
        gaps = Text(f"gaps {p.gaps}", style=pal.warning if p.gaps else pal.muted)
        rows.append([
            Text(p.name, style="bold"),
            Text(p.connection, style=conn_style),
            vip,
            Text(f"{fmt.rate(p.rate):>6} req/s"),
            malformed,
            Text(f"conns {conns}"),
            gaps,
        ])
    parts: list[Text] = []
    for line in snap.drift:
        parts.append(Text(f"drift: {line}", style=pal.warning, no_wrap=True,
                          overflow="ellipsis"))
    for p in snap.proxies:
        if p.config_error:
            parts.append(Text(f"{p.name} config: {p.config_error}", style=pal.warning,
                              no_wrap=True, overflow="ellipsis"))
    samples = [p for p in snap.proxies if p.malformed_sample]
    for p in samples[:1]:
        parts.append(Text(f"{p.name} bad line: {p.malformed_sample}", style=pal.muted,
                          no_wrap=True, overflow="ellipsis"))
    return rows, parts
