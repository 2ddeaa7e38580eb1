"""KeyedTable: keyed rows updated in place. What a user sees is kept across updates (cursor
on its row, scroll, sort, filter), a row renders again only when its cells changed (each
refresh frame of a big cluster would otherwise render every visible cell: BENCHMARKS.md §6),
and a click or a key lands on the row it points at."""

from __future__ import annotations

import contextlib
import gc

import pytest
from textual.app import App, ComposeResult

import nexus_tui.widgets as widgets
from nexus_tui.widgets import Cell, KeyedTable, RowCache, num

COLUMNS = [("NAME", "name"), ("LAG", "lag")]


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[str] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS)

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self.highlighted.append(event.key)

    def on_keyed_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        self.selected.append(event.key)


def rows(lags: dict[str, int | None]) -> dict[str, list[Cell]]:
    return {name: [Cell(name), num(lag, style="red" if lag and lag > 80 else "")]
            for name, lag in lags.items()}


@contextlib.asynccontextmanager
async def table_showing(lags: dict[str, int | None], size: tuple[int, int] = (60, 30)):
    """A table showing `lags`, focused, its first frame painted: (pilot, table)."""
    async with TableApp().run_test(size=size) as pilot:
        table = pilot.app.query_one(KeyedTable)
        table.focus()
        table.sync(rows(lags))
        await pilot.pause()
        yield pilot, table


def screen_lines(table: KeyedTable) -> list[list[str]]:
    """What the table shows, line by line (header first), split into words."""
    return [table.render_line(y).text.split() for y in range(table.size.height)]


def shown_rows(table: KeyedTable) -> list[tuple[str, str]]:
    return [(line[0], line[1]) for line in screen_lines(table)[1:] if len(line) == 2]


@pytest.fixture
def rendered(monkeypatch) -> list[str]:
    """The text of every cell rendered from now on (the table's own cell renderer)."""
    cells: list[str] = []
    original = widgets.cell_segments

    def counting(cell, width, console):
        cells.append(widgets._plain(cell))
        return original(cell, width, console)

    monkeypatch.setattr(widgets, "cell_segments", counting)
    return cells


async def test_shows_rows_in_columns_fitted_to_their_widest_cell():
    async with table_showing({"orders": 5, "payments-and-more": 12345}) as (pilot, table):
        lines = [table.render_line(y).text for y in range(3)]
        assert lines[0].split() == ["NAME", "LAG"]
        assert lines[1].split() == ["orders", "5"] and lines[2].split() == [
            "payments-and-more", "12,345"]
        # numbers right-aligned in a column as wide as its widest cell
        assert lines[1].index("5") == lines[2].index("12,345") + len("12,345") - 1
        table.sync(rows({"orders": 5}))  # the wide row goes: the column narrows
        await pilot.pause()
        assert table.render_line(0).text.index("LAG") < len(" payments-and-more ")
        assert table.virtual_size.width == len(" orders ") + len(" LAG ")


async def test_an_update_renders_only_the_changed_row(rendered):
    lags: dict[str, int | None] = {f"topic-{i:03}": i for i in range(300)}
    async with table_showing(lags) as (pilot, table):
        assert len(rendered) >= 2 * (table.size.height - 1)  # the visible rows, once
        rendered.clear()
        lags["topic-002"] = 7  # as wide as before: the column keeps its width
        table.sync(rows(lags))
        await pilot.pause()
        assert sorted(rendered) == ["7", "topic-002"]
        assert ["topic-002", "7"] in screen_lines(table)
        rendered.clear()
        table.sync(rows(lags))  # the same values, new objects: nothing to render
        await pilot.pause()
        assert rendered == []
        table.move_cursor(5)  # a cursor move restyles two kept lines, renders no cell
        await pilot.pause()
        assert rendered == [] and table.current_key == "topic-005"


async def test_cursor_stays_on_its_row_while_rows_come_go_and_move():
    lags: dict[str, int | None] = {f"group-{i:03}": i for i in range(50)}
    async with table_showing(lags) as (pilot, table):
        table.move_cursor(table.get_row_index("group-020"))
        await pilot.pause()
        seen = list(pilot.app.highlighted)
        assert seen[-1] == "group-020"
        table.sync(rows({"group-000a": 1, **lags}))  # a row above it
        assert table.current_key == "group-020" and table.cursor_row == 21
        del lags["group-001"]
        table.sync(rows(lags))  # a row above it goes
        assert table.current_key == "group-020" and table.cursor_row == 19
        table.sort_column, table.sort_reverse = "lag", True
        table.apply_sort()
        assert table.current_key == "group-020" and table.keys[0] == "group-049"
        await pilot.pause()
        assert pilot.app.highlighted == seen  # still the same row: no highlight message
        lags["group-020"] = 1000  # its own value moves it to the top
        table.sync(rows(lags))
        assert table.keys[0] == "group-020" and table.current_key == "group-020"
        await pilot.pause()
        assert shown_rows(table)[0] == ("group-020", "1,000")


async def test_scroll_and_sort_are_kept_across_updates():
    lags: dict[str, int | None] = {f"topic-{i:03}": i for i in range(200)}
    async with table_showing(lags, size=(60, 20)) as (pilot, table):
        table.sort_column, table.sort_reverse = "lag", False
        table.apply_sort()
        table.move_cursor(120)
        await pilot.pause()
        top = table.scroll_y
        assert top > 100 and shown_rows(table)[0][0] == f"topic-{int(top):03}"
        for i in range(0, 200, 7):
            lags[f"topic-{i:03}"] = (lags[f"topic-{i:03}"] or 0) + 1  # same order
        lags["topic-new"] = 500  # a new row: sorted in, at the end
        table.sync(rows(lags))
        await pilot.pause()
        assert table.scroll_y == top and table.current_key == "topic-120"
        assert table.keys[-1] == "topic-new" and table.sort_column == "lag"
        values = [lags[k] for k in table.keys]
        assert values == sorted(values)  # type: ignore[type-var]


async def test_keys_move_the_cursor_and_enter_selects():
    async with table_showing({f"t-{i:02}": i for i in range(40)}, size=(60, 12)) as (
            pilot, table):
        await pilot.press("down", "down")
        assert table.current_key == "t-02" and pilot.app.highlighted[-1] == "t-02"
        await pilot.press("end")
        assert table.current_key == "t-39"
        assert shown_rows(table)[-1][0] == "t-39"  # scrolled into view
        await pilot.press("home", "pagedown")
        assert table.cursor_row == table.scrollable_content_region.height - 1
        await pilot.press("enter")
        assert pilot.app.selected == [table.current_key]


async def test_a_click_lands_on_its_row_after_a_sort():
    lags: dict[str, int | None] = {f"topic-{i:03}": (i * 37) % 100 for i in range(20)}
    async with table_showing(lags) as (pilot, table):
        table.sort_column, table.sort_reverse = "lag", True
        table.apply_sort()
        await pilot.pause()
        expected = sorted(lags.items(), key=lambda kv: -(kv[1] or 0))
        assert [(n, int(v)) for n, v in shown_rows(table)[:7]] == expected[:7]
        await pilot.click(KeyedTable, offset=(2, 4))  # the 4th row's line (header: line 0)
        assert table.cursor_row == 3 and table.current_key == expected[3][0]
        assert pilot.app.selected == [expected[3][0]]


async def test_kept_lines_look_as_if_rendered_afresh():
    """Rows that moved across zebra stripes, changed, or lost and regained the cursor show
    the same segments (text, colours, styles) as a table given the end state at once."""
    lags: dict[str, int | None] = {f"topic-{i:03}": (i * 37) % 100 if i % 3 else None
                                   for i in range(20)}
    async with table_showing(lags) as (pilot, table):
        table.sort_column, table.sort_reverse = "lag", True
        table.apply_sort()
        table.move_cursor(4)
        await pilot.pause()
        lags["topic-004"] = 95
        table.sync(rows(lags))
        table.sort_reverse = False
        table.apply_sort()
        await pilot.pause()
        kept = [list(table.render_line(y)) for y in range(table.size.height)]
        cursor = table.cursor_row
    async with table_showing({}) as (pilot, fresh):
        fresh.sort_column, fresh.sort_reverse = "lag", False
        fresh.sync(rows(lags))
        fresh.move_cursor(cursor)
        await pilot.pause()
        assert [list(fresh.render_line(y)) for y in range(fresh.size.height)] == kept


async def test_filtered_out_rows_come_back_with_their_current_values():
    async with TableApp().run_test(size=(60, 30)) as pilot:
        table = pilot.app.query_one(KeyedTable)
        table.sync(rows({"orders": 1, "payments": 2}))
        table.set_filter("orders")
        assert table.row_count == 1 and table.keys == ["orders"]
        table.sync(rows({"orders": 1, "payments": 5}))  # changes while hidden
        table.set_filter("!orders")
        assert table.keys == ["payments"]
        table.set_filter("")
        assert table.row_count == 2
        assert table.get_cell("payments", "lag").plain == "5"


async def test_an_update_leaves_no_cyclic_garbage_behind():
    """Each of Python's full collections walks what is left: an update frees what it
    replaced by reference counting alone (BENCHMARKS.md §6)."""
    lags: dict[str, int | None] = {f"topic-{i:03}": i for i in range(500)}
    async with table_showing(lags, size=(80, 60)) as (pilot, table):
        # a first update, as wide as any to come: the lines dropped when a column's width
        # changes (rare) go through Textual's own line caches, which leave cycles behind
        lags["topic-010"] = 100_000
        table.sync(rows(lags))
        await pilot.pause()
        for step in range(3):
            gc.collect()
            gc.disable()  # only this sync's and its frame's garbage counts
            try:
                lags[f"topic-{step:03}"] = (lags[f"topic-{step:03}"] or 0) + 1000
                table.sync(rows(lags))
                await pilot.pause()
                unreachable = gc.collect()
            finally:
                gc.enable()
            assert unreachable < 20, unreachable


async def test_row_cache_rebuilds_only_changed_rows_and_the_table_skips_the_same_ones():
    built: list[str] = []

    def cells(name: str, lag: int) -> list[Cell]:
        built.append(name)
        return [Cell(name), num(lag)]

    cache = RowCache(cells)
    lags = {f"group-{i:03}": i for i in range(40)}
    async with table_showing({}) as (pilot, table):
        first = cache.rows((k, (k, v)) for k, v in lags.items())
        table.sync(first)
        assert len(built) == 40
        built.clear()
        lags["group-007"] = 700
        del lags["group-009"]
        second = cache.rows((k, (k, v)) for k, v in lags.items())
        assert built == ["group-007"]  # the one whose inputs changed
        assert second["group-008"] is first["group-008"] and "group-009" not in second
        signatures = []
        original = Cell.signature.fget

        def counted(cell: Cell) -> tuple[str, str]:
            signatures.append(cell.plain)
            return original(cell)

        Cell.signature = property(counted)  # type: ignore[method-assign]
        try:
            table.sync(second)
        finally:
            Cell.signature = property(original)  # type: ignore[method-assign]
        # the same row objects as last time are not looked at: only the rebuilt row's cells
        assert set(signatures) <= {"group-007", "700"} and signatures
        assert table.get_cell("group-007", "lag").plain == "700"
        assert "group-009" not in table.keys and table.row_count == 39
        lags["group-009"] = 9  # a cache that forgot a row builds it again when it comes back
        third = cache.rows((k, (k, v)) for k, v in lags.items())
        assert built[-1] == "group-009" and third["group-008"] is first["group-008"]
        table.sync(third)
        assert table.get_cell("group-009", "lag").plain == "9"
        await pilot.pause()
