"""Errors: Nexus error replies, unanswered requests, reply latency and dead letters per topic,
with the latest error replies and dead-lettered records and their error text."""

from __future__ import annotations

import time

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Static

from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse
from nexus_tui.widgets import Cell, KeyedTable, num

COLUMNS = [("Topic", "topic"), ("Msg/s", "msgs"), ("Req/s", "req"), ("Replies/s", "rep"),
           ("Err/s", "errs"), ("Err %", "errpct"), ("Unanswered", "unanswered"),
           ("p50 ms", "p50"), ("p99 ms", "p99"), ("Undecodable/s", "undec"),
           ("DLQ in/s", "dlq")]


class ErrorsScreen(NexusScreen):
    BINDINGS = [Binding("d", "dead_letters", "Dead letters", id="errors.dead_letters")]

    def action_dead_letters(self) -> None:
        self.nexus.open_dead_letters()

    def compose_body(self) -> ComposeResult:
        yield Label("Errors (Nexus traffic, rolling window)", classes="title")
        yield KeyedTable(COLUMNS, id="errors-table")
        with Horizontal(id="recent"):
            with Vertical():
                yield Label("Recent error replies", classes="subtitle")
                yield Static(id="recent-errors")
            with Vertical():
                yield Label("Recent dead letters", classes="subtitle")
                yield Static(id="recent-dead")

    def apply(self, pulse: Pulse) -> None:
        rows = {}
        for name, t in sorted(pulse.traffic.items()):
            rows[name] = [
                Cell(name), num(t.messages_per_s, 1), num(t.requests_per_s, 1),
                num(t.replies_per_s, 1), num(t.error_replies_per_s, 2,
                                             "red" if t.error_replies_per_s else ""),
                num(t.error_pct, 1, "red" if t.error_pct else ""),
                num(t.unanswered, style="yellow" if t.unanswered else ""),
                num(t.latency_p50_ms, 1), num(t.latency_p99_ms, 1),
                num(t.undecodable_per_s, 2, "red" if t.undecodable_per_s else ""),
                num(t.dlq_inflow_per_s, 2, "red" if t.dlq_inflow_per_s else ""),
            ]
        self.query_one(KeyedTable).sync(rows)
        if not pulse.traffic:
            self.query_one("#recent-errors", Static).update(
                "no Nexus topics watched yet (topics named <team>.<domain>...v<N>)")
        else:
            self.query_one("#recent-errors", Static).update("\n".join(
                f"{_clock(e.created_at_ns / 1e9)} {escape(e.topic)} ← "
                f"{escape(e.request_topic or '?')}: "
                f"[red]{escape(e.error)}[/red]" for e in list(pulse.recent_errors)[-12:][::-1])
                or "none in the window")
        self.query_one("#recent-dead", Static).update("\n".join(
            f"{_clock(d.timestamp_ms / 1000)} {escape(d.original_topic or d.topic)}"
            f"\\[{d.original_partition}]@{d.original_offset} after {d.attempts} attempt(s): "
            f"[red]{escape(d.error)}[/red]" for d in list(pulse.recent_dead_letters)[-12:][::-1])
            or "none")


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))
