"""Consumer groups: lag in offsets and seconds, ETA, trend, Burrow status with its reason."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import DataTable, Label

from core.monitor import GroupHealth, fmt_duration
from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse
from nexus_tui.widgets import Cell, KeyedTable, num, spark

COLUMNS = [("Group", "group"), ("State", "state"), ("Members", "members"), ("Lag", "lag"),
           ("Time lag", "tlag"), ("ETA", "eta"), ("Trend", "trend"), ("Status", "status"),
           ("Reason", "reason")]
STATUS_STYLE = {"OK": "green", "WARN": "yellow", "ERR": "bold red", "UNKNOWN": "dim"}
TREND_ARROW = {"growing": "↑", "draining": "↓", "flat": "→", "unknown": "?"}


def group_row(g: GroupHealth) -> list[Cell]:
    eta = g.eta_s
    tlag = fmt_duration(g.time_lag_s) + ("~" if g.time_lag_estimated else "")
    return [
        Cell(g.group_id, g.group_id), Cell(g.state, g.state), num(g.members),
        num(g.total_lag), Cell(tlag, g.time_lag_s if g.time_lag_s is not None else -1.0),
        Cell(fmt_duration(eta), eta if eta is not None else -1.0),
        Cell(f"{TREND_ARROW.get(g.trend.value, '?')} {spark(g.lag_series)}", g.trend.value),
        Cell(g.status.value, g.status.value, STATUS_STYLE.get(g.status.value, "")),
        Cell(g.error or g.reason, g.reason),
    ]


class GroupsScreen(NexusScreen):
    def compose_body(self) -> ComposeResult:
        yield Label("Consumer groups", classes="title")
        yield KeyedTable(COLUMNS, id="groups-table")

    def apply(self, pulse: Pulse) -> None:
        rows = {gid: group_row(g) for gid, g in pulse.view.groups.items()}
        self.query_one(KeyedTable).sync(rows)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        from nexus_tui.screens.group_detail import GroupDetailScreen

        self.app.push_screen(GroupDetailScreen(event.row_key.value))
