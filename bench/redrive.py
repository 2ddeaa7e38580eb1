"""Dead-letter redrive throughput, with its exactly-once bookkeeping, vs ProducerPerformance.

Each run fills a fresh 1-partition dead-letter topic with N dead letters of 1 KiB (random
uppercase letters, ProducerPerformance's payload) carrying the subscriber's headers, outside
the timed window. Timed: `Redrive.plan()` (progress, checkpoint scan, reading every dead letter)
plus `Redrive.run()` (reading them again, producing the copies with acks=all and idempotence,
committing progress every second, the final checkpoint) into a fresh 1-partition target.
The reference is ProducerPerformance writing N records of 1 KiB to a fresh 1-partition topic
with the redrive producer's settings (acks=all, idempotence, lz4, linger.ms=5). Goal >= 0.5x.

    .venv/bin/python bench/redrive.py [--records 100000] [--runs 3] [--quick] [-b HOST:PORT]
"""

from __future__ import annotations

import random
import re
import sys
import time

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

from core.cluster.redrive import Redrive, RedriveRequest
from core.config.settings import ConnectionSettings
from core.local.tools import PRODUCER_PERFORMANCE

RECORD_SIZE = 1024
TARGET_RATIO = 0.5
_PP_LINE = re.compile(r"(\d+) records sent, ([0-9.]+) records/sec \(([0-9.]+) MB/sec\)")


def fill(bootstrap: str, dlq: str, target: str, count: int) -> None:
    rng = random.Random()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "compression.type": "lz4", "log_level": 3})
    for i in range(count):
        headers = [("nexus-dlq-error", b"handler failed"), ("nexus-dlq-attempts", b"3"),
                   ("nexus-dlq-original-topic", target.encode()),
                   ("nexus-dlq-original-partition", b"0"),
                   ("nexus-dlq-original-offset", str(i).encode()),
                   ("nexus-dlq-failed-at", b"2026-12-04T10:00:00.000+00:00")]
        while True:
            try:
                producer.produce(dlq, random_letters(rng, RECORD_SIZE), f"root-{i}".encode(),
                                 headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0


def ours(bootstrap: str, count: int) -> tuple[float, float, float]:
    """(records/s of plan + run, records/s of run alone, CPU µs per record) of one run."""
    target = unique("bench-redrive-target")
    dlq = target + ".dlq"
    create_topics(bootstrap, [target, dlq], 1)
    try:
        fill(bootstrap, dlq, target, count)
        redrive = Redrive(ConnectionSettings(bootstrap=bootstrap), RedriveRequest(dlq))
        started, cpu = time.perf_counter(), time.process_time()
        plan = redrive.plan()
        planned = time.perf_counter()
        result = redrive.run(plan)
        done, cpu = time.perf_counter(), time.process_time() - cpu
        assert result.total_sent == count, result.as_json()
    finally:
        delete_topics(bootstrap, [target, dlq])
    return count / (done - started), count / (done - planned), cpu / count * 1e6


def reference(bootstrap: str, count: int) -> float:
    topic = unique("bench-redrive-pp")
    create_topics(bootstrap, [topic], 1)
    try:
        out, _ = run_reference(PRODUCER_PERFORMANCE, [
            "--topic", topic, "--num-records", str(count), "--record-size", str(RECORD_SIZE),
            "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}",
            "acks=all", "enable.idempotence=true", "compression.type=lz4", "linger.ms=5",
        ])
    finally:
        delete_topics(bootstrap, [topic])
    lines = _PP_LINE.findall(out)
    if not lines:
        raise RuntimeError(f"unexpected ProducerPerformance output: {out[-400:]}")
    return float(lines[-1][1])


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=None, help="dead letters per run (100,000)")
    args = p.parse_args(argv)
    count = args.records or (10_000 if args.quick else 100_000)
    runs = args.runs or (2 if args.quick else 3)
    print_machine()
    whole: list[float] = []
    run_only: list[float] = []
    cpu_us: list[float] = []
    ref: list[float] = []
    with broker(args.bootstrap) as b:
        def side_ours(i: int) -> None:
            total, alone, cpu = ours(b.bootstrap, count)
            whole.append(total)
            run_only.append(alone)
            cpu_us.append(cpu)
            log(f"run {i + 1}/{runs} redrive: {total:,.0f} records/s ({alone:,.0f} run only)")

        def side_ref(i: int) -> None:
            ref.append(reference(b.bootstrap, count))
            log(f"run {i + 1}/{runs} ProducerPerformance: {ref[-1]:,.0f} records/s")

        interleaved(runs, side_ours, side_ref)
    mb = RECORD_SIZE / MiB
    results = [
        Result("dlq redrive (plan + run)", "rec/s", whole, ref,
               f">= {TARGET_RATIO}x ProducerPerformance", f"ratio>={TARGET_RATIO}"),
        Result("  same, MB/s", "MB/s", [r * mb for r in whole], [r * mb for r in ref]),
        Result("  run alone (after the plan)", "rec/s", run_only, ref),
        Result("  CPU of our process", "us/rec", cpu_us, note="plan + run, all threads"),
    ]
    print_table("dead-letter redrive throughput", results,
                f"{count:,} dead letters x {RECORD_SIZE} B per run, {runs} runs per side, "
                "1 partition each side, acks=all, idempotence, lz4")
    write_json(args.json_out, "redrive", results, {"records": count, "runs": runs})
    return 0 if all(r.verdict != "MISS" for r in results) else 1


if __name__ == "__main__":
    sys.exit(entry(main))
