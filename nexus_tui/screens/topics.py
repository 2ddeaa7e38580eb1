"""Topics: a filterable, sortable table; Enter opens the topic's detail."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label

from core.engine.monitor import TopicHealth
from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse
from nexus_tui.widgets import Cell, KeyedTable, RowCache, num

COLUMNS = [("Topic", "topic"), ("Parts", "parts"), ("RF", "rf"), ("Records", "records"),
           ("Msg/s", "rate"), ("Groups", "groups"), ("Max lag", "lag"), ("Err %", "err"),
           ("URP", "urp"), ("Skew", "skew")]


def topic_values(t: TopicHealth, traffic: object | None) -> tuple[Any, ...]:
    """What a topic's row shows, as plain values (topic_cells' arguments)."""
    info = t.info
    # no offsets known (a preview, or none could be read): no record count, rather than 0
    known = any(p.log_end is not None for p in info.partitions)
    return (info.name, len(info.partitions), info.replication_factor,
            info.records if known else None,
            t.msgs_per_s, len(t.groups), t.max_lag, getattr(traffic, "error_pct", None),
            info.under_replicated, t.skew.level, t.skew.max_over_mean)


def topic_cells(name: str, partitions: int, rf: int, records: int | None,
                rate: float | None,
                groups: int, max_lag: int | None, err: float | None, urp: int,
                skew_level: str, skew_ratio: float) -> list[Cell]:
    skew_style = {"severe": "bold red", "high": "yellow"}.get(skew_level, "dim")
    skew = "ok" if skew_level == "ok" else f"{skew_level} ×{skew_ratio:.1f}"
    return [
        Cell(name, name), num(partitions), num(rf), num(records), num(rate, 1), num(groups),
        num(max_lag), num(err, 1, "red" if err else ""), num(urp, style="red" if urp else ""),
        Cell(skew, skew_ratio, skew_style),
    ]


def topic_row(t: TopicHealth, traffic: object | None) -> list[Cell]:
    return topic_cells(*topic_values(t, traffic))


class TopicsScreen(NexusScreen):
    BINDINGS = [Binding("enter", "open", "Detail", id="topics.open", show=False),
                Binding("c", "admin('topic.create')", "Create topic", id="topics.create",
                        show=False)]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rows = RowCache(topic_cells)

    def compose_body(self) -> ComposeResult:
        yield Label("Topics", classes="title")
        yield KeyedTable(COLUMNS, id="topics-table")

    def apply(self, pulse: Pulse) -> None:
        traffic = pulse.traffic
        self.query_one(KeyedTable).sync(self._rows.rows(
            (name, topic_values(t, traffic.get(name))) for name, t in pulse.view.topics.items()))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # read-only: hidden (`?` asks with the whole action string, admin('...'))
        return not (action.startswith("admin") and self.nexus.read_only)

    def action_admin(self, action: str) -> None:
        from nexus_tui.screens.admin import open_admin

        open_admin(self.nexus, action)

    def on_keyed_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        self.open(event.key)

    def action_open(self) -> None:
        self.open(self.query_one(KeyedTable).current_key)

    def open(self, topic: str | None) -> None:
        if topic:
            from nexus_tui.screens.topic_detail import TopicDetailScreen

            self.app.push_screen(TopicDetailScreen(topic))
