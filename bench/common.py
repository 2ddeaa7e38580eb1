"""What every benchmark shares: its own throwaway broker, machine facts, medians and the table.

Benchmarks are not tests. Each one runs our code and Apache Kafka's own tool side by side, in one
invocation, against the same local broker, and prints ratios of medians (the machine is shared
and noisy: single timings mean nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka.admin import AdminClient, NewTopic

from core.errors import LocalClusterError
from core.local import KAFKA_VERSION, LocalCluster
from core.local.cluster import port_free
from core.local.tools import tool_command

#: ProducerPerformance's payload alphabet: random uppercase letters (random.nextInt(26) + 65).
UPPERCASE = bytes(65 + b % 26 for b in range(256))
MiB = 1024 * 1024  # ProducerPerformance's and ConsumerPerformance's "MB"


def random_letters(rng: random.Random, size: int) -> bytes:
    """`size` random uppercase letters: the compressibility of ProducerPerformance's payload
    (the modulo bias of 256 % 26 is irrelevant to lz4, which finds no repeats either way)."""
    return rng.randbytes(size).translate(UPPERCASE)


# ---- arguments -----------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("-b", "--bootstrap", default=None,
                   help="use this broker instead of starting a private one")
    p.add_argument("--runs", type=int, default=None, help="runs per side (median is quoted)")
    p.add_argument("--quick", action="store_true", help="small smoke run (numbers not quotable)")
    p.add_argument("--json", dest="json_out", default=None, metavar="FILE",
                   help="also write the results as JSON")
    return p


# ---- the broker ----------------------------------------------------------------------------


@dataclass
class Broker:
    bootstrap: str
    cluster: LocalCluster | None  # None: given with --bootstrap, not ours to stop
    pids: list[int] = field(default_factory=list)
    up_s: float | None = None

    def rss_mib(self) -> list[float]:
        """Resident memory of each broker process we started."""
        out = []
        for pid in self.pids:
            with contextlib.suppress(psutil.Error):
                out.append(psutil.Process(pid).memory_info().rss / MiB)
        return out


def free_port_base(ports: int) -> int:
    """A random base port with `ports` consecutive free ports (other sessions run brokers too)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 60_000, 10)
        if all(port_free(base + i) for i in range(ports)):
            return base
    raise LocalClusterError("no free range of local ports found")


def start_cluster(state_dir: Path, brokers: int = 1) -> Broker:
    """Start a fresh cluster in `state_dir` on ports of its own; the caller stops it."""
    cluster = LocalCluster(state_dir=state_dir)
    for attempt in range(5):
        try:
            started = time.perf_counter()
            state = cluster.up(brokers=brokers, port=free_port_base(2 * brokers))
            return Broker(state.bootstrap, cluster, [b.pid for b in state.brokers],
                          time.perf_counter() - started)
        except LocalClusterError as exc:  # a port taken between the check and the bind
            if "in use" not in str(exc) or attempt == 4:
                raise
    raise AssertionError("unreachable")


def stop_cluster(broker: Broker) -> None:
    if broker.cluster is not None:
        with contextlib.suppress(LocalClusterError):
            broker.cluster.down(grace=10)


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so `finally` stops the broker on SIGTERM too


@contextlib.contextmanager
def broker(bootstrap: str | None, brokers: int = 1) -> Iterator[Broker]:
    """The benchmark's broker: the given one, or a private one that is always stopped."""
    if bootstrap:
        yield Broker(bootstrap, None)
        return
    previous = signal.signal(signal.SIGTERM, _sigterm)
    with tempfile.TemporaryDirectory(prefix="nexus-bench-") as state_dir:
        log(f"starting a private {brokers}-broker cluster ...")
        b = start_cluster(Path(state_dir), brokers)
        log(f"broker up at {b.bootstrap} in {b.up_s:.1f} s")
        try:
            yield b
        finally:
            stop_cluster(b)
            signal.signal(signal.SIGTERM, previous)


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})


def create_topics(bootstrap: str, names: Sequence[str], partitions: int,
                  config: dict[str, str] | None = None, timeout: float = 60,
                  replication: int = 1) -> None:
    """Create topics and wait until the metadata shows every partition of them."""
    client = admin(bootstrap)
    for chunk_start in range(0, len(names), 100):
        chunk = names[chunk_start:chunk_start + 100]
        futures = client.create_topics(
            [NewTopic(n, partitions, replication, config=config or {}) for n in chunk],
            request_timeout=timeout)
        for fut in futures.values():
            fut.result(timeout)
    deadline = time.monotonic() + timeout
    wanted = set(names)
    while True:  # metadata propagates after CreateTopics returns
        md = client.list_topics(timeout=10).topics
        if all(len(getattr(md.get(n), "partitions", ())) == partitions for n in wanted):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("created topics did not show up in the metadata")
        time.sleep(0.1)  # poll interval of the condition above


def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    if not names:
        return
    for fut in admin(bootstrap).delete_topics(list(names), request_timeout=30).values():
        with contextlib.suppress(Exception):
            fut.result(30)


def unique(prefix: str) -> str:
    return f"{prefix}-{time.time_ns() % 10**12:012d}"


# ---- Kafka's own tools ---------------------------------------------------------------------


def run_reference(main_class: str, args: Sequence[str], timeout: float = 300) -> tuple[str, float]:
    """Run a Kafka tool the way Kafka's scripts do (-Xmx512m, G1, C2 on): (stdout, wall s)."""
    cmd = tool_command(main_class, args, fast_start=False)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{main_class.rsplit('.', 1)[-1]} failed ({proc.returncode}): "
                           f"{proc.stderr.strip()[-800:]}")
    return proc.stdout, wall


# ---- numbers and the table -----------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(round(q / 100 * len(sorted_values) + 0.5))))
    return sorted_values[rank - 1]


@dataclass
class Result:
    """One line of a benchmark's table."""

    name: str
    unit: str
    ours: list[float]
    reference: list[float] = field(default_factory=list)
    target: str = ""
    # "ratio>=X" (ours/ref at least X), "speedup>=X" (ref/ours at least X, for times),
    # "<=X" / ">=X" (absolute); empty: informative line, no verdict
    check: str = ""
    note: str = ""

    @property
    def ours_median(self) -> float:
        return median(self.ours)

    @property
    def ref_median(self) -> float | None:
        return median(self.reference) if self.reference else None

    @property
    def ratio(self) -> float | None:
        ref = self.ref_median
        if ref is None or ref == 0:
            return None
        if self.check.startswith("speedup"):
            return ref / self.ours_median
        return self.ours_median / ref

    @property
    def verdict(self) -> str:
        if not self.check:
            return ""
        m = re.fullmatch(r"(ratio|speedup)?(<=|>=)([0-9.]+)", self.check)
        assert m, self.check
        kind, op, bound = m.group(1), m.group(2), float(m.group(3))
        value = self.ratio if kind else self.ours_median
        if value is None:
            return "?"
        ok = value >= bound if op == ">=" else value <= bound
        return "PASS" if ok else "MISS"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "ours": self.ours,
                "reference": self.reference, "ours_median": self.ours_median,
                "reference_median": self.ref_median, "ratio": self.ratio,
                "target": self.target, "verdict": self.verdict, "note": self.note}


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # nan
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(title: str, results: Sequence[Result], runs_note: str = "") -> None:
    """The results, then the CPU pressure at the end (what the machine's neighbours did)."""
    head = ["metric", "unit", "ours (median)", "reference (median)", "ratio", "target", "verdict"]
    rows = [[r.name, r.unit, _fmt(r.ours_median), _fmt(r.ref_median),
             "-" if r.ratio is None else f"{r.ratio:.2f}x", r.target or "-", r.verdict or "-"]
            for r in results]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print()
    print(f"== {title} ==" + (f"  ({runs_note})" if runs_note else ""))
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    for r in results:
        runs = ", ".join(_fmt(v) for v in r.ours)
        ref = ", ".join(_fmt(v) for v in r.reference)
        print(f"  {r.name}: ours [{runs}]" + (f" ref [{ref}]" if ref else "")
              + (f"  — {r.note}" if r.note else ""))
    print(f"CPU pressure at the end (PSI some): {cpu_pressure()}; load {os.getloadavg()[0]:.2f}")
    sys.stdout.flush()


def write_json(path: str | None, title: str, results: Sequence[Result],
               extra: dict[str, Any] | None = None) -> None:
    if not path:
        return
    Path(path).write_text(json.dumps({
        "benchmark": title, "machine": machine(), "results": [r.as_dict() for r in results],
        **(extra or {}),
    }, indent=2))


def entry(main: Callable[[], int]) -> int:
    """Run a benchmark's main: exit 0 when nothing missed its target, 1 on a miss, 130 when
    interrupted (Ctrl-C or SIGTERM; the private broker is stopped on the way out)."""
    try:
        return main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def interleaved(runs: int, *sides: Callable[[int], None]) -> None:
    """Run the sides alternately (A B A B ...) so the machine's noise hits them alike."""
    for i in range(runs):
        for side in sides:
            side(i)


# ---- the machine ---------------------------------------------------------------------------


def _java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True,
                             timeout=30).stderr
    except OSError:
        return "?"
    first = out.strip().splitlines()[0] if out.strip() else "?"
    return first.replace("openjdk version ", "OpenJDK ").replace('"', "")


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def cpu_pressure() -> str:
    """Linux PSI: the share of time some runnable task waited for a CPU (10 s and 60 s means).
    Near 0 on a quiet machine; tens of percent mean timings here are stretched by others."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        fields = dict(f.split("=") for f in some[1:3])
        return f"{fields['avg10']}% (10 s), {fields['avg60']}% (60 s)"
    return "n/a"


_PROBE = """
import signal, sys, time
over = []
def report(*_):
    over.sort()
    n = len(over)
    q = lambda x: over[min(n - 1, int(x * n))] if n else float('nan')
    print(f"{q(0.5):.3f} {q(0.99):.3f} {over[-1] if n else float('nan'):.3f} {n}", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, report)
while True:
    t = time.perf_counter()
    time.sleep(0.001)
    over.append((time.perf_counter() - t - 0.001) * 1000)
"""


class JitterProbe:
    """A separate process that sleeps 1 ms in a loop and records how late it wakes up: the
    machine's scheduling delay while a latency benchmark runs (our timings include it too)."""

    def __enter__(self) -> JitterProbe:
        self.proc = subprocess.Popen([sys.executable, "-c", _PROBE], stdout=subprocess.PIPE,
                                     text=True)
        self.p50_ms = self.p99_ms = self.max_ms = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
            out, _ = self.proc.communicate(timeout=10)
            self.p50_ms, self.p99_ms, self.max_ms, _ = (float(x) for x in out.split())
        if self.proc.poll() is None:
            self.proc.kill()


def machine() -> dict[str, str]:
    import aiokafka
    import confluent_kafka

    return {
        "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpu_model(),
        "ram_gib": f"{psutil.virtual_memory().total / 1024**3:.1f}",
        "load_avg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "cpu_pressure": cpu_pressure(),
        "python": platform.python_version(),
        "java": _java_version(),
        "kafka": KAFKA_VERSION,
        "librdkafka": confluent_kafka.libversion()[0],
        "confluent_kafka": confluent_kafka.__version__,
        "aiokafka": aiokafka.__version__,
    }


def print_machine() -> None:
    m = machine()
    print(f"machine: {m['nproc']} cpu ({m['cpu']}), {m['ram_gib']} GiB RAM, load {m['load_avg']}, "
          f"CPU pressure {m['cpu_pressure']};"
          f" Python {m['python']}, {m['java']}, Kafka {m['kafka']}, librdkafka {m['librdkafka']}"
          f" (confluent-kafka {m['confluent_kafka']}), aiokafka {m['aiokafka']}; {m['date']}")
