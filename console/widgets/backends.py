"""The backends table: one row per backend, updated in place so cursor and scroll stay put."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from console import columns as cols
from console import format as fmt
from console.widgets.cells import Cell, QuickTable
from state.snapshot import BackendView


class BackendTable(QuickTable[Cell]):
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
        # What each row shows now, per column, as compared between frames: only cells
        # whose displayed text or style changed are handed to the table again.
        self._shown: dict[str, tuple[cols.Spec, ...]] = {}
        # The sparkline text per row, kept while its points and width stay the same.
        self._sparks: dict[str, tuple[tuple[float, ...], int, str]] = {}
        # Rows out of sight whose new figures are not written yet: written when scrolled to.
        self._pending: dict[str, BackendView] = {}
        self._ctx = cols.Context(self.window, None)

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
        self._catch_up()

    def _layout_columns(self, force: bool = False) -> None:
        """Choose the columns for the width; rebuild only when the choice changes."""
        width = self.size.width or self.app.size.width
        wanted = cols.fit(width, self.cell_padding)
        if wanted == self._columns and not force:
            return
        keep = self.selected
        self._columns = wanted
        self.clear(columns=True)
        self._shown.clear()
        self._pending.clear()
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
        self.bump_update_count()
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
        """Bring the rows up to date with ``backends``: add, remove, update cells, reorder.

        Linear in the number of backends: the peers' figures are summed up once
        (``cols.context``), and only cells whose displayed text or style changed are
        written to the table. Rows out of sight keep their last figures until they
        scroll into view (``_catch_up``): with hundreds of backends most rows are.
        """
        self._backends = tuple(backends)
        if not self._columns:
            return
        keep = keep_cursor or self.selected
        ctx = cols.context(backends, self.window)
        visible = [b for b in backends if cols.matches(b, self.filter_text)]
        ordered = cols.order(visible, self.window, self.sort_column, self.sort_reverse)
        wanted = [cols.row_key(b) for b in ordered]
        wanted_set = set(wanted)
        for key in [k for k in self._shown if k not in wanted_set]:
            self.remove_row(key)
            self.forget_row(key)
            del self._shown[key]
            self._pending.pop(key, None)
        for key in [k for k in self._sparks if k not in wanted_set]:
            del self._sparks[key]
        self._ctx = ctx
        seen = self._in_sight()
        changes: list[tuple[str, str, Cell]] = []
        for i, (b, key) in enumerate(zip(ordered, wanted, strict=True)):
            if key in self._shown and i not in seen:
                self._pending[key] = b
                continue
            self._pending.pop(key, None)
            self._bring_up(key, b, changes)
        # Widths are fixed by ``cols.fit``: no column is ever measured again.
        self.write_cells(changes)
        if self._order != wanted and self.rows_keys() != wanted:
            rank = {k: i for i, k in enumerate(wanted)}
            self.sort("name", key=lambda cell: rank[cell.key])
        self._order = wanted
        if keep is not None and keep in wanted_set:
            index = wanted.index(keep)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False, scroll=False)

    def _in_sight(self) -> range:
        """Row indexes on screen now, a few either side (all of them before any layout)."""
        height = self.size.height
        if height <= 0:
            return range(len(self._backends) + len(self._shown) + 1)
        top = int(self.scroll_y)
        return range(max(0, top - 2), top + height + 2)

    def _bring_up(self, key: str, b: BackendView,
                  changes: list[tuple[str, str, Cell]]) -> None:
        """Add the row, or list its cells whose displayed text or style changed."""
        columns = self._columns
        spark_width = next((c.width for c in columns if c.key == "spark"), None)
        spark = None if spark_width is None else self._spark(key, b, spark_width)
        new = cols.specs(b, self._ctx, columns, self.palette, spark)
        old = self._shown.get(key)
        if old == new:
            return
        self._shown[key] = new
        if old is None:
            self.add_row(*(self._cell(key, c, spec) for c, spec in zip(columns, new,
                                                                        strict=True)),
                         key=key)
            return
        changes.extend((key, col.key, self._cell(key, col, now))
                       for col, was, now in zip(columns, old, new, strict=True) if was != now)

    def _catch_up(self) -> None:
        """Write the figures of rows that came into sight since their last snapshot."""
        if not self._pending:
            return
        changes: list[tuple[str, str, Cell]] = []
        for index in self._in_sight():
            if index >= self.row_count:
                break
            row_key = self._row_locations.get_key(index)
            key = None if row_key is None else str(row_key.value)
            b = None if key is None else self._pending.pop(key, None)
            if key is not None and b is not None:
                self._bring_up(key, b, changes)
        self.write_cells(changes)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._catch_up()

    @staticmethod
    def _cell(key: str, col: cols.Column, spec: cols.Spec) -> Cell:
        # The same look as ``cols.cell_text``; the name cell carries the row key for sorting.
        return Cell(spec[0], spec[1], *cols.look(col), key=key if col.key == "name" else "")

    def _spark(self, key: str, b: BackendView, width: int) -> str:
        """The row's sparkline text, drawn again only when its points or width change."""
        cached = self._sparks.get(key)
        if cached is not None and cached[1] == width and (
                cached[0] is b.sparkline or cached[0] == b.sparkline):
            return cached[2]
        text = fmt.sparkline(b.sparkline, width)
        self._sparks[key] = (b.sparkline, width, text)
        return text

    def rows_keys(self) -> list[str]:
        return [str(r.key.value) for r in self.ordered_rows]

    def restyle(self, palette: cols.Palette) -> None:
        self.palette = palette
        self.show(self._backends)
