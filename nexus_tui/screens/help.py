"""`?`: every key of the app and of the screen underneath, with its id for remapping."""

from __future__ import annotations

import dataclasses

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        yield Label("Keys — remap any of them in config.toml: [keymap] <id> = \"<key>\"",
                    classes="title")
        yield DataTable(id="help-table", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Key", "Action", "Where", "Binding id")
        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None
        seen: set[str] = set()
        sources = [("app", self.app)] + ([("screen", below)] if below else [])
        if below is not None:
            sources += [("table", w) for w in below.query("KeyedTable")][:1]
        keymap: dict[str, str] = getattr(getattr(self.app, "options", None), "keymap", {})
        for where, node in sources:
            for b in bindings_of(type(node), keymap):
                key = f"{b.key}:{b.action}"
                if key in seen:
                    continue
                seen.add(key)
                check = node.check_action(b.action, ()) if hasattr(node, "check_action") \
                    else True
                if check is False:
                    continue  # hidden here (e.g. read-only)
                table.add_row(b.key_display or b.key, b.description or b.action, where,
                              b.id or "")
        table.add_row("esc", "Back / close filter", "screen", "")
        table.add_row("enter", "Open the selected row", "table", "")


def bindings_of(node_type: type, keymap: dict[str, str]) -> list[Binding]:
    """The bindings a node of `node_type` has: its classes' BINDINGS, a subclass's binding
    replacing a base's for the same key (as Textual merges them), with the user's keymap
    (binding id -> keys) applied."""
    merged: dict[str, Binding] = {}
    for cls in reversed(node_type.__mro__):
        for b in Binding.make_bindings(cls.__dict__.get("BINDINGS", ())):
            if b.id and b.id in keymap:
                b = dataclasses.replace(b, key=keymap[b.id], key_display=None)
            merged[b.key] = b
    return list(merged.values())
