"""One consumer group: per-partition lag with member and host, its status reason, seek."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Static

from core.health.units import fmt_duration, fmt_time_lag
from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse
from nexus_tui.widgets import Cell, KeyedTable, num

COLUMNS = [("Topic", "topic"), ("P", "p"), ("Committed", "committed"), ("Log end", "end"),
           ("Lag", "lag"), ("Time lag", "tlag"), ("Member", "member"), ("Host", "host"),
           ("Status", "status")]
STATUS_STYLE = {"OK": "green", "WARN": "yellow", "STALL": "bold red", "STOP": "bold red",
                "REWIND": "bold red", "UNKNOWN": "dim"}


class GroupDetailScreen(NexusScreen):
    BINDINGS = [Binding("s", "seek", "Seek offsets", id="group.seek"),
                Binding("D", "admin('group.delete')", "Delete group", id="group.delete",
                        show=False),
                Binding("X", "admin('group.delete-offsets')", "Delete offsets",
                        id="group.delete_offsets", show=False)]

    def __init__(self, group_id: str) -> None:
        super().__init__()
        self.group_id = group_id

    def compose_body(self) -> ComposeResult:
        yield Label(f"Group {self.group_id}", classes="title", id="group-title")
        yield Static(id="group-summary")
        yield KeyedTable(COLUMNS, id="group-partitions")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action.startswith(("seek", "admin")) and self.nexus.read_only:
            return False  # hidden: read-only has no seek at all
        return True

    def apply(self, pulse: Pulse) -> None:
        g = pulse.view.groups.get(self.group_id)
        summary = self.query_one("#group-summary", Static)
        if g is None:
            summary.update("[red]this group is gone[/red]")
            return
        lag = "-" if g.total_lag is None else f"{g.total_lag:,}"  # never committed: unknown
        summary.update(
            f"state [b]{g.state}[/b], {g.members} member(s), lag [b]{lag}[/b], "
            f"time lag {fmt_time_lag(g.time_lag_s, g.time_lag_lower_bound)}, "
            f"ETA {fmt_duration(g.eta_s)}, "
            f"trend {g.trend.value}\nstatus [b]{g.status.value}[/b]: {g.reason}"
            + (f"\n[red]{g.data_loss} partition(s) committed below log start: data lost[/red]"
               if g.data_loss else ""))
        rows = {}
        for ph in g.partitions:
            r, v = ph.lag, ph.verdict  # rebuilt from the tuple: one group's rows
            rows[f"{r.topic}:{r.partition}"] = [
                Cell(r.topic), num(r.partition), num(r.committed), num(r.log_end),
                num(r.lag, style="red" if r.data_loss else ""),
                Cell(fmt_time_lag(ph.time_lag_s, ph.time_lag_lower_bound),
                     -1.0 if ph.time_lag_s is None else ph.time_lag_s),
                Cell(r.client_id or "-"), Cell(r.host or "-"),
                Cell(v.status.value, v.status.value, STATUS_STYLE.get(v.status.value, "")),
            ]
        self.query_one(KeyedTable).sync(rows)

    def action_admin(self, action: str) -> None:
        from nexus_tui.screens.admin import open_admin

        open_admin(self.nexus, action, self.group_id)

    def action_seek(self) -> None:
        if self.nexus.read_only:
            return
        from nexus_tui.screens.seek import SeekScreen

        self.app.push_screen(SeekScreen(self.group_id))
