"""A DataTable that draws its one-line cells cheaply and only again when they change."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from rich.cells import cell_len
from rich.console import Console, JustifyMethod, OverflowMethod
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowKey

CellType = TypeVar("CellType")
Lines = list[list[Segment]]


class Cell:
    """A one-line cell as the table keeps it: made into a Text only when Rich needs one.

    Hundreds of cells change each frame; building a Text for each would cost more than
    drawing them.
    """

    __slots__ = ("justify", "key", "overflow", "plain", "style")

    def __init__(self, plain: str, style: str = "", justify: JustifyMethod | None = None,
                 overflow: OverflowMethod | None = None, key: str = "") -> None:
        self.plain = plain
        self.style = style
        self.justify = justify
        self.overflow = overflow
        self.key = key  # the row's, for sorting rows by a column of cells

    def __rich__(self) -> Text:
        return Text(self.plain, style=self.style, justify=self.justify,
                    overflow=self.overflow, no_wrap=True)


def one_line(plain: str, style: str | Style, justify: str | None, width: int, padding: int,
             pre: Style, post: Style, console: Console) -> list[Segment] | None:
    """The segments of a one-line text in a cell ``width`` wide, ``padding`` each side.

    Matches ``console.render_lines(Styled(Padding(text, (0, padding)), pre, post))`` for
    a text without spans, tabs or new lines that fits the cell, justified left, right or
    by default. Anything else returns None and the caller lets Rich do it: Rich's general
    path costs about ten times more per cell.
    """
    inner = width - 2 * padding
    if (not plain or inner < 0 or "\n" in plain or "\t" in plain
            or justify not in (None, "default", "left", "right")
            or (justify and plain[-1].isspace())):  # Rich strips those: let it
        return None
    used = cell_len(plain)
    if used > inner:
        return None
    edge = pre + post
    own = pre + console.get_style(style) + post if style else edge
    fill = inner - used
    out: list[Segment] = []
    if padding:
        out.append(Segment(" " * padding, edge))
    if justify == "right":
        out.append(Segment(" " * fill + plain, own))
    elif justify == "left":
        out.append(Segment(plain + " " * fill, own))
    else:
        out.append(Segment(plain, own))
        if fill:
            out.append(Segment(" " * fill, edge))
    if padding:
        out.append(Segment(" " * padding, edge))
    return out


@dataclass
class _Pass:
    """Read once per redraw instead of once per line or cell: most reads walk the DOM."""

    style: Style
    show_cursor: bool
    hover_cursor: bool
    css_foreground: bool
    css_background: bool
    padding: int
    fixed_rows: int
    header_height: int
    widths: list[int]
    label_width: int
    background: Color
    row_styles: dict[str, Style] = field(default_factory=dict)
    cell_styles: dict[tuple[bool, bool, bool], tuple[Style, Style]] = field(
        default_factory=dict)


class QuickTable(DataTable[CellType]):
    """A DataTable for tables redrawn several times a second.

    DataTable forgets every drawn cell whenever any cell changes, and draws each through
    Rich's general layout; with a hundred rows of changing figures that is most of a
    frame. Here a drawn cell is kept until its value, place or look changes, a one-line
    Text cell is drawn directly (``one_line``, same segments as Rich's), and a line is
    put together without asking the DOM for the same styles once per cell. Tables with
    row labels or fixed columns take DataTable's own path.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (row key, column key) -> (value, everything else the drawing depends on, lines)
        self._drawn: dict[tuple[object, object], tuple[object, tuple[object, ...], Lines]] = {}
        self._pass: _Pass | None = None
        self._metas: dict[tuple[int, int], Style] = {}  # a cell's place, as mouse events see it

    def write_cells(self, changes: Iterable[tuple[str, str, CellType]]) -> None:
        """Set many cells at once: one redraw for all, where ``update_cell`` has one each.

        Column widths stay as they are (like ``update_cell(..., update_width=False)``).
        """
        data = self._data
        written = False
        for row_key, column_key, value in changes:
            row = data.get(row_key)  # type: ignore[call-overload]
            if row is None or column_key not in row:
                raise CellDoesNotExist(
                    f"No cell exists for row_key={row_key!r}, column_key={column_key!r}.")
            row[column_key] = value
            written = True
        if written:
            self.bump_update_count()
            self.refresh()

    def bump_update_count(self) -> None:
        """Mark every drawn line out of date, and drop what was drawn for older counts.

        DataTable keys its cell, row and line caches by this count and leaves entries of
        older counts until its LRU limits push them out (10,000 cells, 1,000 lines): with a
        few cells changing each frame, that is a slow climb of megabytes nobody reads again.
        """
        self._update_count += 1
        for cache in (self._cell_render_cache, self._row_render_cache,
                      self._row_renderable_cache, self._line_cache):
            cache.clear()

    def forget_row(self, row_key: str) -> None:
        """Drop what was drawn for a row that is gone."""
        for key in [k for k in self._drawn if k[0] == row_key]:
            del self._drawn[key]

    def clear(self, columns: bool = False) -> Self:
        self._drawn.clear()
        self._metas.clear()
        super().clear(columns)
        return self

    def notify_style_update(self) -> None:
        self._drawn.clear()
        super().notify_style_update()

    # ---- drawing ---------------------------------------------------------------------

    def _read_pass(self) -> _Pass:
        return _Pass(
            style=self.rich_style, show_cursor=self.show_cursor,
            hover_cursor=self._show_hover_cursor,
            css_foreground=self.cursor_foreground_priority == "css",
            css_background=self.cursor_background_priority == "css",
            padding=self.cell_padding, fixed_rows=self.fixed_rows,
            header_height=self.header_height,
            widths=[c.get_render_width(self) for c in self.ordered_columns],
            label_width=self._row_label_column_width, background=self.background_colors[1])

    def _now(self) -> _Pass:
        return self._pass if self._pass is not None else self._read_pass()

    def _simple(self) -> bool:
        """Whether this table's lines can be drawn here (else DataTable draws them)."""
        return not self.fixed_columns and not (self._labelled_row_exists
                                               and self.show_row_labels)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pass = self._read_pass()
        try:
            return super().render_lines(crop)
        finally:
            self._pass = None

    def render_line(self, y: int) -> Strip:
        p = self._pass
        if p is None or p.fixed_rows or not self._simple():
            return super().render_line(y)
        # DataTable.render_line for no fixed rows, with the widget's style read once.
        scroll_x, scroll_y = self.scroll_offset
        if y >= (p.header_height if self.show_header else 0):
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, p.style)

    def _row_style(self, p: _Pass, row_index: int, base_style: Style) -> Style:
        """DataTable._get_row_style, each component's style read once per redraw."""
        if row_index == -1:
            name = "datatable--header"
        elif row_index < p.fixed_rows:
            name = "datatable--fixed"
        elif self.zebra_stripes:
            name = "datatable--odd-row" if row_index % 2 else "datatable--even-row"
        else:
            return base_style
        style = p.row_styles.get(name)
        if style is None:
            style = p.row_styles[name] = self.get_component_styles(name).rich_style
        return style

    def _render_line_in_row(self, row_key: RowKey, line_no: int, base_style: Style,
                            cursor_location: Coordinate, hover_location: Coordinate,
                            ) -> tuple[Lines, Lines]:
        """DataTable's, for tables without row labels or fixed columns."""
        if not self._simple():
            return super()._render_line_in_row(row_key, line_no, base_style,
                                               cursor_location, hover_location)
        p = self._now()
        cursor_type = self.cursor_type
        highlight = self._should_highlight
        render_cell = self._render_cell
        found = self._row_locations.get(row_key)
        row_index = -1 if found is None else found
        row_style = self._row_style(p, row_index, base_style)
        scrollable_row = []
        for column_index, width in enumerate(p.widths):
            cell = Coordinate(row_index, column_index)
            scrollable_row.append(render_cell(
                row_index, column_index, row_style, width,
                cursor=highlight(cursor_location, cell, cursor_type),
                hover=highlight(hover_location, cell, cursor_type))[line_no])
        # Extending the styling out horizontally to fill the container, as DataTable does.
        remaining_space = max(0, self.size.width - (sum(p.widths) + p.label_width))
        if cursor_type == "row":
            extend_style, _ = self._get_styles_to_render_cell(
                row_index == -1, False, False,
                highlight(hover_location, Coordinate(row_index or 0, 0), cursor_type),
                row_index == cursor_location.row, p.show_cursor, p.hover_cursor, False, False)
            extend_style = row_style + extend_style
        elif row_style.bgcolor is not None:
            faded = Color.from_rich_color(row_style.bgcolor).blend(p.background, factor=0.25)
            extend_style = Style.from_color(color=row_style.color, bgcolor=faded.rich_color)
        else:
            extend_style = Style.from_color(row_style.color, row_style.bgcolor)
        extend_style += Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        scrollable_row.append([Segment(" " * remaining_space, extend_style)])
        return [], scrollable_row

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> Lines:
        p = self._now()
        header = row_index == -1
        if (column_index < 0 or (row_index < p.fixed_rows and not header)
                or column_index < self.fixed_columns
                or (p.header_height if header else 1) != 1):
            return super()._render_cell(row_index, column_index, base_style, width, cursor,
                                        hover)
        column_key = self._column_locations.get_key(column_index)
        column = None if column_key is None else self.columns.get(column_key)
        value: object
        if header:
            row_key: RowKey | None = None
            value = None if column is None else column.label
        else:
            row_key = self._row_locations.get_key(row_index)
            row = None if row_key is None else self.rows.get(row_key)
            if row_key is None or row is None or row.height != 1 or column_key is None:
                return super()._render_cell(row_index, column_index, base_style, width,
                                            cursor, hover)
            value = self._data[row_key].get(column_key)
        styles = p.cell_styles.get((header, hover, cursor))
        if styles is None:
            styles = p.cell_styles[(header, hover, cursor)] = self._get_styles_to_render_cell(
                header, False, False, hover, cursor, p.show_cursor, p.hover_cursor,
                p.css_foreground, p.css_background)
        component, post = styles
        looks = (row_index, column_index, base_style, width, component, post, p.padding)
        drawn = self._drawn.get((row_key, column_key))
        if drawn is not None and drawn[0] is value and drawn[1] == looks:
            return drawn[2]
        line = None
        if isinstance(value, Cell | Text) and not (isinstance(value, Text) and value.spans):
            meta = self._metas.get((row_index, column_index))
            if meta is None:
                meta = self._metas[(row_index, column_index)] = Style.from_meta(
                    {"row": row_index, "column": column_index})
            pre = base_style + meta
            line = one_line(value.plain, value.style, value.justify, width, p.padding,
                            pre + component, post, self.app.console)
        lines = ([line] if line is not None else
                 super()._render_cell(row_index, column_index, base_style, width, cursor,
                                      hover))
        self._drawn[(row_key, column_key)] = (value, looks, lines)
        return lines
