"""The table widget alone: UI-thread CPU of a 5 % change on a 500 × 10 table, headless.

Compares KeyedTable with what Textual's DataTable costs through its public API only
(`add_row(key=)`, `update_cell`, `remove_row`, `sort`), the other way to drop private names
(BENCHMARKS.md §6). One process per variant; figures are `time.thread_time()` of the UI
thread (its own work, not the machine's load) from `sync` to the end of the next frame
(`pilot.pause()`).

    .venv/bin/python bench/table.py [keyed|datatable]... [--steps 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from nexus_tui.widgets import Cell, KeyedTable, num  # noqa: E402

COLUMNS = [(f"C{i}", f"c{i}") for i in range(10)]
ROWS, CHANGED = 500, 25


class PublicDataTable(DataTable):
    """KeyedTable's `sync` on DataTable's public API: cells updated where they changed, rows
    added and removed, sorted when the order can change."""

    def __init__(self, columns: Sequence[tuple[str, str]]) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True)
        self.spec = list(columns)
        self.signatures: dict[str, tuple[tuple[str, str], ...]] = {}
        self.sort_column: str | None = None
        self.sort_reverse = False

    def on_mount(self) -> None:
        for label, key in self.spec:
            self.add_column(label, key=key)

    def sync(self, rows: Mapping[str, Sequence[Cell]]) -> None:
        keys = [key for _, key in self.spec]
        resort = False
        with self.app.batch_update():
            for gone in [k for k in self.signatures if k not in rows]:
                self.remove_row(gone)
                del self.signatures[gone]
                resort = True
            for key, cells in rows.items():
                sig = tuple(c.signature for c in cells)
                old = self.signatures.get(key)
                if old is None:
                    self.add_row(*cells, key=key)
                    resort = True
                elif old != sig:
                    for col, cell, before in zip(keys, cells, old, strict=True):
                        if cell.signature != before:
                            self.update_cell(key, col, cell)
                            resort = resort or col == self.sort_column
                self.signatures[key] = sig
            if self.sort_column is not None and resort:
                self.sort(self.sort_column, key=lambda c: c.sort_value,
                          reverse=self.sort_reverse)


def row(name: str, values: list[int]) -> list[Cell]:
    return [Cell(name)] + [num(v) for v in values]


async def measure(variant: str, steps: int) -> dict[str, Any]:
    table_type: Any = KeyedTable if variant == "keyed" else PublicDataTable

    class TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield table_type(COLUMNS)

    rnd = random.Random(1)
    data = {f"bench.tui{i:04}.v1": [rnd.randint(0, 10**6) for _ in range(9)]
            for i in range(ROWS)}
    async with TableApp().run_test(size=(160, 50)) as pilot:
        table = pilot.app.query_one(table_type)
        cpu = time.thread_time()
        rows = {k: row(k, v) for k, v in data.items()}
        table.sync(rows)
        await pilot.pause()
        first = (time.thread_time() - cpu) * 1000
        unsorted: list[float] = []
        by_value: list[float] = []
        for step in range(2 * steps):
            for key in list(data)[:CHANGED]:
                data[key] = [x + rnd.randint(0, 3) for x in data[key]]
                rows[key] = row(key, data[key])
            if step == steps:
                table.sort_column, table.sort_reverse = "c1", True
            cpu = time.thread_time()
            table.sync(dict(rows))
            await pilot.pause()
            (by_value if step >= steps else unsorted).append((time.thread_time() - cpu) * 1000)
    return {"variant": variant, "first_fill_ms": first, "unsorted_ms": unsorted[3:],
            "sorted_ms": by_value[3:]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("variants", nargs="*", default=["keyed", "datatable"])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(measure(args.variants[0], args.steps))))
        return
    for variant in args.variants:
        out = subprocess.run([sys.executable, __file__, variant, "--steps", str(args.steps),
                              "--child"], check=True, capture_output=True, text=True).stdout
        r = json.loads(out)
        print(f"{variant:10} first fill {r['first_fill_ms']:6.0f} ms CPU; 5 % change: "
              f"unsorted median {statistics.median(r['unsorted_ms']):5.1f} "
              f"(max {max(r['unsorted_ms']):5.1f}), sorted median "
              f"{statistics.median(r['sorted_ms']):5.1f} (max {max(r['sorted_ms']):5.1f}) ms")


if __name__ == "__main__":
    main()
