"""`nexus-tui local up` with cached jars: time to ready for 1 and 3 brokers, RSS per broker.

Each run is the real command as a whole process — `nexus-tui local up --brokers N --port P
--json` in a private state dir (XDG_STATE_HOME), so it never touches the user's own local
cluster — timed until it returns (every broker reported in the metadata), then `local down`.
After the last run of each size, before `down`: RSS of every broker right after ready, then a
publisher load (one run of bench/publisher.py's publish_many side and one ProducerPerformance
run, 200,000 x 1 KiB each, replication = brokers) and the RSS again.

There is no reference tool for this one: Kafka's own start script is what `local up` runs.

    .venv/bin/python bench/local_up.py [--runs 3] [--quick]
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from common import (
    MiB,
    Result,
    entry,
    free_port_base,
    log,
    parser,
    print_machine,
    print_table,
    write_json,
)
from publisher import run as publisher_run

from core.errors import LocalClusterError
from core.local import LocalCluster

NEXUS_TUI = str(Path(sys.executable).with_name("nexus-tui"))
TARGET_ONE_BROKER_S = 15.0


def _cli(state_home: str, *args: str, timeout: float = 180) -> dict[str, Any]:
    env = {**os.environ, "XDG_STATE_HOME": state_home}
    proc = subprocess.run([NEXUS_TUI, "local", *args, "--json"], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"nexus-tui local {args[0]} failed: {proc.stderr.strip()[-600:]}")
    return json.loads(proc.stdout)


def _rss_mib(pids: list[int]) -> list[float]:
    out = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            out.append(psutil.Process(pid).memory_info().rss / MiB)
    return out


def one_run(brokers: int, load: int | None) -> dict[str, Any]:
    """Up (timed), optional RSS + load + RSS, down (always, even on error)."""
    with tempfile.TemporaryDirectory(prefix="nexus-bench-up-") as state_home:
        started = time.perf_counter()
        try:
            up = _cli(state_home, "up", "--brokers", str(brokers),
                      "--port", str(free_port_base(2 * brokers)))
            took = time.perf_counter() - started
            pids = [b["pid"] for b in up["brokers"]]
            got: dict[str, Any] = {"up_s": took, "reported_s": up.get("seconds")}
            if load:
                got["rss_ready"] = _rss_mib(pids)
                results = publisher_run(up["bootstrap"], load, 1, {"publish_many", "reference"},
                                        replication=brokers)
                got["publish_rate"] = results[0].ours_median
                got["reference_rate"] = results[0].ref_median
                got["rss_loaded"] = _rss_mib(pids)
            return got
        finally:
            try:
                _cli(state_home, "down", timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(LocalClusterError):  # whatever is left: stop it
                    LocalCluster(Path(state_home) / "nexus-tui" / "local").down(grace=5)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--load", type=int, default=None,
                   help="records of the publisher load before the second RSS (200,000)")
    args = p.parse_args(argv)
    if args.bootstrap:
        p.error("local_up.py starts its own clusters: --bootstrap makes no sense here")
    runs = args.runs or (1 if args.quick else 3)
    load = args.load or (20_000 if args.quick else 200_000)
    print_machine()
    results: list[Result] = []
    extra: dict[str, Any] = {}
    for brokers in (1, 3):
        ups: list[float] = []
        last: dict[str, Any] = {}
        for i in range(runs):
            last = one_run(brokers, load if i == runs - 1 else None)
            ups.append(last["up_s"])
            log(f"{brokers} broker(s), run {i + 1}/{runs}: up in {last['up_s']:.2f} s")
        one = brokers == 1
        results.append(Result(
            f"local up --brokers {brokers} (whole command, to all brokers ready)", "s", ups,
            target=f"< {TARGET_ONE_BROKER_S:g} s" if one else "",
            check=f"<={TARGET_ONE_BROKER_S}" if one else ""))
        results.append(Result("  RSS per broker right after ready", "MiB", last["rss_ready"],
                              note="one value per broker"))
        results.append(Result(f"  RSS per broker after {load:,} x 1 KiB published twice",
                              "MiB", last["rss_loaded"],
                              note=f"publish_many {last['publish_rate']:,.0f} rec/s, "
                              f"ProducerPerformance {last['reference_rate']:,.0f} rec/s, "
                              f"acks=all, replication {brokers}"))
        extra[f"brokers_{brokers}"] = last
    print_table("local cluster start and memory", results,
                f"{runs} runs per size, cached jars, fresh storage each run")
    write_json(args.json_out, "local_up", results, extra)
    return 0 if all(r.verdict != "MISS" for r in results) else 1


if __name__ == "__main__":
    sys.exit(entry(main))
