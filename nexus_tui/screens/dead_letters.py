"""Dead letters: the dead-letter topics (records, redriven, oldest/newest, the top error), the
dead letters of the chosen one (filtered by a regex over error, key and value) with the
highlighted one decoded, and the redrive screen (plan, typed confirmation, live progress).

The same core as `nexus-tui dlq list|show|redrive`; reads and the redrive run in thread
workers (confluent-kafka calls block), so the UI never waits on the network."""

from __future__ import annotations

import json
import shlex
import time
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Static

from core.cluster.dead_letters import DeadLetter, DeadLetterFilter
from core.cluster.redrive import RedrivePlan, RedriveRequest, RedriveResult
from core.errors import ConfigError
from nexus_tui.screens.base import NexusScreen

#: dead letters kept per topic for the list (the newest ones); `dlq show` reads them all
SHOWN_LETTERS = 1000


def _when(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) if ms else "-"


class DeadLettersScreen(NexusScreen):
    """`:dlq`, or `d` in the Errors view."""

    AUTO_FOCUS = "#dlq-topics"
    BINDINGS = [
        Binding("r", "redrive", "Redrive", id="dlq.redrive"),
        Binding("f5", "reload", "Reload", id="dlq.reload"),
    ]

    def __init__(self, topic: str | None = None) -> None:
        super().__init__()
        self.topic = topic
        self.letters: list[DeadLetter] = []

    def compose_body(self) -> ComposeResult:
        yield Label("Dead letters", classes="title")
        yield DataTable(id="dlq-topics", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="form-row"):
            yield Input(placeholder="--error: regex on the error", id="dlq-error")
            yield Input(placeholder="--grep: regex on the key or value", id="dlq-grep")
        yield DataTable(id="dlq-letters", cursor_type="row", zebra_stripes=True)
        yield Static(id="dlq-detail")

    def on_mount(self) -> None:
        super().on_mount()
        topics = self.query_one("#dlq-topics", DataTable)
        topics.add_columns("Topic", "Records", "Redriven", "Oldest (UTC)", "Newest (UTC)",
                           "Top error")
        self.query_one("#dlq-letters", DataTable).add_columns(
            "Partition@offset", "Time (UTC)", "From", "Attempts", "Error")
        self.action_reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "redrive" and self.nexus.read_only:
            return False  # hidden: the core refuses it too
        return True

    def action_filter(self) -> None:  # `/`: the error and grep fields are this view's filter
        self.query_one("#dlq-error", Input).focus()

    # ---- the list of dead-letter topics ------------------------------------------------------

    def action_reload(self) -> None:
        self.query_one("#dlq-detail", Static).update("reading the dead-letter topics…")
        if self.topic is not None:  # the asked-for topic's letters do not wait for the list
            self._load_letters(self.topic)
        self._load_topics()

    @work(thread=True, exclusive=True, group="dlq-topics")
    def _load_topics(self) -> None:
        rows = self.nexus.source.dead_letters().summaries()
        self.app.call_from_thread(self._show_topics, rows)

    def _show_topics(self, rows: list[Any]) -> None:
        table = self.query_one("#dlq-topics", DataTable)
        table.clear()
        for s in rows:
            top = s.by_error.most_common(1)
            table.add_row(s.topic, str(s.records), str(s.redriven), _when(s.oldest_ms),
                          _when(s.newest_ms), top[0][0] if top else "-", key=s.topic)
        detail = self.query_one("#dlq-detail", Static)
        if not rows:
            detail.update("no dead-letter topics (<topic>.dlq) on this cluster")
            return
        names = [s.topic for s in rows]
        chosen = self.topic if self.topic in names else names[0]
        table.move_cursor(row=names.index(chosen))
        if chosen != self.topic or not self.letters:
            self._choose(chosen)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "dlq-topics" and event.row_key.value not in (
                self.topic, None):
            self._choose(str(event.row_key.value))
        elif event.data_table.id == "dlq-letters":
            self._show_detail(event.cursor_row)

    def _choose(self, topic: str) -> None:
        self.topic = topic
        self.query_one("#dlq-detail", Static).update(f"reading {escape(topic)}…")
        self._load_letters(topic)

    # ---- the dead letters of one topic -------------------------------------------------------

    @work(thread=True, exclusive=True, group="dlq-letters")
    def _load_letters(self, topic: str) -> None:
        letters = self.nexus.source.dead_letters().letters(topic)
        self.app.call_from_thread(self._show_letters, topic, letters[-SHOWN_LETTERS:])

    def _show_letters(self, topic: str, letters: list[DeadLetter]) -> None:
        if topic != self.topic:
            return
        self.letters = letters
        self._refill()

    def _selection(self) -> DeadLetterFilter:
        """The filter fields as the CLI's --error/--grep (ConfigError on a bad regex)."""
        return DeadLetterFilter(
            error=self.query_one("#dlq-error", Input).value.strip() or None,
            grep=self.query_one("#dlq-grep", Input).value.strip() or None)

    def _filtered(self) -> list[DeadLetter]:
        try:
            selection = self._selection()
        except ConfigError:
            return self.letters
        return [d for d in self.letters if selection.matches(d)]

    def _refill(self) -> None:
        table = self.query_one("#dlq-letters", DataTable)
        table.clear()
        shown = self._filtered()
        for d in reversed(shown):  # newest first
            table.add_row(f"{d.partition}@{d.offset}", _when(d.timestamp_ms),
                          f"{d.original_topic or '?'}[{d.original_partition}]"
                          f"@{d.original_offset}", str(d.attempts or "-"), d.error or "-",
                          key=f"{d.partition}@{d.offset}")
        self._shown = list(reversed(shown))
        if not shown:
            self.query_one("#dlq-detail", Static).update(
                "no dead letters" + (" match the filter" if self.letters else ""))
        else:
            self._show_detail(0)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id in ("dlq-error", "dlq-grep"):
            try:
                self._selection()
            except ConfigError as exc:
                self.query_one("#dlq-detail", Static).update(f"[red]{escape(str(exc))}[/red]")
                return
            self._refill()
        else:
            super().on_input_changed(event)

    def _show_detail(self, row: int) -> None:
        shown = getattr(self, "_shown", [])
        if not 0 <= row < len(shown):
            return
        data = shown[row].as_json()
        self.query_one("#dlq-detail", Static).update(
            escape(json.dumps(data, indent=2, ensure_ascii=False, default=str)[:4000]))

    # ---- redrive -----------------------------------------------------------------------------

    def action_redrive(self) -> None:
        if self.nexus.read_only:
            self.notify("read-only: redrive is not available", severity="warning")
            return
        if self.topic is None:
            self.notify("no dead-letter topic chosen", severity="warning")
            return
        self.app.push_screen(RedriveScreen(
            self.topic, self.query_one("#dlq-error", Input).value.strip() or None,
            self.query_one("#dlq-grep", Input).value.strip() or None))


class RedriveScreen(NexusScreen):
    """Plan, typed confirmation (the dead-letter topic's name), then the redrive with its
    progress; the equivalent `nexus-tui dlq redrive` command is shown."""

    AUTO_FOCUS = "#redrive-to"
    BINDINGS = [Binding("f5", "plan", "Plan", id="redrive.plan")]

    def __init__(self, topic: str, error: str | None = None, grep: str | None = None) -> None:
        super().__init__()
        self.topic = topic
        self.error = error
        self.grep = grep
        self.plan: RedrivePlan | None = None
        self.started = 0.0

    def compose_body(self) -> ComposeResult:
        yield Label(f"Redrive {escape(self.topic)}", classes="title")
        with Horizontal(classes="form-row"):
            yield Label("To topic")
            yield Input(placeholder="(each one's original topic)", id="redrive-to")
            yield Label("Error regex")
            yield Input(self.error or "", placeholder="(any)", id="redrive-error")
        with Horizontal(classes="form-row"):
            yield Label("Grep regex")
            yield Input(self.grep or "", placeholder="(any)", id="redrive-grep")
            yield Label("Limit")
            yield Input(placeholder="(all)", id="redrive-limit", type="integer")
            yield Button("Plan (F5)", id="redrive-plan")
        yield Static(id="redrive-plan-text")
        yield Static(id="redrive-command")
        with Horizontal(classes="form-row"):
            yield Label("Confirm")
            yield Input(placeholder=f"type {self.topic} to redrive", id="redrive-confirm")
            yield Button("Redrive", id="redrive-go", variant="error", disabled=True)
        yield ProgressBar(id="redrive-progress", show_eta=True)
        yield Static(id="redrive-result")

    def _request(self) -> RedriveRequest:
        def value(name: str) -> str | None:
            return self.query_one(f"#{name}", Input).value.strip() or None

        limit = value("redrive-limit")
        return RedriveRequest(self.topic, to=value("redrive-to"),
                              filter=DeadLetterFilter(error=value("redrive-error"),
                                                      grep=value("redrive-grep")),
                              limit=int(limit) if limit else None)

    def _command(self, request: RedriveRequest) -> str:
        parts = ["nexus-tui", "dlq", "redrive", self.topic, "-b", self.nexus.settings.bootstrap]
        for flag, value in (("--to", request.to), ("--error", request.filter.error),
                            ("--grep", request.filter.grep), ("--limit", request.limit)):
            if value is not None:
                parts += [flag, str(value)]
        return shlex.join([*parts, "--execute"])

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "redrive-plan":
            self.action_plan()
        elif event.button.id == "redrive-go":
            self._go()

    def action_plan(self) -> None:
        try:
            request = self._request()
        except ConfigError as exc:
            self.query_one("#redrive-plan-text", Static).update(f"[red]{escape(str(exc))}[/red]")
            return
        self.plan = None
        self._update_go()
        self.query_one("#redrive-plan-text", Static).update("planning…")
        self.query_one("#redrive-command", Static).update(
            "equivalent: " + escape(self._command(request)))
        self._plan(request)

    @work(thread=True, exclusive=True, group="redrive-plan")
    def _plan(self, request: RedriveRequest) -> None:
        plan = self.nexus.source.dead_letters().plan(request)
        self.app.call_from_thread(self._show_plan, plan)

    def _show_plan(self, plan: RedrivePlan) -> None:
        self.plan = plan
        data = plan.as_json()
        lines = [f"{data['to_send']} dead letter(s) to redrive ({data['already_redriven']} "
                 f"already back, {data['not_selected']} not selected)"]
        lines += [f"  → {escape(t)}: {n}" for t, n in data["by_target"].items()]
        lines += [f"  {n:>6}  {escape(e)}" for e, n in data["by_error"].items()]
        lines += [f"  sample [{s['partition']}@{s['offset']}] key {escape(str(s['key']))} → "
                  f"{escape(s['target'])}" for s in data["sample"]]
        self.query_one("#redrive-plan-text", Static).update("\n".join(lines))
        self.query_one("#redrive-progress", ProgressBar).update(total=max(plan.to_send, 1),
                                                                 progress=0)
        self._update_go()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "redrive-confirm":
            self._update_go()
        elif event.input.id and event.input.id.startswith("redrive-"):
            self.plan = None  # the plan no longer matches what is asked
            self._update_go()
        else:
            super().on_input_changed(event)

    def _update_go(self) -> None:
        confirmed = self.query_one("#redrive-confirm", Input).value.strip() == self.topic
        self.query_one("#redrive-go", Button).disabled = not (
            confirmed and self.plan is not None and not self.nexus.read_only)

    def _go(self) -> None:
        if self.plan is None or self.nexus.read_only:
            return
        self.query_one("#redrive-go", Button).disabled = True
        self.started = time.monotonic()
        self._run(self.plan)

    @work(thread=True, exclusive=True, group="redrive-run")
    def _run(self, plan: RedrivePlan) -> None:
        result = self.nexus.source.dead_letters().run(
            plan, lambda done, total: self.app.call_from_thread(self._progress, done, total))
        self.app.call_from_thread(self._done, result)

    def _progress(self, done: int, total: int) -> None:
        self.query_one("#redrive-progress", ProgressBar).update(total=max(total, 1),
                                                                 progress=done)
        elapsed = time.monotonic() - self.started
        rate = f"{done / elapsed:,.0f}/s" if elapsed > 0 else ""
        self.query_one("#redrive-result", Static).update(f"redriven {done}/{total}  {rate}")

    def _done(self, result: RedriveResult) -> None:
        data = result.as_json()
        text = (f"redriven {data['redriven']} dead letter(s); "
                f"{data['skipped_already_redriven']} were already back")
        self.query_one("#redrive-result", Static).update(text)
        self.notify(text, timeout=5)
        self.plan = None
