"""Topics: a filterable, sortable table; Enter opens the topic's detail."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label

from core.monitor import TopicHealth
from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse
from nexus_tui.widgets import Cell, KeyedTable, num

COLUMNS = [("Topic", "topic"), ("Parts", "parts"), ("RF", "rf"), ("Records", "records"),
           ("Msg/s", "rate"), ("Groups", "groups"), ("Max lag", "lag"), ("Err %", "err"),
           ("URP", "urp"), ("Skew", "skew")]


def topic_row(t: TopicHealth, traffic: object | None) -> list[Cell]:
    info = t.info
    err = getattr(traffic, "error_pct", None)
    skew_style = {"severe": "bold red", "high": "yellow"}.get(t.skew.level, "dim")
    skew = "ok" if t.skew.level == "ok" else (
        f"{t.skew.level} ×{t.skew.max_over_mean:.1f}")
    return [
        Cell(info.name, info.name), num(len(info.partitions)), num(info.replication_factor),
        num(info.records), num(t.msgs_per_s, 1), num(len(t.groups)), num(t.max_lag),
        num(err, 1, "red" if err else ""),
        num(info.under_replicated, style="red" if info.under_replicated else ""),
        Cell(skew, t.skew.max_over_mean, skew_style),
    ]


class TopicsScreen(NexusScreen):
    BINDINGS = [Binding("enter", "open", "Detail", id="topics.open", show=False)]

    def compose_body(self) -> ComposeResult:
        yield Label("Topics", classes="title")
        yield KeyedTable(COLUMNS, id="topics-table")

    def apply(self, pulse: Pulse) -> None:
        rows = {name: topic_row(t, pulse.traffic.get(name))
                for name, t in pulse.view.topics.items()}
        self.query_one(KeyedTable).sync(rows)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.open(event.row_key.value)

    def action_open(self) -> None:
        self.open(self.query_one(KeyedTable).current_key)

    def open(self, topic: str | None) -> None:
        if topic:
            from nexus_tui.screens.topic_detail import TopicDetailScreen

            self.app.push_screen(TopicDetailScreen(topic))
