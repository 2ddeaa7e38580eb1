"""The nexus-tui Textual app: views over the core's snapshot, lag and traffic; actions through
the core's dispatch and seek. Refreshes run one at a time on the core loop; the UI applies
the result in place and keeps the last data, marked stale, while the cluster is away."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING

from msgspec import Struct, field
from textual import events, work
from textual.app import App, ScreenStackError
from textual.binding import Binding
from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from core.errors import NexusError
from nexus_tui.commands import NexusCommands
from nexus_tui.coreloop import CoreLoop
from nexus_tui.failures import describe_failure, log_to_state_dir
from nexus_tui.screens.base import ConnState, NexusScreen
from nexus_tui.source import DataSource, LiveSource, Pulse

if TYPE_CHECKING:
    from core.config.settings import ConnectionSettings

MAX_BACKOFF_S = 8.0
WRITE_VIEWS = {"dispatch"}
log = logging.getLogger("nexus_tui")

#: the main views (`MODES`): mode -> (module, screen class). Each is imported when first
#: shown, so that starting the app imports only what its first view needs (the dispatch and
#: messages views bring Kafka clients with them).
VIEWS = {
    "overview": ("nexus_tui.screens.overview", "OverviewScreen"),
    "topics": ("nexus_tui.screens.topics", "TopicsScreen"),
    "groups": ("nexus_tui.screens.groups", "GroupsScreen"),
    "errors": ("nexus_tui.screens.errors", "ErrorsScreen"),
    "dispatch": ("nexus_tui.screens.dispatch", "DispatchScreen"),
    "messages": ("nexus_tui.screens.messages", "MessagesScreen"),
}


def view_screen(mode: str) -> Callable[[], NexusScreen]:
    """A `MODES` entry: builds the view's screen, importing its module then."""
    module, name = VIEWS[mode]

    def make() -> NexusScreen:
        screen: NexusScreen = getattr(import_module(module), name)()
        return screen

    return make


def is_main_view(screen: object) -> bool:
    return (type(screen).__module__, type(screen).__name__) in VIEWS.values()


class AppOptions(Struct):
    context: str = "default"
    refresh_interval_s: float = 5.0
    read_only: bool = False
    keymap: dict[str, str] = field(default_factory=dict)
    reply_topic: str = "nexus-tui.replies.v1"
    contexts: dict[str, Callable[[], ConnectionSettings]] = field(default_factory=dict)


class Refreshed(Message):
    def __init__(self, pulse: Pulse) -> None:
        super().__init__()
        self.pulse = pulse


class Previewed(Message):
    """The cluster's metadata arrived before the first refresh (Pulse.preview)."""

    def __init__(self, pulse: Pulse) -> None:
        super().__init__()
        self.pulse = pulse


class RefreshFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class NexusApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "nexus-tui"
    COMMANDS = {NexusCommands}
    MODES = {mode: view_screen(mode) for mode in VIEWS}
    BINDINGS = [
        Binding("colon", "command_palette", "Jump", id="app.palette"),
        Binding("question_mark", "help", "Keys", id="app.help"),
        Binding("ctrl+r", "refresh", "Refresh", id="app.refresh"),
        Binding("1", "view('overview')", "Overview", show=False, id="app.view.overview"),
        Binding("2", "view('topics')", "Topics", show=False, id="app.view.topics"),
        Binding("3", "view('groups')", "Groups", show=False, id="app.view.groups"),
        Binding("4", "view('errors')", "Errors", show=False, id="app.view.errors"),
        Binding("5", "view('messages')", "Messages", show=False, id="app.view.messages"),
        Binding("6", "view('dispatch')", "Dispatch", show=False, id="app.view.dispatch"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.interrupt"),
    ]

    def __init__(self, source: DataSource, options: AppOptions | None = None,
                 core: CoreLoop | None = None,
                 configure: Callable[[], AppOptions] | None = None) -> None:
        """`configure`: reads the configuration and returns the app's options (`options` are
        then what is known before it: the command line's). The app calls it once its first
        view is painted (`configure`); until then every write is refused, as in read-only."""
        super().__init__()
        self.source = source
        self.options = options or AppOptions()
        self.core = core
        self._read_configuration = configure
        self.configured = configure is None
        #: what ended the app before it could show anything: a bad configuration (NexusError)
        #: or a bug; `run_tui` raises it once the terminal is restored
        self.startup_error: Exception | None = None
        self.pulse: Pulse | None = None  # the last refresh's
        self.preview: Pulse | None = None  # the cluster's metadata, until the first refresh
        self.error: str | None = None
        self.failures = 0
        self.last_ok: float | None = None
        self.refreshing = False
        self.retry_in_s: float | None = None
        self._timer: Timer | None = None
        self.refresh_count = 0
        self._gc_restore: tuple[int, ...] | None = None  # thresholds before freeze_long_lived
        self._frozen_views: set[type] = set()  # main views frozen once shown (collect_after_paint)
        self._last_full_gc = 0.0  # time.monotonic() of the app's last full collection
        self._paint_collect_pending = False  # a collection after a view's paint is scheduled
        self._freeze_pending = False  # ...and it freezes what the view holds
        self._gc_timer: Timer | None = None
        self._previewed: DataSource | None = None  # the source whose preview was asked for
        self._typed_ahead: str | None = None  # the view of a key typed before the first view
        #: while a view is being switched to, the stylesheet refreshes asked for (show_view)
        self._css_refreshes_held: int | None = None
        self._first_view = False  # the first main view is being switched to (show_view)

    # ---- state ------------------------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        """Writes are refused: read-only by option or context, or the configuration (which
        may say read-only) is not read yet."""
        return (not self.configured or self.options.read_only
                or self.source.settings.read_only)

    @property
    def settings(self) -> ConnectionSettings:
        return self.source.settings

    @property
    def shown_pulse(self) -> Pulse | None:
        """What the views show: the last refresh's data, else the preview."""
        return self.pulse if self.pulse is not None else self.preview

    def conn_state(self) -> ConnState:
        if self.configured:
            bootstrap, read_only = self.source.settings.bootstrap, self.read_only
        else:  # what the command line said, until the configuration is read
            request = getattr(self.source, "request", None)
            bootstrap = getattr(request, "bootstrap", None) or "…"
            read_only = self.options.read_only
        return ConnState(
            self.options.context, bootstrap, read_only,
            self.options.refresh_interval_s, self.refreshing, self.error, self.retry_in_s,
            self.last_ok, self.source.live,
        )

    # ---- lifecycle --------------------------------------------------------------------------

    async def on_mount(self) -> None:
        if self.options.keymap:
            self.set_keymap(self.options.keymap)
        if not self.configured:  # at the latest: a cluster that does not answer soon
            self.set_timer(CONFIGURE_AT_LATEST_S, self.configure)
        # A view's key typed while the tool started (`nexus-tui -b B`, then `2`) is read by
        # Textual's input thread and reaches the app's queue a couple of event-loop turns
        # after the mount (post_message notes it): that view opens first, and the overview
        # is not built on the way.
        for _ in range(TYPEAHEAD_LOOP_TURNS):
            await asyncio.sleep(0)
        # Textual runs on_mount inside its start-up batch, which holds every frame: a view
        # switched to here would be laid out and rendered for nothing, then again once the
        # terminal's size arrives. From the app's queue it opens as the start-up ends, after
        # that size, and the frame it renders first is the one shown (BENCHMARKS.md §10).
        self.call_later(self._open_first_view)

    def _open_first_view(self) -> None:
        """The first view, then the first refresh: what the refresh answers (the preview, a
        failure, a bad configuration) always finds a view to show it in. The engine has been
        reading the metadata since the launch (LiveSource.start), so nothing waits longer."""
        self.show_view(self._typed_ahead or "overview")
        self.call_after_refresh(gc.enable)  # off while the tool started (launch_tui)
        self.action_refresh()

    def configure(self) -> bool:
        """Read the configuration (once; NexusApp's `configure`), after the first view is
        painted: when the cluster's metadata is shown, when the first refresh or preview
        fails, or CONFIGURE_AT_LATEST_S after the mount. A bad configuration ends the app
        (`startup_error`, shown by `run_tui` as one line). Returns whether the app goes on."""
        if self.configured:
            return self.startup_error is None
        self.configured = True
        assert self._read_configuration is not None
        try:
            options = self._read_configuration()
        except Exception as exc:  # noqa: BLE001 - raised by run_tui, after the terminal is back
            self.startup_error = exc
            self.exit(return_code=1)
            return False
        self.options = options
        if options.keymap:
            self.set_keymap(options.keymap)
        self.refresh_bindings()  # the writes' keys, unless read-only after all
        self._update_state()
        return True

    def post_message(self, message: Message) -> bool:
        if (self._typed_ahead is None and isinstance(message, events.Key)
                and self.current_mode == self.DEFAULT_MODE):
            self._typed_ahead = self._view_of_key(message.key)
        return super().post_message(message)

    def _view_of_key(self, key: str) -> str | None:
        """The view a key opens now (per the keymap; none for a write view in read-only)."""
        active = self.active_bindings.get(key)
        action = active.binding.action if active is not None and active.enabled else ""
        name = action.removeprefix("view(").removesuffix(")").strip("'\"")
        return name if action.startswith("view(") and name in VIEWS else None

    async def on_unmount(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        await self.source.close()
        if self._gc_timer is not None:
            self._gc_timer.stop()
        if self._gc_restore is not None:  # the process may go on (tests, embedding)
            gc.unfreeze()  # what was frozen with the app becomes collectable again
            gc.set_threshold(*self._gc_restore)
            self._gc_restore = None

    def _gc_policy(self) -> None:
        if self._gc_restore is None and self.is_running:
            self._gc_restore = gc.get_threshold()
            freeze_long_lived()
            self._last_full_gc = time.monotonic()
            self._gc_timer = self.set_interval(FULL_GC_EVERY_S, self._collect_if_due)
            if self._current() is not None:  # the view shown now is frozen with the rest
                self._frozen_views.add(type(self.screen))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "view" and parameters and parameters[0] in WRITE_VIEWS and self.read_only:
            return False  # hidden (Textual: False hides, None shows disabled)
        return True

    def action_view(self, name: str) -> None:
        if name in WRITE_VIEWS and self.read_only:
            self.notify("read-only: dispatch is not available", severity="warning")
            return
        self.show_view(name)

    def show_view(self, name: str) -> None:
        """Switch to a main view (a mode); the first one is painted as soon as it is ready.

        As a mode's screen is first shown, Textual refreshes the whole stylesheet (parse it
        again, apply it to every node) twice, once as the mode is set up and once as it becomes
        current, though no CSS changed in between: at start, most of the CPU between choosing
        the first view and its first frame (BENCHMARKS.md §10). Both are held during the
        switch and made once, after the next frame; the new screen and its widgets are styled
        as they mount in any case. The switch also holds every frame a moment
        (`delay_update`), to hide the old screen giving way to the new: the first view has
        nothing before it to hide, so it is not held."""
        self._first_view = self._current() is None
        self._css_refreshes_held = 0
        try:
            self.switch_mode(name)
        finally:
            held, self._css_refreshes_held = self._css_refreshes_held, None
            self._first_view = False
        if held:
            self.call_after_refresh(self.refresh_css)

    def refresh_css(self, animate: bool = True) -> None:
        if self._css_refreshes_held is not None:  # show_view makes it after the frame
            self._css_refreshes_held += 1
            return
        super().refresh_css(animate)

    def delay_update(self, delay: float = 0.05) -> None:
        if not self._first_view:  # see show_view
            super().delay_update(delay)

    def collect_after_paint(self, screen: NexusScreen) -> None:
        """A full garbage collection once the view is painted (GC_AFTER_PAINT_S); screens
        ask for one when they are shown. Filling a view's table leaves thousands of objects
        behind: collected then, while the user takes in the view they asked for, rather than
        by a refresh's collection later, in the middle of a refresh. The first time each main
        view is shown, what it holds then (its widgets, its table) is frozen too, as the first
        paint's objects are (freeze_long_lived): at most one freeze per view, so what a
        freeze keeps from ever being collected stays bounded (BENCHMARKS.md §6)."""
        if self._gc_restore is None:  # the app's GC policy is not on (yet)
            return
        view = type(screen)
        freeze = is_main_view(screen) and view not in self._frozen_views
        self._frozen_views.add(view)
        # one collection per showing: Textual resumes a mode's screen twice when first shown
        self._freeze_pending = self._freeze_pending or freeze
        if not self._paint_collect_pending:
            self._paint_collect_pending = True
            self.set_timer(GC_AFTER_PAINT_S, self._collect_after_paint)

    def _collect_after_paint(self) -> None:
        freeze, self._freeze_pending, self._paint_collect_pending = (
            self._freeze_pending, False, False)
        self._collect(freeze)

    def _collect(self, freeze: bool = False) -> None:
        gc.collect()
        self._last_full_gc = time.monotonic()
        if freeze:
            gc.freeze()

    def _collect_if_due(self) -> None:
        """The app's full collection (see freeze_long_lived): at most every FULL_GC_EVERY_S
        seconds and not while a refresh is in flight, unless the last one is FULL_GC_MAX_WAIT_S
        old (refreshes back to back, as with a short interval on a slow cluster)."""
        if self._gc_restore is None:
            return
        since = time.monotonic() - self._last_full_gc
        if since >= FULL_GC_MAX_WAIT_S or (since >= FULL_GC_EVERY_S and not self.refreshing):
            self._collect()

    def action_help(self) -> None:
        from nexus_tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def open_seek(self, group_id: str | None = None) -> None:
        if self.read_only:
            self.notify("read-only: seek is not available", severity="warning")
            return
        from nexus_tui.screens.seek import SeekScreen

        self.push_screen(SeekScreen(group_id))

    def open_dead_letters(self, topic: str | None = None) -> None:
        from nexus_tui.screens.dead_letters import DeadLettersScreen

        self.push_screen(DeadLettersScreen(topic))

    # ---- failures ---------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The app's own workers (screens forward theirs: NexusScreen)."""
        if event.state == WorkerState.ERROR:
            self.report_failure(event.worker)

    def report_failure(self, worker: Worker) -> None:
        """The one place a failed worker ends up, whichever screen ran it: one notification
        (what failed and why, one line) and the log (the traceback for anything but a
        NexusError, the core's expected errors). The worker's node then shows the failure in
        its own place too, if it has one (`worker_failed(worker, reason)`)."""
        error = worker.error
        if error is None:
            return
        what = worker.description or worker.name or "background work"
        reason = describe_failure(error)
        if isinstance(error, NexusError):
            log.warning("%s failed: %s", what, reason)
        else:
            log.error("%s failed", what, exc_info=error)
        self.log.error(f"{what} failed: {reason}")
        self.notify(f"{what} failed: {reason}", severity="error", timeout=8, markup=False)
        shown = getattr(worker.node, "worker_failed", None)
        if callable(shown):
            shown(worker, reason)

    def open_audit(self) -> None:
        from nexus_tui.screens.audit import AuditScreen

        self.push_screen(AuditScreen())

    # ---- refresh ----------------------------------------------------------------------------

    def action_refresh(self) -> None:
        if self.refreshing:  # one refresh at a time; a manual one waits for it
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.refreshing = True
        self.retry_in_s = None
        self._update_state()
        self._refresh_worker()

    @work(exclusive=True, group="refresh", exit_on_error=False, description="refresh")
    async def _refresh_worker(self) -> None:
        """A failed refresh is the connection banner's and the backoff's, not a one-off
        notification: the cluster being away is a state the app shows until it ends.

        While the app has nothing to show yet, the source's preview (the cluster's metadata:
        topics and partitions) comes first, so the views fill in before the refresh that
        reads offsets and groups returns. Once per source: a failed preview is this refresh's
        failure (the refresh needs the same metadata), and the retries are refreshes."""
        preview = getattr(self.source, "preview", None)
        if self.pulse is None and preview is not None and self._previewed is not self.source:
            self._previewed = self.source
            try:
                got = await preview()
                if self.pulse is None:  # a view mounted from now on shows it as it resumes
                    self.preview = got
                self.post_message(Previewed(got))
            except Exception as exc:  # never a traceback on screen: shown as the banner
                if not isinstance(exc, NexusError):
                    log.error("preview failed", exc_info=exc)
                self.post_message(RefreshFailed(describe_failure(exc)))
                return
        try:
            pulse = await self.source.refresh()
        except Exception as exc:  # never a traceback on screen: shown as the banner
            if not isinstance(exc, NexusError):
                log.error("refresh failed", exc_info=exc)
            self.post_message(RefreshFailed(describe_failure(exc)))
        else:
            self.post_message(Refreshed(pulse))

    def on_refreshed(self, message: Refreshed) -> None:
        if not self.configure():
            return
        recovered = self.error is not None
        self.refreshing = False
        self.pulse = message.pulse
        self.preview = None
        self.error = None
        self.failures = 0
        self.last_ok = time.time()
        self.refresh_count += 1
        self._apply(message.pulse)
        if self.refresh_count == 1:
            self.call_after_refresh(self._gc_policy)
        else:  # once this refresh is painted, apart from the painting
            self.set_timer(GC_AFTER_PAINT_S, self._collect_if_due)
        if recovered:
            self.notify("cluster reachable again", timeout=3)
        self._schedule(self.options.refresh_interval_s)

    def on_previewed(self, message: Previewed) -> None:
        if self.pulse is None:  # a refresh's answer is never replaced by a preview
            self.preview = message.pulse
            self._apply(message.pulse)
        if not self.configured:  # once the cluster's topics are on screen
            self.call_after_refresh(self.configure)

    def on_refresh_failed(self, message: RefreshFailed) -> None:
        if not self.configure():  # the engine's error may be the configuration's
            return
        first = self.error is None
        self.refreshing = False
        self.error = message.error
        self.failures += 1
        delay = min(MAX_BACKOFF_S, 2.0 ** (self.failures - 1))
        if self.options.refresh_interval_s:
            delay = min(delay, max(1.0, self.options.refresh_interval_s))
        self.retry_in_s = delay
        self._update_state()
        if first:
            self.notify(f"cluster unreachable: {message.error}", severity="error", timeout=4)
        self._schedule(delay, always=True)

    def _schedule(self, delay: float, always: bool = False) -> None:
        if delay <= 0 and not always:
            self._update_state()
            return
        self._timer = self.set_timer(max(delay, 0.5), self.action_refresh)
        self._update_state()

    def _current(self) -> NexusScreen | None:
        """The screen on top, when it is one of ours (None while the app starts or stops:
        once Textual begins to shut down, `is_running` is off while it removes each screen's
        widgets, and the engine's answers may still arrive)."""
        if not self.is_running:
            return None
        try:
            screen = self.screen
        except ScreenStackError:  # a timer fired while the app is closing
            return None
        return screen if isinstance(screen, NexusScreen) and screen.is_mounted else None

    def _apply(self, pulse: Pulse) -> None:
        self._update_state()
        screen = self._current()
        if screen is not None:
            screen.apply(pulse)

    def _update_state(self) -> None:
        screen = self._current()
        if screen is not None:
            screen.sync_state()

    # ---- contexts ---------------------------------------------------------------------------

    @work(exclusive=True, group="context", exit_on_error=False, description="context switch")
    async def start_context_switch(self, name: str) -> None:
        await self.switch_context(name)

    async def switch_context(self, name: str) -> None:
        factory = self.options.contexts.get(name)
        if factory is None or self.core is None:
            self.notify(f"unknown context {name}", severity="error")
            return
        try:
            settings = factory()
        except NexusError as exc:
            self.notify(str(exc), severity="error")
            return
        from core.cluster.audit import set_context as set_audit_context

        await self.source.close()
        self.source = LiveSource(settings, self.core)
        self.options.context = name
        set_audit_context(name)
        self.pulse, self.error, self.last_ok, self.failures = None, None, None, 0
        self.preview = None
        self.notify(f"context {name}: {settings.bootstrap}")
        self.action_refresh()


#: (gen 0, gen 1, gen 2) thresholds once the app runs: young collections as usual, no automatic
#: full collection (the third threshold is never reached): the app runs those itself, between
#: refreshes (NexusApp._collect_if_due, see freeze_long_lived).
GC_THRESHOLDS = (700, 10, 1_000_000)
#: event-loop turns the mount yields before choosing the first view: a key Textual's input
#: thread has read is handed to the loop (call_soon_threadsafe), which runs a task that posts
#: it (two turns); one more for slack
TYPEAHEAD_LOOP_TURNS = 3
#: how long after the mount the app reads the configuration at the latest, when neither the
#: cluster's metadata nor a failure came first (NexusApp.configure)
CONFIGURE_AT_LATEST_S = 1.0
#: at most one full collection per this many seconds, when no refresh is in flight
FULL_GC_EVERY_S = 2.0
#: ...and at least one per this many seconds, in flight or not (back-to-back refreshes must not
#: let cyclic garbage pile up)
FULL_GC_MAX_WAIT_S = 10.0
#: how long after a refresh or a view is shown its collection waits: the frame is painted by
#: then, and the collection's pause does not add to the painting's
GC_AFTER_PAINT_S = 0.25


def freeze_long_lived() -> None:
    """Garbage-collector policy for the app, once the first screen is painted.

    Python's full collections walk every tracked object and hold the GIL meanwhile, so they
    stall the UI for as long as the heap is big. Two levers (BENCHMARKS.md §6 measures them):

    * ``gc.freeze()`` after one full collection: what exists now (modules, classes, widgets,
      styles: objects that live as long as the app) is never walked again; frozen
      objects are still freed by reference counting when dropped. Each main view is frozen
      the same way once, when first shown (NexusApp.collect_after_paint).
    * full collections at moments the app chooses (GC_THRESHOLDS, FULL_GC_EVERY_S): Python
      starts one when enough objects survived young collections, on whichever thread is
      allocating — typically the core thread in the middle of a refresh, or the UI thread
      while it applies one, adding the pause to that work. The app runs them itself instead,
      at most every FULL_GC_EVERY_S seconds and never while a refresh is in flight: after a
      refresh's frame is painted, or from a timer when no refresh comes (cyclic garbage made
      meanwhile, a few thousand objects per refresh, waits at most that long). Run a moment
      after the frame (GC_AFTER_PAINT_S), a collection's pause does not add up with the
      painting's into one longer stall."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_tui(settings: ConnectionSettings | None = None, context_name: str = "default",
            options: AppOptions | None = None, source: LiveSource | None = None,
            configure: Callable[[], AppOptions] | None = None) -> None:
    """Run the TUI on a live cluster until the user quits (blocking). `source`: one already
    started (LiveSource.start) on its own core loop, else a new one on `settings`.
    `configure`: see NexusApp. What ended the app before it could start (a bad
    configuration: ConfigError) is raised here, once the terminal is restored."""
    log_to_state_dir()
    opts = options or AppOptions(context=context_name)
    if source is None:
        assert settings is not None, "run_tui needs settings or a source"
        source = LiveSource(settings, CoreLoop())
    core = source.core
    app = NexusApp(source, opts, core, configure)
    try:
        app.run()
    finally:
        try:
            core.submit(source.close()).result(10)
        except Exception:  # already closed, or the cluster is gone
            pass
        core.stop()
    if app.startup_error is not None:
        raise app.startup_error
