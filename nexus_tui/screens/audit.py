"""`:audit`: the audit log (every change nexus-tui made to a cluster), newest first; the
selected line's before → after, result or error below."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.widgets import Label, Static

from core.cluster.audit import audit_path, read_entries
from core.errors import NexusError
from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse
from nexus_tui.widgets import Cell, KeyedTable

COLUMNS = [("Time (UTC)", "time"), ("Phase", "phase"), ("Mode", "mode"), ("Action", "action"),
           ("Target", "target"), ("Context", "context"), ("User", "user"),
           ("Outcome", "outcome")]
#: lines shown (the newest): the log only grows
SHOWN = 1000


def entry_key(e: dict[str, Any]) -> str:
    return f"{e.get('id', '?')}:{e.get('phase', '?')}"


class AuditScreen(NexusScreen):
    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, dict[str, Any]] = {}

    def compose_body(self) -> ComposeResult:
        yield Label("Audit log", classes="title")
        yield Static(id="audit-path", classes="hint")
        yield KeyedTable(COLUMNS, id="audit-table")
        yield Static(id="audit-detail")

    def on_mount(self) -> None:
        super().on_mount()
        self.reload()

    def apply(self, pulse: Pulse) -> None:
        self.reload()  # changes made meanwhile (here or by the CLI) appear at each refresh

    def reload(self) -> None:
        tables = self.query(KeyedTable)
        if not tables or len(tables.first().columns) < len(COLUMNS):  # not composed yet
            self.call_after_refresh(self.reload)
            return
        table = tables.first()
        try:
            entries = read_entries()[-SHOWN:]
        except NexusError as exc:
            self.query_one("#audit-path", Static).update(f"[red]{escape(str(exc))}[/red]")
            return
        self.query_one("#audit-path", Static).update(
            f"{escape(str(audit_path()))}: {len(entries)} line(s)")
        self.entries = {entry_key(e): e for e in reversed(entries)}
        rows = {}
        for key, e in self.entries.items():
            args = e.get("args") or {}
            error = e.get("error")
            outcome = error or e.get("outcome") or ""
            rows[key] = [
                Cell(str(e.get("time", "")), e.get("ts_ms", 0)), Cell(str(e.get("phase", ""))),
                Cell(str(e.get("mode", ""))), Cell(str(e.get("action", ""))),
                Cell(str(args.get("topic") or args.get("group") or "")),
                Cell(str(e.get("context") or "")), Cell(str(e.get("user", ""))),
                Cell(str(outcome), str(outcome), "red" if error else ""),
            ]
        table.sync(rows)

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        entry = self.entries.get(event.key)
        if entry is None:
            return
        shown = {k: entry[k] for k in ("args", "before", "after", "result", "error")
                 if k in entry}
        self.query_one("#audit-detail", Static).update(
            escape(json.dumps(shown, indent=1, default=str)))
