"""Pilot tests of the TUI on the real local broker: navigate by keys, wait on conditions,
assert on what the widgets hold."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from textual.widgets import Input, Static, TextArea

from core import Envelope, HandlerContext, KafkaPublisher, KafkaSubscriber, partition_for_key
from core.cluster.admin import KafkaAdmin
from core.config.settings import ConnectionSettings
from nexus_tui.app import AppOptions, NexusApp
from nexus_tui.coreloop import CoreLoop
from nexus_tui.screens.base import Banner
from nexus_tui.source import LiveSource
from nexus_tui.widgets import KeyedTable
from tests.app_helpers import wait_on
from tests.kafka_helpers import commit_offsets, create_topic, produce_counts

SIZE = (160, 50)


async def wait_for(pilot, cond: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    await wait_on(pilot, cond, timeout, what or str(cond))


def table_keys(app: NexusApp) -> set[str]:
    tables = list(app.screen.query(KeyedTable))
    return set(tables[0].keys) if tables else set()


def cell(app: NexusApp, row: str, column: str) -> str:
    table = app.screen.query(KeyedTable).first()
    return str(table.get_cell(row, column))


def _seed(bootstrap: str, topic: str, group: str, per_partition: list[int],
          committed: list[int]) -> None:
    produce_counts(bootstrap, topic, per_partition)
    commit_offsets(bootstrap, group, {(topic, p): o for p, o in enumerate(committed)})


@pytest.fixture
def make_app():
    cores: list[CoreLoop] = []

    def make(bootstrap: str, read_only: bool = False, refresh: float = 0.5) -> NexusApp:
        core = CoreLoop()
        cores.append(core)
        settings = ConnectionSettings(bootstrap=bootstrap, read_only=read_only,
                                      request_timeout_s=3.0)
        options = AppOptions(context="test", refresh_interval_s=refresh, read_only=read_only)
        return NexusApp(LiveSource(settings, core), options, core)

    yield make
    for core in cores:
        core.stop()


async def test_overview_topics_groups_and_details(kafka, unique, make_app):
    topic, group = f"{unique}.orders.v1", f"{unique}-grp"
    create_topic(kafka.bootstrap, topic, partitions=3)
    _seed(kafka.bootstrap, topic, group, [10, 20, 5], [4, 20, 0])
    app = make_app(kafka.bootstrap)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.pulse is not None, 30, "first refresh")
        brokers = app.screen.query_one("#tile-brokers", Static)
        assert "1/1" in str(brokers.render())

        await pilot.press("2")
        await wait_for(pilot, lambda: topic in table_keys(app), 30, "topic row")
        assert cell(app, topic, "parts") == "3" and cell(app, topic, "records") == "35"
        await pilot.press("slash")
        await pilot.press(*unique[:12])  # the filter keeps our rows only
        await wait_for(pilot, lambda: table_keys(app) and all(
            k.startswith(unique[:12]) for k in table_keys(app)), 10, "filtered")
        await pilot.press("escape")  # close the filter
        table = app.screen.query_one(KeyedTable)
        table.move_cursor(row=table.get_row_index(topic))
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TopicDetailScreen", 5)
        await wait_for(pilot, lambda: table_keys(app) == {"0", "1", "2"}, 10, "partitions")
        assert cell(app, "1", "end") == "20"
        await pilot.click("#root-id")
        await pilot.press(*"root-42")
        expected = partition_for_key(b"root-42", 3)
        out = app.screen.query_one("#root-partition", Static)
        await wait_for(pilot, lambda: f"partition {expected} of 3" in str(out.render()), 5)
        assert group in str(app.screen.query_one("#topic-groups", Static).render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TopicsScreen", 5)

        await pilot.press("3")
        await wait_for(pilot, lambda: group in table_keys(app), 30, "group row")
        assert cell(app, group, "lag") == "11"  # 6 + 0 + 5
        assert cell(app, group, "state") == "Empty"
        table = app.screen.query_one(KeyedTable)
        table.move_cursor(row=table.get_row_index(group))
        await pilot.press("enter")
        await wait_for(pilot, lambda: f"{topic}:0" in table_keys(app), 10, "group detail")
        assert cell(app, f"{topic}:0", "lag") == "6"
        assert cell(app, f"{topic}:2", "committed") == "0"


async def test_errors_screen_shows_live_error_replies_from_the_watcher_process(
        kafka, unique, make_app):
    """The Nexus traffic figures come from the engine process's traffic watcher."""
    req, res = f"{unique}.orders.v1", f"{unique}.replies.v1"
    create_topic(kafka.bootstrap, req, partitions=3)
    create_topic(kafka.bootstrap, res, partitions=1)
    app = make_app(kafka.bootstrap)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: {req, res} <= table_keys(app), 30, "traffic rows")
        engine = app.source.engine
        assert engine.pid is not None
        await app.core.call(engine.refresh(positioned=True))  # records from now are counted
        requests = [Envelope.new_root("t.caller.v1", req, {"i": i}, reply_to=res)
                    for i in range(10)]
        async with KafkaPublisher(kafka.bootstrap) as pub:
            await pub.publish_many(requests)
            await pub.publish_many([q.reply_error(f"boom {i}") if i < 4 else q.reply({"i": i})
                                    for i, q in enumerate(requests)])
        await wait_for(pilot, lambda: cell(app, res, "errpct") == "40.0", 30, "error %")
        recent = str(app.screen.query_one("#recent-errors", Static).render())
        assert all(f"boom {i}" in recent for i in range(4))


async def test_dispatch_shows_the_ack_then_the_reply(kafka, unique, make_app):
    topic = f"{unique}.greet.v1"
    create_topic(kafka.bootstrap, topic, partitions=2)

    async def greet(ctx: HandlerContext) -> None:
        await ctx.reply({"hello": ctx.envelope.payload_json()["name"]})

    service = KafkaSubscriber(kafka.bootstrap, f"{unique}-svc")
    service.handle(topic, greet)
    await service.start()
    app = make_app(kafka.bootstrap)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.pulse is not None, 30)
            await pilot.press("6")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "DispatchScreen", 5)
            app.screen.query_one("#topic", Input).value = topic
            app.screen.query_one("#payload", TextArea).text = '{"name": "Ada"}'
            await wait_for(pilot, lambda: "valid JSON" in str(
                app.screen.query_one("#payload-help", Static).render()), 5)
            await pilot.press("ctrl+s")
            result = app.screen.query_one("#result", Static)
            await wait_for(pilot, lambda: "after" in str(result.render()), 30, "the reply")
            text = str(result.render())
            assert "Sent" in text and "partition" in text and "offset" in text
            assert '"hello": "Ada"' in text and "reply after" in text

            app.screen.query_one("#payload", TextArea).text = '{"name": '
            await wait_for(pilot, lambda: "not JSON" in str(
                app.screen.query_one("#payload-help", Static).render()), 5)
    finally:
        await service.stop()


async def test_seek_preview_then_apply_changes_offsets_in_kafka(kafka, unique, make_app):
    topic, group = f"{unique}.seek.v1", f"{unique}-grp"
    create_topic(kafka.bootstrap, topic, partitions=2)
    _seed(kafka.bootstrap, topic, group, [10, 10], [7, 3])
    app = make_app(kafka.bootstrap)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.pulse is not None, 30)
        app.open_seek(group)
        await wait_for(pilot, lambda: bool(app.screen.query("#seek-strategy")), 5, "seek")
        from textual.widgets import Button, Select

        screen = app.screen
        assert screen.query_one("#seek-strategy", Select).value is Select.NULL
        screen.query_one("#seek-strategy", Select).value = "to-earliest"
        await pilot.click("#seek-preview")
        await wait_for(pilot, lambda: f"{topic}:0" in table_keys(app), 20, "plan rows")
        assert cell(app, f"{topic}:0", "current") == "7"
        assert cell(app, f"{topic}:0", "target") == "0"
        shown = str(screen.query_one("#seek-command", Static).render())
        assert "kafka-consumer-groups" in shown
        # the nexus-tui line runs as printed: the same dry run, the same targets
        printed = shlex.split(shown.split("\nnexus-tui: ", 1)[1])
        assert printed[0] == "nexus-tui"
        ran = subprocess.run([sys.executable, "-m", "nexus_tui", *printed[1:], "--json"],
                             capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
        assert {(c["topic"], c["partition"], c["target"]) for c in json.loads(ran.stdout)[
            "changes"]} == {(topic, 0, 0), (topic, 1, 0)}
        apply = screen.query_one("#seek-apply", Button)
        assert apply.disabled  # nothing typed yet
        assert await KafkaAdmin(kafka.bootstrap).committed_offsets(group) == {
            (topic, 0): 7, (topic, 1): 3}  # the preview changed nothing
        screen.query_one("#seek-confirm", Input).value = group
        await wait_for(pilot, lambda: not apply.disabled, 5, "apply enabled")
        await pilot.click("#seek-apply")
        result = screen.query_one("#seek-result", Static)
        await wait_for(pilot, lambda: "applied" in str(result.render()), 20)
    assert await KafkaAdmin(kafka.bootstrap).committed_offsets(group) == {
        (topic, 0): 0, (topic, 1): 0}


async def test_seek_refuses_an_active_group_before_applying(kafka, unique, make_app):
    topic, group = f"{unique}.busy.v1", f"{unique}-grp"
    create_topic(kafka.bootstrap, topic, partitions=1)
    _seed(kafka.bootstrap, topic, group, [5], [2])
    seen: list[int] = []

    async def slow(ctx: HandlerContext) -> None:
        seen.append(ctx.offset)

    member = KafkaSubscriber(kafka.bootstrap, group)
    member.handle(topic, slow)
    await member.start()
    app = make_app(kafka.bootstrap)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.pulse is not None, 30)
            admin = KafkaAdmin(kafka.bootstrap)
            deadline = time.monotonic() + 30
            while not (await admin.group(group)).members:  # the member joined
                assert time.monotonic() < deadline
                await pilot.pause(0.1)
            app.open_seek(group)
            await wait_for(pilot, lambda: bool(app.screen.query("#seek-strategy")), 5, "seek")
            from textual.widgets import Button, Select

            app.screen.query_one("#seek-strategy", Select).value = "to-earliest"
            await pilot.click("#seek-preview")
            state = app.screen.query_one("#seek-state", Static)
            await wait_for(pilot, lambda: "cannot apply" in str(state.render()), 20)
            assert "Stable" in str(state.render()) and "member" in str(state.render())
            app.screen.query_one("#seek-confirm", Input).value = group
            await pilot.pause()  # the Changed message handled
            assert app.screen.query_one("#seek-apply", Button).disabled
    finally:
        await member.stop()


async def test_read_only_hides_dispatch_and_seek(kafka, unique, make_app):
    topic, group = f"{unique}.ro.v1", f"{unique}-grp"
    create_topic(kafka.bootstrap, topic, partitions=1)
    _seed(kafka.bootstrap, topic, group, [3], [1])
    app = make_app(kafka.bootstrap, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.pulse is not None, 30)
        await pilot.press("6")  # dispatch's key does nothing
        await pilot.pause()
        assert type(app.screen).__name__ == "OverviewScreen"
        assert app.check_action("view", ("dispatch",)) is False
        from nexus_tui.commands import NexusCommands

        names = [c[0] for c in NexusCommands(app.screen)._commands()]
        assert "dispatch" not in names and "seek" not in names and "topics" in names
        await pilot.press("3")
        await wait_for(pilot, lambda: group in table_keys(app), 30)
        table = app.screen.query_one(KeyedTable)
        table.move_cursor(row=table.get_row_index(group))
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "GroupDetailScreen", 5)
        assert app.screen.check_action("seek", ()) is False
        from textual.widgets._footer import FooterKey

        await wait_for(pilot, lambda: "Sort" in [k.description  # the footer is drawn
                                                 for k in app.screen.query(FooterKey)], 5)
        footer = [k.description for k in app.screen.query(FooterKey)]
        assert "Sort" in footer and "Seek offsets" not in footer
        await pilot.press("s")
        await pilot.pause()
        assert type(app.screen).__name__ == "GroupDetailScreen"
    # and the core refuses too, below the UI
    from core.errors import ReadOnlyError

    ro = ConnectionSettings(bootstrap=kafka.bootstrap, read_only=True)
    with pytest.raises(ReadOnlyError):
        async with KafkaPublisher(ro) as pub:
            await pub.publish(Envelope.new_root("a.b.v1", topic, {}))
    with pytest.raises(ReadOnlyError):
        await KafkaAdmin(ro).alter_group_offsets(group, {(topic, 0): 0})


@pytest.mark.cluster3
async def test_broker_down_shows_the_banner_and_recovers(tmp_path, unique, make_app):
    from core.local import LocalCluster

    cluster = LocalCluster(state_dir=tmp_path / "state")
    state = cluster.up(brokers=1)
    try:
        app = make_app(state.bootstrap, refresh=1.0)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.pulse is not None, 30)
            banner = app.screen.query_one(Banner)
            assert not banner.display
            cluster.kill_broker(1)
            await wait_for(pilot, lambda: banner.display, 20, "the banner")
            assert "unreachable" in str(banner.render())
            assert app.pulse is not None  # the last data stays, marked stale
            assert app.screen.has_class("-stale")
            cluster.start_broker(1)
            await wait_for(pilot, lambda: not banner.display, 40, "recovery")
            assert app.error is None and not app.screen.has_class("-stale")
    finally:
        cluster.down()
