"""Pilot tests of the Dead letters view and the redrive screen on the real broker."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Button, DataTable, Input, Static

from core.config.settings import ConnectionSettings
from nexus_tui.app import AppOptions, NexusApp
from nexus_tui.coreloop import CoreLoop
from nexus_tui.screens.dead_letters import DeadLettersScreen, RedriveScreen
from nexus_tui.source import LiveSource
from tests.app_helpers import wait_on
from tests.kafka_helpers import create_topic, end_offsets
from tests.test_dlq import fill_dlq, redriven_copies

SIZE = (160, 50)


@pytest.fixture
def app_on(kafka, monkeypatch, tmp_path):
    monkeypatch.setenv("NEXUS_TUI_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    cores: list[CoreLoop] = []

    def make(read_only: bool = False) -> NexusApp:
        core = CoreLoop()
        cores.append(core)
        settings = ConnectionSettings(bootstrap=kafka.bootstrap, read_only=read_only,
                                      request_timeout_s=5.0)
        return NexusApp(LiveSource(settings, core),
                        AppOptions(context="test", refresh_interval_s=0, read_only=read_only),
                        core)

    yield make
    for core in cores:
        core.stop()


def rows(app: NexusApp, table_id: str) -> int:
    """Rows of the table on the screen shown now (-1 while it is not composed yet)."""
    tables = app.screen.query(f"#{table_id}")
    return tables.first(DataTable).row_count if tables else -1


async def test_dead_letters_listed_filtered_and_redriven_after_a_typed_confirmation(
        kafka, unique, app_on, tmp_path):
    target = f"{unique}.orders.v1"
    dlq = f"{target}.dlq"
    create_topic(kafka.bootstrap, target, partitions=2)
    create_topic(kafka.bootstrap, dlq, partitions=1)
    fill_dlq(kafka.bootstrap, dlq, target, 20, partitions=1)
    app = app_on()
    async with app.run_test(size=SIZE) as pilot:
        app.open_dead_letters(dlq)
        await wait_on(pilot, lambda: isinstance(app.screen, DeadLettersScreen)
                      and rows(app, "dlq-letters") == 20, 60, "the 20 dead letters listed")
        detail = str(app.screen.query_one("#dlq-detail", Static).render())
        assert "handler failed for user 19" in detail  # the newest one, decoded

        app.screen.query_one("#dlq-error", Input).value = r"user 1\d$"
        await wait_on(pilot, lambda: rows(app, "dlq-letters") == 10, 10, "the filter applied")

        await pilot.press("r")
        await wait_on(pilot, lambda: isinstance(app.screen, RedriveScreen), 10, "redrive screen")
        screen = app.screen
        assert screen.query_one("#redrive-error", Input).value == r"user 1\d$"
        screen.action_plan()
        await wait_on(pilot, lambda: screen.plan is not None, 60, "the plan")
        plan_text = str(screen.query_one("#redrive-plan-text", Static).render())
        assert "10 dead letter(s) to redrive" in plan_text and target in plan_text
        command = str(screen.query_one("#redrive-command", Static).render())
        assert "nexus-tui dlq redrive" in command and "--execute" in command
        go = screen.query_one("#redrive-go", Button)
        assert go.disabled  # not before the typed confirmation
        screen.query_one("#redrive-confirm", Input).value = "not-the-name"
        await pilot.pause()
        assert go.disabled
        screen.query_one("#redrive-confirm", Input).value = dlq
        await wait_on(pilot, lambda: not go.disabled, 10, "the button enabled")
        go.press()
        await wait_on(pilot, lambda: "redriven 10 dead letter(s)" in str(
            screen.query_one("#redrive-result", Static).render()), 60, "the redrive done")
    copies = redriven_copies(kafka.bootstrap, target, 10)
    assert sorted(o for _, o in copies) == list(range(10, 20)) and set(copies.values()) == {1}
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(x["action"], x["phase"]) for x in lines] == [("dlq.redrive", "intent"),
                                                          ("dlq.redrive", "result")]
    assert lines[1]["result"]["redriven"] == 10


async def test_read_only_hides_the_redrive(kafka, unique, app_on):
    target = f"{unique}.orders.v1"
    dlq = f"{target}.dlq"
    create_topic(kafka.bootstrap, target, partitions=1)
    create_topic(kafka.bootstrap, dlq, partitions=1)
    fill_dlq(kafka.bootstrap, dlq, target, 3, partitions=1)
    app = app_on(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        app.open_dead_letters(dlq)
        await wait_on(pilot, lambda: isinstance(app.screen, DeadLettersScreen)
                      and rows(app, "dlq-letters") == 3, 60, "the dead letters listed")
        assert app.screen.check_action("redrive", ()) is False
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, DeadLettersScreen)
    assert sum(end_offsets(kafka.bootstrap, target).values()) == 0
