"""KeyedTable keeps no long-lived objects it does not need (BENCHMARKS.md §6: every one of them
is walked by each of Python's full garbage collections, which stalled the UI)."""

from __future__ import annotations

import contextlib

import pytest
from textual.app import App, ComposeResult

from nexus_tui.widgets import Cell, KeyedTable, RowCache, num

COLUMNS = [("NAME", "name"), ("LAG", "lag")]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS)


def rows(lags: dict[str, int]) -> dict[str, list[Cell]]:
    return {name: [Cell(name), num(lag)] for name, lag in lags.items()}


@contextlib.asynccontextmanager
async def table_showing(lags: dict[str, int], size: tuple[int, int] = (60, 30)):
    """A table showing `lags`, its first frame painted: (pilot, table)."""
    async with TableApp().run_test(size=size) as pilot:
        table = pilot.app.query_one(KeyedTable)
        table.sync(rows(lags))
        await pilot.pause()
        yield pilot, table


@pytest.fixture
def rendered(monkeypatch) -> list[tuple[int, int]]:
    """(row, column) of every cell DataTable renders through Rich from now on."""
    from textual.widgets import DataTable

    cells: list[tuple[int, int]] = []
    original = DataTable._render_cell

    def counting(self, row_index, column_index, *args, **kwargs):
        cells.append((row_index, column_index))
        return original(self, row_index, column_index, *args, **kwargs)

    monkeypatch.setattr(DataTable, "_render_cell", counting)
    return cells


async def test_unchanged_cells_are_the_ones_shown_and_stale_renders_are_dropped():
    lags = {f"group-{i:03}": i for i in range(40)}
    async with table_showing(lags) as (pilot, table):
        assert len(table._cell_render_cache) > 0  # the first frame rendered the cells

        # the same values again: nothing changes, the renders stay usable
        table.sync(rows(lags))
        assert len(table._cell_render_cache) > 0

        lags["group-007"] = 700
        fresh = rows(lags)
        table.sync(fresh)
        # every cached render was keyed by the update count before this change: all gone
        assert len(table._cell_render_cache) == 0 and len(table._row_render_cache) == 0
        assert len(table._line_cache) == 0
        # one object per shown cell: the table's own, not a second copy from this sync
        for key, cells in table._all.items():
            shown = [table.get_cell(key, col) for _, col in COLUMNS]
            assert all(a is b for a, b in zip(cells, shown, strict=True)), key
        assert table._all["group-007"][1] is fresh["group-007"][1]  # the changed cell: new
        assert table._all["group-008"][1] is not fresh["group-008"][1]  # unchanged: kept
        assert table.get_cell("group-007", "lag").plain == "700"

        await pilot.pause()  # the next frame renders the visible rows again, current ones only
        assert len(table._cell_render_cache) > 0
        assert {key[6] for key in table._cell_render_cache.keys()} == {table._update_count}


async def test_an_update_leaves_no_cyclic_garbage_behind():
    """Render caches emptied by an update are freed at once, not left for a full collection."""
    import gc

    lags = {f"topic-{i:03}": i for i in range(500)}
    async with table_showing(lags, size=(80, 60)) as (pilot, table):
        cached = len(table._cell_render_cache) + len(table._line_cache)
        assert cached > 50  # the visible rows were rendered
        lags["topic-499"] += 1  # a first update: the first frame's own garbage goes with it
        table.sync(rows(lags))
        await pilot.pause()
        for step in range(3):
            gc.collect()
            gc.disable()  # only this sync's garbage counts
            try:
                lags[f"topic-{step:03}"] += 1000
                table.sync(rows(lags))
                assert len(table._cell_render_cache) == 0
                unreachable = gc.collect()
            finally:
                gc.enable()
            assert unreachable < 20, unreachable  # was ~500 per 100 cached renders
            await pilot.pause()


async def test_a_frame_after_an_update_renders_only_the_changed_cells(rendered):
    """DataTable alone renders every visible cell again after any update (its render cache is
    keyed by its update count); KeyedTable keeps the renders of unchanged cells."""
    lags = {f"topic-{i:03}": i for i in range(300)}
    async with table_showing(lags) as (pilot, table):
        first = len([c for c in rendered if c[0] >= 0])
        assert first >= 40  # every visible cell (and the header) once
        rendered.clear()
        lags["topic-002"] = 7  # as wide as before: the column keeps its width
        table.sync(rows(lags))
        await pilot.pause()
        body = {c for c in rendered if c[0] >= 0}
        assert body == {(2, 1)}, body  # the one changed cell
        lines = [table.render_line(y).text for y in range(table.size.height)]
        shown = [line.split() for line in lines if "topic-002" in line]
        assert shown == [["topic-002", "7"]], shown  # the new value on screen
        rendered.clear()
        table.move_cursor(row=5)  # the cursor's rows change style: those render again
        await pilot.pause()
        assert {r for r, _ in rendered if r >= 0} == {0, 5}


async def test_filtered_out_rows_come_back_with_their_current_values():
    async with TableApp().run_test(size=(60, 30)) as pilot:
        table = pilot.app.query_one(KeyedTable)
        table.sync(rows({"orders": 1, "payments": 2}))
        table.set_filter("orders")
        assert table.row_count == 1
        table.sync(rows({"orders": 1, "payments": 5}))  # changes while hidden
        table.set_filter("")
        assert table.row_count == 2
        assert table.get_cell("payments", "lag").plain == "5"


async def test_row_cache_rebuilds_only_changed_rows_and_the_table_skips_the_same_ones():
    built: list[str] = []

    def cells(name: str, lag: int) -> list[Cell]:
        built.append(name)
        return [Cell(name), num(lag)]

    cache = RowCache(cells)
    lags = {f"group-{i:03}": i for i in range(40)}
    async with table_showing(lags) as (pilot, table):
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
        assert "group-009" not in table._cells and table.row_count == 39
        # and a cache that forgot a row builds it again when it comes back
        lags["group-009"] = 9
        third = cache.rows((k, (k, v)) for k, v in lags.items())
        assert built[-1] == "group-009" and third["group-008"] is first["group-008"]
        table.sync(third)
        assert table.get_cell("group-009", "lag").plain == "9"
        await pilot.pause()


async def sorted_by_lag_renders_only_changed_rows(pilot, table: KeyedTable,
                                                  rendered: list[tuple[int, int]]) -> None:
    """Sort by lag, biggest first; the frame after it renders again only the rows whose state
    changed: the cursor's (it follows its row) and the one now under the hover (row 0,
    where the headless mouse is)."""
    rendered.clear()
    cursor_key = table.current_key
    table.sort_column, table.sort_reverse = "lag", True
    table._apply_sort(table.current_key)
    await pilot.pause()
    again = {r for r, _ in rendered if r >= 0}
    assert again <= {0, table.get_row_index(cursor_key)}, again


async def test_a_sort_renders_no_cell_again_and_clicks_still_find_their_row(rendered):
    """Rows moved by a sort keep their renders, with their new place written in: a click on
    a row's line selects that row (the place is what DataTable's mouse handling reads).
    Stripes off here: a move across zebra stripes is the next test."""
    lags = {f"topic-{i:03}": (i * 37) % 100 for i in range(20)}  # all of them on screen
    async with table_showing(lags) as (pilot, table):
        table.zebra_stripes = False
        await pilot.pause()
        await sorted_by_lag_renders_only_changed_rows(pilot, table, rendered)
        shown = [table.render_line(y).text.split() for y in range(1, 8)]
        expected = sorted(lags.items(), key=lambda kv: -kv[1])[:7]
        assert [(name, int(lag)) for name, lag in shown] == expected
        # a click on the 4th row's line lands on that row
        await pilot.click(KeyedTable, offset=(2, 4))
        assert table.cursor_row == 3 and table.current_key == expected[3][0]


async def test_rows_moved_across_zebra_stripes_look_as_if_rendered_afresh(rendered):
    """A moved row's kept renders are repainted with its new stripe: the same segments (text,
    colours, styles, the place a click reads) as a render from scratch."""
    from textual.widgets import DataTable

    lags = {f"topic-{i:03}": (i * 37) % 100 if i % 3 else None for i in range(20)}

    def styled_rows() -> dict[str, list[Cell]]:  # plain, numbers, dim "-" and a red cell
        return {name: [Cell(name), num(lag, style="red" if lag and lag > 80 else "")]
                for name, lag in lags.items()}

    async with table_showing({}) as (pilot, table):
        table.sync(styled_rows())
        await pilot.pause()
        assert table.zebra_stripes
        await sorted_by_lag_renders_only_changed_rows(pilot, table, rendered)
        kept = [list(table.render_line(y)) for y in range(table.size.height)]
        table._renders.clear()  # now everything from scratch
        DataTable._clear_caches(table)
        fresh = [list(table.render_line(y)) for y in range(table.size.height)]
        assert kept == fresh
        assert {r for r, _ in rendered if r >= 0} == set(range(20))  # really rendered again
