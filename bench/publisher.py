"""Publisher throughput: KafkaPublisher vs Apache Kafka's ProducerPerformance, same broker.

Both sides: 1 KiB records, acks=all, idempotence on, lz4, linger.ms=20, batch.size=1 MiB (our
"high-throughput" preset), a fresh 1-partition topic per run, payloads of random uppercase
letters (ProducerPerformance's own payload, so lz4 finds as little to squeeze on both sides).
Ours are whole Nexus envelopes whose encoding is exactly 1,024 bytes (the framing counts in the
size; the payload string fills the rest), built, encoded, produced and acknowledged inside the
timed window. MB/s counts record values only, MB = 2^20 bytes, as ProducerPerformance does.

The `before` sides (`--before REV[,REV...]`) run the same `publish_many` loop in a child
process on the `core/` of each git revision REV (extracted with `git archive`), against the
same broker, interleaved with the others: the before/after comparison of one run.

The producer settings that decide throughput are the same on both sides: acks=all,
idempotence, lz4, linger.ms=20, batch.size=1 MiB. ProducerPerformance (Kafka 4.1) makes a
fresh random payload per record, as we do; its other settings are the Java client's defaults.

    .venv/bin/python bench/publisher.py [--records 200000] [--runs 5] [--quick] [-b HOST:PORT]
        [--sides publish_many,reference] [--before REV[,REV...]]
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from aiokafka import AIOKafkaProducer
from common import (
    MiB,
    Result,
    broker,
    create_topics,
    delete_topics,
    entry,
    interleaved,
    log,
    parser,
    print_machine,
    print_table,
    random_letters,
    run_reference,
    unique,
    write_json,
)
from confluent_kafka import Producer

from core import Envelope, KafkaPublisher
from core.local.tools import PRODUCER_PERFORMANCE

RECORD_SIZE = 1024
LINGER_MS = 20
BATCH_BYTES = 1_048_576
SOURCE = "bench.publisher"
TARGET_RATIO = 1.2  # issue 18: envelopes built in the loop, >= 1.2x ProducerPerformance
ROOT = Path(__file__).resolve().parent.parent


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


def envelopes(topic: str, count: int, rng: random.Random) -> Iterator[Envelope]:
    """`count` envelopes of exactly RECORD_SIZE encoded bytes, each with a fresh random payload."""
    probe = Envelope.new_root(SOURCE, topic, "")
    fill = RECORD_SIZE - len(probe.encode())  # id, timestamps and topics have fixed widths
    for _ in range(count):
        yield Envelope.new_root(SOURCE, topic, random_letters(rng, fill).decode("ascii"))


async def _ours(bootstrap: str, topic: str, count: int, api: str) -> tuple[float, float]:
    """(elapsed s, CPU µs per record of this whole process) of one run."""
    rng = random.Random()
    prebuilt = list(envelopes(topic, count, rng)) if api == "prebuilt" else None
    async with KafkaPublisher(bootstrap, acks="all", compression="lz4", linger_ms=LINGER_MS,
                              batch_max_bytes=BATCH_BYTES) as pub:
        started, cpu = time.perf_counter(), time.process_time()
        if prebuilt is not None:
            acks = await pub.publish_many(prebuilt)
        elif api == "publish_many":
            acks = await pub.publish_many(envelopes(topic, count, rng))
        else:
            futures = [pub.publish_nowait(e) for e in envelopes(topic, count, rng)]
            acks = await asyncio.gather(*futures)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert len(acks) == count and acks[-1].offset >= count - 1
    sample = next(envelopes(topic, 1, rng)).encode()
    assert len(sample) == RECORD_SIZE, len(sample)
    return elapsed, cpu / count * 1e6


def envelope_cost_us(count: int = 50_000) -> dict[str, float]:
    """µs per record of the parts that are not the publisher's: payload, new_root, encode."""
    rng = random.Random()
    fill = RECORD_SIZE - len(Envelope.new_root(SOURCE, "t", "").encode())
    started = time.perf_counter()
    payloads = [random_letters(rng, fill).decode("ascii") for _ in range(count)]
    built = time.perf_counter()
    envs = [Envelope.new_root(SOURCE, "t", p) for p in payloads]
    rooted = time.perf_counter()
    for e in envs:
        e.encode()
    encoded = time.perf_counter()
    return {"payload": (built - started) / count * 1e6,
            "new_root": (rooted - built) / count * 1e6,
            "encode": (encoded - rooted) / count * 1e6}


def _raw_confluent(bootstrap: str, topic: str, count: int) -> tuple[float, float]:
    """The floor of what Python can do with librdkafka: bare produce() + a delivery callback."""
    rng = random.Random()
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "compression.type": "lz4",
                         "linger.ms": LINGER_MS, "batch.size": BATCH_BYTES, "log_level": 3})
    acked = 0

    def on_delivery(err: object, msg: object) -> None:
        nonlocal acked
        if err is None:
            acked += 1

    started, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        value = random_letters(rng, RECORD_SIZE)
        while True:
            try:
                producer.produce(topic, value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(60)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert acked == count, (acked, count)
    return elapsed, cpu / count * 1e6


async def _raw_aiokafka(bootstrap: str, topic: str, count: int) -> tuple[float, float]:
    """The same bare loop on aiokafka's producer (batching and lz4 in the event loop's
    thread): why the publisher is built on librdkafka."""
    rng = random.Random()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, compression_type="lz4",
                                linger_ms=LINGER_MS, max_batch_size=BATCH_BYTES)
    await producer.start()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        futures = []
        for _ in range(count):
            futures.append(await producer.send(topic, random_letters(rng, RECORD_SIZE)))
        await asyncio.gather(*futures)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await producer.stop()
    return elapsed, cpu / count * 1e6


def old_tree(rev: str) -> str:
    """A temporary directory holding `core/` as it was at git revision `rev`."""
    target = tempfile.mkdtemp(prefix="nexus-bench-before-")
    archive = subprocess.run(["git", "archive", rev, "core"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    return target


def _before(tree: str, bootstrap: str, topic: str, count: int) -> tuple[float, float]:
    """The publish_many side in a child process importing `core` from `tree`."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tree, str(ROOT / "bench")]))
    out = subprocess.run(  # cwd=tree: `core` is imported from there (the child logs it)
        [sys.executable, __file__, "--one-run", "publish_many", "-b", bootstrap,
         "--topic", topic, "--records", str(count)],
        env=env, check=True, stdout=subprocess.PIPE, text=True, cwd=tree,
    ).stdout
    elapsed, cpu = json.loads(out.strip().splitlines()[-1])
    return elapsed, cpu


_PP_LINE = re.compile(r"(\d+) records sent, ([0-9.]+) records/sec \(([0-9.]+) MB/sec\)")


def _reference(bootstrap: str, topic: str, count: int) -> float:
    out, _ = run_reference(PRODUCER_PERFORMANCE, [
        "--topic", topic, "--num-records", str(count), "--record-size", str(RECORD_SIZE),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
        "compression.type=lz4", f"linger.ms={LINGER_MS}", f"batch.size={BATCH_BYTES}",
        "enable.idempotence=true",
    ])
    lines = _PP_LINE.findall(out)
    if not lines:
        raise RuntimeError(f"unexpected ProducerPerformance output: {out[-400:]}")
    sent, per_s, _ = lines[-1]
    assert int(sent) == count
    return float(per_s)


def run(bootstrap: str, count: int, runs: int, sides: set[str],
        replication: int = 1, before: dict[str, str] | None = None) -> list[Result]:
    """`before`: revision -> a tree holding its core/ (a side `before REV` each)."""
    before = before or {}
    sides = sides | {f"before {rev}" for rev in before}
    rates: dict[str, list[float]] = {s: [] for s in sides}
    cpu_us: dict[str, list[float]] = {s: [] for s in sides}

    def side(name: str):
        def go(i: int) -> None:
            topic = unique(f"bench-pub-{re.sub('[^a-z0-9]+', '-', name)}")
            create_topics(bootstrap, [topic], 1, replication=replication)
            try:
                if name == "reference":
                    rate = _reference(bootstrap, topic, count)
                else:
                    if name.startswith("before "):
                        elapsed, cpu = _before(before[name[7:]], bootstrap, topic, count)
                    elif name == "raw":
                        elapsed, cpu = _raw_confluent(bootstrap, topic, count)
                    elif name == "aiokafka":
                        elapsed, cpu = asyncio.run(_raw_aiokafka(bootstrap, topic, count))
                    else:
                        elapsed, cpu = asyncio.run(_ours(bootstrap, topic, count, name))
                    rate = count / elapsed
                    cpu_us[name].append(cpu)
            finally:
                delete_topics(bootstrap, [topic])
            rates[name].append(rate)
            log(f"run {i + 1}/{runs} {name}: {rate:,.0f} records/s")
        return go

    order = [s for s in ("publish_many", "reference", *(f"before {rev}" for rev in before),
                         "prebuilt", "publish_nowait", "raw", "aiokafka") if s in sides]
    interleaved(runs, *(side(s) for s in order))
    ref = rates.get("reference", [])
    mb = RECORD_SIZE / MiB
    results = []
    for name, label in (
        ("publish_many", "publish_many, envelopes built in the loop"),
        *((f"before {rev}", f"before: the same on the core of {rev}") for rev in before),
        ("prebuilt", "publish_many, envelopes built before"),
        ("publish_nowait", "publish_nowait + gather, built in the loop"),
    ):
        if name in rates:
            results.append(Result(f"{label}", "rec/s", rates[name], ref,
                                  f">= {TARGET_RATIO}x ProducerPerformance",
                                  f"ratio>={TARGET_RATIO}"))
            results.append(Result("  same, MB/s", "MB/s", [r * mb for r in rates[name]],
                                  [r * mb for r in ref]))
            results.append(Result("  same, CPU of our process", "us/rec", cpu_us[name],
                                  note="all threads (loop, poller, librdkafka)"))
    if "raw" in rates:
        results.append(Result("bare confluent-kafka produce() (no envelope)", "rec/s",
                              rates["raw"], ref, note="what librdkafka itself allows from "
                              "Python here: the ceiling of any envelope publisher"))
        results.append(Result("  same, CPU of the process", "us/rec", cpu_us["raw"]))
    if "aiokafka" in rates:
        results.append(Result("bare aiokafka send() (no envelope)", "rec/s", rates["aiokafka"],
                              ref, note="diagnostic: aiokafka's producer, same settings"))
        results.append(Result("  same, CPU of the process", "us/rec", cpu_us["aiokafka"]))
    return results


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=None, help="records per run (200,000)")
    p.add_argument("--before", default=None, metavar="REV[,REV...]",
                   help="git revisions whose core/ a `before` side each runs")
    p.add_argument("--one-run", default=None, help=argparse_suppress())
    p.add_argument("--topic", default=None, help=argparse_suppress())
    p.add_argument("--sides", default="publish_many,reference,prebuilt,publish_nowait,raw",
                   help="comma-separated: publish_many, prebuilt, publish_nowait, raw, "
                   "reference, aiokafka (not run by default)")
    args = p.parse_args(argv)
    count = args.records or (20_000 if args.quick else 200_000)
    runs = args.runs or (2 if args.quick else 5)
    if args.one_run:  # the child of the `before` side: one run, (elapsed, cpu) as JSON
        log(f"before side: core from {Path(sys.modules['core'].__file__).parent.parent}")
        print(json.dumps(asyncio.run(_ours(args.bootstrap, args.topic, count, args.one_run))))
        return 0
    sides = set(args.sides.split(","))
    trees = {rev: old_tree(rev) for rev in (args.before or "").split(",") if rev}
    print_machine()
    try:
        with broker(args.bootstrap) as b:
            rss_before = b.rss_mib()
            results = run(b.bootstrap, count, runs, sides, before=trees)
            rss_after = b.rss_mib()
    finally:
        for tree in trees.values():
            shutil.rmtree(tree, ignore_errors=True)
    note = (f"{count:,} records x {RECORD_SIZE} B per run, {runs} runs per side, acks=all, lz4, "
            f"linger.ms={LINGER_MS}, batch.size={BATCH_BYTES}, 1 partition")
    print_table("publisher throughput", results, note)
    parts = envelope_cost_us()
    print("not the publisher's (µs per record, this machine, now): " + ", ".join(
        f"{k} {v:.1f}" for k, v in parts.items()))
    if rss_before:
        print(f"broker RSS: {', '.join(f'{x:.0f}' for x in rss_before)} MiB after start, "
              f"{', '.join(f'{x:.0f}' for x in rss_after)} MiB after the benchmark")
    write_json(args.json_out, "publisher", results,
               {"records": count, "runs": runs, "rss_mib_before": rss_before,
                "rss_mib_after": rss_after})
    return 0 if all(r.verdict != "MISS" for r in results) else 1


if __name__ == "__main__":
    sys.exit(entry(main))
