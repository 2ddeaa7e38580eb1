"""`nexus-tui exporter` at 2,000 partitions / 200 groups: collection time per cluster against
ConsumerGroupCommand, the cost of the exact time lag, scrape time and the exporter's RSS.

The cluster is bench/snapshot.py's (200 topics of 10 partitions, group i commits on every
partition of topic i with a random lag of 0-5 records, so ~5 in 6 partitions lag). Then:

- in-process, one `ClusterCollection` (what the exporter runs per cluster): a first
  collection (fresh clients, every committed record's timestamp fetched) and `--runs` more
  (clients reused; the timestamps of unchanged commits come from the cache), split into the
  monitor's snapshot, the timestamp lookup and building the metric families;
- `ConsumerGroupCommand --describe --all-groups`, a whole JVM process, as the reference;
- `nexus-tui exporter` as a real process: its own `nexus_exporter_collection_duration_seconds`,
  the wall time of each scrape of /metrics, the number of series and its RSS
  (`process_resident_memory_bytes`) once idle between collections;
- scrapes under collection: /metrics fetched back to back (raw HTTP, nothing parsed, so the
  bench itself costs little CPU) for two intervals; the scrapes that overlapped a collection
  (from the exporter's own last-success time and duration) are counted apart: median, p99,
  worst;

and every group's exported `kafka_consumergroup_group_sum_lag` is checked to equal
ConsumerGroupCommand's.

    .venv/bin/python bench/exporter.py [--runs 5] [--quick] [-b HOST:PORT] [--topics N]
        [--broker-heap 2g] [--brokers N] [--reference-runs N] [--skip-reference]
"""

from __future__ import annotations

import asyncio
import random
import re
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import snapshot
from common import (
    Result,
    broker,
    create_topics,
    entry,
    log,
    parser,
    print_machine,
    print_table,
    write_json,
)
from snapshot import grow, reference

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config.settings import ConnectionSettings  # noqa: E402
from core.exporter import ClusterCollection, ClusterTarget  # noqa: E402
from core.exporter.families import lagging_keys  # noqa: E402
from tests.exporter_helpers import exporter_process  # noqa: E402


async def in_process(bootstrap: str, runs: int) -> dict[str, list[float]]:
    collection = ClusterCollection(ClusterTarget("bench", ConnectionSettings.of(bootstrap)),
                                   interval_s=10.0, group_filter="^bench-snap-",
                                   topic_filter="^bench-snap-")
    got: dict[str, list[float]] = {k: [] for k in (
        "first", "first_timestamps", "collect", "snapshot", "timestamps", "families",
        "lagging")}
    try:
        for i in range(runs + 1):
            started = time.perf_counter()
            view = await collection.monitor.refresh()
            snap_s = time.perf_counter() - started
            keys = lagging_keys(view)
            t0 = time.perf_counter()
            records = await collection.timestamps.lookup(keys)
            ts_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            from core.exporter.families import build_families

            build_families("bench", view, records, time.time(), collection.options)
            fam_s = time.perf_counter() - t0
            total = time.perf_counter() - started
            missing = len(keys) - len(records)
            log(f"  collection {i}: {total:.2f} s (snapshot {snap_s:.2f}, timestamps {ts_s:.2f} "
                f"for {len(keys)} lagging partitions, {collection.timestamps.last['cached']} "
                f"cached, {missing} not read; families {fam_s:.2f})")
            if i == 0:
                got["first"].append(total)
                got["first_timestamps"].append(ts_s)
                got["lagging"].append(len(keys))
            else:
                got["collect"].append(total)
                got["snapshot"].append(snap_s)
                got["timestamps"].append(ts_s)
                got["families"].append(fam_s)
    finally:
        await collection.close()
    return got


_LAST = re.compile(rb"^nexus_exporter_last_success_timestamp_seconds\{[^}]*\} (\S+)$", re.M)
_TOOK = re.compile(rb"^nexus_exporter_collection_duration_seconds\{[^}]*\} (\S+)$", re.M)


def scrapes_under_collection(url: str, seconds: float) -> tuple[list[float], list[float]]:
    """Scrape back to back for `seconds`: (every scrape's wall time, those of the scrapes that
    overlapped a collection)."""
    scrapes: list[tuple[float, float]] = []
    collections: set[tuple[float, float]] = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        wall, started = time.time(), time.perf_counter()
        with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
            body = resp.read()
        took = time.perf_counter() - started
        scrapes.append((wall, took))
        last, dur = _LAST.search(body), _TOOK.search(body)
        if last and dur:
            collections.add((float(last.group(1)), float(dur.group(1))))
        time.sleep(0.01)  # back to back, leaving the CPU a breath
    during = [took for wall, took in scrapes
              if any(fin - dur <= wall + took and wall <= fin for fin, dur in collections)]
    return [took for _, took in scrapes], during


def as_process(bootstrap: str, runs: int, expected: dict[str, int],
               interval_s: float = 5.0) -> dict[str, list[float]]:
    got: dict[str, list[float]] = {"duration": [], "scrape": [], "rss": [], "series": [],
                                   "tight": [], "during": []}
    with exporter_process("-b", bootstrap, "--interval", f"{interval_s:g}", "--groups",
                          "^bench-snap-", "--topics", "^bench-snap-", timeout=120) as exp:
        seen: set[float] = set()
        deadline = time.monotonic() + 60 + 10 * runs
        while len(seen) < runs + 1 and time.monotonic() < deadline:
            s = exp.scrape()
            got["scrape"].append(s.took_s)
            finished = s.one("nexus_exporter_last_success_timestamp_seconds")
            if finished is not None and finished not in seen:
                seen.add(finished)
                if len(seen) > 1:  # the first one pays for connections and the timestamps
                    got["duration"].append(
                        s.one("nexus_exporter_collection_duration_seconds") or 0.0)
                    got["series"].append(float(len(s.series)))
                    sums = {dict(k)["group"]: v for k, v in
                            s.values("kafka_consumergroup_group_sum_lag").items()}
                    bad = [g for g in expected if sums.get(g) != expected[g]]
                    assert not bad, f"sum lag differs for {len(bad)} groups, e.g. {bad[:3]}"
                    time.sleep(interval_s / 2)  # between collections: the exporter is idle
                    got["rss"].append(
                        (exp.scrape().one("process_resident_memory_bytes") or 0) / 2**20)
            time.sleep(0.5)  # scrape pacing (every scrape is timed)
        got["tight"], got["during"] = scrapes_under_collection(exp.url, 2 * interval_s)
    return got


def _patient_create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """snapshot.grow's topic creation, waiting up to 5 minutes for the metadata (its 60 s
    default is too short on a machine shared by many sessions)."""
    create_topics(bootstrap, names, partitions, timeout=300)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--topics", type=int, default=None, help="topics (= groups); default 200")
    p.add_argument("--interval", type=float, default=5.0, help="the exporter's interval")
    p.add_argument("--broker-heap", default=None, help="the private broker's -Xmx (e.g. 2g)")
    p.add_argument("--brokers", type=int, default=1,
                   help="brokers of the private cluster (one broker holds at most ~20,000 "
                        "partitions here: open files and memory maps per process)")
    p.add_argument("--reference-runs", type=int, default=3,
                   help="ConsumerGroupCommand runs (at most --runs)")
    p.add_argument("--skip-reference", action="store_true",
                   help="no ConsumerGroupCommand (the sum lags are still checked against the "
                        "commits)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    topics = args.topics or (20 if args.quick else 200)
    runs = args.runs or (2 if args.quick else 5)
    print_machine()
    snapshot.create_topics = _patient_create_topics  # type: ignore[assignment]
    if args.broker_heap:  # many partitions: the private broker's 512 MiB heap is too small
        from core.local import cluster

        cluster.BROKER_JVM_FLAGS[:] = [f for f in cluster.BROKER_JVM_FLAGS
                                       if not f.startswith(("-Xmx", "-Xms"))]
        cluster.BROKER_JVM_FLAGS += [f"-Xmx{args.broker_heap}", f"-Xms{args.broker_heap}"]
    with broker(args.bootstrap, args.brokers) as b:
        log(f"growing to {topics} topics x 10 partitions, {topics} groups ...")
        expected = grow(b.bootstrap, 0, topics, random.Random(7))
        ref_wall: list[float] = []
        for _ in range(0 if args.skip_reference else min(runs, args.reference_runs)):
            wall, lags = reference(b.bootstrap)
            ref_wall.append(wall)
            ref = {g: v for g, v in lags.items() if g in expected}
            assert ref == expected, "ConsumerGroupCommand disagrees with the committed lags"
        log(f"ConsumerGroupCommand: {', '.join(f'{w:.2f}' for w in ref_wall)} s")
        inproc = asyncio.run(in_process(b.bootstrap, runs))
        proc = as_process(b.bootstrap, runs, expected, args.interval)
    parts = topics * 10
    results = [
        Result(f"{parts:,} partitions, {topics} groups: a collection (clients reused)", "s",
               inproc["collect"], ref_wall,
               note="ratio = ours / ConsumerGroupCommand --describe --all-groups"),
        Result("  of which the monitor's snapshot", "s", inproc["snapshot"]),
        Result("  of which the exact time lags (cached)", "s", inproc["timestamps"]),
        Result("  of which the metric families", "s", inproc["families"]),
        Result("  first collection (fresh clients)", "s", inproc["first"]),
        Result(f"  first time-lag lookup ({int(inproc['lagging'][0])} partitions fetched)", "s",
               inproc["first_timestamps"]),
        Result("exporter process: nexus_exporter_collection_duration_seconds", "s",
               proc["duration"]),
        Result("exporter process: scrape of /metrics (wall)", "s", proc["scrape"],
               target="< 0.1 s", check="<=0.1"),
        Result("exporter process: scrapes back to back (wall)", "s", proc["tight"],
               target="< 0.1 s", check="<=0.1"),
        Result("  of which during a collection", "s", proc["during"] or [float("nan")],
               target="< 0.1 s", check="<=0.1"),
        Result("exporter process: series per scrape", "n", proc["series"]),
        Result("exporter process: RSS between collections", "MiB", proc["rss"]),
    ]
    print_table("exporter", results, f"{runs} collections; sum lag of every group checked "
                "equal to the commits" + ("" if args.skip_reference else
                                          " and to ConsumerGroupCommand's")
                + f"; scrapes back to back: {_spread(proc['tight'])}; during a collection: "
                f"{_spread(proc['during'])}")
    write_json(args.json_out, "exporter", results, {"topics": topics, "runs": runs})
    return 0


def _spread(values: list[float]) -> str:
    if not values:
        return "none"
    p99 = (statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1
           else values[0])
    return (f"{len(values)} scrapes, median {statistics.median(values) * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, worst {max(values) * 1000:.1f} ms")


if __name__ == "__main__":
    sys.exit(entry(main))
