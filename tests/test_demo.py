"""`nexus-tui demo`: the traffic shape (pure), then the real thing on the demo's own cluster.

The real-broker tests run the command as a user does (`python -m nexus_tui demo ...`) with
XDG_STATE_HOME in tmp_path, read its first line, check through the core that the demo shows
what it promises (lag on the slow group, error replies, dead letters, a hot partition), then
stop it with a signal (or by quitting a stand-in TUI) and check nothing of it is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import IO, Any

import psutil
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from core.cluster.admin import KafkaAdmin
from core.health.skew import partition_skew
from core.local import LocalCluster
from core.local.cluster import metadata_broker_ids, port_listening
from core.wire.envelope import Envelope, EnvelopeError, MessageKind
from core.wire.partitioner import partition_for_key
from core.wire.topic_names import TopicName, dead_letter_topic
from nexus_tui.demo import services as demo
from nexus_tui.demo.services import (
    BUSY_PARTITIONS,
    CLIENT_REPLIES,
    FLAKY_GROUP,
    GREETING,
    HOT_SHARE,
    PAYMENTS,
    SLOW_GROUP,
    FlowRates,
    hot_partition,
    hot_root_ids,
    payment_outcome,
    slow_consumer_phase,
    topic_plan,
)

STOP_BOUND_S = 30.0
SHOW_BOUND_S = 45.0

# ---- the traffic shape, without a broker -----------------------------------------------------


def test_topic_plan_names_partitions_and_dead_letter_topics():
    plan = {name: (parts, rf) for name, parts, rf in topic_plan(3)}
    for topic in demo.HANDLER_TOPICS:
        TopicName.parse(topic)
        assert plan[topic] == (BUSY_PARTITIONS, 3)
        assert dead_letter_topic(topic) in plan
    assert plan[CLIENT_REPLIES] == (BUSY_PARTITIONS, 3)
    assert {rf for _, _, rf in topic_plan(1)} == {1}


def test_hot_root_ids_all_hash_to_one_partition():
    roots = hot_root_ids()
    assert len(set(roots)) == demo.HOT_ROOTS
    assert {partition_for_key(r, BUSY_PARTITIONS) for r in roots} == {hot_partition()}


def test_the_skewed_root_ids_make_one_partition_hot():
    """The generator's mix (HOT_SHARE on the hot roots, fresh roots otherwise) is flagged."""
    import random

    rng = random.Random(7)
    roots = hot_root_ids()
    counts = Counter(
        partition_for_key(rng.choice(roots) if rng.random() < HOT_SHARE
                          else f"{demo.CLIENT}:{uuid.UUID(int=rng.getrandbits(128))}",
                          BUSY_PARTITIONS)
        for _ in range(3000)
    )
    skew = partition_skew({p: counts.get(p, 0) for p in range(BUSY_PARTITIONS)})
    assert skew.level == "severe"
    assert skew.hot_partitions == (hot_partition(),)


def test_slow_consumer_alternates_slower_and_faster_than_its_produce_rate():
    per_partition = FlowRates.for_total(100).orders / BUSY_PARTITIONS
    phases = [slow_consumer_phase(t, per_partition) for t in (0, 24.9, 25, 49.9, 50)]
    assert [p for p, _ in phases] == ["slow", "slow", "fast", "fast", "slow"]
    slow_delay, fast_delay = phases[0][1], phases[2][1]
    assert 1 / slow_delay < per_partition < 1 / fast_delay


def test_flaky_payments_mix_is_stable_per_request():
    ids = [f"{demo.CLIENT}:{uuid.UUID(int=i)}" for i in range(5000)]
    mix = Counter(payment_outcome(i) for i in ids)
    assert set(mix) == {"captured", "declined", "transient", "poison"}
    assert 0.6 < mix["captured"] / len(ids) < 0.8
    assert all(mix[k] / len(ids) > 0.04 for k in ("declined", "transient", "poison"))
    assert [payment_outcome(i) for i in ids[:50]] == [payment_outcome(i) for i in ids[:50]]


def test_rates_add_up_to_the_requested_total():
    rates = FlowRates.for_total(100)
    records = (rates.greetings * demo.RECORDS_PER_GREETING + rates.orders
               + rates.payments * demo.RECORDS_PER_PAYMENT)
    assert records == pytest.approx(100)


def test_the_demo_services_are_built_on_the_core_only():
    code = ("import sys, nexus_tui.demo.services, nexus_tui.demo.runner; "
            "print(sorted(m for m in ('textual', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_second_demo_lock_names_the_running_one(tmp_path):
    from nexus_tui.demo.runner import DemoAlreadyRunning, DemoLock

    first = DemoLock(tmp_path)
    first.acquire()
    first.record(bootstrap="127.0.0.1:1234")
    try:
        with pytest.raises(DemoAlreadyRunning) as err:
            DemoLock(tmp_path).acquire()
        assert f"pid {os.getpid()}" in str(err.value) and "127.0.0.1:1234" in str(err.value)
    finally:
        first.release()
    again = DemoLock(tmp_path)
    again.acquire()  # released: the next demo may start
    again.release()


def test_fetching_the_jars_shows_progress_while_maven_runs(tmp_path, monkeypatch):
    from nexus_tui.demo import runner

    said: list[str] = []
    ticked = threading.Event()

    def progress(message: str) -> None:
        said.append(message)
        if message.startswith("... still fetching"):
            ticked.set()

    def slow_ensure_jars(progress: Any = None) -> Path:
        progress("fetching Apache Kafka jars with Maven (once) ...")
        assert ticked.wait(10), "no progress while Maven runs"
        progress("jars ready")
        return tmp_path

    monkeypatch.setattr(runner, "JARS_TICK_S", 0.05)
    monkeypatch.setattr(runner, "ensure_jars", slow_ensure_jars)
    demo_runner = runner.DemoRunner(runner.DemoOptions(state_dir=tmp_path), print, progress)
    demo_runner._fetch_jars()
    assert said[0].startswith("fetching") and said[-1] == "jars ready"
    assert any(m.startswith("... still fetching") for m in said)


# ---- helpers for the real demo -----------------------------------------------------------------


def _demo_command() -> list[str]:
    """`nexus-tui demo` through the real entry point."""
    return [sys.executable, "-m", "nexus_tui", "demo"]


class Lines:
    """The lines a child process writes to a pipe, read by a thread; `next()` has a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def next(self, timeout: float, what: str) -> str:
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no {what} within {timeout} s") from None
        if line is None:
            raise AssertionError(f"the demo exited before printing {what}")
        return line


class Demo:
    """A running demo subprocess with its own state dir."""

    def __init__(self, args: list[str], env: dict[str, str], state_dir: Path,
                 stderr_path: Path) -> None:
        self.state_dir = state_dir
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "w")  # noqa: SIM115 - closed in stop()/cleanup()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True, env=env)
        assert self.proc.stdout is not None
        self.lines = Lines(self.proc.stdout)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, sig: int) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the demo did not stop within {STOP_BOUND_S} s after "
                                 f"signal {sig}:\n{self.stderr}") from None
        return code, time.monotonic() - started

    def cleanup(self) -> None:
        """After a failed test: never leave a demo or its brokers behind."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        cluster = LocalCluster(self.state_dir)
        if cluster.load_state() is not None:
            try:
                cluster.down()
            except Exception:  # nothing was running: the stale state is gone anyway
                pass
        self._stderr.close()


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), PYTHONUNBUFFERED="1")


def _demo_state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "nexus-tui" / "demo"


def _assert_nothing_left(info: dict[str, Any], state_dir: Path) -> None:
    data_dir = info["data_dir"]
    left = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if data_dir in " ".join(proc.info["cmdline"] or ()):
                left.append(proc.info["pid"])
        except psutil.Error:
            continue
    assert not left, f"processes of the demo cluster are still running: {left}"
    ports = [p for b in info["brokers"] for p in (b["port"], b["controller_port"])]
    assert not [p for p in ports if port_listening(p)], "a demo port still accepts connections"
    assert not (state_dir / "state.json").exists()
    assert not Path(data_dir).exists()


def _poll(deadline: float, what: str, check: Any, seen: Any = None) -> None:
    """Call `check()` until it is true; fail with `what` (and `seen`) at the deadline."""
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (seen: {seen!r})")
        time.sleep(0.5)  # poll interval of the deadline-bounded wait


_NOT_READY = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
              KafkaError.UNKNOWN_TOPIC_OR_PART)


def _count_error_replies(bootstrap: str, topic: str) -> int:
    """Error replies among the records of `topic` up to its current end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        md = consumer.list_topics(topic, timeout=10).topics[topic]
        try:
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in md.partitions}
        except KafkaException as exc:  # a topic the demo just created: no leader yet
            if exc.args[0].retriable() or exc.args[0].code() in _NOT_READY:
                return 0  # nothing counted yet: the caller's deadline-bounded poll asks again
            raise
        todo = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in todo])
        errors = 0
        deadline = time.monotonic() + 20
        while todo and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.5):
                if msg.error() is not None:
                    continue
                try:
                    if Envelope.decode(msg.value()).kind is MessageKind.ERROR_REPLY:
                        errors += 1
                except EnvelopeError:
                    pass
                if msg.offset() + 1 >= ends[msg.partition()]:
                    todo.discard(msg.partition())
        return errors
    finally:
        consumer.close()


def _snapshot(bootstrap: str) -> Any:
    async def take() -> Any:
        return await KafkaAdmin(bootstrap).snapshot(topic_filter=r"^demo\.",
                                                    group_filter=r"^demo-")
    return asyncio.run(take())


# ---- the real demo -----------------------------------------------------------------------------


def test_demo_shows_lag_errors_dead_letters_and_a_hot_partition_then_stops_on_sigterm(tmp_path):
    state_dir = _demo_state_dir(tmp_path)
    started = time.monotonic()
    run = Demo([*_demo_command(), "--no-tui", "--json"], _env(tmp_path), state_dir,
               tmp_path / "stderr.txt")
    try:
        info = json.loads(run.lines.next(60, "the bootstrap line"))
        first_line_s = time.monotonic() - started
        bootstrap = info["bootstrap"]
        assert info["groups"][PAYMENTS] == FLAKY_GROUP

        # a second demo on the same state dir: one clear line, non-zero, nothing touched
        again = subprocess.run([*_demo_command(), "--no-tui"], capture_output=True, text=True,
                               env=_env(tmp_path), timeout=60)
        assert again.returncode != 0
        assert "Traceback" not in again.stderr
        errors = [ln for ln in again.stderr.splitlines() if ln.startswith("error: ")]
        assert len(errors) == 1 and "already running" in errors[0], again.stderr
        assert f"pid {run.proc.pid}" in errors[0]

        deadline = time.monotonic() + SHOW_BOUND_S
        seen: dict[str, Any] = {}

        def shows_everything() -> bool:
            snap = _snapshot(bootstrap)
            if SLOW_GROUP in snap.groups and "lag" not in seen:
                lag = snap.group_lag(SLOW_GROUP).total_lag
                if lag:
                    seen["lag"] = lag
            dlq = snap.topics.get(dead_letter_topic(PAYMENTS))
            if dlq is not None and dlq.log_end_total > 0:
                seen["dead_letters"] = dlq.log_end_total
            greeting = snap.topics[GREETING]
            skew = partition_skew({p.partition: p.records or 0 for p in greeting.partitions})
            if greeting.records >= 60 and (skew.hot_partitions or skew.level == "severe"):
                seen["skew"] = skew
            if "error_replies" not in seen:
                found = _count_error_replies(bootstrap, CLIENT_REPLIES)
                if found:
                    seen["error_replies"] = found
            return {"lag", "dead_letters", "skew", "error_replies"} <= set(seen)

        _poll(deadline, "lag, error replies, dead letters and a hot partition",
              shows_everything, seen)
        assert seen["skew"].hot_partitions == (info["hot_partition"],)
        shown_s = time.monotonic() - started

        code, took = run.stop(signal.SIGTERM)
        assert code == 0, run.stderr
        assert "Traceback" not in run.stderr
        _assert_nothing_left(info, state_dir)
        print(f"first line after {first_line_s:.1f} s, everything shown after {shown_s:.1f} s,"
              f" stopped in {took:.1f} s")
    finally:
        run.cleanup()


def test_demo_stops_cleanly_on_sigint_once_its_services_run(tmp_path):
    state_dir = _demo_state_dir(tmp_path)
    started = time.monotonic()
    run = Demo([*_demo_command(), "--no-tui", "--json", "--rate", "50"], _env(tmp_path),
               state_dir, tmp_path / "stderr.txt")
    try:
        info = json.loads(run.lines.next(60, "the bootstrap line"))
        # the first line tells the truth: its bootstrap is the brokers it lists, which answer
        # with those node ids, and it is the cluster the state file records
        assert info["bootstrap"] == ",".join(f"127.0.0.1:{b['port']}" for b in info["brokers"])
        assert metadata_broker_ids(info["bootstrap"], timeout=10) == tuple(
            sorted(b["node_id"] for b in info["brokers"]))
        state = json.loads((state_dir / "state.json").read_text())
        assert [b["port"] for b in state["brokers"]] == [b["port"] for b in info["brokers"]]
        assert (info["pid"], info["state_dir"]) == (run.proc.pid, str(state_dir))
        ready = json.loads(run.lines.next(30, "the ready line"))
        # in order: topics ready, then services ready, within the time this test measured
        assert info["topics_ready_s"] <= ready["ready_s"] <= time.monotonic() - started
        code, _ = run.stop(signal.SIGINT)
        assert code == 0, run.stderr
        assert "Traceback" not in run.stderr
        _assert_nothing_left(info, state_dir)
    finally:
        run.cleanup()


# A stand-in for the dashboard: a real Textual app (headless) run where run_tui would be.
_TUI_SCRIPT = textwrap.dedent('''
    import json, os, sys
    from pathlib import Path
    from textual.app import App
    from nexus_tui.demo.runner import DemoOptions, run_demo

    state_dir, quit_file = Path(sys.argv[1]), Path(sys.argv[2])

    class Probe(App[None]):
        def on_mount(self) -> None:
            os.write(1, b"painted\\n")
            self.set_interval(0.1, self.quit_when_asked)

        def quit_when_asked(self) -> None:
            if quit_file.exists():
                self.exit()

    def run_tui(settings, context_name="demo"):
        assert context_name == "demo"
        os.write(1, (json.dumps({"bootstrap": settings.bootstrap}) + "\\n").encode())
        Probe().run(headless=True)

    sys.exit(run_demo(DemoOptions(state_dir=state_dir), out=print,
                      progress=lambda m: print(m, file=sys.stderr, flush=True), tui=run_tui))
''')


def _start_with_tui(tmp_path: Path) -> tuple[Demo, dict[str, Any], Path]:
    script = tmp_path / "tui_demo.py"
    script.write_text(_TUI_SCRIPT)
    state_dir = tmp_path / "demo-state"
    quit_file = tmp_path / "quit"
    run = Demo([sys.executable, str(script), str(state_dir), str(quit_file)], _env(tmp_path),
               state_dir, tmp_path / "stderr.txt")
    try:
        bootstrap = json.loads(run.lines.next(60, "the TUI's settings"))["bootstrap"]
        assert run.lines.next(30, "the first paint") == "painted"
        state = json.loads((state_dir / "state.json").read_text())
        assert state["brokers"][0]["port"] == int(bootstrap.rsplit(":", 1)[1])
    except BaseException:  # the caller's cleanup never runs: leave no demo or broker behind
        run.cleanup()
        raise
    return run, state, quit_file


@pytest.mark.parametrize("how", ["quit", "sigterm"])
def test_demo_with_the_tui_stops_everything_when_it_ends(tmp_path, how):
    run, state, quit_file = _start_with_tui(tmp_path)
    try:
        bootstrap = ",".join(f"127.0.0.1:{b['port']}" for b in state["brokers"])
        deadline = time.monotonic() + SHOW_BOUND_S  # the services run behind the TUI
        _poll(deadline, "traffic from the services",
              lambda: _snapshot(bootstrap).topics[GREETING].records > 0)
        if how == "quit":
            quit_file.touch()
            code = run.proc.wait(timeout=STOP_BOUND_S)
        else:
            code, _ = run.stop(signal.SIGTERM)
        assert code == 0, run.stderr
        assert "Traceback" not in run.stderr
        assert "demo stopped" in run.stderr
        _assert_nothing_left(state, tmp_path / "demo-state")
    finally:
        run.cleanup()


def test_demo_without_java_is_one_clear_line(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in _env(tmp_path).items() if k != "JAVA_HOME"}
    env["PATH"] = str(empty)
    proc = subprocess.run([*_demo_command(), "--no-tui"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "java not found" in errors[0], proc.stderr
    assert not (_demo_state_dir(tmp_path) / "state.json").exists()


def test_the_real_dashboard_opens_on_the_demo_and_q_stops_everything(tmp_path):
    """`nexus-tui demo` in a terminal (a pty): first paint, live data, `q`, nothing left."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(_env(tmp_path), TERM="xterm-256color", COLUMNS="120", LINES="40")
    started = time.monotonic()
    proc = subprocess.Popen([*_demo_command(), "--rate", "50"], stdin=slave, stdout=slave,
                            stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    screen = bytearray()

    def pump() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            screen.extend(chunk)

    threading.Thread(target=pump, daemon=True).start()
    state_dir = _demo_state_dir(tmp_path)
    try:
        deadline = time.monotonic() + 60
        _poll(deadline, "the dashboard's first paint", lambda: b"Quit" in screen)
        first_paint_s = time.monotonic() - started
        state = json.loads((state_dir / "state.json").read_text())
        bootstrap = ",".join(f"127.0.0.1:{b['port']}" for b in state["brokers"])
        _poll(time.monotonic() + SHOW_BOUND_S, "traffic from the services",
              lambda: _snapshot(bootstrap).topics[GREETING].records > 0)
        os.write(master, b"q")
        code = proc.wait(timeout=STOP_BOUND_S)
        assert code == 0, screen.decode(errors="replace")[-2000:]
        assert b"Traceback" not in screen
        assert b"demo stopped" in screen
        _assert_nothing_left(state, state_dir)
        print(f"first paint after {first_paint_s:.1f} s")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_BOUND_S)
            except subprocess.TimeoutExpired:
                proc.kill()
        os.close(master)
        cluster = LocalCluster(state_dir)
        if cluster.load_state() is not None:
            try:
                cluster.down()
            except Exception:  # nothing was running: the stale state is gone anyway
                pass
