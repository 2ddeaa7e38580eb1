"""Pilot tests of the administration screens on the real broker: opened by their keys from
the topics list, the topic detail and the group detail; the plan shown, Apply only after the
typed confirmation, the change made in Kafka (read back with Kafka's own tools), the audit
log and `:audit`; nothing of it in read-only mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Select, Static

from core.cluster.audit import read_entries
from core.config.settings import ConnectionSettings
from nexus_tui.app import AppOptions, NexusApp
from nexus_tui.coreloop import CoreLoop
from nexus_tui.screens.admin import AdminScreen
from nexus_tui.screens.help import HelpScreen
from nexus_tui.source import LiveSource
from nexus_tui.widgets import KeyedTable
from tests.admin_helpers import (
    broker_setting,
    describe_topic,
    listed_topics,
    log_starts,
    topic_configs,
)
from tests.app_helpers import wait_on
from tests.kafka_helpers import (
    commit_offsets,
    create_topic,
    produce_counts,
)

SIZE = (160, 50)


@pytest.fixture
def audit_log(tmp_path, monkeypatch):
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("NEXUS_TUI_AUDIT_LOG", str(path))
    return path


@pytest.fixture
def make_app():
    cores: list[CoreLoop] = []

    def make(bootstrap: str, read_only: bool = False) -> NexusApp:
        core = CoreLoop()
        cores.append(core)
        settings = ConnectionSettings(bootstrap=bootstrap, read_only=read_only,
                                      request_timeout_s=5.0)
        return NexusApp(LiveSource(settings, core),
                        AppOptions(context="test", refresh_interval_s=1, read_only=read_only),
                        core)

    yield make
    for core in cores:
        core.stop()


def text(app: NexusApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def open_row(pilot, app: NexusApp, view_key: str, key: str, screen: str) -> None:
    """From view `view_key`, open row `key` (Enter) and wait for `screen`."""
    await pilot.press(view_key)
    await wait_on(pilot, lambda: any(key in t.keys for t in app.screen.query(KeyedTable)),
                  120, f"row {key}")
    table = app.screen.query_one(KeyedTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(key))
    await pilot.press("enter")
    await wait_on(pilot, lambda: type(app.screen).__name__ == screen, 10, screen)


async def preview(pilot, app: NexusApp, fields: dict[str, str] | None = None) -> None:
    screen = app.screen
    assert isinstance(screen, AdminScreen)
    await wait_on(pilot, lambda: bool(screen.is_mounted and screen.query("#admin-apply")), 5,
                  "the screen composed")
    for name, value in (fields or {}).items():
        widget = screen.query_one(f"#admin-{name}")
        if isinstance(widget, Select):
            widget.value = value
        else:
            assert isinstance(widget, Input)
            widget.value = value
    await pilot.pause()
    if fields:  # a screen without fields plans as soon as it opens
        await pilot.click("#admin-preview")
    await wait_on(pilot, lambda: screen.plan is not None or "red" in str(
        screen.query_one("#admin-state", Static).render().spans), 30, "the plan")


async def confirm_and_apply(pilot, app: NexusApp, word: str | None) -> str:
    screen = app.screen
    apply = screen.query_one("#admin-apply", Button)
    if word is not None:
        assert apply.disabled  # destructive: nothing until the name is typed
        screen.query_one("#admin-confirm", Input).value = word + "x"
        await pilot.pause()
        assert apply.disabled
        screen.query_one("#admin-confirm", Input).value = word
    await wait_on(pilot, lambda: not apply.disabled, 5, "Apply enabled")
    assert await pilot.click("#admin-apply"), "the click meant for Apply landed elsewhere"
    try:
        await wait_on(pilot, lambda: text(app, "#admin-result") != "", 30, "the result")
    except AssertionError as exc:  # say where it stopped (it did once, in a CI run)
        audit = Path(os.environ.get("NEXUS_TUI_AUDIT_LOG", "/nonexistent"))
        workers = [(w.name, w.state.name, repr(w.error)) for w in app.workers]
        raise AssertionError(
            f"{exc}; state {text(app, '#admin-state')!r}; workers {workers}; audit log "
            f"{audit.read_text() if audit.exists() else 'not written'!r}") from None
    return text(app, "#admin-result")


async def back(pilot, app: NexusApp, screen: str) -> None:
    await pilot.press("escape")
    await wait_on(pilot, lambda: type(app.screen).__name__ == screen, 5, screen)


async def test_create_from_the_topics_list(kafka, unique, make_app, audit_log):
    name = f"{unique}.made.v1"
    app = make_app(kafka.bootstrap)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_on(pilot, lambda: type(app.screen).__name__ == "TopicsScreen", 5, "topics")
        await pilot.press("c")
        await wait_on(pilot, lambda: isinstance(app.screen, AdminScreen), 5, "create screen")
        await preview(pilot, app, {"name": name, "partitions": "4",
                                   "configs": "retention.ms=3600000"})
        assert f"create topic {name}: 4 partitions" in text(app, "#admin-plan")
        assert "kafka-topics.sh --bootstrap-server" in text(app, "#admin-command")
        result = await confirm_and_apply(pilot, app, None)  # not destructive: no typing
        assert "applied" in result
    assert "PartitionCount: 4" in describe_topic(kafka.bootstrap, name)
    assert "retention.ms=3600000" in topic_configs(kafka.bootstrap, name)
    assert [e["phase"] for e in read_entries(audit_log)] == ["intent", "result"]


async def test_a_late_change_event_keeps_the_plan_a_real_change_drops_it(kafka, unique,
                                                                        make_app, audit_log):
    """Input.Changed reaches the screen by bubbling and can arrive after the plan made from
    that very value (seen under load: Apply enabled, then disabled, and the click applied
    nothing): an event for the planned value keeps the plan; a changed value drops it, and
    Apply then says so instead of doing nothing."""
    name = f"{unique}.late.v1"
    app = make_app(kafka.bootstrap)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_on(pilot, lambda: type(app.screen).__name__ == "TopicsScreen", 5, "topics")
        await pilot.press("c")
        await wait_on(pilot, lambda: isinstance(app.screen, AdminScreen), 5, "create screen")
        await preview(pilot, app, {"name": name, "partitions": "2"})
        screen = app.screen
        apply = screen.query_one("#admin-apply", Button)
        field = screen.query_one("#admin-partitions", Input)
        field.post_message(Input.Changed(field, "2"))  # late, for the planned value
        await pilot.pause()
        assert screen.plan is not None and not apply.disabled
        field.value = "3"
        await wait_on(pilot, lambda: screen.plan is None, 5, "the plan dropped")
        assert apply.disabled
        screen._apply()  # as a click that raced the change would
        await wait_on(pilot, lambda: text(app, "#admin-result") != "", 5, "the result")
        assert "form changed" in text(app, "#admin-result")
    assert [e["phase"] for e in read_entries(audit_log)] == []


async def test_topic_detail_edit_add_partitions_purge_delete(kafka, unique, make_app,
                                                             audit_log):
    topic = f"{unique}.admin.v1"
    create_topic(kafka.bootstrap, topic, partitions=2)
    produce_counts(kafka.bootstrap, topic, [5, 7])
    app = make_app(kafka.bootstrap)
    async with app.run_test(size=SIZE) as pilot:
        await open_row(pilot, app, "2", topic, "TopicDetailScreen")

        await pilot.press("e")
        await wait_on(pilot, lambda: isinstance(app.screen, AdminScreen), 5, "alter")
        await preview(pilot, app, {"set": "retention.ms=7200000"})
        assert "retention.ms" in text(app, "#admin-plan")
        assert "kafka-configs.sh" in text(app, "#admin-command")
        assert "applied" in await confirm_and_apply(pilot, app, topic)
        assert "retention.ms=7200000" in topic_configs(kafka.bootstrap, topic)
        await back(pilot, app, "TopicDetailScreen")

        await pilot.press("a")
        await wait_on(pilot, lambda: isinstance(app.screen, AdminScreen), 5, "add partitions")
        await preview(pilot, app, {"to": "3"})
        assert "2 → 3" in text(app, "#admin-plan")
        assert "applied" in await confirm_and_apply(pilot, app, topic)
        assert "PartitionCount: 3" in describe_topic(kafka.bootstrap, topic)
        await back(pilot, app, "TopicDetailScreen")

        await pilot.press("X")
        await wait_on(pilot, lambda: isinstance(app.screen, AdminScreen), 5, "purge")
        await preview(pilot, app, {"how": "offsets", "arg": "1:4"})
        assert "delete 4 records from 1 partition" in text(app, "#admin-plan")
        assert "kafka-delete-records.sh" in text(app, "#admin-command")
        assert "applied" in await confirm_and_apply(pilot, app, topic)
        assert log_starts(kafka.bootstrap, topic) == {0: 0, 1: 4, 2: 0}
        await back(pilot, app, "TopicDetailScreen")

        await pilot.press("D")
        await wait_on(pilot, lambda: isinstance(app.screen, AdminScreen), 5, "delete")
        await preview(pilot, app)
        assert f"delete topic {topic}: 3 partitions" in text(app, "#admin-plan")
        assert "applied" in await confirm_and_apply(pilot, app, topic)

        # The topic is gone (Kafka's TopicCommand) and stays gone while the app keeps
        # refreshing: its engine tailed the topic, and on this broker (auto-creation on,
        # Kafka's default) a read that asked for it again would re-create it.
        assert broker_setting(kafka.bootstrap, "auto.create.topics.enable") == "true"
        await wait_on(pilot, lambda: topic not in listed_topics(kafka.bootstrap), 30,
                      "the topic gone")
        seen = app.refresh_count
        await wait_on(pilot, lambda: app.refresh_count >= seen + 3, 60, "three refreshes")
        assert topic not in listed_topics(kafka.bootstrap)
    actions = [e["action"] for e in read_entries(audit_log) if e["phase"] == "result"]
    assert actions == ["topic.alter", "topic.add-partitions", "topic.purge", "topic.delete"]


async def test_bad_input_on_a_screen_is_one_line_and_applies_nothing(kafka, unique, make_app,
                                                                      audit_log):
    topic = f"{unique}.admin.v1"
    create_topic(kafka.bootstrap, topic, partitions=2)
    app = make_app(kafka.bootstrap)
    async with app.run_test(size=SIZE) as pilot:
        await open_row(pilot, app, "2", topic, "TopicDetailScreen")
        await pilot.press("a")
        await wait_on(pilot, lambda: isinstance(app.screen, AdminScreen), 5, "add partitions")
        await preview(pilot, app, {"to": "1"})
        assert "--to must be more than 2" in text(app, "#admin-state")
        assert app.screen.query_one("#admin-apply", Button).disabled
    assert "PartitionCount: 2" in describe_topic(kafka.bootstrap, topic)
    assert read_entries(audit_log) == []  # a preview is a read: nothing to audit


async def test_group_detail_delete_offsets_then_the_group(kafka, unique, make_app, audit_log):
    a, b, group = f"{unique}.a.v1", f"{unique}.b.v1", f"{unique}-grp"
    create_topic(kafka.bootstrap, a)
    create_topic(kafka.bootstrap, b)
    produce_counts(kafka.bootstrap, a, [3])
    produce_counts(kafka.bootstrap, b, [3])
    commit_offsets(kafka.bootstrap, group, {(a, 0): 1, (b, 0): 2})
    app = make_app(kafka.bootstrap)
    async with app.run_test(size=SIZE) as pilot:
        await open_row(pilot, app, "3", group, "GroupDetailScreen")
        await pilot.press("X")
        await wait_on(pilot, lambda: isinstance(app.screen, AdminScreen), 5, "delete offsets")
        await preview(pilot, app, {"topic": b})
        assert "kafka-consumer-groups.sh" in text(app, "#admin-command")
        assert "--delete-offsets" in text(app, "#admin-command")
        assert "applied" in await confirm_and_apply(pilot, app, group)
        await back(pilot, app, "GroupDetailScreen")
        from core.cluster.admin import KafkaAdmin

        assert await KafkaAdmin(kafka.bootstrap).committed_offsets(group) == {(a, 0): 1}

        await pilot.press("D")
        await wait_on(pilot, lambda: isinstance(app.screen, AdminScreen), 5, "delete group")
        await preview(pilot, app)
        assert f"delete group {group}" in text(app, "#admin-plan")
        assert "applied" in await confirm_and_apply(pilot, app, group)

        app.open_audit()
        await wait_on(pilot, lambda: type(app.screen).__name__ == "AuditScreen", 5, "audit")
        await wait_on(pilot, lambda: any(len(t.keys) == 4 for t in app.screen.query(
            KeyedTable)), 10, "4 audit lines")
        table = app.screen.query_one(KeyedTable)
        actions = {str(table.get_cell(k, "action")) for k in table.keys}
        assert actions == {"group.delete-offsets", "group.delete"}


async def test_read_only_hides_and_refuses_every_admin_action(kafka, unique, make_app):
    topic = f"{unique}.admin.v1"
    create_topic(kafka.bootstrap, topic)
    app = make_app(kafka.bootstrap, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_on(pilot, lambda: type(app.screen).__name__ == "TopicsScreen", 5, "topics")
        assert app.screen.check_action("admin", ("topic.create",)) is False
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, AdminScreen)
        await open_row(pilot, app, "2", topic, "TopicDetailScreen")
        for key in ("e", "a", "X", "D"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, AdminScreen), key
        await pilot.press("question_mark")
        await wait_on(pilot, lambda: isinstance(app.screen, HelpScreen), 5, "help")
        ids = {str(r[3]) for r in (app.screen.query_one("DataTable").get_row_at(i)
                                   for i in range(app.screen.query_one("DataTable").row_count))}
        assert not ids & {"topic.alter", "topic.add_partitions", "topic.purge", "topic.delete"}


async def test_help_lists_the_admin_keys_with_their_ids(kafka, unique, make_app):
    topic = f"{unique}.admin.v1"
    create_topic(kafka.bootstrap, topic)
    app = make_app(kafka.bootstrap)
    async with app.run_test(size=SIZE) as pilot:
        await open_row(pilot, app, "2", topic, "TopicDetailScreen")
        await pilot.press("question_mark")
        await wait_on(pilot, lambda: isinstance(app.screen, HelpScreen), 5, "help")
        table = app.screen.query_one("DataTable")
        ids = {str(table.get_row_at(i)[3]) for i in range(table.row_count)}
        assert {"topic.alter", "topic.add_partitions", "topic.purge", "topic.delete"} <= ids
