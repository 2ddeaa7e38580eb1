"""Topic and group administration screens: the form of one action, its plan (the same
`AdminPlan` the CLI prints, from core/cluster/admin_plan.py), the equivalent Kafka command,
a typed confirmation (the topic's or group's name) for destructive changes, then the result.
Applying goes through the core (`Changes.apply`): read-only check, audit log."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Select, Static

from core.cluster.admin_plan import AdminPlan, parse_config_pairs, parse_partition_offsets
from core.cluster.audit import parse_since
from core.cluster.change import Changes
from core.cluster.group_admin import GroupAdmin
from core.cluster.topic_admin import TopicAdmin
from core.errors import ConfigError, NexusError
from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse

if TYPE_CHECKING:
    from nexus_tui.app import NexusApp

Values = dict[str, str]
Planner = Callable[[Changes, str, Values], Coroutine[Any, Any, AdminPlan]]


@dataclass(frozen=True)
class Field:
    id: str
    label: str
    placeholder: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # a Select instead of an Input


@dataclass(frozen=True)
class AdminAction:
    title: str
    kind: type[Changes]
    fields: tuple[Field, ...]
    planner: Planner
    needs_target: bool = True  # create names its topic in a field


def _int(values: Values, key: str, what: str, default: int | None = None) -> int | None:
    text = values.get(key, "").strip()
    if not text:
        if default is None:
            return None
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{what} must be a whole number, not {text!r}") from None


async def _create(admin: Changes, _: str, v: Values) -> AdminPlan:
    partitions = _int(v, "partitions", "partitions", 0)
    assert isinstance(admin, TopicAdmin)
    return await admin.plan_create(v.get("name", "").strip(), partitions or 0,
                                   _int(v, "rf", "replication factor"),
                                   parse_config_pairs(v.get("configs", "").split()))


async def _alter(admin: Changes, topic: str, v: Values) -> AdminPlan:
    assert isinstance(admin, TopicAdmin)
    return await admin.plan_alter(topic, parse_config_pairs(v.get("set", "").split()),
                                  list(dict.fromkeys(v.get("delete", "").split())))


async def _add_partitions(admin: Changes, topic: str, v: Values) -> AdminPlan:
    assert isinstance(admin, TopicAdmin)
    to = _int(v, "to", "the new partition count")
    if to is None:
        raise ConfigError("give the new partition count")
    return await admin.plan_add_partitions(topic, to)


async def _purge(admin: Changes, topic: str, v: Values) -> AdminPlan:
    assert isinstance(admin, TopicAdmin)
    how, arg = v.get("how", ""), v.get("arg", "").strip()
    if how == "all":
        return await admin.plan_purge(topic, everything=True)
    if how == "time":
        return await admin.plan_purge(topic, before_time_ms=parse_since(
            arg, int(time.time() * 1000), "before time"))
    if how == "offsets":
        return await admin.plan_purge(topic, before_offsets=parse_partition_offsets(arg.split()))
    raise ConfigError("choose what to purge")


async def _delete_topic(admin: Changes, topic: str, _: Values) -> AdminPlan:
    assert isinstance(admin, TopicAdmin)
    return await admin.plan_delete(topic)


async def _delete_group(admin: Changes, group: str, _: Values) -> AdminPlan:
    assert isinstance(admin, GroupAdmin)
    return await admin.plan_delete(group)


async def _delete_offsets(admin: Changes, group: str, v: Values) -> AdminPlan:
    assert isinstance(admin, GroupAdmin)
    topic = v.get("topic", "").strip()
    if not topic:
        raise ConfigError("give the topic whose committed offsets go")
    return await admin.plan_delete_offsets(group, topic)


ACTIONS: dict[str, AdminAction] = {
    "topic.create": AdminAction("Create a topic", TopicAdmin, (
        Field("name", "Name", "team.domain[.purpose].v1"),
        Field("partitions", "Partitions", "e.g. 6"),
        Field("rf", "Replication", "empty: the broker's default"),
        Field("configs", "Configs", "key=value … (space separated)"),
    ), _create, needs_target=False),
    "topic.alter": AdminAction("Edit the topic's configs", TopicAdmin, (
        Field("set", "Set", "key=value … e.g. retention.ms=86400000"),
        Field("delete", "Reset", "keys back to their default …"),
    ), _alter),
    "topic.add-partitions": AdminAction("Add partitions", TopicAdmin, (
        Field("to", "New count", "more than now"),), _add_partitions),
    "topic.purge": AdminAction("Purge records (DeleteRecords)", TopicAdmin, (
        Field("how", "What", choices=(("every record", "all"), ("before a time", "time"),
                                      ("before offsets", "offsets"))),
        Field("arg", "Argument", "time: 2026-11-28T10:00:00Z or PT1H ago; offsets: 0:120 1:80"),
    ), _purge),
    "topic.delete": AdminAction("Delete the topic", TopicAdmin, (), _delete_topic),
    "group.delete": AdminAction("Delete the consumer group", GroupAdmin, (), _delete_group),
    "group.delete-offsets": AdminAction("Delete the group's offsets of a topic", GroupAdmin, (
        Field("topic", "Topic", "a topic the group committed on"),), _delete_offsets),
}


def open_admin(app: NexusApp, action: str, target: str | None = None,
               values: Values | None = None) -> None:
    """Open the screen of `action` (refused on a read-only connection)."""
    if app.read_only:
        app.notify("read-only: administration is not available", severity="warning")
        return
    app.push_screen(AdminScreen(action, target or "", values))


class AdminScreen(NexusScreen):
    AUTO_FOCUS = "Input"
    BINDINGS = [Binding("f5", "preview", "Preview", id="admin.preview")]

    def __init__(self, action: str, target: str = "", values: Values | None = None) -> None:
        super().__init__()
        self.action_name = action
        self.spec = ACTIONS[action]
        self.target = target
        self.values = dict(values or {})
        self.plan: AdminPlan | None = None
        self.planned: Values | None = None  # the form the plan was made from

    def compose_body(self) -> ComposeResult:
        what = f": {self.target}" if self.target else ""
        yield Label(f"{self.spec.title}{escape(what)}", classes="title", id="admin-title")
        for f in self.spec.fields:
            with Horizontal(classes="form-row"):
                yield Label(f.label)
                if f.choices:
                    yield Select(list(f.choices), prompt="choose…", id=f"admin-{f.id}")
                else:
                    yield Input(self.values.get(f.id, ""), placeholder=f.placeholder,
                                id=f"admin-{f.id}")
        with Horizontal(classes="form-row"):
            yield Button("Preview", id="admin-preview", variant="primary")
        yield Static(id="admin-state", classes="hint")
        yield Static(id="admin-plan")
        yield Static(id="admin-command", classes="hint")
        with Horizontal(classes="form-row"):
            yield Label("Confirm")
            yield Input(placeholder="type the name shown above to enable Apply",
                        id="admin-confirm")
            yield Button("Apply", id="admin-apply", variant="error", disabled=True)
        yield Static(id="admin-result")

    def on_mount(self) -> None:
        super().on_mount()
        if not self.spec.fields:  # nothing to fill in: the plan right away
            self.action_preview()

    def apply(self, pulse: Pulse) -> None:
        return None  # the plan is a point-in-time preview: refreshing must not change it

    def form(self) -> Values:
        out: Values = {}
        for f in self.spec.fields:
            if f.choices:
                value = self.query_one(f"#admin-{f.id}", Select).value
                out[f.id] = "" if value is Select.NULL else str(value)
            else:
                out[f.id] = self.query_one(f"#admin-{f.id}", Input).value
        return out

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "admin-preview":
            self.action_preview()
        elif event.button.id == "admin-apply":
            self._apply()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id and event.input.id.startswith("admin-") and \
                event.input.id != "admin-confirm":
            self.action_preview()
        else:
            super().on_input_submitted(event)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "admin-confirm":
            self._update_apply()
        elif event.input.id == "filter":
            super().on_input_changed(event)
        else:
            self._invalidate()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._invalidate()

    def _invalidate(self) -> None:
        # Input.Changed reaches the screen by bubbling, possibly after the plan it belongs to:
        # only a form that differs from the planned one makes the plan stale.
        if self.plan is not None and self.form() != self.planned:
            self.plan = None
            self.query_one("#admin-plan", Static).update("")
            self.query_one("#admin-command", Static).update("")
            self._update_apply()

    def confirm_word(self) -> str | None:
        """What must be typed to enable Apply (None: nothing, the change is not destructive)."""
        if self.plan is None or not self.plan.destructive:
            return None
        return self.plan.target

    def _update_apply(self) -> None:
        plan = self.plan
        word = self.confirm_word()
        typed = self.query_one("#admin-confirm", Input).value
        ok = plan is not None and not plan.refusal and (word is None or typed == word)
        self.query_one("#admin-apply", Button).disabled = not ok

    def action_preview(self) -> None:
        if self.nexus.read_only:
            self.notify("read-only: administration is disabled", severity="error")
            return
        self._state("planning…")
        self._plan(self.form())

    @work(exclusive=True, group="admin", exit_on_error=False)
    async def _plan(self, values: Values) -> None:
        admin = self.nexus.source.changes(self.spec.kind)
        try:
            plan = await self._core(self.spec.planner(admin, self.target, values))
        except NexusError as exc:
            self._state(f"[red]{escape(str(exc))}[/red]")
            return
        self.plan, self.planned = plan, values
        self.query_one("#admin-plan", Static).update(escape("\n".join(plan.lines())))
        self.query_one("#admin-command", Static).update(
            "same with Kafka's tool: " + escape(plan.kafka_command(self.nexus.settings.bootstrap)))
        if plan.refusal:
            self._state(f"[red]cannot apply: {escape(plan.refusal)}[/red]")
        elif plan.destructive:
            self._state(f"Dry run — nothing applied. Type [b]{escape(plan.target)}[/b] to "
                        "enable Apply.")
        else:
            self._state("Dry run — nothing applied. Apply to make the change.")
        self._update_apply()

    @work(exclusive=True, group="admin", exit_on_error=False)
    async def _apply(self) -> None:
        plan = self.plan
        result_box = self.query_one("#admin-result", Static)
        if self.nexus.read_only:
            result_box.update("[red]not applied: read-only[/red]")
            return
        if plan is None:  # the form changed after Apply was enabled
            result_box.update("[red]not applied: the form changed; preview again[/red]")
            return
        self.query_one("#admin-apply", Button).disabled = True
        try:
            result = await self._core(self.nexus.source.changes(self.spec.kind).apply(plan))
        except NexusError as exc:
            result_box.update(f"[red]not applied: {escape(str(exc))}[/red]")
            return
        done = ", ".join(f"{k} {v}" for k, v in result.items())
        result_box.update(f"[green]applied[/green]: {escape(done)}")
        self.query_one("#admin-confirm", Input).value = ""
        self.plan = None
        self.nexus.action_refresh()

    async def _core(self, coro: Any) -> Any:
        core = self.nexus.core
        return await (core.call(coro) if core else coro)

    def _state(self, text: str) -> None:
        self.query_one("#admin-state", Static).update(text)
