"""Messages: browse a topic from an offset or a time, or tail it live; decode Nexus envelopes;
filter by root id or text; follow one conversation (root id) across topics."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Static
from textual.worker import Worker

from core.cluster.browse import (
    Beginning,
    BrowsedRecord,
    Offset,
    RecordFilter,
    Tail,
    Timestamp,
    browse,
    follow_conversation,
)
from core.errors import ConfigError
from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse
from nexus_tui.widgets import Cell, KeyedTable, num

COLUMNS = [("Time", "time"), ("Topic", "topic"), ("P@offset", "pos"), ("Kind", "kind"),
           ("Id", "id"), ("Root id", "root"), ("Payload", "summary")]
KIND_STYLE = {"error_reply": "red", "undecodable": "bold red", "request": "cyan",
              "reply": "green", "event": "magenta"}


def parse_start(text: str) -> Any:
    """`tail N` (default), `offset N`, `time 2026-11-28T10:00:00`, `beginning`."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return Tail(50)
    what, arg = words[0].lower(), (words[1] if len(words) > 1 else "")
    try:
        if what == "tail":
            return Tail(int(arg or 50))
        if what == "offset":
            return Offset(int(arg))
        if what == "beginning":
            return Beginning()
        if what == "time":
            when = datetime.fromisoformat(arg)
            return Timestamp(int(when.timestamp() * 1000))
    except ValueError as exc:
        raise ConfigError(f"bad start {text!r}: {exc}") from None
    raise ConfigError(f"bad start {text!r}: use tail N, offset N, time ISO-8601 or beginning")


def record_row(r: BrowsedRecord) -> list[Cell]:
    env = r.envelope
    stamp = time.strftime("%H:%M:%S", time.localtime(r.timestamp_ms / 1000))
    return [
        Cell(stamp, r.timestamp_ms), Cell(r.topic), Cell(f"{r.partition}@{r.offset}", r.offset),
        Cell(r.kind, r.kind, KIND_STYLE.get(r.kind, "")), Cell(env.id if env else "-"),
        Cell(env.root_id if env else (r.key or "-")), Cell(r.summary()),
    ]


class MessagesScreen(NexusScreen):
    AUTO_FOCUS = "#msg-topic"
    BINDINGS = [
        Binding("ctrl+l", "load", "Load", id="messages.load"),
        Binding("f", "follow", "Follow conversation", id="messages.follow"),
        Binding("t", "toggle_tail", "Live tail", id="messages.tail"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, BrowsedRecord] = {}
        self.live = False

    def compose_body(self) -> ComposeResult:
        yield Label("Messages", classes="title")
        with Horizontal(classes="form-row"):
            yield Label("Topic")
            yield Input(placeholder="topic", id="msg-topic")
            yield Label("From")
            yield Input("tail 50", placeholder="tail N | offset N | time ISO | beginning",
                        id="msg-start")
        with Horizontal(classes="form-row"):
            yield Label("Root id")
            yield Input(placeholder="exact root id", id="msg-root")
            yield Label("Text")
            yield Input(placeholder="substring", id="msg-text")
        yield Static(id="msg-status", classes="hint")
        yield KeyedTable(COLUMNS, id="messages-table")
        yield Static(id="message-detail")

    def apply(self, pulse: Pulse) -> None:
        names = sorted(pulse.view.snapshot.topics)
        self.query_one("#msg-topic", Input).suggester = SuggestFromList(names, case_sensitive=True)
        if self.live:
            self.action_load()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            super().on_input_submitted(event)
        else:
            self.action_load()

    def _filter(self) -> RecordFilter | None:
        root = self.query_one("#msg-root", Input).value.strip() or None
        text = self.query_one("#msg-text", Input).value.strip() or None
        return RecordFilter(root_id=root, text=text) if (root or text) else None

    def action_load(self) -> None:
        topic = self.query_one("#msg-topic", Input).value.strip()
        if not topic:
            self._status("[yellow]choose a topic[/yellow]")
            return
        try:
            start = parse_start(self.query_one("#msg-start", Input).value)
        except ConfigError as exc:
            self._status(f"[red]{escape(str(exc))}[/red]")
            return
        self._status("reading…")
        self._run(browse(self.nexus.settings, topic, start=start, limit=500,
                         filter=self._filter()), f"{topic}")

    def action_toggle_tail(self) -> None:
        self.live = not self.live
        self.query_one("#msg-start", Input).value = "tail 50"
        self.notify("live tail on (refreshes with the app)" if self.live else "live tail off")
        if self.live:
            self.action_load()

    def action_follow(self) -> None:
        key = self.query_one(KeyedTable).current_key
        record = self.records.get(key or "")
        root = record.envelope.root_id if record and record.envelope else None
        root = root or self.query_one("#msg-root", Input).value.strip()
        if not root:
            self._status("[yellow]select a message (or type a root id) to follow[/yellow]")
            return
        self.live = False
        self.query_one("#msg-root", Input).value = root
        self._status(f"following conversation {escape(root)} across topics…")
        self._run(follow_conversation(self.nexus.settings, root), f"conversation {root}")

    @work(exclusive=True, group="messages", exit_on_error=False, description="reading messages")
    async def _run(self, coro: Any, what: str) -> None:
        core = self.nexus.core
        result = await (core.call(coro) if core else coro)
        records = list(getattr(result, "records", result))
        note = result.describe_scan() if hasattr(result, "describe_scan") else (
            "stopped at the deadline: partial result" if getattr(result, "timed_out", False)
            else None)
        self.records = {f"{r.topic}:{r.partition}:{r.offset}": r for r in records}
        self.query_one(KeyedTable).sync({k: record_row(r) for k, r in self.records.items()})
        self._status(f"{len(records)} record(s) of {escape(what)}"
                     + (f" — {escape(note)}" if note else ""))

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        record = self.records.get(event.key)
        if record is not None:
            self.query_one("#message-detail", Static).update(escape(record.pretty()))

    def worker_failed(self, worker: Worker, reason: str) -> None:
        self._status(f"[red]{escape(reason)}[/red]")

    def _status(self, text: str) -> None:
        self.query_one("#msg-status", Static).update(text)


__all__ = ["MessagesScreen", "num"]
