"""Seek: reset a consumer group's offsets — strategy and scope chosen (nothing pre-selected),
a preview current → target with the lag change and clamp warnings, the equivalent CLI
command, a typed confirmation (the group's name), then the result. An active group is
refused, with the reason, before anything is applied."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Select, Static
from textual.worker import Worker

from core.cluster.seek import GroupSeeker, SeekPlan
from core.cluster.seek_parse import StrategyKind, strategy_from_options
from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse
from nexus_tui.widgets import Cell, KeyedTable, num

#: Strategies in the picker (nothing is pre-selected); the hint says what the argument is.
STRATEGIES = [
    (StrategyKind.EARLIEST, "to earliest (log start)"),
    (StrategyKind.LATEST, "to latest (log end)"),
    (StrategyKind.CURRENT, "to current (re-commit)"), (StrategyKind.OFFSET, "to offset N"),
    (StrategyKind.SHIFT, "shift by ±N"), (StrategyKind.DATETIME, "to datetime (UTC unless zoned)"),
    (StrategyKind.DURATION, "by duration (e.g. PT30M)"), (StrategyKind.FILE, "from CSV file"),
    (StrategyKind.GROUP, "to another group's commits"),
]
COLUMNS = [("Topic", "topic"), ("P", "p"), ("Current", "current"), ("Target", "target"),
           ("Lag before", "lag_before"), ("Lag after", "lag_after"), ("Warning", "warning")]


_NO_ARG = {k.value for k in (StrategyKind.EARLIEST, StrategyKind.LATEST, StrategyKind.CURRENT)}


class SeekScreen(NexusScreen):
    AUTO_FOCUS = "#seek-group"
    BINDINGS = [
        Binding("f5", "preview", "Preview", id="seek.preview"),
    ]

    def __init__(self, group_id: str | None = None) -> None:
        super().__init__()
        self.group_id = group_id
        self.plan: SeekPlan | None = None

    def compose_body(self) -> ComposeResult:
        yield Label("Seek: reset a consumer group's offsets", classes="title")
        with Horizontal(classes="form-row"):
            yield Label("Group")
            yield Input(self.group_id or "", placeholder="consumer group", id="seek-group")
        with Horizontal(classes="form-row"):
            yield Label("Strategy")
            yield Select([(label, key.value) for key, label in STRATEGIES], prompt="choose…",
                         id="seek-strategy")
            yield Label("Argument")
            yield Input(placeholder="offset / ±N / datetime / duration / file / group",
                        id="seek-arg")
        with Horizontal(classes="form-row"):
            yield Label("Scope")
            yield Input(placeholder="topic[:p,p] … (space separated); empty: all committed "
                        "topics", id="seek-scope")
            yield Button("Preview", id="seek-preview", variant="primary")
        yield Static(id="seek-state", classes="hint")
        yield KeyedTable(COLUMNS, id="plan-table")
        yield Static(id="seek-command", classes="hint")
        with Horizontal(classes="form-row"):
            yield Label("Confirm")
            yield Input(placeholder="type the group's name to enable Apply", id="seek-confirm")
            yield Button("Apply", id="seek-apply", variant="error", disabled=True)
        yield Static(id="seek-result")

    def apply(self, pulse: Pulse) -> None:
        return None  # the plan is a point-in-time preview: refreshing must not change it

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "seek-preview":
            self.action_preview()
        elif event.button.id == "seek-apply":
            self._apply()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in ("seek-group", "seek-arg", "seek-scope"):
            self.action_preview()
        else:
            super().on_input_submitted(event)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "seek-confirm":
            self._update_apply()
        elif event.input.id == "filter":
            super().on_input_changed(event)
        elif event.input.id in ("seek-group", "seek-arg", "seek-scope"):
            self._invalidate()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._invalidate()

    def _invalidate(self) -> None:
        if self.plan is not None:
            self.plan = None
            self.query_one(KeyedTable).sync({})
            self.query_one("#seek-command", Static).update("")
            self._update_apply()

    def _update_apply(self) -> None:
        plan = self.plan
        typed = self.query_one("#seek-confirm", Input).value
        ok = bool(plan is not None and plan.can_apply and typed == plan.group and plan.changes)
        self.query_one("#seek-apply", Button).disabled = not ok

    def action_preview(self) -> None:
        if self.nexus.read_only:
            self.notify("read-only: seek is disabled", severity="error")
            return
        group = self.query_one("#seek-group", Input).value.strip()
        strategy = self.query_one("#seek-strategy", Select).value
        if not group or strategy is Select.NULL:
            self._state("[yellow]choose a group and a strategy[/yellow]")
            return
        arg = self.query_one("#seek-arg", Input).value.strip() or None
        scope = self.query_one("#seek-scope", Input).value.split()
        self._state("planning…")
        self._plan(group, str(strategy), arg, scope)

    @work(exclusive=True, group="seek", exit_on_error=False, description="seek preview")
    async def _plan(self, group: str, strategy: str, arg: str | None,
                    scope: list[str]) -> None:
        spec = strategy_from_options({strategy.replace("-", "_"): arg if arg is not None
                                      else strategy in _NO_ARG})
        plan = await self._core(GroupSeeker(self.nexus.settings).plan(group, spec, scope))
        self.plan = plan
        rows = {}
        for c in plan.changes:
            rows[f"{c.topic}:{c.partition}"] = [
                Cell(c.topic), num(c.partition), num(c.current), num(c.target),
                num(c.lag_before), num(c.lag_after),
                Cell(c.clamp_reason or "", c.clamp_reason or "", "yellow" if c.clamped else ""),
            ]
        self.query_one(KeyedTable).sync(rows)
        bootstrap = self.nexus.settings.bootstrap
        self.query_one("#seek-command", Static).update(
            "equivalent: " + escape(plan.kafka_command(bootstrap))
            + "\nnexus-tui: " + escape(plan.nexus_command(bootstrap)))
        if plan.can_apply:
            self._state(f"group {escape(plan.group)} is {plan.group_state}: "
                        f"{len(plan.changes)} partition(s) would change. Dry run — nothing "
                        "applied. Type the group's name to enable Apply.")
        else:
            self._state(f"[red]cannot apply: {escape(plan.refusal or '')}[/red]")
        if plan.notes:
            self._state(str(self.query_one("#seek-state", Static).render()) + "\n"
                        + escape("; ".join(plan.notes)))
        self._update_apply()

    @work(exclusive=True, group="seek", exit_on_error=False, description="seek apply")
    async def _apply(self) -> None:
        plan = self.plan
        if plan is None or self.nexus.read_only:
            return
        self.query_one("#seek-apply", Button).disabled = True
        self.query_one("#seek-result", Static).update("applying…")
        result = await self._core(GroupSeeker(self.nexus.settings).apply(plan))
        self.query_one("#seek-result", Static).update(
            f"[green]applied[/green]: committed {len(result)} offset(s) for "
            f"{escape(plan.group)}")
        self.query_one("#seek-confirm", Input).value = ""
        self.nexus.action_refresh()

    def worker_failed(self, worker: Worker, reason: str) -> None:
        if worker.description == "seek apply":
            self.query_one("#seek-result", Static).update(f"[red]not applied: "
                                                          f"{escape(reason)}[/red]")
            self._update_apply()
        else:
            self._state(f"[red]{escape(reason)}[/red]")

    async def _core(self, coro: Any) -> Any:
        core = self.nexus.core
        return await (core.call(coro) if core else coro)

    def _state(self, text: str) -> None:
        self.query_one("#seek-state", Static).update(text)
