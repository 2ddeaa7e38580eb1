"""The floor of a Textual TUI's first paint: an app that shows one table row and does nothing else.

No Kafka, no configuration, no second process: Python starts, imports Textual, mounts a
DataTable and adds one row holding the text given on the command line. bench/footprint.py
launches it in tmux beside nexus-tui and kaskade (the `floor` side), as a user would type it,
so the three first-paint figures come from one harness: what any Textual TUI pays before it
can show a row, measured on the same machine in the same minute.

    python bench/textual_floor.py TEXT
"""

from __future__ import annotations

import sys

from textual.app import App, ComposeResult
from textual.widgets import DataTable


class Floor(App[None]):
    """One DataTable, one row: the least a table TUI paints."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("topic", "partitions")
        table.add_row(self.text, "1")


if __name__ == "__main__":
    Floor(sys.argv[1]).run()
