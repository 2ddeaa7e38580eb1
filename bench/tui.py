"""TUI at scale: the real NexusApp, headless, on a local broker holding 5,000 partitions and
200 consumer groups.

Targets (the issue): first paint ≤ 1 s after the first snapshot; while refreshing, the UI's
event loop never stalls more than 50 ms; a refresh that changes 5 % of the rows applies in
≤ 100 ms; RSS ≤ 200 MB.

The cluster: `--topics` Nexus topics (`bench.tuiNNNN.v1`, so the app's traffic watcher tails
them, as it does on a Nexus cluster) × `--partitions`, `--records` envelopes per partition;
`--groups` groups, group g committed on topics g·k … g·k+k−1 (mod topics, k =
`--topics-per-group`), all caught up before every run. With the defaults each topic has 2
groups and there are 10,000 (group, partition) commits. One "5 % change" produces one record
into every partition of the first 5 % of the topics (the same ones each time, so the same rows
change): that moves those topics' rows and the rows of the 5 % of groups that read them.

Every run is a fresh process (so RSS is the app's own) driving the app with
`app.run_test(size=(160, 50))`, a LiveSource on a CoreLoop, manual refresh
(`refresh_interval_s=0`, `app.action_refresh()`); runs alternate the first screen (topics "2",
groups "3"). Paint runs stop after the first paint. Long runs then refresh `--warmup` times (60:
the lag history is full, so memory is at its steady state; the sparklines settle after 13),
and on each screen do `--steps` 5 % refreshes unsorted and `--steps` sorted by lag.

Definitions (`time.perf_counter` on the app's loop):

* first snapshot: `KafkaAdmin.snapshot` + `LagTracker.observe` of the first refresh, in the
  engine process (`ClusterMonitor.timings`; the engine's start-up and the traffic
  watcher's are not included).
* first paint: from `LiveSource.refresh()` returning the first pulse to the UI loop to the first
  compositor frame (`App._display` of the screen) rendered once the screen's KeyedTable holds
  every row (KeyedTable measures and lays out within `sync`: no deferred work to wait for).
  First rows on screen: from the app's start to the first such frame, which on the topics
  view can be the engine's preview (the cluster's metadata), before the first refresh.
* apply: `screen.apply(pulse)` (rows built + `KeyedTable.sync`); apply + frame: from the start
  of `apply` to the first such frame after it. The target is checked on apply + frame.
* stall: a task on the app's loop sleeps 5 ms in a loop; a stall is how late a wake-up came
  (the loop was held from the wake-up's due time to its arrival). "While refreshing" = the
  stalls that began from `action_refresh()` to the frame after the apply, for each 5 %
  refresh; a run's figure is its worst. (One under way when the refresh was asked for began
  with something else, the bench's own step before it: reported apart, not counted.) Beside
  it: where it was (while the core built the pulse, or while the UI applied and painted it),
  a bare loop in a process of its own running at the same time (ReferenceLoop: the machine's
  stalls at the same moments), the longest UI-loop callback in thread CPU time (our own
  blocking work, free of GIL waits and machine noise), the same windows with the app idle, a
  bare loop before the app starts, and the GC pauses (`gc.callbacks`). The JSON keeps each
  window's stalls, slow callbacks and GC pauses (`window`).
* RSS: `psutil` RSS of the process after all its refreshes; peak = the kernel's VmHWM. The
  app's child process (the engine: core/engine/process.py) is reported beside it.

The what-if flags change the app's process (GC settings, no traffic watcher) to locate a cost,
or the machine (`--broker-nice`: the broker's JVM at a lower CPU priority, as when it runs
elsewhere); they are not how the app runs.

    .venv/bin/python bench/tui.py [--runs 3] [--paint-runs 6] [--steps 5] [--quick]
                                  [-b HOST:PORT] [--json FILE] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import wait as wait_futures
from pathlib import Path
from typing import Any

import psutil

MiB = 1024 * 1024
SIZE = (160, 50)
SCREENS = {"topics": "2", "groups": "3"}
HOT_FRACTION = 0.05
WARMUP = 60  # a full lag history (LagHistory keeps 60 samples); sparklines settle after 13
TARGET_PAINT_S = 1.0
TARGET_STALL_MS = 50.0
TARGET_APPLY_MS = 100.0
TARGET_RSS_MB = 200.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- the cluster's shape (parent and child compute the same names) ---------------------------


def topic_name(i: int) -> str:
    return f"bench.tui{i:04d}.v1"


def group_name(g: int) -> str:
    return f"bench-tui-g{g:03d}"


def group_topics(g: int, topics: int, per_group: int) -> list[int]:
    return sorted({(g * per_group + j) % topics for j in range(per_group)})


def hot_topics(topics: int) -> list[int]:
    return list(range(max(1, round(topics * HOT_FRACTION))))


# ---- the broker and the data -----------------------------------------------------------------




def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so `finally` stops the broker on SIGTERM too


def renice_broker(pid: int, niceness: int) -> int:
    """Lower the CPU priority of every thread of the broker's JVM (Linux's nice is per
    thread; threads started later inherit it from their parent). Returns the threads set."""
    done = 0
    for thread in psutil.Process(pid).threads():
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, thread.id, niceness)
            done += 1
    return done


@contextlib.contextmanager
def private_broker(niceness: int = 0) -> Iterator[str]:
    """A fresh single-broker cluster in a temporary state dir; always stopped."""
    from core.local import LocalCluster

    previous = signal.signal(signal.SIGTERM, _sigterm)
    with tempfile.TemporaryDirectory(prefix="nexus-bench-tui-") as state_dir:
        cluster = LocalCluster(state_dir=Path(state_dir))
        started = time.perf_counter()
        try:
            state = cluster.up(brokers=1)  # purges the fetch purgatory often (cluster.py)
            log(f"broker up at {state.bootstrap} in {time.perf_counter() - started:.1f} s")
            if niceness:
                threads = sum(renice_broker(b.pid, niceness) for b in state.brokers)
                log(f"broker at nice {niceness} ({threads} threads)")
            yield state.bootstrap
        finally:
            with contextlib.suppress(Exception):
                cluster.down()
            signal.signal(signal.SIGTERM, previous)


def seed(bootstrap: str, topics: int, partitions: int, records: int) -> None:
    """Create the topics (those missing) and write `records` envelopes per partition."""
    from common import create_topics
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient

    from core.wire.envelope import Envelope

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    names = [topic_name(i) for i in range(topics)]
    started = time.perf_counter()
    existing = set(admin.list_topics(timeout=30).topics)
    todo = [n for n in names if n not in existing]
    create_topics(bootstrap, todo, partitions, timeout=180)
    log(f"{topics} topics x {partitions} partitions in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "log_level": 0,
                         "queue.buffering.max.messages": 1_000_000})
    for name in todo:
        for p in range(partitions):
            for _ in range(records):
                producer.produce(name, Envelope.new_root("bench.seed.v1", name, {"n": p})
                                 .encode(), partition=p)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("records not delivered")
    log(f"{len(todo) * partitions * records:,} records in {time.perf_counter() - started:.1f} s")



def commit_caught_up(bootstrap: str, topics: int, partitions: int, groups: int,
                     per_group: int) -> None:
    """Commit every group at the log end of its topics (before every run: the same start)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    started = time.perf_counter()
    names = [topic_name(i) for i in range(topics)]
    request = {TopicPartition(n, p): OffsetSpec.latest() for n in names for p in range(partitions)}
    ends: dict[str, list[int]] = {}
    for tp, fut in admin.list_offsets(request, request_timeout=120).items():
        ends.setdefault(tp.topic, [0] * partitions)[tp.partition] = fut.result(180).offset
    pending: list[Any] = []
    for g in range(groups):
        tps = [TopicPartition(topic_name(t), p, ends[topic_name(t)][p])
               for t in group_topics(g, topics, per_group) for p in range(partitions)]
        pending.extend(admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group_name(g), tps)], request_timeout=60).values())
        if len(pending) >= 16 or g == groups - 1:  # bounded concurrency
            wait_futures(pending, timeout=120)
            for fut in pending:
                fut.result(0)
            pending = []
    log(f"{groups} groups committed at the log end in {time.perf_counter() - started:.1f} s")


# ---- the child: one run of the app -----------------------------------------------------------


class StallMonitor:
    """Sleeps 5 ms in a loop on the running loop; records the wake-ups that came late.

    Only those at least KEEP_S late are kept: every wake-up (200 a second) in a list grew the
    measured process by ~2 MB a minute of its own."""

    PERIOD_S = 0.005
    KEEP_S = 0.0005

    def __init__(self) -> None:
        self.wakeups: list[tuple[float, float]] = []  # (wake time, lateness s)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        clock = time.perf_counter
        while True:
            before = clock()
            await asyncio.sleep(self.PERIOD_S)
            now = clock()
            late = now - before - self.PERIOD_S
            if late >= self.KEEP_S:
                self.wakeups.append((now, late))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def longest_ms(self, start: float, end: float) -> float:
        """The longest stall that began in [start, end] (a wake-up at w, `lateness` late,
        means the loop was held from w - lateness to w). One that began before `start` was
        under way when the window opened: not caused by what the window measures."""
        return longest_begun(self.wakeups, start, end)

    def longest_before_ms(self, start: float, end: float) -> float:
        """The longest stall that began before `start` and ended inside [start, end]."""
        late = [lag for woke, lag in self.wakeups if woke - lag < start <= woke <= end]
        return max(late, default=0.0) * 1000


def longest_begun(wakeups: list[tuple[float, float]], start: float, end: float) -> float:
    """ms: the longest of `wakeups` (wake time, lateness s) whose stall began in [start, end]."""
    return max((lag for woke, lag in wakeups if start <= woke - lag <= end), default=0.0) * 1000


class ReferenceLoop:
    """The same 5 ms sleep loop in a process of its own (at the app's priority), started with
    the app: how late a process with nothing to do wakes up on this machine at the same
    moments. A stall both loops share comes from the machine (the broker and the app's
    children on the same 2 cores), not from the app's process. perf_counter is
    CLOCK_MONOTONIC, the same clock in both processes."""

    CODE = (
        "import sys, time\n"
        "out = open(sys.argv[1], 'w', buffering=1)\n"
        "clock = time.perf_counter\n"
        "while True:\n"
        "    before = clock(); time.sleep(0.005); now = clock()\n"
        "    late = now - before - 0.005\n"
        "    if late >= 0.0005: out.write(f'{now} {late}\\n')\n"
    )

    def __init__(self) -> None:
        import subprocess
        import tempfile

        self._file = tempfile.NamedTemporaryFile("r", suffix=".stalls", delete=False)
        self._proc = subprocess.Popen([sys.executable, "-c", self.CODE, self._file.name])

    def wakeups(self) -> list[tuple[float, float]]:
        with open(self._file.name) as f:
            return [(float(a), float(b)) for a, b in
                    (line.split() for line in f if line.endswith("\n"))]

    def stop(self) -> None:
        self._proc.kill()
        self._proc.wait()
        os.unlink(self._file.name)


def window_detail(stalls: StallMonitor, callbacks: CallbackClock, gc_clock: GcClock,
                  start: float, end: float, pulse_at: float) -> dict[str, Any]:
    """A refresh window's stalls ≥ 10 ms, UI callbacks ≥ 5 ms and GC pauses ≥ 2 ms, in ms
    from its start (the pulse reached the UI at `pulse`): to see what each stall overlapped."""
    def ms(t: float) -> float:
        return round((t - start) * 1000, 1)

    return {
        "pulse": ms(pulse_at), "end": ms(end),
        "stalls": [(ms(w - lag), round(lag * 1000, 1)) for w, lag in stalls.wakeups
                   if w >= start and w - lag <= end and lag >= 0.010],
        "callbacks": [(ms(e - w), round(w * 1000, 1), round(c * 1000, 1), name[:90])
                      for (e, w, c), name in zip(callbacks.slow, callbacks.names, strict=True)
                      if e >= start and e - w <= end and w >= 0.005],
        "gc": [(ms(e - p), g, round(p * 1000, 1)) for e, g, p in gc_clock.pauses
               if start <= e <= end and p >= 0.002],
    }


def _callback_name(handle: Any) -> str:
    """What a slow callback ran: the coroutine of a task's step, else the handle."""
    owner = getattr(getattr(handle, "_callback", None), "__self__", None)
    coro = owner.get_coro() if isinstance(owner, asyncio.Task) else None
    if coro is not None:
        frame = getattr(coro, "cr_frame", None)
        where = f" at {frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno}" \
            if frame is not None else ""
        return f"task {owner.get_name()} {getattr(coro, '__qualname__', coro)}{where}"
    return repr(handle)[:160]


class CallbackClock:
    """Wall and thread-CPU time of every callback the UI thread's loop runs (asyncio
    `Handle._run`: one task step, one timer, one message): the CPU time is our own blocking
    work, without the GIL waits and the machine's scheduling noise that the wall time has."""

    MIN_S = 0.002  # shorter callbacks are not kept

    def __init__(self) -> None:
        self.slow: list[tuple[float, float, float]] = []  # (end, wall s, cpu s)
        self.names: list[str] = []  # what each slow callback was (same order)
        self._original: Any = None

    def install(self) -> None:
        import threading
        from asyncio import events

        ui = threading.get_ident()
        run = self._original = events.Handle._run
        slow, names, wall, cpu = self.slow, self.names, time.perf_counter, time.thread_time
        get_ident = threading.get_ident

        def timed_run(handle: Any) -> None:
            if get_ident() != ui:
                run(handle)
                return
            w, c = wall(), cpu()
            run(handle)
            w2 = wall()
            if w2 - w >= CallbackClock.MIN_S:
                slow.append((w2, w2 - w, cpu() - c))
                names.append(_callback_name(handle))

        events.Handle._run = timed_run  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from asyncio import events

        if self._original is not None:
            events.Handle._run = self._original  # type: ignore[method-assign]

    def longest_cpu_ms(self, start: float, end: float) -> float:
        return max((c for e, w, c in self.slow if e - w >= start and e <= end),
                   default=0.0) * 1000

    def slowest(self, n: int = 8) -> list[tuple[float, float, str]]:
        """The `n` longest callbacks: (wall ms, CPU ms, what)."""
        ranked = sorted(zip(self.slow, self.names, strict=True), key=lambda x: -x[0][1])
        return [(round(w * 1000, 1), round(c * 1000, 1), name)
                for (_, w, c), name in ranked[:n]]


class GcClock:
    """Pauses of Python's cyclic garbage collector (any thread: it holds the GIL)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, int, float]] = []  # (end, generation, s)
        #: per full collection: (ms, thread CPU ms, objects collected, thread name)
        self.full: list[tuple[float, float, int, str]] = []
        self._started = 0.0
        self._cpu = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._cpu = time.thread_time()
        else:
            now = time.perf_counter()
            if now - self._started >= StallMonitor.KEEP_S:  # the rest would only add up
                self.pauses.append((now, info["generation"], now - self._started))
            if info["generation"] == 2:
                self.full.append((round((now - self._started) * 1000, 1),
                                  round((time.thread_time() - self._cpu) * 1000, 1),
                                  info["collected"], threading.current_thread().name))

    def longest_ms(self, start: float, end: float) -> float:
        return max((p for e, _, p in self.pauses if start <= e <= end), default=0.0) * 1000


class Probe:
    """Timestamps from inside the app: refresh, apply, frames."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.snapshot_s: list[float] = []
        self.observe_s: list[float] = []
        self.pulse_at: list[float] = []  # LiveSource.refresh returned (UI loop)
        self.apply: list[tuple[float, float, str]] = []  # (start, end, screen)
        self.frames: list[float] = []  # compositor frames with the table settled
        self._watch: Callable[[], bool] | None = None

        source = app.source
        refresh = source.refresh

        async def timed_refresh() -> Any:
            pulse = await refresh()
            self.pulse_at.append(time.perf_counter())
            timings = source.engine.timings  # measured in the engine process
            self.snapshot_s.append(timings["snapshot_s"])
            self.observe_s.append(timings["observe_s"])
            return pulse

        source.refresh = timed_refresh

        apply_ = app._apply

        def timed_apply(pulse: Any) -> None:
            t = time.perf_counter()
            apply_(pulse)
            self.apply.append((t, time.perf_counter(), type(app.screen).__name__))

        app._apply = timed_apply

        display = app._display

        def hooked_display(screen: Any, renderable: Any) -> None:
            if renderable is not None and not app._batch_count and self._watch is not None \
                    and self._watch():
                self.frames.append(time.perf_counter())
            display(screen, renderable)

        app._display = hooked_display

    def watch_table(self, screen: str, rows: int) -> None:
        """From now on, count the frames of `screen` whose table holds `rows` rows, measured."""
        def settled() -> bool:
            if not type(self.app.screen).__name__.lower().startswith(screen):
                return False
            table = current_table(self.app)
            return table is not None and table.row_count == rows
        self._watch = settled

    def frame_after(self, t: float) -> float | None:
        return next((f for f in self.frames if f >= t), None)


def current_table(app: Any) -> Any:
    from nexus_tui.widgets import KeyedTable

    tables = list(app.screen.query(KeyedTable))
    return tables[0] if tables else None


async def wait_for(pilot: Any, cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `cond` with plain sleeps (`pilot.pause` would force extra compositor frames)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


@contextlib.contextmanager
def profiled(directory: str | None, core: Any, name: str) -> Iterator[None]:
    """pyinstrument on the UI thread and on the core loop's thread (wall clock, each). The
    refresh's own work (snapshot, lag health) runs in the engine process: the core thread's
    profile shows only its driving of the engine and the answer's unpickling."""
    if not directory:
        yield
        return
    from pyinstrument import Profiler

    def start() -> Profiler:
        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
        return profiler

    async def on_core(fn: Callable[[], Any]) -> Any:
        return fn()

    ui = start()
    core_profiler = core.submit(on_core(start)).result(10)
    try:
        yield
    finally:
        ui.stop()
        core.submit(on_core(core_profiler.stop)).result(10)
        Path(directory).mkdir(parents=True, exist_ok=True)
        for side, prof in (("ui", ui), ("core", core_profiler)):
            Path(directory, f"{name}-{side}.txt").write_text(
                prof.output_text(unicode=True, show_all=True))
            if prof.last_session is not None:
                prof.last_session.save(Path(directory, f"{name}-{side}.pyisession"))
        log(f"profiles written to {directory}/{name}-{{ui,core}}.txt")


async def child(args: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import Producer

    from core.config.settings import ConnectionSettings
    from core.wire.envelope import Envelope
    from nexus_tui.app import AppOptions, NexusApp
    from nexus_tui.coreloop import CoreLoop
    from nexus_tui.source import LiveSource

    first = args.first_screen
    order = [first] + [s for s in SCREENS if s != first]
    expected = {"topics": args.topics, "groups": args.groups}
    hot = [topic_name(i) for i in hot_topics(args.topics)]
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 5, "log_level": 0})

    # the changes' records, encoded before anything is measured: building envelopes in the
    # producing thread held this process's interpreter for tens of ms right before a refresh,
    # which the stall monitor counted against the app
    changes = [[(name, p, Envelope.new_root("bench.change.v1", name, {"p": p}).encode())
                for name in hot for p in range(args.partitions)]
               for _ in range(len(SCREENS) * 2 * args.steps)]

    def change() -> None:  # one record into every partition of the hot topics
        for name, p, value in changes.pop():
            producer.produce(name, value, partition=p)
        if producer.flush(30) != 0:
            raise RuntimeError("change not delivered")

    if args.gc_threshold:  # what-if, not the app's behaviour (the app sets its own)
        import nexus_tui.app

        nexus_tui.app.GC_THRESHOLDS = tuple(int(x) for x in args.gc_threshold.split(","))
    core = CoreLoop()
    settings = ConnectionSettings(bootstrap=args.bootstrap)
    app = NexusApp(LiveSource(settings, core, watch_traffic=not args.no_traffic_watch),
                   AppOptions(context="bench", refresh_interval_s=0), core)
    probe = Probe(app)
    stalls = StallMonitor()
    callbacks = CallbackClock()
    out: dict[str, Any] = {"first_screen": first, "refreshes": []}
    # the machine's own noise: a bare loop, before the app exists
    stalls.start()
    await asyncio.sleep(3)
    stalls.stop()
    out["bare_stall_ms"] = stalls.longest_ms(0, time.perf_counter())
    stalls.wakeups.clear()
    reference = ReferenceLoop()
    callbacks.install()
    gc_clock = GcClock()
    gc.callbacks.append(gc_clock)

    async def refresh(label: str, screen: str, idle_after: bool = False) -> dict[str, Any]:
        table = current_table(app)
        before = dict(table.signatures)
        n = app.refresh_count
        probe.watch_table(screen, expected[screen])
        started = time.perf_counter()
        app.action_refresh()
        await wait_for(pilot, lambda: app.refresh_count > n, 120, f"refresh {label}")
        a_start, a_end, name = probe.apply[-1]
        await wait_for(pilot, lambda: probe.frame_after(a_end) is not None, 30, "a frame")
        frame = probe.frame_after(a_end)
        assert frame is not None
        after = table.signatures
        changed = sum(1 for k, sig in after.items() if before.get(k) != sig)
        row = {"label": label, "screen": screen, "apply_ms": (a_end - a_start) * 1000,
               "apply_frame_ms": (frame - a_start) * 1000, "changed": changed,
               "rows": len(after), "stall_ms": stalls.longest_ms(started, frame),
               "at": (started, frame),  # for the reference loop's stalls, afterwards
               # begun before the refresh (the bench's own step before it), not counted
               "stall_before_ms": stalls.longest_before_ms(started, frame),
               # where the worst stall was: while the core built the pulse, or while the UI
               # applied and painted it
               "stall_core_ms": stalls.longest_ms(started, probe.pulse_at[-1]),
               "stall_ui_ms": stalls.longest_ms(probe.pulse_at[-1], frame),
               "window": window_detail(stalls, callbacks, gc_clock, started, frame,
                                       probe.pulse_at[-1]),
               "callback_cpu_ms": callbacks.longest_cpu_ms(started, frame),
               "gc_ms": gc_clock.longest_ms(started, frame),
               "snapshot_s": probe.snapshot_s[-1], "observe_s": probe.observe_s[-1],
               "refresh_s": a_start - started, "sorted": table.sort_column is not None}
        if idle_after:  # the same length of time with the app idle: the noise floor
            quiet = time.perf_counter()
            await asyncio.sleep(frame - started)
            row["idle_stall_ms"] = stalls.longest_ms(quiet, time.perf_counter())
            row["idle_at"] = (quiet, time.perf_counter())
            row["idle_gc_ms"] = gc_clock.longest_ms(quiet, time.perf_counter())
        out["refreshes"].append(row)
        return row

    try:
        async with app.run_test(size=SIZE) as pilot:
            stalls.start()
            t_start = time.perf_counter()
            probe.watch_table(first, expected[first])
            await pilot.press(SCREENS[first])
            await wait_for(pilot, lambda: app.refresh_count >= 1, 300, "the first refresh")
            if app.error:
                raise RuntimeError(app.error)
            # with a fast first snapshot the pulse may land on the overview, before the switch
            # (then the screen applies it when it is shown): the paint is still timed from the
            # pulse to the screen's frame
            # the topics view may already show every row from the engine's preview (the
            # cluster's metadata) before the first refresh: `first_rows_s` is that, from the
            # app's start; the paint of the refresh is still timed from its pulse
            pulse_at = probe.pulse_at[0]
            applied = [a for a in probe.apply if a[0] >= pulse_at]
            on_screen = bool(applied) and applied[0][2].lower().startswith(first)
            await wait_for(pilot, lambda: probe.frame_after(pulse_at) is not None, 60,
                           "the first paint")
            painted = probe.frame_after(pulse_at)
            assert painted is not None
            out["first_snapshot_s"] = probe.snapshot_s[0] + probe.observe_s[0]
            out["first_snapshot_parts"] = [probe.snapshot_s[0], probe.observe_s[0]]
            out["first_refresh_s"] = pulse_at - t_start
            out["first_paint_s"] = painted - pulse_at
            out["first_rows_s"] = probe.frames[0] - t_start
            if on_screen:
                out["first_apply_ms"] = (applied[0][1] - applied[0][0]) * 1000
            out["first_load_stall_ms"] = stalls.longest_ms(t_start, painted)
            if args.paint_only:
                return out
            log(f"first paint on {first}: {out['first_paint_s'] * 1000:.0f} ms after a "
                f"{out['first_snapshot_s']:.2f} s snapshot")

            for i in range(args.warmup):
                row = await refresh(f"warmup {i + 1}", first)
            log(f"warm-up done; last: {row['changed']} rows changed, apply "
                f"{row['apply_ms']:.0f} ms, stall {row['stall_ms']:.0f} ms")
            for screen in order:
                if screen != first:
                    probe.watch_table(screen, expected[screen])
                    t = time.perf_counter()
                    await pilot.press(SCREENS[screen])
                    await wait_for(pilot, lambda s=screen, t=t: type(app.screen).__name__.lower()
                                   .startswith(s) and probe.frame_after(t) is not None,
                                   30, f"the {screen} screen")
                    out[f"switch_{screen}_ms"] = (probe.frame_after(t) - t) * 1000
                    out[f"switch_{screen}_stall_ms"] = stalls.longest_ms(
                        t, probe.frame_after(t))
                    await refresh(f"{screen} settle", screen)  # table built from the pulse
                for sort in (False, True):
                    table = current_table(app)
                    if sort:
                        table.sort_column, table.sort_reverse = "lag", True
                        table.apply_sort()
                    order_name = "sorted" if sort else "unsorted"
                    with profiled(args.profile, core, f"{screen}-{order_name}"):
                        for k in range(args.steps):
                            await asyncio.to_thread(change)
                            row = await refresh(f"{screen} change {k + 1}", screen, True)
                    log(f"{screen}{' sorted' if sort else ''}: {row['changed']}/{row['rows']} "
                        f"rows changed, apply {row['apply_ms']:.1f} ms, +frame "
                        f"{row['apply_frame_ms']:.1f} ms, stall {row['stall_ms']:.1f} ms")
                    table.sort_column = None
            out["gc_pauses"] = [[g, round(p * 1000, 1)] for _, g, p in gc_clock.pauses
                                if p >= 0.005]
            out["gc_full"] = gc_clock.full
            out["slow_callbacks"] = callbacks.slowest()
            out["gc_objects"] = len(gc.get_objects())
            kinds = Counter(type(o).__name__ for o in gc.get_objects())
            out["gc_types"] = kinds.most_common(12)
            if os.environ.get("BENCH_TUI_CENSUS"):  # who holds the most common objects
                out["gc_holders"] = census()
            out["rss_mb"] = psutil.Process().memory_info().rss / MiB
            out["children_rss_mb"] = sum(  # the engine child
                c.memory_info().rss for c in psutil.Process().children(recursive=True)
                if c.pid != reference._proc.pid) / MiB
            out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            stalls.stop()
            ref = reference.wakeups()
            for row in out["refreshes"]:
                row["ref_stall_ms"] = longest_begun(ref, *row["at"])
                if "idle_at" in row:
                    row["ref_idle_stall_ms"] = longest_begun(ref, *row["idle_at"])
    finally:
        callbacks.uninstall()
        reference.stop()
        core.stop()
    return out


def census() -> dict[str, list[tuple[str, int]]]:
    """For the 6 most common tracked types: the types of what refers to a sample of them."""
    import random

    objects = gc.get_objects()
    kinds = Counter(type(o).__name__ for o in objects)
    holders: dict[str, list[tuple[str, int]]] = {}
    for name, _ in kinds.most_common(6):
        sample = random.sample([o for o in objects if type(o).__name__ == name], 300)
        seen: Counter[str] = Counter()
        for obj in sample:
            for ref in gc.get_referrers(obj):
                if ref is not sample and ref is not objects:
                    seen[type(ref).__qualname__] += 1
        holders[name] = seen.most_common(5)
    # what a full collection walks: references out of every tracked object, biggest first
    sizes = sorted(((len(gc.get_referents(o)), type(o).__qualname__) for o in objects),
                   reverse=True)
    holders["references"] = [("total", sum(n for n, _ in sizes)), *[(k, n) for n, k in sizes[:12]]]
    return holders


# ---- the parent: runs, the table -------------------------------------------------------------


def run_child(args: argparse.Namespace, bootstrap: str, first: str,
              paint_only: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "-b", bootstrap, "--first-screen", first,
           "--topics", str(args.topics), "--partitions", str(args.partitions),
           "--groups", str(args.groups), "--steps", str(args.steps),
           "--warmup", str(args.warmup)]
    cmd += ["--paint-only"] if paint_only else []
    cmd += ["--profile", args.profile] if args.profile else []
    cmd += ["--gc-threshold", args.gc_threshold] if args.gc_threshold else []
    cmd += ["--no-traffic-watch"] if args.no_traffic_watch else []
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        proc = subprocess.run([*cmd, "--child-out", out.name], timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"a run of the app failed ({proc.returncode})")
        return json.loads(Path(out.name).read_text())


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return "-"
    return "PASS" if value <= target else "MISS"


def table(runs: list[dict[str, Any]], paints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`runs`: the long runs (refreshes, RSS); `paints`: every run (first snapshot, paint)."""
    lines: list[dict[str, Any]] = []

    def add(name: str, unit: str, values: list[float], target: float | None,
            note: str = "") -> None:
        if values:
            lines.append({"metric": name, "unit": unit, "values": values,
                          "median": statistics.median(values), "max": max(values),
                          "target": target, "verdict": verdict(max(values), target)
                          if target is not None else "-", "note": note})

    def steps(screen: str, sort: bool) -> list[dict[str, Any]]:
        return [r for run in runs for r in run["refreshes"]
                if r["screen"] == screen and r["sorted"] == sort and "change" in r["label"]]

    add("first snapshot (core)", "s", [r["first_snapshot_s"] for r in paints], None,
        "KafkaAdmin.snapshot + LagTracker.observe")
    for screen in SCREENS:
        add(f"first paint, {screen}", "ms",
            [r["first_paint_s"] * 1000 for r in paints if r["first_screen"] == screen],
            TARGET_PAINT_S * 1000, "from the first pulse on the UI loop to its frame")
    for screen in SCREENS:
        add(f"first rows on screen, {screen}", "ms",
            [r["first_rows_s"] * 1000 for r in paints
             if "first_rows_s" in r and r["first_screen"] == screen], None,
            "from the app's start: the preview's (topics) or the first refresh's (groups)")
    measured = [[x for x in r["refreshes"] if "change" in x["label"]] for r in runs]
    add("longest stall while refreshing", "ms",
        [max(x["stall_ms"] for x in m) for m in measured], TARGET_STALL_MS,
        "per run: the worst of its 5% refreshes (refresh start to the frame after the apply)")
    add("  the same windows, a bare loop in a process of its own", "ms",
        [max(x["ref_stall_ms"] for x in m) for m in measured], None,
        "ReferenceLoop: how late a process with nothing to do woke at the same moments")
    add("  stalls begun before the refresh (not counted)", "ms",
        [max(x["stall_before_ms"] for x in m) for m in measured], None,
        "under way when the refresh was asked for: the bench's own step before it (its sort of "
        "the table before the sorted refreshes)")
    add("  … while the core built the pulse", "ms",
        [max(x["stall_core_ms"] for x in m) for m in measured], None,
        "from the refresh's start to the pulse on the UI loop")
    add("  … while the UI applied and painted it", "ms",
        [max(x["stall_ui_ms"] for x in m) for m in measured], None,
        "from the pulse on the UI loop to the frame after the apply")
    add("  longest UI callback, CPU time", "ms",
        [max(x["callback_cpu_ms"] for x in m) for m in measured], None,
        "our own blocking work on the UI loop (thread CPU: no GIL waits, no machine noise)")
    add("  longest stall, app idle (same windows)", "ms",
        [max(x["idle_stall_ms"] for x in m) for m in measured], None,
        "after each refresh, as long again with nothing refreshing: the noise floor")
    add("  … a bare loop in a process of its own, same idle windows", "ms",
        [max(x["ref_idle_stall_ms"] for x in m) for m in measured], None)
    add("  longest stall, bare loop (3 s)", "ms", [r["bare_stall_ms"] for r in runs], None,
        "before the app starts: the machine's noise")
    add("  longest GC pause while refreshing", "ms",
        [max(x["gc_ms"] for x in m) for m in measured], None,
        "Python's cyclic GC, on whichever thread triggered it (it holds the GIL)")
    add("  longest GC pause, app idle", "ms",
        [max(x["idle_gc_ms"] for x in m) for m in measured], None)
    for screen in SCREENS:
        for sort in (False, True):
            rows = steps(screen, sort)
            how = "sorted by lag" if sort else "unsorted"
            changed = statistics.median(r["changed"] for r in rows) if rows else 0
            total = rows[0]["rows"] if rows else 0
            add(f"5% refresh, {screen}, {how}: apply+frame", "ms",
                [r["apply_frame_ms"] for r in rows], TARGET_APPLY_MS,
                f"{changed:.0f} of {total} rows changed (median)")
            add(f"5% refresh, {screen}, {how}: apply", "ms",
                [r["apply_ms"] for r in rows], None)
    add("RSS after the refreshes", "MB", [r["rss_mb"] for r in runs], TARGET_RSS_MB,
        "after the warm-up and the 5% refreshes (the lag history is full after 60)")
    add("peak RSS", "MB", [r["peak_rss_mb"] for r in runs], None)
    add("RSS of the app's child processes", "MB",
        [r["children_rss_mb"] for r in runs if "children_rss_mb" in r], None,
        "the engine child (core/engine/process.py), at the same moment")
    # informative
    add("stall during the first load", "ms", [r["first_load_stall_ms"] for r in paints], None,
        "from app start to the first paint")
    for screen in SCREENS:
        add(f"first apply, {screen} (all rows added)", "ms",
            [r["first_apply_ms"] for r in paints
             if "first_apply_ms" in r and r["first_screen"] == screen], None)
    for screen in SCREENS:
        add(f"screen switch to {screen} (full table from the pulse)", "ms",
            [r[f"switch_{screen}_ms"] for r in runs if f"switch_{screen}_ms" in r], None)
    warm = [x for r in runs for x in r["refreshes"] if x["label"] == "warmup 1"]
    if warm:
        add("refresh with every row changed: apply+frame", "ms",
            [x["apply_frame_ms"] for x in warm], None,
            "warm-up refresh 1 of the first screen (sparklines still growing)")
    later = [x for r in runs for x in r["refreshes"] if "warmup" not in x["label"]]
    add("snapshot, steady refreshes (core)", "s",
        [x["snapshot_s"] + x["observe_s"] for x in later], None)
    add("  of which LagTracker.observe", "s", [x["observe_s"] for x in later], None)
    return lines


def fmt(v: float) -> str:
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def print_table(lines: list[dict[str, Any]], args: argparse.Namespace, title: str) -> None:
    head = ["metric", "unit", "median", "max", "target", "verdict"]
    rows = [[x["metric"], x["unit"], fmt(x["median"]), fmt(x["max"]),
             "-" if x["target"] is None else f"≤ {fmt(x['target'])}", x["verdict"]]
            for x in lines]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]
    fmt_line = "  ".join(f"{{:<{w}}}" for w in widths)
    print()
    print(f"== TUI: {args.topics} topics x {args.partitions} partitions, {args.groups} groups; "
          f"{title}; verdict on the max ==")
    print(fmt_line.format(*head))
    print(fmt_line.format(*("-" * w for w in widths)))
    for row in rows:
        print(fmt_line.format(*row))
    for x in lines:
        note = f"  — {x['note']}" if x["note"] else ""
        print(f"  {x['metric']}: [{', '.join(fmt(v) for v in x['values'])}]{note}")
    sys.stdout.flush()


def machine_line() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import textual

    return (f"machine: {len(os.sched_getaffinity(0))} cpu ({cpu}), load "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; Python "
            f"{sys.version.split()[0]}, Textual {textual.__version__}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-b", "--bootstrap", default=None,
                   help="use this broker (seeded if needed) instead of a private one")
    p.add_argument("--runs", type=int, default=3,
                   help="long runs: warm-up, 5%% refreshes, RSS (each a fresh process)")
    p.add_argument("--paint-runs", type=int, default=6,
                   help="short runs: first snapshot and first paint only")
    p.add_argument("--steps", type=int, default=5, help="5%% refreshes per screen and order")
    p.add_argument("--warmup", type=int, default=WARMUP,
                   help="refreshes before the measured ones (default: a full lag history)")
    p.add_argument("--topics", type=int, default=500)
    p.add_argument("--partitions", type=int, default=10)
    p.add_argument("--groups", type=int, default=200)
    p.add_argument("--topics-per-group", type=int, default=5)
    p.add_argument("--records", type=int, default=3, help="records per partition at start")
    p.add_argument("--quick", action="store_true", help="small smoke run (not quotable)")
    p.add_argument("--json", dest="json_out", default=None, metavar="FILE")
    p.add_argument("--profile", default=None, metavar="DIR",
                   help="write pyinstrument profiles (UI and core threads) of the 5%% refreshes "
                   "(the engine process is not profiled)")
    what_if = p.add_argument_group("what-ifs (not the app's behaviour: to locate a cost)")
    what_if.add_argument("--gc-threshold", default=None, metavar="G0,G1,G2",
                         help="the app's GC thresholds after its first paint (default "
                         "700,10,100), e.g. 700,10,1000000: no automatic full collections")
    what_if.add_argument("--broker-nice", type=int, default=0, metavar="N",
                         help="run the private broker's JVM at this niceness: on a real "
                         "deployment the broker does not share the app's cores")
    what_if.add_argument("--no-traffic-watch", action="store_true",
                         help="LiveSource(watch_traffic=False)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--first-screen", default="topics", help=argparse.SUPPRESS)
    p.add_argument("--paint-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.topics, args.groups, args.runs, args.paint_runs = 50, 20, 1, 2
        args.steps, args.warmup = 2, 2
    if args.child:
        result = asyncio.run(child(args))
        Path(args.child_out).write_text(json.dumps(result))
        return
    machine = machine_line()
    print(machine)
    screens = list(SCREENS)
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap or stack.enter_context(private_broker(args.broker_nice))
        seed(bootstrap, args.topics, args.partitions, args.records)
        paints, runs = [], []
        for run in range(args.paint_runs + args.runs):
            long_run = run >= args.paint_runs
            first = screens[run % 2]
            commit_caught_up(bootstrap, args.topics, args.partitions, args.groups,
                             args.topics_per_group)
            log(f"{'long' if long_run else 'paint'} run {run + 1}/{args.paint_runs + args.runs}"
                f", first screen {first}")
            result = run_child(args, bootstrap, first, paint_only=not long_run)
            paints.append(result)
            if long_run:
                runs.append(result)
    lines = table(runs, paints)
    print_table(lines, args, f"{len(paints)} runs for the first paint, {len(runs)} long runs")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"machine": machine, "args": vars(args), "runs": paints, "table": lines}, indent=2))
    if any(x["verdict"] == "MISS" for x in lines):
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
