"""Subscriber throughput: KafkaSubscriber vs Apache Kafka's ConsumerPerformance, same topic.

One topic (3 partitions) is filled once with 1 KiB Nexus envelopes; every run then reads all of
it from the beginning in a fresh consumer group. Ours: KafkaSubscriber with a no-op handler and
its at-least-once commits (after handling, every second and on stop), timed from start() (group
join included) to the last record handled — as ConsumerPerformance's nMsg.sec counts from
before its join to its last record. Diagnostic sides show where the time goes: bare aiokafka and
bare confluent-kafka (librdkafka) consume loops, without and with Envelope.decode. The
`before` sides (`--before REV[,REV...]`) run our side in a child process on the `core/` of
each git revision REV, same topic, interleaved: the before/after comparison of one run.

    .venv/bin/python bench/subscriber.py [--records 200000] [--runs 5] [--quick] [-b HOST:PORT]
        [--sides ours,reference,...] [--before REV[,REV...]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from common import (
    MiB,
    Result,
    broker,
    create_topics,
    entry,
    interleaved,
    log,
    parser,
    print_machine,
    print_table,
    run_reference,
    unique,
    write_json,
)
from confluent_kafka import Consumer
from publisher import RECORD_SIZE, envelopes, old_tree

from core import Envelope, HandlerContext, KafkaPublisher, KafkaSubscriber
from core.local.tools import CONSUMER_PERFORMANCE

PARTITIONS = 3
TARGET_RATIO = 0.7  # issue 18


async def _fill(bootstrap: str, topic: str, count: int) -> None:
    async with KafkaPublisher(bootstrap, preset="high-throughput") as pub:
        for start in range(0, count, 50_000):
            await pub.publish_many(envelopes(topic, min(50_000, count - start), random.Random()))


async def _ours(bootstrap: str, topic: str, count: int) -> tuple[float, float, float]:
    """(elapsed to the last record handled, stop() s, CPU µs per record)."""
    handled = 0
    done = asyncio.Event()

    async def handler(ctx: HandlerContext) -> None:
        nonlocal handled
        handled += 1
        if handled >= count:
            done.set()

    sub = KafkaSubscriber(bootstrap, unique("bench-sub"))
    sub.handle(topic, handler)
    started, cpu = time.perf_counter(), time.process_time()
    await sub.start()
    try:
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        stopping = time.perf_counter()
        await sub.stop()
    return elapsed, time.perf_counter() - stopping, cpu / count * 1e6


async def _aiokafka(bootstrap: str, topic: str, count: int, decode: bool) -> tuple[float, float]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=unique("bench-aio"),
        auto_offset_reset="earliest", enable_auto_commit=False)
    started, cpu = time.perf_counter(), time.process_time()
    await consumer.start()
    seen = 0
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=100, max_records=5_000)
            for records in batches.values():
                if decode:
                    for record in records:
                        Envelope.decode(record.value or b"")
                seen += len(records)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await consumer.commit()
    finally:
        await consumer.stop()
    return elapsed, cpu / count * 1e6


def _confluent(bootstrap: str, topic: str, count: int, decode: bool) -> tuple[float, float]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("bench-rdk"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "log_level": 3})
    started, cpu = time.perf_counter(), time.process_time()
    consumer.subscribe([topic])
    seen = 0
    try:
        while seen < count:
            for msg in consumer.consume(num_messages=10_000, timeout=0.1):
                if msg.error() is not None:
                    continue
                if decode:
                    Envelope.decode(msg.value() or b"")
                seen += 1
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return elapsed, cpu / count * 1e6


async def _confluent_thread(bootstrap: str, topic: str, count: int) -> tuple[float, float]:
    """The route a confluent-kafka subscriber would take: consume(num_messages) in a thread of
    its own, each batch handed to the event loop, which decodes every record and awaits a
    no-op handler per record (as KafkaSubscriber's loop does), then one commit at the end."""
    loop = asyncio.get_running_loop()
    batches: asyncio.Queue[list[object]] = asyncio.Queue(maxsize=4)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("bench-rdk-thread"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "log_level": 3})
    stopping = False

    def consume() -> None:
        while not stopping:
            batch = consumer.consume(num_messages=5_000, timeout=0.1)
            if batch:
                asyncio.run_coroutine_threadsafe(batches.put(batch), loop).result()

    async def handler(envelope: Envelope) -> None:
        return None

    started, cpu = time.perf_counter(), time.process_time()
    consumer.subscribe([topic])
    thread = asyncio.create_task(asyncio.to_thread(consume))
    seen = 0
    try:
        while seen < count:
            for msg in await batches.get():
                if msg.error() is not None:  # type: ignore[attr-defined]
                    continue
                await handler(Envelope.decode(msg.value() or b""))  # type: ignore[attr-defined]
                seen += 1
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        stopping = True
        while not thread.done():  # let a last put() through
            with contextlib.suppress(asyncio.QueueEmpty):
                batches.get_nowait()
            await asyncio.sleep(0.01)
    consumer.commit(asynchronous=False)
    consumer.close()
    return elapsed, cpu / count * 1e6


async def _aiokafka_handled(bootstrap: str, topic: str, count: int) -> tuple[float, float]:
    """The same on aiokafka: getmany in the event loop, decode, a no-op handler per record."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=unique("bench-aio-handled"),
        auto_offset_reset="earliest", enable_auto_commit=False)

    async def handler(envelope: Envelope) -> None:
        return None

    started, cpu = time.perf_counter(), time.process_time()
    await consumer.start()
    seen = 0
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=100, max_records=5_000)
            for records in batches.values():
                for record in records:
                    await handler(Envelope.decode(record.value or b""))
                seen += len(records)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await consumer.commit()
    finally:
        await consumer.stop()
    return elapsed, cpu / count * 1e6


def _reference(bootstrap: str, topic: str, count: int) -> tuple[float, float]:
    """(nMsg.sec with the join, fetch.nMsg.sec without it) of ConsumerPerformance."""
    out, _ = run_reference(CONSUMER_PERFORMANCE, [
        "--bootstrap-server", bootstrap, "--topic", topic, "--messages", str(count),
        "--group", unique("bench-perf-consumer"), "--timeout", "60000",
    ])
    lines = [ln for ln in out.splitlines() if ln and not ln.startswith("start.time")]
    if not lines:
        raise RuntimeError(f"unexpected ConsumerPerformance output: {out[-400:]}")
    cols = [c.strip() for c in lines[-1].split(",")]
    consumed = int(cols[4])
    if consumed < count:
        raise RuntimeError(f"ConsumerPerformance read {consumed} of {count} records")
    return float(cols[5]), float(cols[9])


def _before(tree: str, bootstrap: str, topic: str, count: int) -> tuple[float, float, float]:
    """Our side in a child process importing `core` from `tree` (the child logs it)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tree, str(Path(__file__).parent)]))
    out = subprocess.run(
        [sys.executable, __file__, "--one-run", "-b", bootstrap, "--topic", topic,
         "--records", str(count)],
        env=env, check=True, stdout=subprocess.PIPE, text=True, cwd=tree,
    ).stdout
    elapsed, stop_s, cpu = json.loads(out.strip().splitlines()[-1])
    return elapsed, stop_s, cpu


def run(bootstrap: str, count: int, runs: int, sides: set[str],
        before: dict[str, str] | None = None) -> list[Result]:
    """`before`: revision -> a tree holding its core/ (a side `before REV` each)."""
    before = before or {}
    sides = sides | {f"before {rev}" for rev in before}
    topic = unique("bench-sub-topic")
    create_topics(bootstrap, [topic], PARTITIONS)
    log(f"filling {topic} with {count:,} envelopes of {RECORD_SIZE} B ...")
    asyncio.run(_fill(bootstrap, topic, count))
    rates: dict[str, list[float]] = {s: [] for s in (*sides, "reference_fetch", "ours_stop")}
    cpu_us: dict[str, list[float]] = {s: [] for s in sides}

    def side(name: str):
        def go(i: int) -> None:
            if name == "reference":
                rate, fetch_rate = _reference(bootstrap, topic, count)
                rates["reference_fetch"].append(fetch_rate)
            elif name == "ours":
                elapsed, stop_s, cpu = asyncio.run(_ours(bootstrap, topic, count))
                rates["ours_stop"].append(stop_s)
            elif name.startswith("before "):
                elapsed, _, cpu = _before(before[name[7:]], bootstrap, topic, count)
            elif name == "confluent-thread+handler":
                elapsed, cpu = asyncio.run(_confluent_thread(bootstrap, topic, count))
            elif name == "aiokafka+handler":
                elapsed, cpu = asyncio.run(_aiokafka_handled(bootstrap, topic, count))
            elif name.startswith("aiokafka"):
                elapsed, cpu = asyncio.run(_aiokafka(bootstrap, topic, count,
                                                     name.endswith("decode")))
            else:
                elapsed, cpu = _confluent(bootstrap, topic, count, name.endswith("decode"))
            if name != "reference":
                rate = count / elapsed
                cpu_us[name].append(cpu)
            rates[name].append(rate)
            log(f"run {i + 1}/{runs} {name}: {rate:,.0f} records/s")
        return go

    order = [s for s in ("ours", "reference", *(f"before {rev}" for rev in before), "aiokafka",
                         "confluent", "aiokafka+decode", "confluent+decode", "aiokafka+handler",
                         "confluent-thread+handler") if s in sides]
    interleaved(runs, *(side(s) for s in order))
    ref = rates.get("reference", [])
    mb = RECORD_SIZE / MiB
    results = []
    if "ours" in sides:
        results += [
            Result("KafkaSubscriber, no-op handler", "rec/s", rates["ours"], ref,
                   f">= {TARGET_RATIO}x ConsumerPerformance", f"ratio>={TARGET_RATIO}",
                   note="start() incl. group join -> last record handled"),
            Result("  same, MB/s", "MB/s", [r * mb for r in rates["ours"]],
                   [r * mb for r in ref]),
            Result("  same, CPU of our process", "us/rec", cpu_us["ours"]),
            Result("  stop() (final commit, leave group)", "s", rates["ours_stop"]),
        ]
    for rev in before:
        results += [
            Result(f"before: the same on the core of {rev}", "rec/s", rates[f"before {rev}"],
                   ref, f">= {TARGET_RATIO}x ConsumerPerformance", f"ratio>={TARGET_RATIO}"),
            Result("  same, CPU of our process", "us/rec", cpu_us[f"before {rev}"]),
        ]
    if ref:
        results.append(Result("ConsumerPerformance fetch.nMsg.sec (join excluded)", "rec/s",
                              rates["reference_fetch"]))
    labels = {
        "aiokafka": "bare aiokafka getmany loop",
        "aiokafka+decode": "bare aiokafka getmany + Envelope.decode",
        "confluent": "bare confluent-kafka consume(10000) loop",
        "confluent+decode": "bare confluent-kafka consume + Envelope.decode",
        "aiokafka+handler": "aiokafka getmany in the loop + decode + no-op handler",
        "confluent-thread+handler": "confluent consume(5000) in a thread -> loop: decode + "
                                    "no-op handler",
    }
    for name, label in labels.items():
        if name in sides:
            results.append(Result(label, "rec/s", rates[name], ref,
                                  note="diagnostic: join included, one commit at the end"))
            results.append(Result("  same, CPU of the process", "us/rec", cpu_us[name]))
    return results


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=None, help="records in the topic (200,000)")
    p.add_argument("--sides", default="ours,reference,aiokafka,confluent,aiokafka+decode,"
                   "confluent+decode", help="comma-separated sides to run")
    p.add_argument("--before", default=None, metavar="REV[,REV...]",
                   help="git revisions whose core/ a `before` side each runs")
    p.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--topic", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    count = args.records or (20_000 if args.quick else 200_000)
    runs = args.runs or (2 if args.quick else 5)
    if args.one_run:  # the child of a `before` side: one run, (elapsed, stop, cpu) as JSON
        log(f"before side: core from {Path(sys.modules['core'].__file__).parent.parent}")
        print(json.dumps(asyncio.run(_ours(args.bootstrap, args.topic, count))))
        return 0
    sides = set(args.sides.split(","))
    trees = {rev: old_tree(rev) for rev in (args.before or "").split(",") if rev}
    print_machine()
    try:
        with broker(args.bootstrap) as b:
            results = run(b.bootstrap, count, runs, sides, before=trees)
    finally:
        for tree in trees.values():
            shutil.rmtree(tree, ignore_errors=True)
    print_table("subscriber throughput", results,
                f"{count:,} envelopes of {RECORD_SIZE} B, {PARTITIONS} partitions, "
                f"{runs} runs per side, fresh group each run")
    write_json(args.json_out, "subscriber", results, {"records": count, "runs": runs})
    return 0 if all(r.verdict != "MISS" for r in results) else 1


if __name__ == "__main__":
    sys.exit(entry(main))
