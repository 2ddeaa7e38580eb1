"""`nexus-tui exporter` beside klag-exporter (Rust, crates.io), same cluster, same run: offset
lag per partition, time lag against klag's exact figure, collection time, CPU, RSS, scrapes.

The cluster is bench/snapshot.py's (topics of 10 partitions, group i commits on topic i with
a random lag of 0-5 records; nothing moves afterwards). Both exporters run at once with the
same interval, each filtered to the bench's topics and groups; klag-exporter with
`granularity = "partition"` and `timestamp_sampling.mode = "message"` (the time lag from the
timestamp of the record at the committed offset: exact, like ours). Then, over `--runs`
collections of each:

- every (group, topic, partition)'s `kafka_consumergroup_group_lag` and `_offset` must be
  equal in both (asserted), and each group's total equal to the committed lags;
- time lag: both compute now minus the same record's timestamp, at different instants. Each
  value is turned back into the record timestamp it implies (the collection's instant minus
  the lag: ours `nexus_exporter_last_success_timestamp_seconds`, klag's
  `kafka_lag_exporter_last_update_timestamp_seconds`, whole seconds, set when its cycle
  ends); the two implied timestamps must agree within TOLERANCE: 1 s (klag's timestamp
  resolution) plus klag's collection time (its "now" is taken during the cycle);
- collection time (ours: `nexus_exporter_collection_duration_seconds`; klag:
  `kafka_consumergroup_poll_time_ms`), CPU time per collection, RSS between collections and
  the wall time of each scrape, medians.

    .venv/bin/python bench/exporter_vs_klag.py [--runs 5] [--quick] [--topics N]
        [-b HOST:PORT] [--klag PATH]
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
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
from snapshot import grow

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.exporter_helpers import (  # noqa: E402
    Scrape,
    exporter_process,
    klag_binary,
    klag_process,
)

FILTER = "^bench-snap-"
TIMESTAMP_RESOLUTION_S = 1.0  # klag's last-update timestamp is whole seconds


Key = tuple[str, str, int]


def per_partition(s: Scrape, name: str) -> dict[Key, float]:
    out = {}
    for labels, value in s.values(name).items():
        d = dict(labels)
        if d.get("group", "").startswith("bench-snap-"):
            out[(d["group"], d["topic"], int(d["partition"]))] = value
    return out


def implied_timestamps(s: Scrape, collected_at: float) -> dict[Key, float]:
    """The record timestamp each time lag implies: the collection's instant minus the lag."""
    return {k: collected_at - v for k, v in
            per_partition(s, "kafka_consumergroup_group_lag_seconds").items()}


def run_side_by_side(bootstrap: str, klag_bin: str, runs: int, interval_s: float,
                     expected: dict[str, int], fetches: int | None,
                     cache_ttl_s: float | None) -> dict[str, list[float]]:
    got: dict[str, list[float]] = {k: [] for k in (
        "ours_collect", "klag_collect", "ours_cpu", "klag_cpu", "ours_rss", "klag_rss",
        "ours_scrape", "klag_scrape", "ts_diff", "partitions", "time_lag_pairs",
        "klag_time_lag_missing", "ours_time_lag_missing", "ours_lower_bound")}
    with exporter_process("-b", bootstrap, "--interval", f"{interval_s:g}", "--groups", FILTER,
                          "--topics", FILTER, timeout=120) as ours, \
            klag_process(klag_bin, bootstrap, interval_s, FILTER, fetches=fetches,
                         cache_ttl_s=cache_ttl_s) as klag:
        procs = {"ours": psutil.Process(ours.proc.pid), "klag": psutil.Process(klag.proc.pid)}
        seen: dict[str, list[float]] = {"ours": [], "klag": []}
        cpu_at: dict[str, tuple[int, float]] = {}
        deadline = time.monotonic() + 120 + 3 * interval_s * (runs + 2)
        while min(len(v) for v in seen.values()) < runs + 1:
            assert time.monotonic() < deadline, f"too few collections: {seen}"
            so, sk = ours.scrape(), klag.scrape()
            got["ours_scrape"].append(so.took_s)
            got["klag_scrape"].append(sk.took_s)
            fresh = []
            for side, s, stamp_name in (
                    ("ours", so, "nexus_exporter_last_success_timestamp_seconds"),
                    ("klag", sk, "kafka_lag_exporter_last_update_timestamp_seconds")):
                stamp = s.one(stamp_name, cluster_name="bench" if side == "klag" else bootstrap)
                if stamp is None or (seen[side] and stamp == seen[side][-1]):
                    continue
                seen[side].append(stamp)
                fresh.append(side)
                cpu = sum(procs[side].cpu_times()[:2])
                if side in cpu_at and len(seen[side]) > 2:  # the first ones pay for set-up
                    n0, c0 = cpu_at[side]
                    got[f"{side}_cpu"].append((cpu - c0) / (len(seen[side]) - n0))
                if len(seen[side]) == 2:
                    cpu_at[side] = (len(seen[side]), cpu)
                if len(seen[side]) > 1:
                    if side == "ours":
                        took = so.one("nexus_exporter_collection_duration_seconds")
                    else:
                        took = (sk.one("kafka_consumergroup_poll_time_ms", cluster_name="bench")
                                or 0) / 1000
                    got[f"{side}_collect"].append(took or 0.0)
            if "ours" in fresh or "klag" in fresh:
                compare(so, sk, seen, expected, got)
            for side in ("ours", "klag"):  # between collections, idle
                if len(seen[side]) > 1:
                    got[f"{side}_rss"].append(procs[side].memory_info().rss / 2**20)
            time.sleep(2.0)  # scrape pacing (each scrape timed; parsing two costs CPU)
    return got


def compare(so: Scrape, sk: Scrape, seen: dict[str, list[float]], expected: dict[str, int],
            got: dict[str, list[float]]) -> None:
    """Offset lag and committed offset equal per partition; implied timestamps within the
    tolerance (once both have a completed collection of the static cluster)."""
    lag_o, lag_k = (per_partition(s, "kafka_consumergroup_group_lag") for s in (so, sk))
    if not lag_o or not lag_k or len(seen["ours"]) < 2 or len(seen["klag"]) < 2:
        return
    assert lag_o == lag_k, f"offset lag differs on {len(set(lag_o.items()) ^ set(lag_k.items()))}"
    off_o, off_k = (per_partition(s, "kafka_consumergroup_group_offset") for s in (so, sk))
    assert off_o == off_k, "committed offsets differ"
    sums: dict[str, float] = {}
    for (group, _, _), v in lag_o.items():
        sums[group] = sums.get(group, 0) + v
    assert {g: sums.get(g, 0) for g in expected} == expected, "lag totals differ from commits"
    got["partitions"].append(len(lag_o))
    ts_o = implied_timestamps(so, seen["ours"][-1])
    ts_k = implied_timestamps(sk, seen["klag"][-1])
    lagging = {k for k, v in lag_o.items() if v > 0}
    both = ts_o.keys() & ts_k.keys() & lagging
    got["time_lag_pairs"].append(len(both))
    missing = lagging - ts_o.keys()
    lower = per_partition(so, "nexus_consumergroup_group_lag_seconds_lower_bound")
    got["ours_lower_bound"].append(len(missing & lower.keys()))
    if missing:
        k = sorted(missing)[0]
        log(f"  e.g. no time lag of ours for {k}: lag {lag_o[k]}, offset {off_o.get(k)}")
    got["ours_time_lag_missing"].append(len(missing))
    got["klag_time_lag_missing"].append(len(lagging - ts_k.keys()))
    got["ts_diff"].extend(abs(ts_o[k] - ts_k[k]) for k in both)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--topics", type=int, default=None, help="topics (= groups); default 200")
    p.add_argument("--interval", type=float, default=30.0,
                   help="both exporters' interval (klag-exporter's collection times out at it: "
                        "it needed more than 10 s at 2,000 partitions here)")
    p.add_argument("--klag", default=None, help="klag-exporter binary")
    p.add_argument("--klag-fetches", type=int, default=None,
                   help="klag's max_concurrent_fetches (default: its own, 5)")
    p.add_argument("--klag-cache-ttl", type=float, default=None,
                   help="klag's timestamp cache_ttl in s (default: its own, 60 s; ours keeps a "
                        "timestamp while the commit does not move)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    klag_bin = klag_binary(args.klag)
    if klag_bin is None:
        log("klag-exporter not found: cargo install --locked klag-exporter@0.1.29")
        return 2
    topics = args.topics or (20 if args.quick else 200)
    runs = args.runs or (2 if args.quick else 5)
    print_machine()
    snapshot.create_topics = lambda b, names, parts: create_topics(b, names, parts, timeout=300)
    with broker(args.bootstrap) as b:
        log(f"growing to {topics} topics x 10 partitions, {topics} groups ...")
        expected = grow(b.bootstrap, 0, topics, random.Random(7))
        got = run_side_by_side(b.bootstrap, klag_bin, runs, args.interval, expected,
                               args.klag_fetches, args.klag_cache_ttl)
    tolerance = TIMESTAMP_RESOLUTION_S + max(got["klag_collect"])
    worst = max(got["ts_diff"], default=float("nan"))
    assert got["ts_diff"] and worst <= tolerance, (worst, tolerance)
    version = subprocess.run([klag_bin, "--version"], capture_output=True, text=True).stdout
    parts = topics * 10
    results = [
        Result(f"{parts:,} partitions, {topics} groups: collection time", "s",
               got["ours_collect"], got["klag_collect"], note="reference = klag-exporter"),
        Result("CPU time per collection (user + system)", "s", got["ours_cpu"],
               got["klag_cpu"]),
        Result("RSS between collections", "MiB", got["ours_rss"], got["klag_rss"]),
        Result("scrape of /metrics (wall)", "s", got["ours_scrape"], got["klag_scrape"]),
        Result("partitions compared per collection (offset lag equal)", "n",
               got["partitions"]),
        Result("lagging partitions with both time lags", "n", got["time_lag_pairs"]),
        Result("  lagging partitions without our time lag", "n",
               got["ours_time_lag_missing"]),
        Result("  lagging partitions without klag's time lag", "n",
               got["klag_time_lag_missing"]),
        Result("|implied record timestamp, ours - klag's|", "s", got["ts_diff"],
               target=f"<= {tolerance:.2f} s", check=f"<={tolerance:.3f}"),
    ]
    print_table("exporter vs klag-exporter", results,
                f"{version.strip()} (max_concurrent_fetches "
                f"{args.klag_fetches or 'default'}, cache_ttl "
                f"{args.klag_cache_ttl or 'default'}); {runs} collections each at "
                f"{args.interval:g} s; worst "
                f"timestamp difference {worst:.3f} s, p99 "
                f"{_p99(got['ts_diff']):.3f} s; scrapes: ours "
                f"p99 {_p99(got['ours_scrape']):.3f} s worst {max(got['ours_scrape']):.3f} s, "
                f"klag p99 {_p99(got['klag_scrape']):.3f} s worst "
                f"{max(got['klag_scrape']):.3f} s")
    write_json(args.json_out, "exporter_vs_klag", results,
               {"topics": topics, "runs": runs, "interval_s": args.interval,
                "klag": version.strip(), "klag_fetches": args.klag_fetches,
                "tolerance_s": tolerance, "worst_ts_diff_s": worst})
    return 0


def _p99(values: list[float]) -> float:
    return (statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) >= 2
            else values[0])


if __name__ == "__main__":
    sys.exit(entry(main))
