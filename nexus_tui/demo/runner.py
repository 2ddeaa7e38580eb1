"""Run the demo: its own local cluster, the demo topics, the services, the TUI; stop it all.

Lifecycle (`DemoRunner.run`):

1. Take the demo's lock (`<state dir>/demo.lock`, an flock held for the process lifetime):
   a second demo on the same state dir fails at once with one line saying who runs it. A
   cluster left behind by a demo that was killed (SIGKILL) is stopped first.
2. Find Java, fetch the Kafka jars if needed (Maven's progress printed), start
   `core.local.LocalCluster` in the demo's own state dir (`$XDG_STATE_HOME/nexus-tui/demo`,
   never the one of `nexus-tui local up`) on a block of free ports, and create the topics.
3. With the TUI: start the services on their own asyncio loop in a background thread
   (`ServicesThread`) and open `nexus_tui.app.run_tui` at once (the services warm up behind
   it). Without it (`--no-tui`): run the services on the main thread's loop and print a
   status line every `status_interval_s`.
4. On quit, Ctrl+C or SIGTERM: stop the services (graceful, bounded), then
   `LocalCluster.down()` (SIGTERM, bounded wait, SIGKILL): no process or listener remains.

Why a thread, not a child process, for the services: one process owns everything the demo
started, so every stop path (quit, signal, error) goes through the same `finally`; the
services are light (about 100 msgs/s by default), so sharing the GIL with the TUI costs
little, and their logs go to `<state dir>/demo.log`, never to the terminal the TUI draws on.

Signals: during start-up SIGINT/SIGTERM raise KeyboardInterrupt (LocalCluster.up cleans up
the brokers it started); while the TUI runs, SIGINT has Python's default handler (so the
TUI's asyncio runner cancels the app gracefully) and SIGTERM is forwarded to it; in
`--no-tui` mode they set a stop flag the serving loop watches; while stopping, they are
ignored (the stop is bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from core.cluster.admin import KafkaAdmin
from core.config.settings import ConnectionSettings
from core.errors import LocalClusterError, NexusError
from core.local import LocalCluster, ensure_jars, find_java
from core.local.cluster import ClusterState, default_state_dir, port_free
from nexus_tui.demo.services import (
    GROUPS,
    DemoServices,
    DemoStatus,
    hot_partition,
    topic_plan,
)

log = logging.getLogger("nexus_tui.demo")

TuiRunner = Callable[..., Any]
"""`run_tui(settings, context_name="demo")`: blocks until the user quits."""
Echo = Callable[[str], None]

SERVICES_STOP_S = 25.0
JARS_TICK_S = 10.0
"""While Maven fetches the jars (first run only), say so this often."""


class DemoError(NexusError):
    """The demo could not start or run."""


class DemoAlreadyRunning(DemoError):
    """Another demo holds the demo's state dir."""


def demo_state_dir() -> Path:
    """`$XDG_STATE_HOME/nexus-tui/demo` (beside, never inside, `local up`'s state dir)."""
    return default_state_dir().parent / "demo"


@dataclass(frozen=True)
class DemoOptions:
    """What `nexus-tui demo` was asked for."""

    brokers: int = 1
    rate: float = 100.0
    tui: bool = True
    quiet: bool = False
    as_json: bool = False
    status_interval_s: float = 10.0
    state_dir: Path | None = None
    cluster_timeout_s: float = 90.0


# ---- the lock ----------------------------------------------------------------------------------


class DemoLock:
    """An exclusive flock on `<state dir>/demo.lock`; the OS drops it when the process dies."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "demo.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_json(fd)
            os.close(fd)
            pid = holder.get("pid", "?")
            where = f" at {holder['bootstrap']}" if holder.get("bootstrap") else ""
            raise DemoAlreadyRunning(
                f"a demo is already running{where} (pid {pid}, state dir {self.path.parent}); "
                f"stop it first (quit its dashboard, Ctrl+C, or `kill {pid}`)"
            ) from None
        self._fd = fd
        self.record()

    def record(self, **info: Any) -> None:
        """Write who holds the lock (pid, and bootstrap once known) for the error above."""
        if self._fd is None:
            return
        data = json.dumps({"pid": os.getpid(), **info}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock; the file stays (unlinking would race)
        self._fd = None


def _read_json(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# ---- signals -----------------------------------------------------------------------------------

SignalMode = Literal["raise", "notify", "tui", "ignore"]


class DemoSignals:
    """SIGINT and SIGTERM handling for each phase of the demo (see the module docstring)."""

    def __init__(self) -> None:
        self.mode: SignalMode = "raise"
        self.received: int | None = None
        self.stop_requested = threading.Event()
        self._wake: Callable[[], None] | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def notify(self, wake: Callable[[], None] | None = None) -> None:
        """From now on a signal sets `stop_requested` and calls `wake` (thread-safe)."""
        self._wake = wake
        self.mode = "notify"
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def for_tui(self) -> None:
        """SIGINT: Python's default (asyncio's runner then cancels the TUI gracefully);
        SIGTERM: handled as SIGINT."""
        self.mode = "tui"
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, self._handle)

    def ignore(self) -> None:
        """While stopping: note a signal, do not interrupt the (bounded) cleanup."""
        self.mode = "ignore"
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        self.stop_requested.set()
        if self.mode == "raise":
            raise KeyboardInterrupt
        if self.mode == "notify":
            if self._wake is not None:
                self._wake()
        elif self.mode == "tui":
            current = signal.getsignal(signal.SIGINT)  # asyncio.Runner's handler while it runs
            if callable(current) and current is not self._handle:
                current(signal.SIGINT, frame)
            else:
                raise KeyboardInterrupt


# ---- the services in a thread (TUI mode) -------------------------------------------------------


class ServicesThread:
    """`DemoServices` on their own asyncio loop in a daemon thread."""

    def __init__(self, settings: ConnectionSettings, rate: float) -> None:
        self.services = DemoServices(settings, rate)
        self.error: BaseException | None = None
        self.ready_after_s: float | None = None
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nexus-demo-services",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # recorded and reported after the TUI closes
            self.error = exc
            log.error("demo services failed: %s", exc, exc_info=True)
        finally:
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        if self._stop_requested.is_set():
            return
        started = time.monotonic()
        try:
            await self.services.start()
            while not self._stop.is_set():  # note when every group has joined, for the log
                if self.ready_after_s is None and self.services.ready:
                    self.ready_after_s = time.monotonic() - started
                    log.info("demo services ready after %.1f s", self.ready_after_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 0.5)
        finally:
            await self.services.stop()

    def _wake(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def stop(self, timeout_s: float = SERVICES_STOP_S) -> bool:
        """Ask the services to stop and wait (bounded); False if the thread is still alive."""
        self._stop_requested.set()
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self._loop.call_soon_threadsafe(self._wake)
            self._thread.join(timeout_s)
        return not self._thread.is_alive()


# ---- the runner --------------------------------------------------------------------------------


def _os_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_port_block(count: int, attempts: int = 50) -> int:
    """A first port P with P .. P+count-1 all free (OS-chosen, so never `local up`'s 9092)."""
    for _ in range(attempts):
        base = _os_free_port()
        if base + count < 65_535 and all(port_free(base + i) for i in range(count)):
            return base
    raise DemoError(f"found no block of {count} free local ports for the demo cluster")


class DemoRunner:
    """One run of `nexus-tui demo`; `run()` returns the exit code."""

    def __init__(
        self,
        options: DemoOptions,
        out: Echo,
        progress: Echo,
        tui: TuiRunner | None = None,
    ) -> None:
        self.options = options
        self.out = out
        self.progress = progress if not options.quiet else _silent
        self.tui = tui
        self.state_dir = options.state_dir or demo_state_dir()
        self.cluster = LocalCluster(self.state_dir, progress=self.progress)
        self.signals = DemoSignals()
        self.lock = DemoLock(self.state_dir)
        self._log_handler: logging.Handler | None = None
        self._services_thread: ServicesThread | None = None
        self._started = time.monotonic()
        self.topics_ready_s = 0.0

    # ---- the whole run ------------------------------------------------------------------------

    def run(self) -> int:
        self._started = time.monotonic()
        self.lock.acquire()  # before anything else: never touch another demo's cluster
        self.signals.install()
        try:
            self._log_to_file()
            tui = self._resolve_tui() if self.options.tui else None
            settings, state = self._start_cluster()
            if tui is not None:
                self._run_with_tui(tui, settings, state)
            else:
                self._announce(state)
                asyncio.run(self._serve(settings))
        except KeyboardInterrupt:
            pass  # a requested stop (during start-up, or the TUI's runner re-raising it)
        finally:
            self.signals.ignore()
            try:
                self._stop_everything()
            finally:
                self.lock.release()
                self.signals.restore()
                self._stop_logging()
        return 0

    def _resolve_tui(self) -> TuiRunner | None:
        if self.tui is not None:
            return self.tui
        try:
            from nexus_tui.app import run_tui
        except ImportError as exc:
            self.progress(f"the dashboard is not available ({exc}); running the demo without "
                          "it: Ctrl+C stops it")
            return None
        return run_tui

    # ---- start ---------------------------------------------------------------------------------

    def _start_cluster(self) -> tuple[ConnectionSettings, ClusterState]:
        self._clear_leftovers()
        find_java()  # no Java: one clear line before anything else happens
        self._fetch_jars()
        ports = 2 * self.options.brokers
        state: ClusterState | None = None
        for attempt in (1, 2):
            try:
                state = self.cluster.up(self.options.brokers, _free_port_block(ports),
                                        timeout=self.options.cluster_timeout_s)
                break
            except LocalClusterError as exc:
                # Worth one more try on fresh ports: a port taken between the check and the
                # bind, or a broker seen as gone while the JVM was still starting.
                retry = "already in use" in str(exc) or "exited during start" in str(exc)
                if attempt == 2 or not retry:
                    raise
                log.warning("demo cluster start failed, trying again: %s", exc)
                self.progress("the demo cluster did not start; trying again on other ports")
        assert state is not None
        self.lock.record(bootstrap=state.bootstrap)
        log.info("cluster up at %s after %.1f s", state.bootstrap, time.monotonic() - self._started)
        settings = ConnectionSettings(bootstrap=state.bootstrap)
        asyncio.run(self._create_topics(settings))
        self.topics_ready_s = time.monotonic() - self._started
        log.info("demo topics ready after %.1f s", self.topics_ready_s)
        return settings, state

    def _clear_leftovers(self) -> None:
        """Stop a cluster of a demo that was killed before it could stop it (we hold the lock,
        so no live demo owns it)."""
        if self.cluster.load_state() is None:
            return
        self.progress("stopping the cluster left behind by a demo that did not stop cleanly")
        with contextlib.suppress(LocalClusterError):  # nothing running: stale state removed
            self.cluster.down()

    def _fetch_jars(self) -> None:
        """ensure_jars, printing its messages; while Maven runs, say it is still at it."""
        done = threading.Event()
        started = time.monotonic()

        def tick() -> None:
            while not done.wait(JARS_TICK_S):
                self.progress(f"... still fetching the Kafka jars ({time.monotonic() - started:.0f}"
                              " s; only the first run does this)")

        ticker = threading.Thread(target=tick, name="nexus-demo-jars", daemon=True)
        ticker.start()
        try:
            ensure_jars(progress=self.progress)  # main thread: Ctrl+C kills Maven with us
        finally:
            done.set()

    async def _create_topics(self, settings: ConnectionSettings) -> None:
        plan = topic_plan(self.options.brokers)
        self.progress(f"creating {len(plan)} demo topics")
        admin = KafkaAdmin(settings)
        await admin.create_topics(plan)
        deadline = time.monotonic() + settings.request_timeout_s * 3
        wanted = {name for name, _, _ in plan}
        while not wanted <= set(await admin.topic_names()):  # metadata propagates
            if time.monotonic() > deadline:
                missing = ", ".join(sorted(wanted - set(await admin.topic_names())))
                raise DemoError(f"demo topics did not appear in the cluster's metadata: {missing}")
            await asyncio.sleep(0.1)  # poll interval of the deadline-bounded wait above

    def _announce(self, state: ClusterState) -> None:
        """The first stdout line: the bootstrap servers (JSON with --json), flushed."""
        if self.options.as_json:
            self.out(json.dumps({
                "bootstrap": state.bootstrap,
                "state_dir": str(self.state_dir),
                "data_dir": state.data_dir,
                "brokers": [{"node_id": b.node_id, "port": b.port,
                             "controller_port": b.controller_port, "pid": b.pid}
                            for b in state.brokers],
                "pid": os.getpid(),
                "topics": [name for name, _, _ in topic_plan(self.options.brokers)],
                "groups": dict(GROUPS),
                "hot_partition": hot_partition(),
                "topics_ready_s": round(self.topics_ready_s, 2),
            }))
        else:
            self.out(f"bootstrap servers: {state.bootstrap}")
            if not self.options.quiet:
                self.out(f"cluster and topics ready in {self.topics_ready_s:.1f} s "
                         f"(state {self.state_dir}); Ctrl+C stops the demo")

    # ---- serve ---------------------------------------------------------------------------------

    def _run_with_tui(self, tui: TuiRunner, settings: ConnectionSettings,
                      state: ClusterState) -> None:
        self.progress(f"bootstrap servers: {state.bootstrap} (cluster and topics ready in "
                      f"{self.topics_ready_s:.1f} s); opening the dashboard")
        self._services_thread = ServicesThread(settings, self.options.rate)
        self._services_thread.start()  # they warm up behind the first paint
        self.signals.for_tui()
        if self.signals.stop_requested.is_set():
            return
        tui(settings, context_name="demo")

    async def _serve(self, settings: ConnectionSettings) -> None:
        """--no-tui: services on this loop, a status line every `status_interval_s`."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        self.signals.notify(lambda: loop.call_soon_threadsafe(wake.set))
        services = DemoServices(settings, self.options.rate)
        try:
            if self.signals.stop_requested.is_set():
                return
            await services.start()
            ready_reported = False
            last_at, last_published = time.monotonic(), 0
            next_status = last_at + self.options.status_interval_s
            while not self.signals.stop_requested.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 0.5 if not ready_reported else
                                           max(0.1, next_status - time.monotonic()))
                if self.signals.stop_requested.is_set():
                    break
                if not ready_reported and services.ready:
                    ready_reported = True
                    self._report_ready(time.monotonic() - self._started)
                now = time.monotonic()
                if now >= next_status:
                    status = services.status()
                    rate = (status.published - last_published) / (now - last_at)
                    last_at, last_published = now, status.published
                    next_status = now + self.options.status_interval_s
                    self._report_status(status, rate)
        finally:
            await services.stop()

    def _report_ready(self, seconds: float) -> None:
        log.info("demo ready after %.1f s", seconds)
        if self.options.quiet:
            return
        if self.options.as_json:
            self.out(json.dumps({"ready_s": round(seconds, 2)}))
        else:
            self.out(f"demo services running: ready {seconds:.1f} s after start")

    def _report_status(self, status: DemoStatus, msgs_per_s: float) -> None:
        if self.options.quiet:
            return
        if self.options.as_json:
            self.out(json.dumps({"status": status.as_dict(), "msgs_per_s": round(msgs_per_s, 1)}))
        else:
            self.out(status.line(msgs_per_s))

    # ---- stop ----------------------------------------------------------------------------------

    def _stop_everything(self) -> None:
        if self._services_thread is not None:
            if self.signals.received is not None or not self.options.quiet:
                self.progress("stopping the demo services")
            if not self._services_thread.stop():
                log.warning("the demo services did not stop within %.0f s", SERVICES_STOP_S)
            if self._services_thread.error is not None:
                self.progress(f"the demo services had failed: {self._services_thread.error}")
        if self.cluster.load_state() is not None:
            self.progress("stopping the demo cluster")
            with contextlib.suppress(LocalClusterError):  # already gone: state removed anyway
                self.cluster.down()
            self.progress("demo stopped")

    # ---- logging -------------------------------------------------------------------------------

    def _log_to_file(self) -> None:
        """Warnings of the core, aiokafka and the services go to <state dir>/demo.log: the
        terminal belongs to the TUI (or to the status lines)."""
        handler = logging.FileHandler(self.state_dir / "demo.log", mode="w")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name, level in (("core", logging.WARNING), ("aiokafka", logging.WARNING),
                            ("asyncio", logging.WARNING), ("nexus_tui.demo", logging.INFO)):
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            if logger.level == logging.NOTSET or logger.level > level:
                logger.setLevel(level)
        self._log_handler = handler

    def _stop_logging(self) -> None:
        if self._log_handler is None:
            return
        for name in ("core", "aiokafka", "asyncio", "nexus_tui.demo"):
            logging.getLogger(name).removeHandler(self._log_handler)
        self._log_handler.close()
        self._log_handler = None


def _silent(_: str) -> None:
    pass


def run_demo(
    options: DemoOptions,
    out: Echo = print,
    progress: Echo = print,
    tui: TuiRunner | None = None,
) -> int:
    """Run the demo until the TUI is quit (or, without it, until SIGINT/SIGTERM)."""
    return DemoRunner(options, out, progress, tui).run()
