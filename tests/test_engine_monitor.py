"""The cluster monitor in the engine process (core/engine/process.py), on the real broker:
the same view as in-process, histories kept between refreshes, no process of its own below
it, a clear error and a new engine after the old one died, errors arriving as their own type."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

import psutil
import pytest

from core.cluster.admin import ClusterUnreachable
from core.config.settings import ConnectionSettings
from core.engine.child import CHILD_NICENESS
from core.engine.monitor import ClusterMonitor
from core.engine.process import EngineProcess
from core.errors import NexusError
from tests.child_helpers import call_held_in_child, gone
from tests.kafka_helpers import (
    commit_offsets,
    create_topic,
    produce_counts,
    wait_until,
)


async def test_view_from_the_engine_equals_in_process_and_keeps_its_histories(kafka, unique):
    topic, group = f"{unique}-t", f"{unique}-g"
    create_topic(kafka.bootstrap, topic, partitions=3)
    produce_counts(kafka.bootstrap, topic, [5, 7, 9])
    commit_offsets(kafka.bootstrap, group, {(topic, 0): 2, (topic, 2): 9})
    options = {"topic_filter": f"^{unique}", "group_filter": f"^{unique}"}
    engine = EngineProcess(ConnectionSettings(bootstrap=kafka.bootstrap), **options)
    in_process = ClusterMonitor(kafka.bootstrap, **options)  # groups through librdkafka
    try:
        view = (await engine.refresh()).view
        same = await in_process.refresh()
        assert view.snapshot.groups == same.snapshot.groups
        assert view.snapshot.topics == same.snapshot.topics
        health = view.groups[group]
        assert (health.total_lag, health.max_lag) == (same.groups[group].total_lag, 3)
        assert {(p.partition, p.offset_lag) for p in health.partitions} == {
            (0, 3), (1, None), (2, 0)}
        assert set(engine.timings) == {"snapshot_s", "observe_s"}
        assert all(v > 0 for v in engine.timings.values())
        # a rate needs two samples: the engine kept the first refresh's end offsets
        assert view.topics[topic].msgs_per_s is None
        produce_counts(kafka.bootstrap, topic, [10, 0, 0])
        later = (await engine.refresh()).view
        assert later.snapshot.topics[topic].partitions[0].log_end == 15
        assert later.topics[topic].msgs_per_s is not None and later.topics[topic].msgs_per_s > 0

        child = engine.pid
        assert child is not None and psutil.Process(child).ppid() == os.getpid()
        assert psutil.Process(child).nice() == min(19, os.nice(0) + CHILD_NICENESS)
        # one process: groups are read in the engine itself, without librdkafka
        assert psutil.Process(child).children() == []
    finally:
        await engine.close()
        await in_process.close()
    assert gone(child)


async def test_a_dead_engine_is_replaced_and_a_death_mid_refresh_is_one_clear_error(
        kafka, unique):
    topic = f"{unique}-t"
    create_topic(kafka.bootstrap, topic, partitions=2)
    produce_counts(kafka.bootstrap, topic, [1, 2])
    engine = EngineProcess(ConnectionSettings(bootstrap=kafka.bootstrap),
                           topic_filter=f"^{unique}", group_filter=f"^{unique}")
    try:
        await engine.refresh()
        child = engine.pid
        assert child is not None
        # died between refreshes: the next refresh quietly gets a new engine
        os.kill(child, signal.SIGKILL)
        await wait_until(lambda: engine._proc is not None
                         and engine._proc.returncode is not None, 10, "the death noticed")
        view = (await engine.refresh()).view
        assert engine.restarts == 1 and engine.pid not in (None, child)
        assert [p.records for p in view.snapshot.topics[topic].partitions] == [1, 2]

        # died while a refresh waits on it (stopped first, so that the kill lands after the
        # request was written: the call holds its lock from the write to the answer)
        child = engine.pid
        assert child is not None
        refresh = await call_held_in_child(engine, engine.refresh())
        os.kill(child, signal.SIGKILL)
        os.kill(child, signal.SIGCONT)
        with pytest.raises(NexusError, match=r"^refreshing the cluster view: the engine "
                           r"process killed by SIGKILL; a new one starts with the next refresh$"):
            await asyncio.wait_for(refresh, 30)
        view = (await engine.refresh()).view
        assert engine.restarts == 2 and engine.pid not in (None, child)
        assert [p.records for p in view.snapshot.topics[topic].partitions] == [1, 2]
    finally:
        await engine.close()


async def test_an_unreachable_cluster_arrives_as_its_own_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = EngineProcess(ConnectionSettings(bootstrap=f"127.0.0.1:{port}",
                                              request_timeout_s=2))
    try:
        with pytest.raises(ClusterUnreachable, match=rf"127\.0\.0\.1:{port}") as caught:
            await engine.refresh()
        assert "\n" not in str(caught.value)
        assert engine.alive  # an error answered by the engine, not its death
    finally:
        await engine.close()
