"""Consumer groups: lag in offsets and seconds, ETA, trend, Burrow status with its reason."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import Label

from core.engine.monitor import GroupHealth
from core.health.units import fmt_duration, fmt_time_lag
from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse
from nexus_tui.widgets import Cell, KeyedTable, RowCache, num, spark

COLUMNS = [("Group", "group"), ("State", "state"), ("Members", "members"), ("Lag", "lag"),
           ("Time lag", "tlag"), ("ETA", "eta"), ("Trend", "trend"), ("Status", "status"),
           ("Reason", "reason")]
STATUS_STYLE = {"OK": "green", "WARN": "yellow", "ERR": "bold red", "UNKNOWN": "dim"}
TREND_ARROW = {"growing": "↑", "draining": "↓", "flat": "→", "unknown": "?"}


def group_values(g: GroupHealth) -> tuple[Any, ...]:
    """What a group's row shows, as plain values (group_cells' arguments)."""
    return (g.group_id, g.state, g.members, g.total_lag, g.time_lag_s, g.time_lag_lower_bound,
            g.eta_s, g.trend.value, spark(g.lag_series), g.status.value, g.error or g.reason,
            g.reason)


def group_cells(group_id: str, state: str, members: int, total_lag: int | None,
                time_lag_s: float | None, lower_bound: bool, eta: float | None, trend: str,
                sparkline: str, status: str, reason_shown: str, reason: str) -> list[Cell]:
    tlag = fmt_time_lag(time_lag_s, lower_bound)  # "≥ 5 s": only known to be at least that
    return [
        Cell(group_id, group_id), Cell(state, state), num(members), num(total_lag),
        Cell(tlag, time_lag_s if time_lag_s is not None else -1.0),
        Cell(fmt_duration(eta), eta if eta is not None else -1.0),
        Cell(f"{TREND_ARROW.get(trend, '?')} {sparkline}", trend),
        Cell(status, status, STATUS_STYLE.get(status, "")), Cell(reason_shown, reason),
    ]


def group_row(g: GroupHealth) -> list[Cell]:
    return group_cells(*group_values(g))


class GroupsScreen(NexusScreen):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rows = RowCache(group_cells)

    def compose_body(self) -> ComposeResult:
        yield Label("Consumer groups", classes="title")
        yield KeyedTable(COLUMNS, id="groups-table")

    def apply(self, pulse: Pulse) -> None:
        self.query_one(KeyedTable).sync(self._rows.rows(
            (gid, group_values(g)) for gid, g in pulse.view.groups.items()))

    def on_keyed_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        from nexus_tui.screens.group_detail import GroupDetailScreen

        self.app.push_screen(GroupDetailScreen(event.key))
