"""The help screen, generated from the key table so it can never disagree with the keys."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console import keys


def render_help(read_only: bool) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", style="bold", no_wrap=True)
    table.add_column()
    shown = keys.visible(read_only)
    for group, title in keys.GROUP_TITLES.items():
        members = [k for k in shown if k.group == group]
        if not members:
            continue
        table.add_row(Text(""), Text(title, style="bold underline"))
        for k in members:
            table.add_row(Text(k.shown), Text(k.help))
    table.add_row(Text(""), Text(""))
    table.add_row(Text("ctrl+p"), Text("Command palette: every action, searchable."))
    if read_only:
        table.add_row(Text(""), Text("Read-only: keys that change the cluster are disabled.",
                                     style="italic"))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", show=False),
    ]

    def __init__(self, read_only: bool) -> None:
        super().__init__()
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys"
            box.border_subtitle = "esc to close"
            yield Static(render_help(self.read_only), id="help-text")
