"""What every screen shares: the status line, the connection banner, the filter, the footer."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from msgspec import Struct
from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from nexus_tui.source import Pulse

if TYPE_CHECKING:
    from nexus_tui.app import NexusApp


class ConnState(Struct, frozen=True):
    context: str
    bootstrap: str
    read_only: bool
    refresh_s: float
    refreshing: bool
    error: str | None
    retry_in_s: float | None
    last_ok: float | None
    live: bool


class StatusLine(Static):
    """Context, cluster, data age, refresh period; 'STALE' while data is old."""

    def show(self, state: ConnState, now: float | None = None) -> None:
        now = now or time.time()
        parts = [f"[b]nexus-tui[/b] ctx [b]{escape(state.context)}[/b]", escape(state.bootstrap)]
        if state.read_only:
            parts.append("[reverse] READ-ONLY [/reverse]")
        if state.last_ok is None:
            parts.append("connecting…")
        else:
            age = now - state.last_ok
            stamp = time.strftime("%H:%M:%S", time.localtime(state.last_ok)) if state.live \
                else "recorded"
            parts.append(f"data {stamp}" + (f" ({age:.0f} s ago)" if state.live else ""))
        if state.error is not None and state.last_ok is not None:
            parts.append("[reverse red] STALE [/reverse red]")
        if state.refreshing:
            parts.append("⟳")
        parts.append("manual refresh" if state.refresh_s == 0 else f"every {state.refresh_s:g} s")
        self.update("  │  ".join(parts))


class Banner(Static):
    """The connection-loss banner; hidden while the cluster answers."""

    def show(self, state: ConnState) -> None:
        if state.error is None:
            self.display = False
            return
        retry = f"; retrying in {state.retry_in_s:.0f} s" if state.retry_in_s else ""
        kept = " — showing the last data (stale)" if state.last_ok else ""
        self.update(f"⚠ cluster unreachable: {escape(state.error)}{retry}{kept}")
        self.display = True


class NexusScreen(Screen):
    """A screen fed by the app after every refresh (`apply`), with status, banner, footer.

    A worker of the screen that fails (any exception) goes to the app's one handler
    (`NexusApp.report_failure`: a notification and the log); the screen only catches what it
    shows differently, and may show the failure in its own place too (`worker_failed`)."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="screen.filter"),
    ]
    TITLE_TEXT = ""
    AUTO_FOCUS = "KeyedTable"

    @property
    def nexus(self) -> NexusApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield Banner(id="banner")
        with Vertical(id="body"):
            yield from self.compose_body()
        box = Input(placeholder="filter: regex, !regex to invert, esc to close", id="filter")
        box.can_focus = False  # only while open: never steals the keys of the screen
        yield box
        # the Footer (a widget per key, each styled twice as it mounts) comes a frame later:
        # the view's data is painted first (BENCHMARKS.md §10)

    async def _mount_footer(self) -> None:
        if not self.is_attached:  # the app is ending (a bad configuration, found at start)
            return
        await self.mount(Footer())
        self.refresh_bindings()  # the Footer shows the keys when told they are ready

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.query_one(Banner).display = False
        self.sync_state()
        self.call_after_refresh(self._mount_footer)

    def on_screen_resume(self) -> None:
        self.sync_state()
        pulse = self.nexus.shown_pulse
        if pulse is not None:
            self.apply(pulse)
            self.nexus.collect_after_paint(self)

    def sync_state(self) -> None:
        state = self.nexus.conn_state()
        self.query_one(StatusLine).show(state)
        self.query_one(Banner).show(state)
        self.set_class(state.error is not None and state.last_ok is not None, "-stale")

    def apply(self, pulse: Pulse) -> None:
        """Show the new data (override)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:  # Textual sends it to the screen, not the app
            self.nexus.report_failure(event.worker)

    def worker_failed(self, worker: Worker, reason: str) -> None:
        """Show a failed worker's reason in the screen, besides the notification (override)."""

    # ---- filter ---------------------------------------------------------------------------

    def filter_target(self):  # the KeyedTable the filter applies to, if any
        from nexus_tui.widgets import KeyedTable

        tables = list(self.query(KeyedTable))
        return tables[0] if tables else None

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if self.filter_target() is None:
            return
        box.add_class("-open")
        box.can_focus = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            target = self.filter_target()
            if target is not None:
                target.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            target = self.filter_target()
            if target is not None:
                target.focus()

    def key_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("-open"):
            box.value = ""
            box.remove_class("-open")
            box.can_focus = False
            target = self.filter_target()
            if target is not None:
                target.set_filter("")
                target.focus()
            return
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
