"""The first paint: the views show the cluster's topics from its metadata (the engine's
preview) before the engine's first refresh, which reads offsets and groups, has answered."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
from pathlib import Path

from textual import events

import nexus_tui.app
from core.config.settings import ConnectionSettings
from nexus_tui.app import AppOptions, NexusApp, Previewed
from nexus_tui.coreloop import CoreLoop
from nexus_tui.recorded import recorded_pulses
from nexus_tui.source import LiveSource, Pulse, RecordedSource
from nexus_tui.widgets import KeyedTable
from tests.app_helpers import ROOT, wait_on
from tests.kafka_helpers import create_topic, produce_counts

SIZE = (160, 50)


class HeldSource(LiveSource):
    """A live source whose refreshes wait until the test lets them through: what the views
    show meanwhile can only come from the preview."""

    def __init__(self, settings: ConnectionSettings, core: CoreLoop) -> None:
        super().__init__(settings, core)
        self.held = threading.Event()
        self.refreshes_asked = 0

    async def _refresh(self) -> Pulse:
        self.refreshes_asked += 1
        await asyncio.to_thread(self.held.wait, 60)
        return await super()._refresh()


def row(app: NexusApp, key: str) -> dict[str, str]:
    table = app.screen.query_one(KeyedTable)
    return {col: str(table.get_cell(key, col)) for col in ("parts", "records")}


async def test_topics_show_before_the_first_refresh_answers(kafka, unique):
    topic = f"{unique}.preview.v1"
    create_topic(kafka.bootstrap, topic, partitions=3)
    produce_counts(kafka.bootstrap, topic, [4, 5, 6])
    core = CoreLoop()
    source = HeldSource(ConnectionSettings(bootstrap=kafka.bootstrap, request_timeout_s=5.0),
                        core)
    app = NexusApp(source, AppOptions(context="test", refresh_interval_s=0), core)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            screen_rows = lambda: topic in (  # noqa: E731
                app.screen.query_one(KeyedTable).keys
                if type(app.screen).__name__ == "TopicsScreen" else ())
            await wait_on(pilot, screen_rows, 30, "the topic's row from the preview")
            # the refresh was asked for and is held: the row came from the metadata alone
            assert source.refreshes_asked == 1 and app.refresh_count == 0
            assert app.pulse is None and app.preview is not None and app.preview.preview
            assert row(app, topic) == {"parts": "3", "records": "-"}  # no offsets read yet

            source.held.set()  # the engine's answer goes through: lag and counts fill in
            await wait_on(pilot, lambda: app.refresh_count >= 1, 30, "the first refresh")
            await wait_on(pilot, lambda: row(app, topic)["records"] == "15", 10, "records")
            assert app.preview is None  # dropped once a refresh is shown
    finally:
        source.held.set()
        core.stop()


def test_the_ui_process_imports_no_kafka_client_and_no_config_models_for_its_first_views():
    """What the TUI's process imports to start its engine, show its first views and read the
    engine's answers brings neither confluent-kafka nor aiokafka (the engine child does the
    Kafka work; dispatch, messages and seek bring theirs when opened), nor the configuration's
    models and readers: it is read once the first view is painted (nexus_tui/launch.py)."""
    script = (
        "import pickle, sys\n"
        "import nexus_tui.cli, nexus_tui.launch, nexus_tui.app, nexus_tui.source\n"
        "from nexus_tui.app import VIEWS, AppOptions, NexusApp\n"
        "from nexus_tui.coreloop import CoreLoop\n"
        "from importlib import import_module\n"
        "for mode in ('overview', 'topics', 'groups', 'errors'):\n"
        "    import_module(VIEWS[mode][0])\n"
        "from core.config.request import ConnectionRequest\n"
        "core = CoreLoop()\n"
        "request = ConnectionRequest('127.0.0.1:1', max_timeout_s=5.0)\n"
        "source = nexus_tui.source.LiveSource(request, core)\n"
        "app = NexusApp(source, AppOptions(), core, lambda: AppOptions())\n"
        "app.conn_state(); app.read_only\n"
        "core.stop()\n"
        "from core.cluster.snapshot import ClusterSnapshot\n"
        "from core.engine.monitor import LagTracker\n"
        "view = LagTracker().observe(ClusterSnapshot('c', None, (), {}, {}, 0.0), 0.0)\n"
        "pickle.loads(pickle.dumps(view))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('confluent_kafka', 'aiokafka', 'dotenv', 'tomllib') or m in "
        "('core.config.settings', 'core.config.contexts', 'core.config.sources')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.strip() == "[]", out


class TypedAheadApp(NexusApp):
    """The app as it starts when keys were typed while it started: they reach its queue
    during the mount, as Textual's input thread delivers them."""

    CSS_PATH = str(Path(nexus_tui.app.__file__).with_name("app.tcss"))

    def __init__(self, *args, keys: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.typed = keys

    def on_mount(self) -> None:  # Textual runs this before NexusApp.on_mount
        for key in self.typed:
            self.post_message(events.Key(key, key))


def recorded_app(*keys: str, read_only: bool = False) -> TypedAheadApp:
    from nexus_tui.recorded import recorded_pulses
    from nexus_tui.source import RecordedSource

    return TypedAheadApp(RecordedSource(recorded_pulses(2)),
                         AppOptions(context="recorded", refresh_interval_s=0,
                                    read_only=read_only), keys=keys)


async def test_a_view_key_typed_ahead_opens_that_view_without_building_the_overview(
        monkeypatch):
    from nexus_tui.screens.overview import OverviewScreen

    built: list[OverviewScreen] = []
    compose_body = OverviewScreen.compose_body
    monkeypatch.setattr(OverviewScreen, "compose_body",
                        lambda self: (built.append(self), compose_body(self))[1])
    app = recorded_app("3")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.current_mode == "groups"
        assert type(app.screen).__name__ == "GroupsScreen"
        assert built == []  # the overview was never built
        await pilot.press("1")
        assert app.current_mode == "overview" and len(built) == 1  # ...until asked for


async def test_without_a_key_typed_ahead_the_overview_is_there_once_mounted():
    app = recorded_app()
    async with app.run_test(size=SIZE):
        assert app.current_mode == "overview"
        assert type(app.screen).__name__ == "OverviewScreen"


async def test_a_key_typed_ahead_that_opens_no_view_leaves_the_overview_first():
    app = recorded_app("x", "6", read_only=True)  # no binding; dispatch: not in read-only
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.current_mode == "overview"


async def test_a_remapped_view_key_typed_ahead_opens_its_view():
    app = recorded_app("g")
    app.options.keymap = {"app.view.groups": "g"}
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.current_mode == "groups"


class PreviewFirstSource(RecordedSource):
    """A preview that answers at once, a first refresh held until the test lets it through:
    the rows on screen can only be the preview's."""

    def __init__(self) -> None:
        super().__init__(recorded_pulses(2))
        self.release = asyncio.Event()

    async def preview(self) -> Pulse:
        return self.pulse

    async def refresh(self) -> Pulse:
        await self.release.wait()
        return await super().refresh()


async def test_a_preview_in_before_the_first_view_is_in_that_view_s_first_rows(monkeypatch):
    """The engine answers the preview while the UI still starts (nexus_tui/launch.py): the
    first view is built with its rows, not painted empty and filled a frame later when the
    Previewed message is handled."""
    rows_when_handled: list[int] = []
    on_previewed = NexusApp.on_previewed

    def spy(self: NexusApp, message: Previewed) -> None:
        rows_when_handled.append(self.screen.query_one(KeyedTable).row_count)
        on_previewed(self, message)

    monkeypatch.setattr(NexusApp, "on_previewed", spy)
    source = PreviewFirstSource()
    app = TypedAheadApp(source, AppOptions(context="recorded", refresh_interval_s=0),
                        keys=("2",))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on(pilot, lambda: rows_when_handled != [], 10, "the preview handled")
        assert app.current_mode == "topics" and app.refresh_count == 0
        assert rows_when_handled[0] == len(source.pulse.view.topics) > 0, rows_when_handled
        source.release.set()
        await wait_on(pilot, lambda: app.refresh_count == 1, 10, "the first refresh")


class SizedApp(TypedAheadApp):
    """Notes the order of the terminal's size events and of the first view's composition."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.order: list[str] = []

    def on_resize(self, event: events.Resize) -> None:
        self.order.append("size")


async def test_the_first_view_is_laid_out_once_at_the_terminal_s_size(monkeypatch):
    """Textual runs on_mount inside its start-up batch, which holds every frame, and the
    driver's size event comes after it: a first view composed there was laid out and
    rendered for nothing, then again at that size (BENCHMARKS.md §10). It is opened from the
    app's queue instead, after the size event: no size event follows its composition."""
    from nexus_tui.screens.topics import TopicsScreen

    compose_body = TopicsScreen.compose_body
    app = SizedApp(RecordedSource(recorded_pulses(2)),
                   AppOptions(context="recorded", refresh_interval_s=0), keys=("2",))
    monkeypatch.setattr(TopicsScreen, "compose_body",
                        lambda self: (app.order.append("view"), compose_body(self))[1])
    async with app.run_test(size=SIZE) as pilot:
        await wait_on(pilot, lambda: app.current_mode == "topics"
                      and app.screen.query_one(KeyedTable).row_count > 0, 10, "the topics")
        await pilot.pause()
        assert "size" in app.order and app.order[-1] == "view", app.order
        assert app.order.count("view") == 1, app.order


async def test_the_collector_is_on_again_once_the_first_view_is_painted():
    """launch_tui turns the cyclic collector off while the tool starts (what it allocates
    lives as long as the app); the app turns it on once its first view is painted. Left off,
    every refresh's cyclic garbage would stay in memory for as long as the TUI runs."""
    gc.disable()
    try:
        app = recorded_app("2")
        async with app.run_test(size=SIZE) as pilot:
            await wait_on(pilot, lambda: gc.isenabled(), 10, "the collector on again")
            assert app.current_mode == "topics"
            assert app.screen.query_one(KeyedTable).row_count > 0
    finally:
        gc.enable()


async def test_a_view_switch_restyles_once_after_it_and_the_first_is_not_held(monkeypatch):
    """Textual re-parses the whole stylesheet twice as a mode's screen is first shown and
    holds frames for 50 ms (`delay_update`) at every switch. NexusApp.show_view makes the two
    refreshes one, after the switch; and the first view, with nothing on screen before it,
    is not held (BENCHMARKS.md §10: most of the time from choosing the first view to its
    first frame). Later switches are held as Textual holds them."""
    from textual.app import App
    from textual.css.stylesheet import Stylesheet

    events: list[str] = []

    def spy(cls: type, name: str, label: str) -> None:
        real = getattr(cls, name)

        def wrapper(*args, **kwargs):
            events.append(label)
            return real(*args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    spy(Stylesheet, "reparse", "reparse")
    spy(App, "delay_update", "hold")
    real_switch = App.switch_mode

    def switch(self, mode):
        events.append(f"switch to {mode}")
        try:
            return real_switch(self, mode)
        finally:
            events.append("switched")

    monkeypatch.setattr(App, "switch_mode", switch)
    app = recorded_app("2")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on(pilot, lambda: app.current_mode == "topics"
                      and app.screen.query_one(KeyedTable).row_count > 0, 10, "the topics")
        await pilot.pause()
        first = events[events.index("switch to topics"):]
        # (the typed key, handled once the view is open, switches to it again: a no-op)
        assert "hold" not in first and first.count("reparse") == 1, events
        assert first[-2:] == ["switched", "reparse"], events
        del events[:]
        await pilot.press("3")
        await wait_on(pilot, lambda: app.current_mode == "groups", 10, "the groups")
        await pilot.pause()
        assert events == ["switch to groups", "hold", "switched", "reparse"], events
        del events[:]
        await pilot.press("2")  # shown before, its styles are current: no restyle at all
        await pilot.pause()
        assert events == ["switch to topics", "hold", "switched"], events


async def test_a_refresh_answered_while_the_app_shuts_down_is_not_shown():
    """The engine's answer can reach the app while Textual is taking its screens apart (seen
    in CI: a refresh handled after the AdminScreen's status line was removed, and the exit
    raised `NoMatches`). Refreshes keep arriving all through the shutdown here; the exit
    is clean."""
    from nexus_tui.app import Refreshed

    app = recorded_app("2")
    pulse = recorded_pulses(2)[-1]
    flooding = True

    async def flood() -> None:
        while flooding:
            app.post_message(Refreshed(pulse))
            await asyncio.sleep(0)

    async with app.run_test(size=SIZE) as pilot:
        await wait_on(pilot, lambda: app.current_mode == "topics"
                      and app.screen.query_one(KeyedTable).row_count > 0, 10, "the topics")
        await pilot.press("c")  # a screen pushed over the view: removed widget by widget
        await wait_on(pilot, lambda: type(app.screen).__name__ == "AdminScreen", 5, "admin")
        task = asyncio.create_task(flood())
        await pilot.pause()
        assert app.refresh_count > 1  # the flood reaches the app while it runs
    flooding = False
    await task
