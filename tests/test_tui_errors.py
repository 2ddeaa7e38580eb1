"""No error disappears in the TUI: a failed worker, whatever screen ran it and whatever it
raised, shows as exactly one notification naming the failure (one line, no traceback), goes
to the log, and the app keeps running. Real failures on real brokers: a broker stopped
between a seek's preview and its apply (a cluster of the test's own), a malformed seek file;
and an unexpected error type raised inside a screen's worker."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Select, Static

from core.cluster.admin import KafkaAdmin
from core.config.settings import ConnectionSettings
from core.errors import ConfigError
from core.local import LocalCluster
from nexus_tui.app import AppOptions, NexusApp
from nexus_tui.coreloop import CoreLoop
from nexus_tui.failures import describe_failure, log_to_state_dir
from nexus_tui.screens.seek import SeekScreen
from nexus_tui.source import LiveSource
from tests.app_helpers import wait_on
from tests.kafka_helpers import commit_offsets, create_topic, produce_counts

SIZE = (160, 50)


@pytest.fixture
def make_app() -> Iterator:
    """An app with manual refresh (a failed refresh is the banner's, not under test here),
    and a record of every notification it shows."""
    cores: list[CoreLoop] = []

    def make(bootstrap: str) -> tuple[NexusApp, list[str]]:
        core = CoreLoop()
        cores.append(core)
        settings = ConnectionSettings(bootstrap=bootstrap, request_timeout_s=3.0)
        app = NexusApp(LiveSource(settings, core), AppOptions(context="test",
                                                              refresh_interval_s=0), core)
        shown: list[str] = []
        notify = app.notify

        def record(message: str, **kwargs) -> None:
            shown.append(message)
            notify(message, **kwargs)

        app.notify = record  # type: ignore[method-assign]
        return app, shown

    yield make
    for core in cores:
        core.stop()


def failures(shown: list[str]) -> list[str]:
    return [m for m in shown if "failed" in m]


async def open_seek(pilot, app: NexusApp, group: str, strategy: str,
                    arg: str | None = None) -> SeekScreen:
    await wait_on(pilot, lambda: app.pulse is not None, 30, "first refresh")
    app.open_seek(group)
    await wait_on(pilot, lambda: isinstance(app.screen, SeekScreen) and bool(
        app.screen.query("#seek-strategy")), 5, "seek screen")
    screen = app.screen
    assert isinstance(screen, SeekScreen)
    screen.query_one("#seek-strategy", Select).value = strategy
    if arg is not None:
        screen.query_one("#seek-arg", Input).value = arg
    await pilot.click("#seek-preview")
    return screen


async def still_running(pilot, app: NexusApp) -> None:
    """The app goes on after a failure: it still switches views on a key."""
    assert app.is_running
    await pilot.press("escape", "2")
    await wait_on(pilot, lambda: type(app.screen).__name__ == "TopicsScreen", 10, "topics")


async def test_broker_stopped_between_seek_preview_and_apply(tmp_path: Path, make_app,
                                                             caplog) -> None:
    cluster = LocalCluster(state_dir=tmp_path / "cluster")
    bootstrap = cluster.up(brokers=1).bootstrap
    try:
        topic, group = "errors.seek.v1", "errors-seek-grp"
        create_topic(bootstrap, topic, partitions=2)
        produce_counts(bootstrap, topic, [10, 10])
        commit_offsets(bootstrap, group, {(topic, 0): 7, (topic, 1): 3})
        app, shown = make_app(bootstrap)
        with caplog.at_level(logging.INFO, logger="nexus_tui"):
            async with app.run_test(size=SIZE) as pilot:
                screen = await open_seek(pilot, app, group, "to-earliest")
                await wait_on(pilot, lambda: screen.plan is not None, 30, "the preview")
                assert await KafkaAdmin(bootstrap).committed_offsets(group) == {
                    (topic, 0): 7, (topic, 1): 3}
                cluster.down()  # the broker goes away after the preview
                screen.query_one("#seek-confirm", Input).value = group
                apply = screen.query_one("#seek-apply", Button)
                await wait_on(pilot, lambda: not apply.disabled, 5, "apply enabled")
                await pilot.click("#seek-apply")
                await wait_on(pilot, lambda: failures(shown), 90, "the failure's notification")
                await pilot.pause(0.5)  # anything else it would show comes with it
                [note] = failures(shown)
                assert note.startswith("seek apply failed: ") and "\n" not in note, note
                assert "Traceback" not in note
                result = str(screen.query_one("#seek-result", Static).render())
                assert result == "not applied: " + note.removeprefix("seek apply failed: ")
                await still_running(pilot, app)
        assert len(failures(shown)) == 1
        assert any(r.getMessage().startswith("seek apply failed") for r in caplog.records)
    finally:
        if cluster.load_state() is not None:  # still up: the test failed before stopping it
            cluster.down()


async def test_malformed_seek_file_is_one_notification(kafka, unique, tmp_path: Path,
                                                       make_app, caplog) -> None:
    topic, group = f"{unique}.file.v1", f"{unique}-grp"
    create_topic(kafka.bootstrap, topic, partitions=1)
    produce_counts(kafka.bootstrap, topic, [5])
    commit_offsets(kafka.bootstrap, group, {(topic, 0): 2})
    plan = tmp_path / "plan.csv"
    plan.write_text(f"{topic},zero,1\n")  # the partition is not a number
    app, shown = make_app(kafka.bootstrap)
    with caplog.at_level(logging.INFO, logger="nexus_tui"):
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_seek(pilot, app, group, "from-file", str(plan))
            await wait_on(pilot, lambda: failures(shown), 30, "the failure's notification")
            await pilot.pause(0.3)
            [note] = failures(shown)
            assert note.startswith("seek preview failed: ") and str(plan) in note, note
            assert "line 1" in note and "\n" not in note
            assert str(plan) in str(screen.query_one("#seek-state", Static).render())
            assert screen.plan is None
            await still_running(pilot, app)
    assert len(failures(shown)) == 1
    assert await KafkaAdmin(kafka.bootstrap).committed_offsets(group) == {(topic, 0): 2}
    [logged] = [r for r in caplog.records if "seek preview failed" in r.getMessage()]
    assert logged.exc_info is None  # an expected error: its message is the whole story


async def test_unexpected_error_in_a_worker_is_one_notification(kafka, unique, make_app,
                                                                monkeypatch, caplog) -> None:
    """A bug's exception (not a NexusError) raised in a screen's worker: before, the seek
    screen caught NexusError only and this vanished."""
    from core.cluster.seek import GroupSeeker

    async def broken(self, *args, **kwargs):
        raise KeyError("partition 7")

    monkeypatch.setattr(GroupSeeker, "plan", broken)
    app, shown = make_app(kafka.bootstrap)
    with caplog.at_level(logging.INFO, logger="nexus_tui"):
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_seek(pilot, app, f"{unique}-grp", "to-latest")
            await wait_on(pilot, lambda: failures(shown), 30, "the failure's notification")
            await pilot.pause(0.3)
            assert failures(shown) == ["seek preview failed: KeyError: 'partition 7'"]
            assert "KeyError" in str(screen.query_one("#seek-state", Static).render())
            await still_running(pilot, app)
    assert len(failures(shown)) == 1
    [logged] = [r for r in caplog.records if "seek preview failed" in r.getMessage()]
    assert logged.exc_info is not None and logged.exc_info[0] is KeyError  # the traceback


def test_describe_failure_is_one_bounded_line() -> None:
    assert describe_failure(ConfigError("bad --topic")) == "bad --topic"
    assert describe_failure(ValueError("a\n  b")) == "ValueError: a b"
    assert describe_failure(RuntimeError()) == "RuntimeError"
    long = describe_failure(ValueError("x" * 1000))
    assert len(long) == 200 and long.endswith("…") and "\n" not in long


def test_failures_go_to_a_log_file_in_the_state_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    logger = logging.getLogger("nexus_tui")
    before = list(logger.handlers)
    path = log_to_state_dir()
    try:
        assert path == tmp_path / "nexus-tui" / "tui.log"
        try:
            raise KeyError("x")
        except KeyError as exc:
            logger.error("seek apply failed", exc_info=exc)
        for handler in logger.handlers:
            handler.flush()
        text = path.read_text()
        assert "seek apply failed" in text and "Traceback" in text and "KeyError" in text
    finally:
        for handler in logger.handlers[len(before):]:
            logger.removeHandler(handler)
            handler.close()
