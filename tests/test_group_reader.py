"""Consumer groups read without librdkafka (core/engine/group_reader.py), on real brokers: the
same `GroupInfo` as librdkafka's reading for classic, KIP-848 and Empty groups, and an engine
that lives through broker restarts under repeated group reads (the scenario in which
librdkafka aborted the process, confluentinc/librdkafka#4605)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from core.cluster.admin import KafkaAdmin
from core.config.settings import ConnectionSettings
from core.engine.group_reader import GroupReader
from core.engine.process import EngineProcess
from core.errors import ConfigError, NexusError
from tests.kafka_helpers import commit_offsets, create_topic, produce_counts, wait_until


def _members(bootstrap: str, topic: str, groups: dict[str, dict[str, str]]) -> list[Consumer]:
    """One subscribed consumer per group (extra config per group), polled until assigned."""
    consumers = [Consumer({"bootstrap.servers": bootstrap, "group.id": gid,
                           "auto.offset.reset": "earliest", "enable.auto.commit": False, **conf})
                 for gid, conf in groups.items()]
    for c in consumers:
        c.subscribe([topic])
    deadline = time.monotonic() + 60
    while not all(c.assignment() for c in consumers):
        assert time.monotonic() < deadline, "the consumers were not assigned"
        for c in consumers:
            c.poll(0.1)  # each poll waits at most 0.1 s: the loop is bounded by the deadline
    for c in consumers:
        c.commit(offsets=[type(tp)(tp.topic, tp.partition, 1) for tp in c.assignment()],
                 asynchronous=False)
    return consumers


async def test_groups_equal_librdkafkas_reading_for_classic_kip848_and_empty_groups(
        kafka, unique):
    topic = f"{unique}-t"
    create_topic(kafka.bootstrap, topic, partitions=3)
    produce_counts(kafka.bootstrap, topic, [5, 7, 9])
    commit_offsets(kafka.bootstrap, f"{unique}-empty", {(topic, 0): 2, (topic, 2): 9})
    consumers = _members(kafka.bootstrap, topic, {
        f"{unique}-classic": {},
        f"{unique}-kip848": {"group.protocol": "consumer", "group.instance.id": "static-1"},
    })
    reader = GroupReader(ConnectionSettings(bootstrap=kafka.bootstrap))
    admin = KafkaAdmin(kafka.bootstrap)
    try:
        ours: list[str] = []
        got = await reader.groups(re.compile(f"^{unique}"), ours)
        snap = await admin.snapshot(topic_filter=f"^{unique}", group_filter=f"^{unique}")
        assert got == snap.groups and ours == list(snap.errors) == []
        assert list(got) == sorted(got) == [f"{unique}-{k}" for k in ("classic", "empty",
                                                                      "kip848")]
        classic, empty, kip848 = got.values()
        assert (classic.state, classic.group_type, classic.protocol) == (
            "Stable", "Classic", "range")
        assert classic.members[0].assignment == ((topic, 0), (topic, 1), (topic, 2))
        assert classic.offsets == {(topic, 0): 1, (topic, 1): 1, (topic, 2): 1}
        assert (empty.state, empty.coordinator, empty.offsets) == (
            "Empty", None, {(topic, 0): 2, (topic, 2): 9})
        assert (kip848.group_type, kip848.members[0].group_instance_id) == (
            "Consumer", "static-1")
        assert kip848.coordinator is not None
        assert await reader.groups(re.compile(f"^{unique}-nothing"), ours) == {}
    finally:
        for c in consumers:
            c.close()
        await reader.close()


async def test_a_bad_group_filter_is_one_clear_error(kafka):
    monitor_engine = EngineProcess(ConnectionSettings(bootstrap=kafka.bootstrap),
                                   group_filter="(", watch_nexus_topics=False)
    try:
        with pytest.raises(ConfigError, match=r"^bad group filter regex '\(': "):
            await monitor_engine.refresh()
    finally:
        await monitor_engine.close()


# ---- a broker restarted under repeated group reads ----------------------------------------------

@pytest.fixture
def cluster3(kafka3) -> Iterator[Any]:
    """The 3-broker cluster with every broker running before and after the test."""
    if kafka3.local is None:
        pytest.skip("fault tests need a cluster this run started")

    def whole() -> None:
        dead = [n for n, alive in kafka3.local.status().alive.items() if not alive]
        if dead:
            kafka3.local.start_brokers(dead, timeout=90)

    whole()
    try:
        yield kafka3
    finally:
        whole()


def _coordinator(bootstrap: str, group: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    return admin.describe_consumer_groups([group])[group].result(30).coordinator.id


@pytest.mark.cluster3
async def test_the_engine_lives_through_broker_restarts_under_group_reads(cluster3, unique):
    bootstrap = cluster3.bootstrap
    topic = f"{unique}-t"
    create_topic(bootstrap, topic, partitions=6, rf=3)
    produce_counts(bootstrap, topic, [10] * 6)
    groups = {f"{unique}-g{i:02d}": {(topic, p): (i + p) % 10 for p in range(6)}
              for i in range(30)}  # spread over the coordinators of __consumer_offsets
    for gid, offsets in groups.items():
        commit_offsets(bootstrap, gid, offsets)
    expected = {gid: sum(10 - o for o in offsets.values()) for gid, offsets in groups.items()}
    engine = EngineProcess(ConnectionSettings(bootstrap=bootstrap, request_timeout_s=5),
                           topic_filter=f"^{unique}", group_filter=f"^{unique}",
                           watch_nexus_topics=False)
    answers: list[tuple[float, dict[str, int | None] | str]] = []  # (at, lags or error)
    stop = asyncio.Event()

    async def reading() -> None:  # group reads back to back, as a refresh loop does
        while not stop.is_set():
            try:
                view = (await engine.refresh()).view
                answers.append((time.monotonic(),
                                {g: h.total_lag for g, h in view.groups.items()}))
            except NexusError as exc:
                answers.append((time.monotonic(), str(exc)))

    def whole_again(since: float) -> bool:
        return any(at > since and lags == expected for at, lags in answers)

    try:
        await engine.refresh()
        pid = engine.pid
        loop = asyncio.create_task(reading())
        victims = [_coordinator(bootstrap, next(iter(groups)))]
        victims.append(next(n for n in sorted(cluster3.local.status().alive)
                            if n != victims[0]))
        for victim in victims:
            await asyncio.to_thread(cluster3.local.kill_broker, victim)
            killed_at = time.monotonic()
            await wait_until(lambda t=killed_at: sum(at > t for at, _ in answers) >= 3, 90,
                             "three refreshes with the broker down")
            await asyncio.to_thread(cluster3.local.start_broker, victim, 90)
            back_at = time.monotonic()
            await wait_until(lambda t=back_at: whole_again(t), 90,
                             "every group's lag read again")
            assert engine.pid == pid and engine.restarts == 0, answers[-3:]
        stop.set()
        await loop
    finally:
        stop.set()
        await engine.close()
    # the reads went on through the restarts: answered (some with errors), never a death
    assert not any(isinstance(a, str) and "engine process" in a for _, a in answers)
    assert len(answers) >= 2 * 3 + 2
