"""The backend detail screen: bigger charts, every window's figures, errors and config line."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Sparkline, Static

from console import format as fmt
from console.columns import Palette, row_key, stats
from console.widgets.footer import Footer
from state.snapshot import STATUS_CLASSES, WINDOWS, BackendView, Snapshot


class DetailScreen(Screen[None]):
    """Follows one backend (by its row key) across snapshots until closed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", key_display="esc"),
    ]

    def __init__(self, key: str, snap: Snapshot, window: str, palette: Palette) -> None:
        super().__init__()
        self.key = key
        self._first = (snap, window, palette)
        self._shown: tuple[Snapshot, str, Palette, bool] | None = None

    def on_mount(self) -> None:
        # Filled before the first frame, not at the app's next tick: no empty screen flashes.
        self.show_state(*self._first)

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        with VerticalScroll(id="detail-body"):
            yield Static("requests/s, last 60 s", classes="detail-caption")
            yield Sparkline([], id="detail-spark")
            yield Static(id="detail-windows")
            yield Static(id="detail-status")
            yield Static(id="detail-config")
            yield Static(id="detail-errors")
        yield Footer()

    def show_state(self, snap: Snapshot, window: str, palette: Palette) -> None:
        wide = self.size.width >= 100
        # The app calls at every tick; the same snapshot draws the same screen.
        last = self._shown
        if last is not None and last[0] is snap and last[1:] == (window, palette, wide):
            return
        self._shown = (snap, window, palette, wide)
        b = next((x for x in snap.backends if row_key(x) == self.key), None)
        title = self.query_one("#detail-title", Static)
        if b is None:
            title.update(Text(f" {self.key}: no longer in the snapshot", style=palette.error))
            return
        title.update(render_title(b, palette))
        self.query_one("#detail-spark", Sparkline).data = list(b.sparkline) or [0.0]
        self.query_one("#detail-windows", Static).update(
            render_windows(b, window, palette, wide=wide))
        self.query_one("#detail-status", Static).update(render_status(b, window, palette))
        self.query_one("#detail-config", Static).update(render_config(b, palette))
        self.query_one("#detail-errors", Static).update(render_errors(b, palette))


def render_title(b: BackendView, pal: Palette) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f" {b.label} ", style="bold reverse")
    if b.name:
        text.append(f" {b.address}")
    style = pal.error if b.state in ("down", "failing") else pal.success
    text.append(f"  {b.state}", style=f"bold {style}")
    if b.upstream:
        text.append(f"  upstream {b.upstream}", style=pal.muted)
    if b.active_connections is not None:
        text.append(f"  {b.active_connections} active connections")
    return text


def render_windows(b: BackendView, window: str, pal: Palette, wide: bool) -> RenderableType:
    """Each window's figures side by side, with bars so the trend reads at a glance."""
    top_rate = max((stats(b, w).rate for w in WINDOWS), default=0.0) or 1.0
    top_p99 = max((stats(b, w).p99_ms or 0.0 for w in WINDOWS), default=0.0) or 1.0
    rate_bar, p99_bar = (16, 12) if wide else (8, 6)
    table = Table(box=None, padding=(0, 1), header_style="bold", expand=False)
    for label, justify in (("window", "left"), ("req/s", "right"), ("", "left"),
                           ("share", "right"), ("attempts", "right"), ("p50", "right"),
                           ("p95", "right"), ("p99", "right"), ("", "left"),
                           ("hid", "right")):
        table.add_column(label, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for w in WINDOWS:
        s = stats(b, w)
        mark = "▸ " if w == window else "  "
        table.add_row(
            Text(mark + w, style="bold" if w == window else ""),
            fmt.rate(s.rate),
            Text(fmt.bar(s.rate / top_rate, rate_bar), style=pal.success),
            fmt.pct(s.share),
            fmt.count(s.attempts),
            fmt.ms(s.p50_ms), fmt.ms(s.p95_ms), fmt.ms(s.p99_ms),
            Text(fmt.bar((s.p99_ms or 0.0) / top_p99, p99_bar), style=pal.warning),
            Text(str(s.hidden_errors), style=pal.warning if s.hidden_errors else ""),
        )
    return table


def render_status(b: BackendView, window: str, pal: Palette) -> RenderableType:
    s = stats(b, window)
    total = sum(s.status.values()) or 1
    colour = {"2xx": pal.success, "3xx": pal.success, "4xx": pal.warning, "5xx": pal.error,
              "none": pal.error, "1xx": pal.muted}
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    for cls in STATUS_CLASSES:
        n = s.status.get(cls, 0)
        label = "no answer" if cls == "none" else cls
        table.add_row(label, Text(fmt.bar(n / total, 30), style=colour[cls]), fmt.count(n))
    return Group(Text(f"status over {window}", style="bold"), table)


def render_config(b: BackendView, pal: Palette) -> RenderableType:
    c = b.config
    if c is None:
        return Text("config: not in the active proxy's upstream block (nginx -T)",
                    style=pal.warning)
    where = f"{c.file}:{c.line}" if c.file else "(file unknown)"
    text = Text()
    text.append("config ", style="bold")
    text.append(where, style=pal.muted)
    text.append(f"\n  server {c.address} {' '.join(c.args)};")
    flags = [f"weight {c.weight}", f"max_fails {c.max_fails}", f"fail_timeout {c.fail_timeout}"]
    if c.down:
        flags.append("down")
    if c.backup:
        flags.append("backup")
    share = fmt.pct(b.configured_share)
    text.append(f"\n  {', '.join(flags)}; configured share {share}", style=pal.muted)
    return text


def render_errors(b: BackendView, pal: Palette) -> RenderableType:
    text = Text()
    text.append("recent errors", style="bold")
    if not b.recent_errors:
        text.append("\n  none", style=pal.muted)
    for line in b.recent_errors[:10]:
        text.append(f"\n  {line}", style=pal.error)
    return text
