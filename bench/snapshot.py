"""Whole-cluster snapshot with lag: `nexus-tui groups --json` vs ConsumerGroupCommand.

The cluster grows in three steps — 20, 100, 200 topics of 10 partitions (200, 1,000, 2,000
partitions) with as many consumer groups as topics (group i commits on every partition of
topic i, so each group has 10 partitions and a known lag). A few records go to every partition
(one producer, no wait per record); commits are written with AdminClient.alter_consumer_group
_offsets, 16 in flight. At each step, in the same run and interleaved:

- `nexus-tui groups --json -b B` as a whole process (start-up, imports, snapshot, JSON out);
- `KafkaAdmin.snapshot()` in-process: a fresh client (cold) and a reused one (warm, what the
  TUI's refresh does);
- `ConsumerGroupCommand --bootstrap-server B --describe --all-groups`, a whole JVM process;

and the total lag of every group is checked to agree between ours and Kafka's tool.

The groups only commit, so they are Empty. `--active` gives each one a member: a child process
holds one consumer per group (subscribed to its topic, every partition paused at once: no
fetching, no commits, so the lags stay as committed) and the measuring starts when every group
is Stable. Empty and active groups cost different requests (BENCHMARKS.md §4).

    .venv/bin/python bench/snapshot.py [--runs 3] [--quick] [--active] [-b HOST:PORT]
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

from common import (
    Result,
    admin,
    broker,
    create_topics,
    entry,
    log,
    parser,
    print_machine,
    print_table,
    run_reference,
    write_json,
)
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition

from core.cluster.admin import KafkaAdmin
from core.local.tools import CONSUMER_GROUP_COMMAND

PARTITIONS_PER_TOPIC = 10
RECORDS_PER_PARTITION = 5
COMMIT_CONCURRENCY = 16
TARGET_S = 1.5
TARGET_SPEEDUP = 5.0
NEXUS_TUI = str(Path(sys.executable).with_name("nexus-tui"))


def topic_name(i: int) -> str:
    return f"bench-snap-t{i:04d}"


def group_name(i: int) -> str:
    return f"bench-snap-g{i:04d}"


def grow(bootstrap: str, start: int, stop: int, rng: random.Random) -> dict[str, int]:
    """Add topics and groups [start, stop): records on every partition, one commit per
    partition. Returns each new group's expected total lag."""
    topics = [topic_name(i) for i in range(start, stop)]
    create_topics(bootstrap, topics, PARTITIONS_PER_TOPIC)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "acks": "1",
                         "log_level": 3})
    for topic in topics:
        for p in range(PARTITIONS_PER_TOPIC):
            for _ in range(RECORDS_PER_PARTITION):
                producer.produce(topic, b"x" * 100, partition=p)
        producer.poll(0)
    left = producer.flush(60)
    assert left == 0, f"{left} records not acknowledged"
    client = admin(bootstrap)
    expected: dict[str, int] = {}
    requests = {}
    for i in range(start, stop):
        committed = [rng.randint(0, RECORDS_PER_PARTITION) for _ in range(PARTITIONS_PER_TOPIC)]
        expected[group_name(i)] = sum(RECORDS_PER_PARTITION - c for c in committed)
        requests[group_name(i)] = ConsumerGroupTopicPartitions(group_name(i), [
            TopicPartition(topic_name(i), p, c) for p, c in enumerate(committed)])
    deadline = time.monotonic() + 120
    while requests:  # a fresh cluster answers NOT_COORDINATOR until __consumer_offsets is up
        failed = {}
        in_flight: list[tuple[str, Future]] = []
        for gid, request in requests.items():
            fut = client.alter_consumer_group_offsets([request], request_timeout=30)[gid]
            in_flight.append((gid, fut))
            if len(in_flight) >= COMMIT_CONCURRENCY:
                _settle(*in_flight.pop(0), requests, failed)
        for gid, fut in in_flight:
            _settle(gid, fut, requests, failed)
        requests = failed
        if requests:
            if time.monotonic() > deadline:
                raise TimeoutError(f"commits of {len(requests)} groups kept failing")
            time.sleep(0.5)  # the coordinator is loading: retry pacing
    return expected


def _settle(gid: str, fut: Future, requests: dict, failed: dict) -> None:
    try:
        result = fut.result(60)
        if any(tp.error is not None for tp in result.topic_partitions):
            failed[gid] = requests[gid]
    except Exception:  # KafkaException (coordinator not available yet): retried
        failed[gid] = requests[gid]


def hold_members(bootstrap: str, start: int, stop: int) -> subprocess.Popen:
    """A child process keeping one member in each of groups [start, stop); returns once all
    of them are Stable."""
    proc = subprocess.Popen([sys.executable, __file__, "--members", bootstrap, str(start),
                             str(stop)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "assigned":
        proc.kill()
        raise RuntimeError(f"the members process did not get its assignments: {line!r}")
    wanted = {group_name(i) for i in range(start, stop)}
    client = admin(bootstrap)
    deadline = time.monotonic() + 120
    while True:
        listed = client.list_consumer_groups(request_timeout=30).result()
        stable = {g.group_id for g in listed.valid if g.state.name == "STABLE"}
        if wanted <= stable:
            return proc
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"{len(wanted - stable)} groups never became Stable")
        time.sleep(0.5)  # polling the groups' state, bounded by the deadline


def members_child(bootstrap: str, start: int, stop: int) -> None:
    """--members: one consumer per group, partitions paused on assignment; runs until stdin
    closes."""
    import select

    from confluent_kafka import Consumer

    assigned: set[int] = set()

    def on_assign(i: int):
        def cb(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            consumer.pause(partitions)
            assigned.add(i)
        return cb

    consumers = []
    for i in range(start, stop):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group_name(i),
                      "client.id": f"bench-member-{i}", "enable.auto.commit": False,
                      "session.timeout.ms": 45_000, "log_level": 3})
        c.subscribe([topic_name(i)], on_assign=on_assign(i))
        consumers.append(c)
    told = False
    while True:
        for c in consumers:
            c.poll(0)
        if not told and len(assigned) == stop - start:
            print("assigned", flush=True)
            told = True
        if select.select([sys.stdin], [], [], 0.2)[0] and not sys.stdin.read(1):
            break  # the parent closed our stdin
    for c in consumers:
        c.close()


def ours_process(bootstrap: str) -> tuple[float, dict[str, int | None]]:
    started = time.perf_counter()
    proc = subprocess.run([NEXUS_TUI, "groups", "--json", "-b", bootstrap, "--timeout", "30"],
                          capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"nexus-tui groups failed: {proc.stderr.strip()[-500:]}")
    rows = json.loads(proc.stdout)
    return elapsed, {r["group"]: r["total_lag"] for r in rows}


async def ours_in_process(bootstrap: str, warm_admin: KafkaAdmin) -> tuple[float, float]:
    """(cold s, warm s) of KafkaAdmin.snapshot()."""
    started = time.perf_counter()
    snap = await KafkaAdmin(bootstrap).snapshot()
    cold = time.perf_counter() - started
    assert not snap.errors, snap.errors[:3]
    started = time.perf_counter()
    snap = await warm_admin.snapshot()
    warm = time.perf_counter() - started
    assert not snap.errors, snap.errors[:3]
    return cold, warm


async def engine_in_process(bootstrap: str) -> tuple[float, dict[str, int]]:
    """s of a reused KafkaAdmin.snapshot() reading groups as the engine does (GroupReader:
    batched requests on aiokafka's client, no librdkafka), after one to warm it up; and the
    total lag of every group in it."""
    from core.engine.group_reader import GroupReader

    admin = KafkaAdmin(bootstrap)
    admin.group_reader = GroupReader(admin.settings)
    try:
        await admin.snapshot()
        started = time.perf_counter()
        snap = await admin.snapshot()
        took = time.perf_counter() - started
        assert not snap.errors, snap.errors[:3]
        lags = {gid: sum(r.lag or 0 for r in snap.partition_lags(gid)) for gid in snap.groups}
        return took, lags
    finally:
        await admin.group_reader.close()


def reference(bootstrap: str) -> tuple[float, dict[str, int]]:
    """Wall time of ConsumerGroupCommand and the total lag it prints per group."""
    out, wall = run_reference(CONSUMER_GROUP_COMMAND, [
        "--bootstrap-server", bootstrap, "--describe", "--all-groups"], timeout=600)
    lags: dict[str, int] = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 6 and cols[0] != "GROUP" and cols[2].isdigit():
            lag = cols[5]
            lags[cols[0]] = lags.get(cols[0], 0) + (int(lag) if lag.lstrip("-").isdigit() else 0)
    return wall, lags


def measure(bootstrap: str, runs: int, expected: dict[str, int]) -> dict[str, list[float]]:
    got: dict[str, list[float]] = {"process": [], "cold": [], "warm": [], "engine": [],
                                   "reference": []}
    warm_admin = KafkaAdmin(bootstrap)
    asyncio.run(warm_admin.snapshot())  # connections up: later calls are refreshes
    for i in range(runs):
        wall, our_lags = ours_process(bootstrap)
        got["process"].append(wall)
        cold, warm = asyncio.run(ours_in_process(bootstrap, warm_admin))
        got["cold"].append(cold)
        got["warm"].append(warm)
        engine, engine_lags = asyncio.run(engine_in_process(bootstrap))
        got["engine"].append(engine)
        if {g: v for g, v in engine_lags.items() if g in expected} != expected:
            raise AssertionError("lag totals of the engine's group reading disagree")
        ref_wall, ref_lags = reference(bootstrap)
        got["reference"].append(ref_wall)
        log(f"  run {i + 1}/{runs}: groups --json {wall:.2f} s, snapshot cold {cold:.2f} s "
            f"warm {warm:.2f} s, engine's {engine:.2f} s, ConsumerGroupCommand {ref_wall:.2f} s")
        ours_bench = {g: v for g, v in our_lags.items() if g in expected}
        ref_bench = {g: v for g, v in ref_lags.items() if g in expected}
        if not (ours_bench == ref_bench == expected):
            bad = [g for g in expected if not (ours_bench.get(g) == ref_bench.get(g)
                                               == expected[g])]
            raise AssertionError(f"lag totals disagree for {len(bad)} groups, e.g. {bad[:3]}: "
                                 f"ours {[ours_bench.get(g) for g in bad[:3]]}, "
                                 f"ConsumerGroupCommand {[ref_bench.get(g) for g in bad[:3]]}, "
                                 f"expected {[expected[g] for g in bad[:3]]}")
    log(f"  lag totals agree for all {len(expected)} groups (ours, the engine's = "
        f"ConsumerGroupCommand = expected, total {sum(expected.values()):,})")
    return got


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--members"]:
        members_child(argv[1], int(argv[2]), int(argv[3]))
        return 0
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--steps", default=None, help="topic (= group) counts, e.g. 20,100,200")
    p.add_argument("--active", action="store_true",
                   help="give every group a member (Stable groups) before measuring")
    args = p.parse_args(argv)
    steps = [int(x) for x in (args.steps or ("10,40" if args.quick else "20,100,200")).split(",")]
    runs = args.runs or (1 if args.quick else 3)
    print_machine()
    rng = random.Random(7)
    expected: dict[str, int] = {}
    members: list[subprocess.Popen] = []
    kind = "active" if args.active else "Empty"
    with broker(args.bootstrap) as b:
        try:
            results = measure_steps(b.bootstrap, steps, runs, rng, expected, members, args.active)
        finally:
            for proc in members:
                if proc.stdin is not None:
                    proc.stdin.close()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print_table(f"cluster snapshot with lag ({kind} groups)", results,
                f"{runs} runs per step; whole processes for both CLIs; lag totals checked "
                "equal to ConsumerGroupCommand's")
    write_json(args.json_out, "snapshot", results, {"steps": steps, "runs": runs,
                                                   "groups": kind})
    return 0 if all(r.verdict != "MISS" for r in results) else 1


def measure_steps(bootstrap: str, steps: list[int], runs: int, rng: random.Random,
                  expected: dict[str, int], members: list[subprocess.Popen],
                  active: bool) -> list[Result]:
    """Grow the cluster step by step (with a member per group when `active`) and measure."""
    results: list[Result] = []
    done = 0
    for step in steps:
        started = time.perf_counter()
        expected.update(grow(bootstrap, done, step, rng))
        if active:
            members.append(hold_members(bootstrap, done, step))
        done = step
        parts = step * PARTITIONS_PER_TOPIC
        log(f"{step} topics x {PARTITIONS_PER_TOPIC} = {parts:,} partitions, {step} groups "
            f"{'with a member each ' if active else ''}ready in "
            f"{time.perf_counter() - started:.1f} s; measuring ...")
        got = measure(bootstrap, runs, expected)
        last = step == steps[-1]
        results += [
            Result(f"{parts:,} partitions, {step} groups: nexus-tui groups --json", "s",
                   got["process"], got["reference"],
                   f"<= {TARGET_S:g} s and >= {TARGET_SPEEDUP:g}x faster" if last else
                   f">= {TARGET_SPEEDUP:g}x faster",
                   f"speedup>={TARGET_SPEEDUP}",
                   note="ratio = ConsumerGroupCommand time / ours (speed-up)"),
            Result("  same, absolute", "s", got["process"], target=f"<= {TARGET_S:g} s",
                   check=f"<={TARGET_S}"),
            Result("  KafkaAdmin.snapshot(), fresh client", "s", got["cold"]),
            Result("  KafkaAdmin.snapshot(), reused client", "s", got["warm"]),
            Result("  same, groups read as the engine does (GroupReader)", "s",
                   got["engine"]),
        ]
    return results


if __name__ == "__main__":
    sys.exit(entry(main))
