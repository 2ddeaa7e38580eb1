"""Widgets shared by the screens: a keyed, diffing table; cells that sort by value; sparks."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

SPARK_CHARS = "▁▂▃▄▅▆▇█"


class Cell(Text):
    """Display text that sorts by its value (numbers sort as numbers; None sorts first)."""

    def __init__(self, text: str, value: Any = None, style: str = "", justify: Any = None):
        super().__init__(text, style=style, justify=justify)
        self.sort_value = value if value is not None else text

    @property
    def signature(self) -> tuple[str, str]:
        return self.plain, str(self.style)


def num(value: float | int | None, digits: int = 0, style: str = "") -> Cell:
    if value is None:
        return Cell("-", float("-inf"), style="dim", justify="right")
    text = f"{value:,.{digits}f}" if digits else f"{int(round(value)):,}"
    return Cell(text, value, style=style, justify="right")


class RowCache:
    """A table's rows, each built again only when what it shows changed.

    A refresh of many topics changes a few rows, yet building all of them (a rich `Text` per
    cell) would be most of a view's apply on the UI thread. `rows` gets
    each row's inputs (a tuple of plain values: cheap to compare, and untracked by the
    garbage collector) and hands back the previous row, the same object, when its inputs are
    equal; KeyedTable.sync then skips it without looking at its cells, and the row keeps
    its rendered line."""

    def __init__(self, build: Callable[..., list[Cell]]) -> None:
        self._build = build  # the cells of a row from its inputs, in order
        self._rows: dict[str, tuple[tuple[Any, ...], list[Cell]]] = {}

    def rows(self, inputs: Iterable[tuple[str, tuple[Any, ...]]]) -> dict[str, list[Cell]]:
        """key -> cells, for every (key, inputs) given (rows not given are forgotten)."""
        build, previous = self._build, self._rows
        fresh: dict[str, tuple[tuple[Any, ...], list[Cell]]] = {}
        for key, values in inputs:
            hit = previous.get(key)
            fresh[key] = hit if hit is not None and hit[0] == values else (values,
                                                                           build(*values))
        self._rows = fresh
        return {key: cells for key, (_, cells) in fresh.items()}


def spark(values: Sequence[float], width: int = 12) -> str:
    """A tiny sparkline of the last `width` values."""
    data = list(values)[-width:]
    if not data:
        return ""
    lo, hi = min(data), max(data)
    if hi == lo:
        return SPARK_CHARS[0 if hi == 0 else 3] * len(data)
    scale = (len(SPARK_CHARS) - 1) / (hi - lo)
    return "".join(SPARK_CHARS[int((v - lo) * scale)] for v in data)


def compile_filter(text: str) -> tuple[re.Pattern[str] | None, bool]:
    """k9s-style filter: a regex (a plain substring when it is not one), `!` inverts."""
    inverse = text.startswith("!")
    body = text[1:] if inverse else text
    if not body:
        return None, False
    try:
        return re.compile(body, re.IGNORECASE), inverse
    except re.error:
        return re.compile(re.escape(body), re.IGNORECASE), inverse


class KeyedTable(ScrollView, can_focus=True):
    """A table of keyed rows, updated in place by `sync`: a row is rendered again only when
    its cells changed, and cursor (it follows its row), scroll, sort and filter are kept.

    Built on Textual's public Line API (`ScrollView.render_line` returning a `Strip`) rather
    than on DataTable: DataTable renders every visible cell again after any update (its
    render caches are keyed by an update count), so each refresh frame re-renders every
    visible cell; keeping renders across updates meant reaching into its private caches
    (BENCHMARKS.md §6). Here each row keeps its rendered line until
    its cells or the column widths change; a sort or a scroll only picks other lines."""

    DEFAULT_CSS = """
    KeyedTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .keyed-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .keyed-table--header { background-tint: $foreground 5%; }
        }
        &:dark > .keyed-table--even-row { background: $surface-darken-1 40%; }
        & > .keyed-table--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .keyed-table--header { background: ansi_bright_blue; color: ansi_default; }
        & > .keyed-table--odd-row { }
        & > .keyed-table--even-row { background: $surface-lighten-1 50%; }
        & > .keyed-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    COMPONENT_CLASSES = {"keyed-table--header", "keyed-table--cursor", "keyed-table--even-row",
                         "keyed-table--odd-row"}
    BINDINGS = [
        Binding("o", "cycle_sort", "Sort", id="table.sort"),
        Binding("O", "reverse_sort", "Reverse", show=False, id="table.reverse"),
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "cursor_page_up", "Page up", show=False),
        Binding("pagedown", "cursor_page_down", "Page down", show=False),
        Binding("home", "cursor_first", "First row", show=False),
        Binding("end", "cursor_last", "Last row", show=False),
    ]

    class RowHighlighted(Message):
        """The cursor is on another row (`key`)."""

        def __init__(self, table: KeyedTable, key: str) -> None:
            super().__init__()
            self.table, self.key = table, key

        @property
        def control(self) -> KeyedTable:
            return self.table

    class RowSelected(Message):
        """A row was chosen: enter, or a click on it (`key`)."""

        def __init__(self, table: KeyedTable, key: str) -> None:
            super().__init__()
            self.table, self.key = table, key

        @property
        def control(self) -> KeyedTable:
            return self.table

    def __init__(self, columns: Sequence[tuple[str, str]], *, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = list(columns)  # (label, key)
        self._column_keys = [key for _, key in self.columns]
        self._given: dict[str, Sequence[Any]] = {}  # the row objects of the last sync
        self._sigs: dict[str, tuple[tuple[str, str], ...]] = {}  # key -> what each cell shows
        self._order: list[str] = []  # the shown (filtered) keys, in display order
        self._index: dict[str, int] = {}  # key -> its place in _order
        # per shown row, each cell's width; per column, how many shown rows have each width:
        # a column fits its widest cell without measuring the column again
        self._row_widths: dict[str, list[int]] = {}
        self._width_counts: list[Counter[int]] = [Counter() for _ in self.columns]
        self._widths = [cell_len(label) for label, _ in self.columns]
        self._layout = 0  # bumped when a column's width changes: every line renders again
        #: key -> (cells, layout, content segments, row style, line): a row's line, kept until
        #: its cells, the widths or its style change; least recently used first
        self._lines: dict[str, tuple[Sequence[Any], int, list[Segment], Style, Strip]] = {}
        self._header: tuple[tuple[Any, ...], Strip] | None = None
        self.cursor_row = 0
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.filter_text = ""

    # ---- what it shows ----------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def keys(self) -> list[str]:
        """The keys of the rows shown (filtered), in display order."""
        return list(self._order)

    @property
    def signatures(self) -> Mapping[str, tuple[tuple[str, str], ...]]:
        """key -> (text, style) of each cell, for every row of the last sync (filtered or not)."""
        return self._sigs

    @property
    def current_key(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self.cursor_row, len(self._order) - 1)]

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    def get_cell(self, key: str, column: str) -> Any:
        return self._given[key][self._column_keys.index(column)]

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.sync(self._given)

    def _visible(self, rows: Mapping[str, Sequence[Any]]) -> list[str]:
        pattern, inverse = compile_filter(self.filter_text)
        if pattern is None:
            return list(rows)
        return [k for k, v in rows.items()
                if bool(pattern.search(k) or pattern.search(_plain(v[0]))) != inverse]

    # ---- updates ----------------------------------------------------------------------------

    def sync(self, rows: Mapping[str, Sequence[Any]]) -> None:
        """Show `rows` (key -> cells in column order): new rows appear, gone rows go, changed
        rows render again; the cursor stays on its row. A row given as the same object as
        last time (RowCache) is not looked at."""
        keep = self.current_key
        given, sigs = self._given, self._sigs
        changed: list[str] = []
        sort_index = (self._column_keys.index(self.sort_column)
                      if self.sort_column in self._column_keys else -1)
        resort = False
        fresh: dict[str, tuple[tuple[str, str], ...]] = {}
        kept: dict[str, Sequence[Any]] = {}
        for key, cells in rows.items():
            old = sigs.get(key)
            if old is not None and given.get(key) is cells:
                fresh[key], kept[key] = old, cells
                continue
            sig = tuple(_signature(c) for c in cells)
            fresh[key] = sig
            if old == sig:  # equal to what is shown: keep that (and its rendered line)
                kept[key] = given[key]
                continue
            kept[key] = cells
            changed.append(key)
            if old is not None and sort_index >= 0 and old[sort_index] != sig[sort_index]:
                resort = True
        self._given, self._sigs = kept, fresh
        shown = self._visible(kept)
        moved = len(shown) != len(self._order) or any(k not in self._index for k in shown)
        layout = self._count_widths(shown, changed, moved)
        if moved or resort:
            self._order = self._sorted(shown)
            self._index = {k: i for i, k in enumerate(self._order)}
        self._settle(keep, full=moved or resort or layout, changed=changed)

    def _count_widths(self, shown: list[str], changed: list[str], moved: bool) -> bool:
        """Keep the per-column width counts of the shown rows; whether a column's width
        changed (then every line renders again)."""
        counts, row_widths = self._width_counts, self._row_widths
        if moved:
            keep = set(shown)
            for gone in [k for k in row_widths if k not in keep]:
                for i, width in enumerate(row_widths.pop(gone)):
                    _uncount(counts[i], width)
            todo = [k for k in shown if k not in row_widths] + [
                k for k in changed if k in row_widths]
        else:
            todo = [k for k in changed if k in row_widths]
        for key in todo:
            widths = [cell_len(_plain(c)) for c in self._given[key]]
            before = row_widths.get(key)
            for i, width in enumerate(widths):
                if before is not None:
                    _uncount(counts[i], before[i])
                counts[i][width] += 1
            row_widths[key] = widths
        fitted = [max(cell_len(label), max(count, default=0))
                  for (label, _), count in zip(self.columns, counts, strict=True)]
        if fitted == self._widths:
            return False
        self._widths = fitted
        self._layout += 1
        return True

    def _sorted(self, keys: list[str]) -> list[str]:
        if self.sort_column not in self._column_keys:
            return keys
        i = self._column_keys.index(self.sort_column)
        given = self._given
        return sorted(keys, key=lambda k: _sortable(given[k][i]), reverse=self.sort_reverse)

    def _settle(self, keep: str | None, full: bool, changed: Sequence[str] = ()) -> None:
        """Cursor back on its row (`keep`: the key it was on), the virtual size, and a
        repaint of what changed."""
        if keep is not None and keep in self._index:
            self.cursor_row = self._index[keep]
        else:
            self.cursor_row = max(0, min(self.cursor_row, len(self._order) - 1))
        self.virtual_size = Size(sum(self._widths) + 2 * len(self._widths),
                                 len(self._order) + 1)
        if full:
            self.refresh()
        else:
            for key in changed:
                index = self._index.get(key)
                if index is not None:
                    self.refresh_line(index + 1)
        self._scroll_to_cursor()
        current = self.current_key
        if current is not None and current != keep:
            self.post_message(self.RowHighlighted(self, current))

    # ---- sort and cursor --------------------------------------------------------------------

    def apply_sort(self) -> None:
        """Order the rows by `sort_column` / `sort_reverse` (stable: equal values keep the
        order they were given in), the cursor on its row."""
        keep = self.current_key
        self._order = self._sorted(self._visible(self._given))
        self._index = {k: i for i, k in enumerate(self._order)}
        self._settle(keep, full=True)

    def action_cycle_sort(self) -> None:
        keys = self._column_keys
        i = keys.index(self.sort_column) + 1 if self.sort_column in keys else 0
        self.sort_column = keys[i % len(keys)]
        self.sort_reverse = i % len(keys) != 0  # numbers: biggest first
        self.apply_sort()
        self.notify(f"sorted by {self.columns[i % len(keys)][0]}", timeout=1.5)

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.apply_sort()

    def move_cursor(self, row: int, animate: bool = False, scroll: bool = True) -> None:
        """Put the cursor on row `row` (clamped); scrolled into view unless `scroll` is False."""
        if not self._order:
            return
        row = max(0, min(row, len(self._order) - 1))
        if row != self.cursor_row:
            self.refresh_line(self.cursor_row + 1)
            self.cursor_row = row
            self.refresh_line(row + 1)
            self.post_message(self.RowHighlighted(self, self._order[row]))
        if scroll:
            self._scroll_to_cursor(animate)

    def _scroll_to_cursor(self, animate: bool = False) -> None:
        rows_high = max(1, self.scrollable_content_region.height - 1)  # the header stays
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=animate, immediate=not animate)
        elif self.cursor_row >= top + rows_high:
            self.scroll_to(y=self.cursor_row - rows_high + 1, animate=animate,
                           immediate=not animate)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_cursor_page_up(self) -> None:
        self.move_cursor(self.cursor_row - max(1, self.scrollable_content_region.height - 1))

    def action_cursor_page_down(self) -> None:
        self.move_cursor(self.cursor_row + max(1, self.scrollable_content_region.height - 1))

    def action_cursor_first(self) -> None:
        self.move_cursor(0)

    def action_cursor_last(self) -> None:
        self.move_cursor(len(self._order) - 1)

    def action_select_cursor(self) -> None:
        key = self.current_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: events.Click) -> None:
        """A click on a row puts the cursor there and selects it (as DataTable does)."""
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        row = round(self.scroll_y) + offset.y - 1
        if row < len(self._order):
            event.stop()
            self.move_cursor(row)
            self.post_message(self.RowSelected(self, self._order[row]))

    def on_focus(self) -> None:
        self.refresh()  # the cursor's style depends on the focus

    def on_blur(self) -> None:
        self.refresh()

    # ---- rendering --------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("keyed-table--header")
            line = self._header_line(style)
        else:
            row = scroll_y + y - 1
            if row >= len(self._order):
                return Strip.blank(width, base)
            style = base + self.get_component_rich_style(self._row_class(row))
            line = self._row_line(row, style)
        return _window(line, scroll_x, width, style)  # the row's style up to the right edge

    def _row_class(self, row: int) -> str:
        if row == self.cursor_row:
            return "keyed-table--cursor"
        return "keyed-table--odd-row" if row % 2 else "keyed-table--even-row"

    def _header_line(self, style: Style) -> Strip:
        signature = (style, self._layout)
        if self._header is None or self._header[0] != signature:
            cells = [Text(label, style="") for label, _ in self.columns]
            segments = row_segments(cells, self._widths, self.app.console)
            self._header = signature, Strip(list(Segment.apply_style(segments, style)))
        return self._header[1]

    def _row_line(self, row: int, style: Style) -> Strip:
        key = self._order[row]
        cells = self._given[key]
        lines = self._lines
        kept = lines.pop(key, None)
        if kept is not None and kept[0] is cells and kept[1] == self._layout:
            content = kept[2]
            if kept[3] == style:
                lines[key] = kept  # most recently used last
                return kept[4]
        else:
            content = row_segments(cells, self._widths, self.app.console)
        line = Strip(list(Segment.apply_style(content, style)))
        lines[key] = (cells, self._layout, content, style, line)
        if len(lines) > 4 * max(1, self.size.height) + 64:  # twice what a screen shows, and more
            del lines[next(iter(lines))]
        return line


def _window(line: Strip, start: int, width: int, style: Style) -> Strip:
    """`line` from cell `start`, `width` cells wide (padded with `style`). Not
    `Strip.crop_extend`: it keeps its result in the strip's own cache, and when that result
    is the strip itself (nothing to crop) the strip refers to itself, so each line dropped
    later (a row changed, a column resized) was cyclic garbage, freed only by a full
    collection."""
    if start:
        line = line.crop(start, start + width)
    if line.cell_length > width:
        line = line.crop(0, width)
    elif line.cell_length < width:
        line = line.extend_cell_length(width, style)
    return line


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _signature(cell: Any) -> tuple[str, str]:
    if isinstance(cell, Cell):
        return cell.signature
    if isinstance(cell, Text):
        return cell.plain, str(cell.style)
    return str(cell), ""


def row_segments(cells: Sequence[Any], widths: Sequence[int],
                  console: Console) -> list[Segment]:
    """A row's segments: each cell padded by one space each side, fitted to its column
    (truncated with an ellipsis, aligned as the cell says)."""
    pad = Segment(" ")
    out: list[Segment] = []
    for cell, width in zip(cells, widths, strict=True):
        out.append(pad)
        out.extend(cell_segments(cell, width, console))
        out.append(pad)
    return out


def cell_segments(cell: Any, width: int, console: Console) -> list[Segment]:
    text = cell if isinstance(cell, Text) else Text(str(cell))
    if not text.spans and "\n" not in text.plain:  # the usual cell: one style, one line
        plain = text.plain
        if cell_len(plain) > width:
            plain = set_cell_size(plain, max(0, width - 1)) + "…" if width else ""
        gap = width - cell_len(plain)
        if text.justify == "right":
            plain = " " * gap + plain
        elif text.justify == "center":
            plain = " " * (gap // 2) + plain + " " * (gap - gap // 2)
        else:
            plain += " " * gap
        style = text.style
        if isinstance(style, str):
            style = console.get_style(style, default=Style.null()) if style else Style.null()
        return [Segment(plain, style or None)]
    fitted = text.copy()
    fitted.truncate(width, overflow="ellipsis")
    fitted.plain = fitted.plain.replace("\n", " ")
    fitted.align(text.justify if text.justify in ("left", "center", "right") else "left",
                 width)
    return [s for s in fitted.render(console) if s.text != "\n"]


def _uncount(counter: Counter[int], width: int) -> None:
    counter[width] -= 1
    if counter[width] <= 0:
        del counter[width]


def _sortable(cell: Any) -> tuple[int, Any]:
    value = getattr(cell, "sort_value", cell)
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))
