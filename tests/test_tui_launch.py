"""The TUI as launched (nexus_tui/launch.py): the engine child resolves the command line's
connection itself, and the UI reads the configuration once its first view is painted. Until
then every write is refused; a bad configuration ends the app with one line and a non-zero
exit, and leaves no engine behind."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

import nexus_tui.app
from core.config.request import ConnectionRequest
from core.engine import ENGINE_MODULE
from core.engine.process import EngineProcess
from core.engine.spawn import start_early, stop_early, take_early
from core.errors import ConfigError
from nexus_tui.app import AppOptions, NexusApp
from nexus_tui.recorded import recorded_pulses
from nexus_tui.source import Pulse, RecordedSource
from tests.app_helpers import ROOT, wait_on
from tests.kafka_helpers import create_topic

SIZE = (160, 50)


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


# ---- the engine child resolves its connection ------------------------------------------------

async def test_the_engine_child_resolves_the_context_it_is_given(kafka, unique, tmp_path,
                                                                  monkeypatch):
    topic = f"{unique}.launch.v1"
    create_topic(kafka.bootstrap, topic)
    config = config_file(tmp_path, f'[contexts.here]\nbootstrap = "{kafka.bootstrap}"\n')
    monkeypatch.setenv("NEXUS_TUI_CONFIG", str(config))  # the child inherits it
    engine = EngineProcess(ConnectionRequest(context="here", max_timeout_s=5.0))
    try:
        view = await engine.preview()
        assert topic in view.snapshot.topics
        reading = await engine.refresh()  # the same child goes on with the full refreshes
        assert topic in reading.view.snapshot.topics and engine.restarts == 0
    finally:
        await engine.close()


async def test_a_bad_configuration_is_the_engine_s_answer_to_every_call(tmp_path, monkeypatch):
    config = config_file(tmp_path, '[contexts.here]\nbootstrap = "127.0.0.1:1"\n')
    monkeypatch.setenv("NEXUS_TUI_CONFIG", str(config))
    engine = EngineProcess(ConnectionRequest(context="nope", max_timeout_s=5.0))
    try:
        for _ in range(2):
            with pytest.raises(ConfigError, match="unknown context 'nope' \\(known: here"):
                await engine.preview()
        assert engine.alive and engine.restarts == 0  # answered, not crashed
    finally:
        await engine.close()
    assert engine.pid is None


def test_an_engine_without_a_bound_on_its_unresolved_timeout_is_refused():
    with pytest.raises(ValueError, match="max_timeout_s"):
        EngineProcess(ConnectionRequest("127.0.0.1:1"))


def test_a_malformed_client_property_is_refused_before_anything_starts():
    with pytest.raises(ConfigError, match="'acks' is not key=value"):
        ConnectionRequest("127.0.0.1:1", properties=("acks",))


async def test_a_child_started_early_is_the_one_the_first_call_talks_to(tmp_path, monkeypatch):
    monkeypatch.setenv("NEXUS_TUI_CONFIG", str(config_file(tmp_path, "")))
    early = start_early(ENGINE_MODULE)
    engine = EngineProcess(ConnectionRequest(context="nope", max_timeout_s=5.0))
    try:
        with pytest.raises(ConfigError, match="unknown context 'nope'"):
            await engine.preview()
        # the child started ahead answered: no second interpreter was started
        assert take_early(ENGINE_MODULE) is None
        assert engine.pid == early.pid and engine.restarts == 0
    finally:
        await engine.close()
    assert early.returncode is not None


def test_children_started_early_and_never_taken_are_stopped():
    early = start_early(ENGINE_MODULE)
    assert start_early(ENGINE_MODULE) is early  # one per module
    stop_early()
    assert early.returncode is not None and take_early(ENGINE_MODULE) is None


# ---- the app reads its configuration after the first view -------------------------------------

class HeldSource(RecordedSource):
    """Recorded pulses whose first refresh waits until the test lets it through: the app has
    shown its first view and has not read its configuration yet meanwhile."""

    def __init__(self) -> None:
        super().__init__(recorded_pulses(2))
        self.release = asyncio.Event()

    async def refresh(self) -> Pulse:
        await self.release.wait()
        return await super().refresh()


async def test_every_write_is_refused_until_the_configuration_is_read(monkeypatch):
    monkeypatch.setattr(nexus_tui.app, "CONFIGURE_AT_LATEST_S", 600.0)
    reads: list[str] = []

    def configure() -> AppOptions:
        reads.append("read")
        return AppOptions(context="ctx", refresh_interval_s=0, keymap={"app.view.groups": "g"})

    source = HeldSource()
    app = NexusApp(source, AppOptions(context="…", refresh_interval_s=0), None, configure)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.configured and reads == []
        assert app.read_only  # every write's gate (admin, seek, redrive, dispatch) is closed
        assert app.check_action("view", ("dispatch",)) is False
        state = app.conn_state()
        assert (state.context, state.read_only) == ("…", False)  # not shown as read-only
        await pilot.press("6")
        await pilot.pause()
        assert app.current_mode == "overview"  # dispatch refused
        app.open_seek("g1")
        await pilot.pause()
        assert type(app.screen).__name__ != "SeekScreen"

        source.release.set()  # the first refresh: the configuration is read then
        await wait_on(pilot, lambda: app.configured and app.refresh_count >= 1, 10,
                      "the configuration read")
        assert reads == ["read"] and not app.read_only
        assert app.conn_state().context == "ctx"
        await pilot.press("g")  # the configured keymap took effect
        assert app.current_mode == "groups"
        await pilot.press("6")
        await wait_on(pilot, lambda: app.current_mode == "dispatch", 10, "dispatch opens")
        assert app.configure() and reads == ["read"]  # read once


async def test_the_configuration_is_read_at_the_latest_a_moment_after_the_mount(monkeypatch):
    monkeypatch.setattr(nexus_tui.app, "CONFIGURE_AT_LATEST_S", 0.2)
    source = HeldSource()  # no refresh or preview ever answers
    app = NexusApp(source, AppOptions(refresh_interval_s=0), None,
                   lambda: AppOptions(context="late", refresh_interval_s=0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on(pilot, lambda: app.configured, 10, "the configuration read")
        assert app.options.context == "late" and not app.read_only and app.refresh_count == 0
        source.release.set()


async def test_a_bad_configuration_ends_the_app_with_its_error():
    def configure() -> AppOptions:
        raise ConfigError("unknown context 'nope' (known: none configured)")

    app = NexusApp(RecordedSource(recorded_pulses(2)), AppOptions(refresh_interval_s=0), None,
                   configure)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on(pilot, lambda: app.return_code is not None, 10, "the app to end")
    assert app.return_code == 1
    assert isinstance(app.startup_error, ConfigError)
    assert "unknown context 'nope'" in str(app.startup_error)


# ---- the real command in a terminal -----------------------------------------------------------

class Terminal:
    """`nexus-tui ARGS` in a pseudo-terminal, as a user types it; what it writes, kept."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        self.master = master
        self.screen = bytearray()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nexus_tui", *args], stdin=slave, stdout=slave,
            stderr=slave, cwd=ROOT, start_new_session=True,
            env={**env, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)})
        os.close(slave)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the command closed the terminal
                return
            if not chunk:
                return
            self.screen.extend(chunk)

    def text(self) -> str:
        return self.screen.decode(errors="replace")

    def wait_for(self, what: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while what not in self.screen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what!r} not on screen within {timeout} s:\n"
                                     f"{self.text()[-3000:]}")
            time.sleep(0.05)  # the poll interval of this deadline loop

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)


def engines_of(marker: str) -> list[psutil.Process]:
    """Our engine children still running that carry `marker` in their environment."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "core.engine.process" in " ".join(proc.info["cmdline"] or ()) and (
                    proc.environ().get("NEXUS_TEST_MARKER") == marker):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_a_bad_context_ends_the_tui_with_one_line_and_no_engine_left(tmp_path):
    marker = uuid.uuid4().hex
    config = config_file(tmp_path, '[contexts.here]\nbootstrap = "127.0.0.1:1"\n')
    env = dict(os.environ, NEXUS_TUI_CONFIG=str(config), NEXUS_TEST_MARKER=marker)
    term = Terminal("--context", "nope", env=env)
    try:
        code = term.proc.wait(30)
        term.wait_for(b"error: unknown context 'nope'", 5)
    finally:
        term.close()
    assert code == 1
    assert "Traceback" not in term.text() and "internal error" not in term.text()
    assert engines_of(marker) == []


def test_a_read_only_context_shows_its_topics_then_says_read_only(kafka, unique, tmp_path):
    topic = f"0-{unique}.launch.v1"  # sorted first: on screen however many topics the run made
    create_topic(kafka.bootstrap, topic)
    marker = uuid.uuid4().hex
    config = config_file(tmp_path, f'current_context = "ro"\n[contexts.ro]\n'
                                   f'bootstrap = "{kafka.bootstrap}"\nread_only = true\n')
    env = dict(os.environ, NEXUS_TUI_CONFIG=str(config), NEXUS_TEST_MARKER=marker)
    term = Terminal(env=env)
    try:
        os.write(term.master, b"2")  # typed at once: the topics view
        term.wait_for(topic.encode(), 30)  # from the engine, which read the context itself
        term.wait_for(b"READ-ONLY", 10)  # the UI read the same context after the paint
        os.write(term.master, b"q")
        assert term.proc.wait(30) == 0
    finally:
        term.close()
    assert "Traceback" not in term.text()
    deadline = time.monotonic() + 10
    while engines_of(marker):  # the engine ends with the app
        assert time.monotonic() < deadline, "the engine child outlived the app"
        time.sleep(0.05)
