"""Groups read in a child process (core/engine/group_reader.py): the same answer as in-process,
and a child that dies mid-request (librdkafka's abort, #4605) costs one refresh, not the caller."""

from __future__ import annotations

import asyncio
import os
import signal

import psutil
import pytest

from core.engine.child import CHILD_NICENESS
from core.engine.monitor import ClusterMonitor
from core.errors import NexusError
from tests.child_helpers import call_held_in_child, gone
from tests.kafka_helpers import commit_offsets, create_topic, produce_counts


async def test_groups_from_the_child_equal_in_process_and_survive_its_abort(kafka, unique):
    topic, group = f"{unique}-t", f"{unique}-g"
    create_topic(kafka.bootstrap, topic, partitions=3)
    produce_counts(kafka.bootstrap, topic, [5, 7, 9])
    commit_offsets(kafka.bootstrap, group, {(topic, 0): 2, (topic, 2): 9})
    wanted = f"^{unique}"
    isolated = ClusterMonitor(kafka.bootstrap, group_filter=wanted, isolate_groups=True)
    in_process = ClusterMonitor(kafka.bootstrap, group_filter=wanted)
    try:
        view = await isolated.refresh()
        same = await in_process.refresh()
        assert view.snapshot.groups == same.snapshot.groups
        lags = {(r.topic, r.partition): r.lag for r in view.snapshot.partition_lags(group)}
        assert lags == {(topic, 0): 3, (topic, 1): None, (topic, 2): 0}
        reader = isolated.admin.group_reader
        assert reader is not None and reader._proc is not None
        child = reader._proc.pid
        assert psutil.Process(child).ppid() == os.getpid()
        assert psutil.Process(child).nice() == min(19, os.nice(0) + CHILD_NICENESS)

        # the child aborts while a request is in it: one clear error, this process unharmed.
        # Stopped first, so the abort lands after the request was written (the reader holds
        # its lock from the write until the answer)
        refresh = await call_held_in_child(reader, isolated.refresh())
        os.kill(child, signal.SIGABRT)
        os.kill(child, signal.SIGCONT)
        with pytest.raises(NexusError, match=r"SIGABRT.*#4605.*next refresh"):
            await asyncio.wait_for(refresh, 30)
        view = await isolated.refresh()  # a new child
        assert view.snapshot.groups == same.snapshot.groups
        assert reader.restarts == 1 and reader._proc.pid != child
        child = reader._proc.pid
    finally:
        await isolated.close()
    assert gone(child)
