"""The backends table: one row per backend, updated in place so cursor and scroll stay put."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import RenderableType
from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from console import columns as cols
from state.snapshot import BackendView


class RowKeyCell:
    """The name cell: renders its text, remembers its row so the table can be put in order."""

    __slots__ = ("key", "text")

    def __init__(self, key: str, text: Text) -> None:
        self.key = key
        self.text = text

    def __rich__(self) -> RenderableType:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RowKeyCell) and (self.key, self.text) == (other.key, other.text)

    __hash__ = None  # type: ignore[assignment]


class BackendTable(DataTable[Text | RowKeyCell]):
    """Shows backends; the app gives it a snapshot's backends, a window, a sort and a filter."""

    class SortChanged(Message):
        def __init__(self, column: str, reverse: bool) -> None:
            self.column = column
            self.reverse = reverse
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.sort_column = "name"
        self.sort_reverse = False
        self.window = "1m"
        self.filter_text = ""
        self.palette = cols.Palette()
        self._columns: tuple[cols.Column, ...] = ()
        self._backends: tuple[BackendView, ...] = ()
        self._order: list[str] = []

    @property
    def visible_columns(self) -> tuple[cols.Column, ...]:
        return self._columns

    @property
    def row_keys(self) -> list[str]:
        """Row keys in display order."""
        return list(self._order)

    @property
    def selected(self) -> str | None:
        """The row key (see ``columns.row_key``) of the backend under the cursor."""
        if not self._order or not self.is_valid_row_index(self.cursor_row):
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return key

    def backend(self, key: str) -> BackendView | None:
        return next((b for b in self._backends if cols.row_key(b) == key), None)

    def on_resize(self) -> None:
        self._layout_columns()

    def _layout_columns(self, force: bool = False) -> None:
        """Choose the columns for the width; rebuild only when the choice changes."""
        width = self.size.width or self.app.size.width
        wanted = cols.fit(width, self.cell_padding)
        if wanted == self._columns and not force:
            return
        keep = self.selected
        self._columns = wanted
        self.clear(columns=True)
        for col in wanted:
            self.add_column(self._header(col), width=col.width, key=col.key)
        self._order = []
        self.show(self._backends, keep_cursor=keep)

    def _header(self, col: cols.Column) -> Text:
        arrow = ""
        if col.key == self.sort_column:
            arrow = "▲" if (col.descending == self.sort_reverse) else "▼"
        label = f"{col.label}{arrow}"
        return Text(label, justify="right" if col.numeric else "left")

    def _refresh_headers(self) -> None:
        for col in self._columns:
            if col.key in self.columns:
                self.columns[col.key].label = self._header(col)  # type: ignore[index]
        self._update_count += 1
        self.refresh()

    def set_sort(self, column: str, reverse: bool = False) -> None:
        self.sort_column = column
        self.sort_reverse = reverse
        self._refresh_headers()
        self.show(self._backends)
        self.post_message(self.SortChanged(column, reverse))

    def cycle_sort(self) -> None:
        keys = [c.key for c in self._columns] or ["name"]
        i = keys.index(self.sort_column) if self.sort_column in keys else -1
        self.set_sort(keys[(i + 1) % len(keys)])

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = str(event.column_key.value)
        self.set_sort(key, not self.sort_reverse if key == self.sort_column else False)

    def show(self, backends: Sequence[BackendView], keep_cursor: str | None = None) -> None:
        """Bring the rows up to date with ``backends``: add, remove, update cells, reorder."""
        self._backends = tuple(backends)
        if not self._columns:
            return
        keep = keep_cursor or self.selected
        visible = [b for b in backends if cols.matches(b, self.filter_text)]
        ordered = cols.order(visible, self.window, self.sort_column, self.sort_reverse)
        wanted = [cols.row_key(b) for b in ordered]
        wanted_set = set(wanted)
        for key in [k for k in self._order if k not in wanted_set]:
            self.remove_row(key)
        present = set(self.rows_keys())
        for b in ordered:
            new = cols.cells(b, self.window, backends, self._columns, self.palette)
            row: dict[str, Text | RowKeyCell] = dict(new)
            key = cols.row_key(b)
            row["name"] = RowKeyCell(key, new["name"])
            if key not in present:
                self.add_row(*(row[c.key] for c in self._columns), key=key)
                continue
            for col in self._columns:
                if self.get_cell(key, col.key) != row[col.key]:
                    self.update_cell(key, col.key, row[col.key])
        if self.rows_keys() != wanted:
            rank = {k: i for i, k in enumerate(wanted)}
            self.sort("name", key=lambda cell: rank[cell.key])
        self._order = wanted
        if keep is not None and keep in wanted_set:
            index = wanted.index(keep)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False, scroll=False)

    def rows_keys(self) -> list[str]:
        return [str(r.key.value) for r in self.ordered_rows]

    def restyle(self, palette: cols.Palette) -> None:
        self.palette = palette
        self.show(self._backends)
