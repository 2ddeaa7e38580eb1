"""What the exact time lag costs the monitor (CLI and TUI) at 2,000 partitions / 200 groups.

The cluster is bench/snapshot.py's (200 topics of 10 partitions; group i commits on every
partition of topic i with a random lag of 0-5 records, so ~5 in 6 partitions lag). One
`ClusterMonitor(exact_time_lag=True)` in-process (what the TUI's engine and `groups` run)
refreshes `--runs` times in three phases, each refresh split into the snapshot and the
committed records' timestamp reads (`timings["exact_s"]`):

- cold: the first refresh, fresh clients, every lagging committed record fetched;
- steady: commits did not move, the timestamps come from the cache;
- moved: every group commits one record further (where it still lags) before each refresh,
  so every lagging partition's record is fetched again — the worst case of busy consumers.

Every lagging partition's time lag is checked to be exact (its record read, not a bound),
and `nexus-tui groups --json` as a whole process is timed for the figure a user waits for.

    .venv/bin/python bench/time_lag.py [--runs 5] [--quick] [-b HOST:PORT]
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from common import Result, admin, broker, entry, log, parser, print_machine, print_table, write_json
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from snapshot import NEXUS_TUI, PARTITIONS_PER_TOPIC, RECORDS_PER_PARTITION, grow

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.engine.monitor import ClusterMonitor, MonitorView  # noqa: E402


def _move_commits(bootstrap: str, view: MonitorView) -> int:
    """Every lagging partition of every group one record further (it still lags, unless it
    was one behind); returns how many commits moved."""
    client = admin(bootstrap)
    moved = 0
    futures = []
    for gid, g in view.groups.items():
        tps = [TopicPartition(p.topic, p.partition, p.committed + 1) for p in g.partitions
               if p.committed is not None and p.offset_lag and p.offset_lag > 1]
        if tps:
            moved += len(tps)
            futures.append(client.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(gid, tps)], request_timeout=60)[gid])
    for f in futures:
        f.result(120)
    return moved


def _check_exact(view: MonitorView) -> tuple[int, int]:
    """(lagging partitions, of which an exact time lag)."""
    lagging = exact = 0
    for g in view.groups.values():
        for p in g.partitions:
            if p.offset_lag:
                lagging += 1
                exact += p.time_lag_s is not None and not p.time_lag_lower_bound
    return lagging, exact


async def phases(bootstrap: str, runs: int) -> dict[str, list[float]]:
    got: dict[str, list[float]] = {k: [] for k in (
        "cold_exact", "cold_snapshot", "steady_exact", "steady_snapshot", "moved_exact",
        "moved_snapshot", "lagging", "exact", "fetched")}
    monitor = ClusterMonitor(bootstrap, topic_filter="^bench-snap-", group_filter="^bench-snap-",
                             configs=False, exact_time_lag=True)
    try:
        for phase, count in (("cold", 1), ("steady", runs), ("moved", runs)):
            for _ in range(count):
                if phase == "moved":
                    view = await monitor.refresh(exact=False)
                    moved = _move_commits(bootstrap, view)
                view = await monitor.refresh()
                t = monitor.timings
                assert monitor.times is not None
                last = monitor.times.last
                got[f"{phase}_exact"].append(t["exact_s"])
                got[f"{phase}_snapshot"].append(t["snapshot_s"])
                lagging, exact = _check_exact(view)
                got["lagging"].append(lagging)
                got["exact"].append(exact)
                if phase != "steady":
                    got["fetched"].append(last["fetched"])
                log(f"  {phase}: snapshot {t['snapshot_s']:.2f} s, exact {t['exact_s']:.2f} s "
                    f"({last['keys']:.0f} keys, {last['cached']:.0f} cached, "
                    f"{last['fetched']:.0f} fetched, {last['missing']:.0f} missing; "
                    f"{exact}/{lagging} lagging partitions exact)"
                    + (f"; {moved} commits moved before" if phase == "moved" else ""))
    finally:
        await monitor.close()
    return got


def groups_process(bootstrap: str, runs: int) -> list[float]:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run([NEXUS_TUI, "groups", "--json", "--filter", "^bench-snap-", "-b",
                              bootstrap], capture_output=True, text=True, timeout=300)
        walls.append(time.perf_counter() - started)
        assert out.returncode == 0, out.stderr
        rows = json.loads(out.stdout)
        unknown = [r["group"] for r in rows if r["total_lag"] and r["time_lag_s"] is None]
        assert not unknown, f"{len(unknown)} lagging groups without a time lag"
    return walls


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--topics", type=int, default=None, help="topics (= groups); default 200")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    topics = args.topics or (20 if args.quick else 200)
    runs = args.runs or (2 if args.quick else 5)
    print_machine()
    with broker(args.bootstrap) as b:
        log(f"growing to {topics} topics x {PARTITIONS_PER_TOPIC} partitions, {topics} groups")
        grow(b.bootstrap, 0, topics, random.Random(7))
        got = asyncio.run(phases(b.bootstrap, runs))
        walls = groups_process(b.bootstrap, min(runs, 3))
    parts = topics * PARTITIONS_PER_TOPIC
    assert got["exact"] == got["lagging"], "a lagging partition without an exact time lag"
    refetched = int(median(got["fetched"][1:]))
    results = [
        Result(f"{parts:,} partitions: cold refresh, exact time lags "
               f"({int(got['fetched'][0])} records fetched)", "s", got["cold_exact"]),
        Result("  same refresh: the snapshot", "s", got["cold_snapshot"]),
        Result("steady refresh (commits unchanged, cached): exact time lags", "s",
               got["steady_exact"]),
        Result("  same refreshes: the snapshot", "s", got["steady_snapshot"]),
        Result(f"commits moved ({refetched} records re-fetched, median): exact time lags", "s",
               got["moved_exact"]),
        Result("  same refreshes: the snapshot", "s", got["moved_snapshot"]),
        Result("`nexus-tui groups --json` (whole process)", "s", walls),
    ]
    print_table("time_lag", results, f"{runs} refreshes per phase; records per partition "
                f"{RECORDS_PER_PARTITION}; every lagging partition exact")
    write_json(args.json_out, "time_lag", results, {"topics": topics, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(entry(main))
