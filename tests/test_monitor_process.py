"""The cluster monitor in its child process (core/engine/monitor_process.py), on the real broker:
the same view as in-process, histories kept between refreshes, a clear error and a new child after
the old one died, its own group reader stopped with it, errors arriving as their own type."""

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
from core.engine.monitor_process import MonitorProcess
from core.errors import NexusError
from tests.child_helpers import call_held_in_child, gone
from tests.kafka_helpers import (
    commit_offsets,
    create_topic,
    produce_counts,
    wait_until,
)


def _group_readers(pid: int) -> list[psutil.Process]:
    return [c for c in psutil.Process(pid).children()
            if "core.engine.group_reader" in " ".join(c.cmdline())]


async def test_view_from_the_child_equals_in_process_and_keeps_its_histories(kafka, unique):
    topic, group = f"{unique}-t", f"{unique}-g"
    create_topic(kafka.bootstrap, topic, partitions=3)
    produce_counts(kafka.bootstrap, topic, [5, 7, 9])
    commit_offsets(kafka.bootstrap, group, {(topic, 0): 2, (topic, 2): 9})
    options = {"topic_filter": f"^{unique}", "group_filter": f"^{unique}"}
    monitor = MonitorProcess(ConnectionSettings(bootstrap=kafka.bootstrap), **options)
    in_process = ClusterMonitor(kafka.bootstrap, **options)
    try:
        view = await monitor.refresh()
        same = await in_process.refresh()
        assert view.snapshot.groups == same.snapshot.groups
        assert view.snapshot.topics == same.snapshot.topics
        health = view.groups[group]
        assert (health.total_lag, health.max_lag) == (same.groups[group].total_lag, 3)
        assert {(p.partition, p.offset_lag) for p in health.partitions} == {
            (0, 3), (1, None), (2, 0)}
        assert set(monitor.timings) == {"snapshot_s", "observe_s"}
        assert all(v > 0 for v in monitor.timings.values())
        # a rate needs two samples: the child kept the first refresh's end offsets
        assert view.topics[topic].msgs_per_s is None
        produce_counts(kafka.bootstrap, topic, [10, 0, 0])
        later = await monitor.refresh()
        assert later.snapshot.topics[topic].partitions[0].log_end == 15
        assert later.topics[topic].msgs_per_s is not None and later.topics[topic].msgs_per_s > 0

        child = monitor.pid
        assert child is not None and psutil.Process(child).ppid() == os.getpid()
        assert psutil.Process(child).nice() == min(19, os.nice(0) + CHILD_NICENESS)
        # groups are read by the child's own reader: a librdkafka abort costs one refresh
        (reader,) = _group_readers(child)
    finally:
        await monitor.close()
        await in_process.close()
    # closed: the child stopped its group reader before it went
    assert gone(child) and gone(reader.pid)


async def test_a_dead_child_is_replaced_and_a_death_mid_refresh_is_one_clear_error(
        kafka, unique):
    topic = f"{unique}-t"
    create_topic(kafka.bootstrap, topic, partitions=2)
    produce_counts(kafka.bootstrap, topic, [1, 2])
    monitor = MonitorProcess(ConnectionSettings(bootstrap=kafka.bootstrap),
                             topic_filter=f"^{unique}", group_filter=f"^{unique}")
    try:
        await monitor.refresh()
        child = monitor.pid
        assert child is not None
        (reader,) = _group_readers(child)
        # died between refreshes: the next refresh quietly gets a new child
        os.kill(child, signal.SIGKILL)
        await wait_until(lambda: monitor._proc is not None
                         and monitor._proc.returncode is not None, 10, "the death noticed")
        view = await monitor.refresh()
        assert monitor.restarts == 1 and monitor.pid not in (None, child)
        assert [p.records for p in view.snapshot.topics[topic].partitions] == [1, 2]
        # its orphaned group reader sees its requests end and exits on its own
        await wait_until(lambda: gone(reader.pid), 30, "the old group reader gone")

        # died while a refresh waits on it (stopped first, so that the kill lands after the
        # request was written: the call holds its lock from the write to the answer)
        child = monitor.pid
        assert child is not None
        refresh = await call_held_in_child(monitor, monitor.refresh())
        os.kill(child, signal.SIGKILL)
        os.kill(child, signal.SIGCONT)
        with pytest.raises(NexusError, match=r"^refreshing the cluster view: the monitor "
                           r"process killed by SIGKILL; a new one starts with the next refresh$"):
            await asyncio.wait_for(refresh, 30)
        view = await monitor.refresh()
        assert monitor.restarts == 2 and monitor.pid not in (None, child)
        assert [p.records for p in view.snapshot.topics[topic].partitions] == [1, 2]
    finally:
        await monitor.close()


async def test_an_unreachable_cluster_arrives_as_its_own_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monitor = MonitorProcess(ConnectionSettings(bootstrap=f"127.0.0.1:{port}",
                                                request_timeout_s=2))
    try:
        with pytest.raises(ClusterUnreachable, match=rf"127\.0\.0\.1:{port}") as caught:
            await monitor.refresh()
        assert "\n" not in str(caught.value)
        assert monitor.alive  # an error answered by the child, not its death
    finally:
        await monitor.close()
