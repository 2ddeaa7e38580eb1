"""Dispatch: send a test request through the core and watch its reply.

"Sent" appears only once the broker acknowledged the record (partition, offset)."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Static, Switch, TextArea
from textual.worker import Worker

from core.cluster.dispatch import DispatchResult, dispatch_once
from core.messaging.publisher import Delivery
from core.wire.envelope import Envelope
from core.wire.topic_names import TopicName, TopicNameError, validate_kafka_topic
from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse


def describe_topic_name(name: str) -> tuple[bool, str]:
    """The Nexus naming helper: what the name means, or what is wrong with it."""
    if not name:
        return False, "topic: <team>.<domain>[.<purpose>][.<cmd|evt|res>].v<N>"
    try:
        validate_kafka_topic(name)
    except TopicNameError as exc:
        return False, escape(str(exc))
    try:
        t = TopicName.parse(name)
    except TopicNameError as exc:
        return True, escape(f"valid Kafka name, not a Nexus name ({exc})")
    parts = [f"team {t.team}", f"domain {t.domain}"]
    if t.purpose:
        parts.append(f"purpose {t.purpose}")
    if t.kind:
        parts.append(f"kind {t.kind}")
    parts.append(f"version {t.version}")
    return True, escape("Nexus topic: " + ", ".join(parts))


def check_payload(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    except RecursionError:
        return None, "not a usable payload: JSON nested too deeply"


class DispatchScreen(NexusScreen):
    AUTO_FOCUS = "#topic"
    BINDINGS = [Binding("ctrl+s", "send", "Send", id="dispatch.send")]

    def compose_body(self) -> ComposeResult:
        yield Label("Dispatch a test request", classes="title")
        with Horizontal(classes="form-row"):
            yield Label("Topic")
            yield Input(placeholder="e.g. demo.greeting.v1", id="topic")
        yield Static(id="topic-help", classes="hint")
        yield Label("Payload (JSON)", classes="subtitle")
        yield TextArea('{\n  "user_id": "u-42"\n}', language="json", id="payload")
        yield Static(id="payload-help", classes="hint")
        with Horizontal(classes="form-row"):
            yield Label("Root id")
            yield Input(placeholder="generated", id="root-id")
        with Horizontal(classes="form-row"):
            yield Label("Wait for reply")
            yield Switch(value=True, id="wait")
            yield Label("Timeout (s)")
            yield Input("30", id="timeout", type="number")
            yield Button("Send (ctrl+s)", id="send", variant="primary")
        yield Static(id="result")

    def on_mount(self) -> None:
        super().on_mount()
        self._validate()
        self.query_one("#result", Static).update("nothing sent yet")

    def apply(self, pulse: Pulse) -> None:
        names = sorted(pulse.view.snapshot.topics)
        self.query_one("#topic", Input).suggester = SuggestFromList(names, case_sensitive=True)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            super().on_input_changed(event)
        else:
            self._validate()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._validate()

    def _validate(self) -> bool:
        topic = self.query_one("#topic", Input).value.strip()
        ok_topic, topic_text = describe_topic_name(topic)
        known = self.nexus.pulse is None or topic in self.nexus.pulse.view.snapshot.topics
        if ok_topic and not known:
            topic_text += " — [yellow]no such topic on this cluster[/yellow]"
        self.query_one("#topic-help", Static).update(topic_text)
        _, error = check_payload(self.query_one("#payload", TextArea).text)
        self.query_one("#payload-help", Static).update(
            f"[red]{escape(error)}[/red]" if error else "[green]valid JSON[/green]")
        return ok_topic and known and error is None

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            self.action_send()

    def action_send(self) -> None:
        if self.nexus.read_only:
            self.notify("read-only: dispatch is disabled", severity="error")
            return
        if not self._validate():
            self.notify("fix the topic or payload first", severity="warning")
            return
        payload, _ = check_payload(self.query_one("#payload", TextArea).text)
        try:
            timeout = float(self.query_one("#timeout", Input).value or 0)
        except ValueError:
            self.notify("timeout must be a number of seconds", severity="error")
            return
        wait = self.query_one("#wait", Switch).value
        self.query_one("#result", Static).update("sending… (not acknowledged yet)")
        self._send(self.query_one("#topic", Input).value.strip(), payload,
                   self.query_one("#root-id", Input).value.strip() or None,
                   timeout if wait else 0.0)

    @work(exclusive=True, group="dispatch", exit_on_error=False, description="dispatch")
    async def _send(self, topic: str, payload: Any, root_id: str | None,
                    timeout: float) -> None:
        started = time.perf_counter()

        def sent(request: Envelope, delivery: Delivery) -> None:  # on the core loop thread
            self.app.call_from_thread(self._show_sent, request, delivery, timeout)

        core = self.nexus.core
        coro = dispatch_once(self.nexus.settings, topic, payload, root_id=root_id,
                             reply_timeout=timeout,
                             reply_topic=self.nexus.options.reply_topic, on_sent=sent)
        result = await (core.call(coro) if core else coro)
        self._show_result(result, time.perf_counter() - started)

    def worker_failed(self, worker: Worker, reason: str) -> None:
        self.query_one("#result", Static).update(f"[red]not sent: {escape(reason)}[/red]")

    def _show_sent(self, request: Envelope, delivery: Delivery, timeout: float) -> None:
        waiting = f"\nwaiting up to {timeout:g} s for the reply…" if timeout else ""
        self.query_one("#result", Static).update(
            f"[green]Sent[/green]: {delivery.topic} partition {delivery.partition} offset "
            f"{delivery.offset} (id {request.id}){waiting}")

    def _show_result(self, r: DispatchResult, total_s: float) -> None:
        head = (f"[green]Sent[/green]: {r.delivery.topic} partition {r.delivery.partition} "
                f"offset {r.delivery.offset}\nid {r.request.id}\nroot id {r.request.root_id}")
        if r.reply is None and r.error is None:
            body = "not waiting for a reply"
        elif r.reply is None:
            body = f"[yellow]{escape(r.error)}[/yellow]"
        else:
            kind = r.reply.kind.value.replace("_", " ")
            style = "red" if r.error else "green"
            body = (f"[{style}]{kind}[/{style}] after {r.latency_ms:.1f} ms "
                    f"(round trip)\n" + escape(json.dumps(r.reply.payload_json(), indent=2)[:4000]))
        self.query_one("#result", Static).update(head + "\n\n" + body)
