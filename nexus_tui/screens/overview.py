"""Overview, for on-call: what is wrong now first, then the cluster at a glance.

The problem list is `health`'s (core/engine/problems.py: groups not OK with their Burrow
reason and time lag, offline and under-replicated partitions, brokers down, hot partitions,
dead-letter inflow), worst first; Enter on a line opens its group or topic. No problem reads
"all OK" in words. Then the figures, and the rates charted over a fixed window of time
(nexus_tui/timechart.py): a few samples sit at the right edge at their true spacing.
"""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Label, Static

from core.engine.problems import Problem, Severity, cluster_problems
from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse
from nexus_tui.timechart import TimeChart
from nexus_tui.widgets import Cell, KeyedTable

CHART_WINDOW_S = 300.0  # what the charts show: the last 5 minutes
PROBLEM_COLUMNS = [("Severity", "severity"), ("What", "kind"), ("Which", "subject"),
                   ("Why", "reason")]
MAX_PROBLEM_LINES = 10
SEVERITY_STYLE = {Severity.ERR: "bold red", Severity.WARN: "yellow"}


class Tile(Static):
    """A big number with a caption."""

    def set(self, caption: str, value: str, level: str = "") -> None:
        self.set_classes(f"tile {level}".strip())
        self.update(f"[b]{value}[/b]\n[dim]{caption}[/dim]")


def problem_rows(problems: list[Problem]) -> dict[str, list[Cell]]:
    """key ("kind/subject/n") -> cells, worst first (the order cluster_problems gives)."""
    rows: dict[str, list[Cell]] = {}
    seen: dict[tuple[str, str], int] = {}
    for rank, p in enumerate(problems):
        n = seen[(p.kind, p.subject)] = seen.get((p.kind, p.subject), -1) + 1
        rows[f"{p.kind}/{p.subject}/{n}"] = [
            Cell(p.severity.name, (-int(p.severity), rank), SEVERITY_STYLE.get(p.severity, "")),
            Cell(p.kind), Cell(p.subject), Cell(p.reason)]
    return rows


class OverviewScreen(NexusScreen):
    TITLE_TEXT = "Overview"
    DEFAULT_CSS = """
    OverviewScreen #problems { margin: 0 1; overflow-x: hidden; }
    OverviewScreen #problems-title { padding: 0 1; }
    OverviewScreen #problems-title.bad { color: $error; text-style: bold; }
    OverviewScreen #problems-title.warn { color: $warning; text-style: bold; }
    OverviewScreen #problems-title.good { color: $success; text-style: bold; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.msgs: deque[tuple[float, float]] = deque()
        self.errs: deque[tuple[float, float]] = deque()
        self._seen: float | None = None
        self.problems: list[Problem] = []

    def compose_body(self) -> ComposeResult:
        yield Label("Overview", classes="title")
        yield Label("", id="problems-title")
        yield KeyedTable(PROBLEM_COLUMNS, id="problems")
        with Grid(id="tiles"):
            for tile in ("cluster", "brokers", "controller", "topics", "partitions", "urp",
                         "offline", "groups"):
                yield Tile(id=f"tile-{tile}", classes="tile")
        with Vertical(classes="sparks"):
            yield Label("cluster messages/s", id="msgs-label")
            yield TimeChart(CHART_WINDOW_S, id="msgs-chart")
            yield Label("error replies/s", id="errs-label")
            yield TimeChart(CHART_WINDOW_S, id="errs-chart")

    def apply(self, pulse: Pulse) -> None:
        view, snap = pulse.view, pulse.view.snapshot
        self._show_problems(pulse)
        if self._seen != pulse.fetched_at:
            self._seen = pulse.fetched_at
            for series, value in ((self.msgs, pulse.messages_per_s),
                                  (self.errs, pulse.error_replies_per_s)):
                if value is not None:  # unknown (no rate yet): a gap, not a 0
                    series.append((pulse.fetched_at, value))
                while series and series[0][0] < pulse.fetched_at - 2 * CHART_WINDOW_S:
                    series.popleft()
        up = len(snap.brokers)
        expected = {r for p in snap.partitions() for r in p.replicas} | {b.id for b in snap.brokers}
        total = max(up, len(expected))
        tile = self.query_one
        tile("#tile-cluster", Tile).set("cluster id", snap.cluster_id or "-")
        tile("#tile-brokers", Tile).set("brokers up", f"{up}/{total}",
                                        "bad" if up < total else "good")
        tile("#tile-controller", Tile).set("controller", str(snap.controller))
        tile("#tile-topics", Tile).set("topics", f"{len(snap.topics):,}")
        tile("#tile-partitions", Tile).set("partitions", f"{snap.partition_count:,}")
        tile("#tile-urp", Tile).set("under-replicated", f"{snap.under_replicated:,}",
                                    "warn" if snap.under_replicated else "good")
        tile("#tile-offline", Tile).set("offline partitions", f"{snap.offline:,}",
                                        "bad" if snap.offline else "good")
        by = view.groups_by_status()
        groups = " ".join(f"{k} {v}" for k, v in sorted(by.items())) or "none"
        level = "bad" if by.get("ERR") else "warn" if by.get("WARN") else "good"
        tile("#tile-groups", Tile).set(f"{len(view.groups)} groups", groups, level)
        rate = pulse.messages_per_s
        err = pulse.error_replies_per_s
        self.query_one("#msgs-label", Label).update(
            f"cluster messages/s: [b]{'-' if rate is None else f'{rate:,.1f}'}[/b]"
            f"  [dim](last {CHART_WINDOW_S / 60:g} min)[/dim]")
        self.query_one("#errs-label", Label).update(
            f"error replies/s: [b]{'-' if err is None else f'{err:,.2f}'}[/b]"
            f"  [dim](last {CHART_WINDOW_S / 60:g} min)[/dim]")
        self.query_one("#msgs-chart", TimeChart).show(self.msgs, pulse.fetched_at)
        self.query_one("#errs-chart", TimeChart).show(self.errs, pulse.fetched_at)

    def _show_problems(self, pulse: Pulse) -> None:
        view = pulse.view
        self.problems = cluster_problems(view, None, view.now,
                                         traffic=pulse.traffic.values())
        title = self.query_one("#problems-title", Label)
        table = self.query_one("#problems", KeyedTable)
        table.sync(problem_rows(self.problems))
        table.display = bool(self.problems)
        table.styles.height = 1 + min(len(self.problems), MAX_PROBLEM_LINES)  # then it scrolls
        if not self.problems:
            snap = view.snapshot
            title.update(f"All OK: nothing wrong now ({len(view.groups)} group(s), "
                         f"{len(view.topics)} topic(s), {len(snap.brokers)} broker(s) checked)")
            title.set_classes("good")
            return
        worst = max(p.severity for p in self.problems)
        errors = sum(1 for p in self.problems if p.severity is Severity.ERR)
        title.update(f"What is wrong now: {len(self.problems)} problem(s), {errors} ERR"
                     "  [dim](Enter: open)[/dim]")
        title.set_classes("bad" if worst is Severity.ERR else "warn")

    def on_keyed_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        kind, _, rest = event.key.partition("/")
        subject = rest.rpartition("/")[0]
        if kind == "group":
            from nexus_tui.screens.group_detail import GroupDetailScreen

            self.app.push_screen(GroupDetailScreen(subject))
        elif kind in ("topic", "traffic"):
            from nexus_tui.screens.topic_detail import TopicDetailScreen

            self.app.push_screen(TopicDetailScreen(subject))
        else:
            self.notify(f"{kind} {subject}: no detail view; the topics view shows its "
                        "partitions' replicas", severity="warning")
