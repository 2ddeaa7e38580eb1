"""At-least-once through a SIGKILL: a subscriber process is killed mid-stream and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from core import Envelope, KafkaPublisher
from tests.kafka_helpers import create_topic, wait_until

N = 6000
ROOT = Path(__file__).resolve().parent.parent


def _lines(path: Path) -> list[tuple[int, int, str]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        partition, offset, env_id = line.split(" ", 2)
        out.append((int(partition), int(offset), env_id))
    return out


def _start(kafka, topic: str, group: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "subscriber_child.py"), kafka.bootstrap, topic,
         group, str(out)],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, text=True,
    )


def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(3)])
    res = admin.list_consumer_group_offsets([req])[group].result(timeout=30)
    return {tp.partition: tp.offset for tp in res.topic_partitions}


async def test_sigkill_mid_stream_loses_nothing(kafka, unique, tmp_path):
    create_topic(kafka.bootstrap, unique, partitions=3)
    async with KafkaPublisher(kafka.bootstrap) as pub:
        envs = [Envelope.new_root("t.src.v1", unique, {"n": i}) for i in range(N)]
        await pub.publish_many(envs)
    out = tmp_path / "handled.log"

    first = _start(kafka, unique, unique, out)
    await wait_until(lambda: len(_lines(out)) >= N // 3, 60, "a third handled")
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    before_restart = _lines(out)
    assert len(before_restart) < N, "the kill came too late to test anything"
    committed = _committed(kafka.bootstrap, unique, unique)
    in_flight = sum(1 for p, o, _ in before_restart if o >= max(committed.get(p, 0), 0))

    second = _start(kafka, unique, unique, out)
    try:
        want = {e.id for e in envs}
        ends = {p: sum(1 for e in envs if _partition(e, 3) == p) for p in range(3)}

        def second_run_reached_the_end() -> bool:
            after = _lines(out)[len(before_restart):]
            last = {p: max((o for q, o, _ in after if q == p), default=-1) for p in range(3)}
            reached = all(last[p] == ends[p] - 1 or committed.get(p) == ends[p] for p in ends)
            return reached and {i for _, _, i in _lines(out)} >= want

        await wait_until(second_run_reached_the_end, 90, "all handled, to the end")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
    handled = Counter(i for _, _, i in _lines(out))
    assert set(handled) == want  # none lost
    duplicates = sum(handled.values()) - N
    assert duplicates <= in_flight, (duplicates, in_flight)  # only what was in flight repeats
    # the graceful stop committed everything: nothing is left for the group
    assert _committed(kafka.bootstrap, unique, unique) == ends


def _partition(envelope: Envelope, partitions: int) -> int:
    from core import partition_for_key

    return partition_for_key(envelope.key, partitions)
