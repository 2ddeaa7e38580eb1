"""Widgets shared by the screens: a keyed, diffing table; cells that sort by value; sparks."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.render import measure
from textual.widgets import DataTable
from textual.widgets._data_table import ColumnKey, default_cell_formatter

SPARK_CHARS = "▁▂▃▄▅▆▇█"
SegmentLines = list[list[Segment]]


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

    A refresh of 500 topics changes a few rows, yet building all of them (a rich `Text` per
    cell) took two thirds of the Topics view's apply, 10-15 ms of the UI thread. `rows` gets
    each row's inputs (a tuple of plain values: cheap to compare, and untracked by the
    garbage collector) and hands back the previous row, the same object, when its inputs are
    equal; KeyedTable.sync then skips it without looking at its cells."""

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


class KeyedTable(DataTable):
    """A DataTable updated in place from keyed rows: cells change where values changed, new
    rows are added, gone rows removed; cursor, scroll and sort order are kept."""

    BINDINGS = [
        Binding("o", "cycle_sort", "Sort", id="table.sort"),
        Binding("O", "reverse_sort", "Reverse", show=False, id="table.reverse"),
    ]

    def __init__(self, columns: Sequence[tuple[str, str]], **kwargs: Any) -> None:
        #: render key -> {(row index, stripe): lines}: see _render_cell
        self._renders: dict[tuple[Any, ...], dict[tuple[int, Any], SegmentLines]] = {}
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._columns = list(columns)
        self._cells: dict[str, tuple[tuple[str, str], ...]] = {}
        self._all: dict[str, Sequence[Cell]] = {}
        #: the row objects of the last sync, as given: the same object again is unchanged
        self._given: dict[str, Sequence[Cell]] = {}
        self._shown: dict[str, list[Cell]] = {}  # the cells DataTable holds, per row
        # width of every shown cell, and per column how many rows have each width: a column
        # fits its widest cell without measuring the whole column again (see _fit_columns)
        self._widths: dict[str, list[int]] = {}
        self._width_counts: list[Counter[int]] = [Counter() for _ in self._columns]
        self._sorted_as: tuple[str | None, bool] = (None, False)  # (column, reverse) last sort
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.filter_text = ""

    def on_mount(self) -> None:
        for label, key in self._columns:
            self.add_column(label, key=key)

    @property
    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return row_key.value

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.sync(self._all)

    def _visible(self, rows: Mapping[str, Sequence[Cell]]) -> dict[str, Sequence[Cell]]:
        pattern, inverse = compile_filter(self.filter_text)
        if pattern is None:
            return dict(rows)
        return {k: v for k, v in rows.items()
                if bool(pattern.search(k) or pattern.search(v[0].plain)) != inverse}

    def sync(self, rows: Mapping[str, Sequence[Cell]]) -> None:
        """Make the table show `rows` (key -> cells in column order).

        Long-lived objects are what each of Python's full garbage collections walks (they
        stalled the UI: BENCHMARKS.md §6), so a sync keeps none it does not need: an unchanged
        cell stays the one DataTable already holds (the new one is dropped at once), and
        DataTable's render caches are emptied when anything changed — their keys carry
        DataTable's update count, so no entry made before an update can be used again, yet
        they kept up to 10,000 rendered cells and 1,000 rows and lines until pushed out."""
        updates = self._update_count
        visible = self._visible(rows)
        keep = self.current_key
        keys = [c[1] for c in self._columns]
        counts = self._width_counts
        touched: set[int] = set()
        moved = False  # rows added or removed
        with self.app.batch_update():
            for gone in [k for k in self._cells if k not in visible]:
                moved = True
                self.remove_row(gone)
                del self._cells[gone], self._shown[gone]
                for i, width in enumerate(self._widths.pop(gone)):
                    _uncount(counts[i], width)
            given = self._given
            for key, cells in visible.items():
                old = self._cells.get(key)
                if old is not None and given.get(key) is cells:  # the same row (RowCache)
                    continue
                sig = tuple(c.signature for c in cells)
                if old is None:
                    moved = True
                    self.add_row(*cells, key=key)
                    self._shown[key] = list(cells)
                    widths = self._widths[key] = [_cell_width(c, self) for c in cells]
                    for i, width in enumerate(widths):
                        counts[i][width] += 1
                elif old != sig:
                    widths = self._widths[key]
                    shown = self._shown[key]
                    for i, (col, cell, before) in enumerate(zip(keys, cells, old, strict=True)):
                        if cell.signature != before:
                            self.update_cell(key, col, cell)
                            shown[i] = cell
                            width = _cell_width(cell, self)
                            if width != widths[i]:
                                _uncount(counts[i], widths[i])
                                counts[i][width] += 1
                                widths[i] = width
                            touched.add(i)
                self._cells[key] = sig
            self._fit_columns(touched)
            # the order can only change if rows came or went or a sort-column value changed
            # (DataTable.sort is stable over the rows' insertion order, so re-sorting the same
            # values gives the same order): skip it otherwise, as it makes DataTable render
            # every visible row again
            sorted_as = (self.sort_column, self.sort_reverse)
            sort_index = keys.index(self.sort_column) if self.sort_column in keys else -1
            self._apply_sort(keep, moved or sort_index in touched or self._sorted_as != sorted_as)
        self._all = {k: self._shown.get(k, v) for k, v in rows.items()}
        self._given = dict(rows)
        if self._update_count != updates:
            self._drop_stale_renders()

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> SegmentLines:
        """DataTable's, with renders kept across updates.

        DataTable keys its rendered cells by its update count, so one changed cell made every
        visible cell render again through Rich: ~500 cells, 40-100 ms of the UI thread per
        refresh frame on 5,000 partitions, the longest stalls left (BENCHMARKS.md §6). Kept
        here by what the render depends on instead: the cell (its value and style), its
        column, width, style and cursor state. Not its row: DataTable writes the cell's place
        into its segments (the meta a mouse click reads), and the row's zebra stripe is its
        background, so a cell that moved (a sort, rows above it added or removed) gets its
        render back with the new place and stripe painted in (`_moved`) rather than a render
        through Rich again: a sort moved every visible row, 42-107 ms of the UI thread.
        Textual's own cache invalidations (`_clear_caches`) empty it too."""
        if row_index < 0 or column_index < 0:  # the header and row labels: as DataTable does
            return super()._render_cell(row_index, column_index, base_style, width, cursor,
                                        hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        cell = self._data[row_key][column_key]
        # a plain cell (no cursor, no hover, no background of its own) shows its row's
        # background, the zebra stripe: kept across stripes, repainted when it moves
        stripe = base_style.bgcolor if (not cursor and not hover and base_style.bgcolor
                                         and not _own_background(cell)) else None
        key = (row_key, column_key, column_index, row_index < self.fixed_rows,
               _render_signature(cell), base_style + _ANY_BACKGROUND if stripe else base_style,
               width, cursor, hover, self._show_hover_cursor, self._pseudo_class_state)
        renders = self._renders
        placed = renders.pop(key, None)  # (row index, stripe) -> lines, the last two
        where = (row_index, stripe)
        if placed is None:
            placed = {where: super()._render_cell(row_index, column_index, base_style, width,
                                                  cursor, hover)}
            # twice what the table shows: the visible cells stay, replaced ones age out
            if len(renders) >= 2 * max(1, self.size.height) * max(1, len(self.columns)):
                del renders[next(iter(renders))]  # the least recently used
        elif where not in placed:  # moved: from its last place (a sort and back: both kept)
            (last_row, last_stripe), lines = next(reversed(placed.items()))
            placed[where] = _moved(lines, row_index, column_index,
                                   stripe if stripe != last_stripe else None)
            if len(placed) > 2:
                del placed[next(iter(placed))]
        renders[key] = placed  # (re)inserted last: most recently used
        return placed[where]

    def _drop_stale_renders(self) -> None:
        """After an update: DataTable's caches hold nothing it can use again (their keys
        carry its update count); ours stays valid."""
        _clear_lru_caches(self)
        DataTable._clear_caches(self)

    def _clear_caches(self) -> None:
        self._renders.clear()
        self._drop_stale_renders()

    def _fit_columns(self, touched: set[int]) -> None:
        """Fit each column with an updated cell to its widest cell (or its label).

        What `update_cell(..., update_width=True)` ends with, without its cost: DataTable
        measures the whole column again for every updated cell narrower than the column
        (500 rows x 25 changed rows, per column, on each refresh of the topics table).
        """
        changed = False
        for i in touched:
            column = self.columns.get(ColumnKey(self._columns[i][1]))
            if column is None:
                continue
            label = measure(self.app.console, column.label, 1)
            width = max(max(self._width_counts[i], default=0), label)
            if width != column.content_width:
                column.content_width = width
                changed = True
        if changed:
            self._require_update_dimensions = True
            self.check_idle()

    def _apply_sort(self, keep: str | None, resort: bool = True) -> None:
        if resort and self.sort_column is not None and self.row_count:
            self.sort(self.sort_column, key=lambda c: _sortable(c), reverse=self.sort_reverse)
        self._sorted_as = (self.sort_column, self.sort_reverse)
        if keep is not None and keep in self._cells:
            index = self.get_row_index(keep)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False, scroll=False)

    def action_cycle_sort(self) -> None:
        keys = [c[1] for c in self._columns]
        i = keys.index(self.sort_column) + 1 if self.sort_column in keys else 0
        self.sort_column = keys[i % len(keys)]
        self.sort_reverse = i % len(keys) != 0  # numbers: biggest first
        self._apply_sort(self.current_key)
        self.notify(f"sorted by {self._columns[i % len(keys)][0]}", timeout=1.5)

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._apply_sort(self.current_key)


def _cell_width(cell: Any, table: DataTable) -> int:
    """The width DataTable measures for a cell of a one-line row."""
    if isinstance(cell, Text):  # measure(): the widest line of the plain text
        return max(map(cell_len, cell.plain.splitlines()), default=0)
    return measure(table.app.console, default_cell_formatter(cell, wrap=False, height=1), 1)


def _uncount(counter: Counter[int], width: int) -> None:
    counter[width] -= 1
    if counter[width] <= 0:
        del counter[width]


def _sortable(cell: Any) -> tuple[int, Any]:
    value = getattr(cell, "sort_value", cell)
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


#: added to a row's style in a render key: any background matches (_render_cell's stripes)
_ANY_BACKGROUND = Style(bgcolor="default")


def _moved(lines: SegmentLines, row_index: int, column_index: int,
           stripe: Any = None) -> SegmentLines:
    """A cell's rendered lines with the place DataTable writes into every segment's style
    (`Style.from_meta({"row": …, "column": …})`, what a mouse click on it reads) set to
    `row_index`, and, given a `stripe`, the row's background: adding a style replaces the
    meta keys and the background it has."""
    place = _place_style(row_index, column_index, stripe)
    return [[Segment(text, style + place if style is not None else place, control)
             if not control else Segment(text, style, control)
             for text, style, control in line] for line in lines]


@functools.lru_cache(maxsize=4096)
def _place_style(row_index: int, column_index: int, stripe: Any) -> Style:
    """The style `_moved` adds: one object per place and stripe, so that Rich's own cache of
    style additions (`Style.__add__`) serves the same additions again."""
    place = Style.from_meta({"row": row_index, "column": column_index})
    return Style(bgcolor=stripe) + place if stripe is not None else place


def _own_background(cell: Any) -> bool:
    """Whether a cell sets a background itself (anything but a Text: assume it does)."""
    if not isinstance(cell, Text):
        return True
    styles = [cell.style, *(span.style for span in cell.spans)]
    return any((Style.parse(s) if isinstance(s, str) else s).bgcolor is not None
               for s in styles if s)


def _render_signature(cell: Any) -> Any:
    """What a cell's render depends on, for a Text: its text, styles and layout."""
    if isinstance(cell, Text):
        return (cell.plain, str(cell.style), cell.justify, cell.overflow, cell.no_wrap,
                tuple(cell.spans))
    return cell


def _clear_lru_caches(table: DataTable) -> None:
    """Empty DataTable's LRU caches so that their entries are freed at once. Textual's
    LRUCache links its entries in a ring of [prev, next, key, value] lists: a cache emptied
    with `clear()` was cyclic garbage (20,000-38,000 objects per refresh on 5,000
    partitions) that only a full collection frees, walking it first (BENCHMARKS.md §6)."""
    for cache in (table._row_render_cache, table._cell_render_cache,
                  table._row_renderable_cache, table._line_cache, table._offset_cache,
                  table._ordered_row_cache):
        for link in cache._cache.values():
            link.clear()
        cache._head = []
