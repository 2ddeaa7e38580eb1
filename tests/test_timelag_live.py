"""Time lag, ETA, trend and status on a controlled producer/consumer pair with known rates,
on the real broker: the monitor samples end offsets and commits, never reads a message."""

from __future__ import annotations

import asyncio
import threading
import time

from confluent_kafka import Producer

from core.engine.monitor import ClusterMonitor, LagTracker
from core.health.burrow import GroupStatus, PartitionStatus
from core.health.timelag import Trend
from tests.kafka_helpers import commit_offsets, create_topic

RATE = 50  # records/s produced
SAMPLE_S = 0.25


class Paced:
    """Produces RATE records/s in a thread; remembers when each offset was acknowledged."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
        self.topic = topic
        self.acked_at: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            self.producer.produce(self.topic, b"x", on_delivery=self._acked)
            self.producer.poll(0)
            next_at += 1 / RATE
            self.stop.wait(max(0.0, next_at - time.monotonic()))  # the pacing of the rate
        self.producer.flush(10)

    def _acked(self, err, msg) -> None:
        if err is None:
            self.acked_at[msg.offset()] = time.time()


def _commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    commit_offsets(bootstrap, group, {(topic, 0): offset})


class Sampler:
    """Refreshes the monitor every SAMPLE_S, and measures the longest gap between two
    refreshes (commits and the machine's load included): the time lag is interpolated
    between samples, so it cannot be more precise than that gap."""

    def __init__(self, monitor: ClusterMonitor) -> None:
        self.monitor = monitor
        self.last_at: float | None = None
        self.max_gap_s = 0.0

    async def refresh(self):
        view = await self.monitor.refresh()
        now = time.monotonic()
        if self.last_at is not None:
            self.max_gap_s = max(self.max_gap_s, now - self.last_at)
        self.last_at = now
        return view

    async def sample_for(self, seconds: float):
        deadline = time.monotonic() + seconds
        view = await self.refresh()
        while time.monotonic() < deadline:
            await asyncio.sleep(SAMPLE_S)  # the sampling period of the monitor, not a wait
            view = await self.refresh()
        return view


async def test_time_lag_eta_trend_and_status_with_known_rates(kafka, unique):
    topic, group = unique, f"{unique}-grp"
    create_topic(kafka.bootstrap, topic, partitions=1)
    # windows sized to the test's few seconds (production defaults: 60 s rates, 120 s trend)
    monitor = ClusterMonitor(kafka.bootstrap, topic_filter=f"^{topic}$",
                             group_filter=f"^{group}$",
                             tracker=LagTracker(rate_window_s=2.0, trend_window_s=2.0))
    sampler = Sampler(monitor)
    producer = Paced(kafka.bootstrap, topic)
    producer.thread.start()
    try:
        await sampler.sample_for(1.5)
        stuck_at = max(producer.acked_at) + 1  # commit "everything so far", then stop
        _commit(kafka.bootstrap, group, topic, stuck_at)
        produced_at = producer.acked_at[stuck_at - 1]  # the committed offset became the end
        view = await sampler.sample_for(4.0)
        g = view.groups[group]
        expected = view.now - produced_at
        assert g.time_lag_s is not None
        # within one sampling gap, as measured on this machine during the test
        assert abs(g.time_lag_s - expected) <= sampler.max_gap_s, (
            g.time_lag_s, expected, sampler.max_gap_s)
        assert g.total_lag is not None and g.total_lag >= RATE * 3
        assert g.trend is Trend.GROWING
        assert g.eta_s == float("inf")  # nothing is consumed: never drains at this rate
        assert g.status is GroupStatus.ERR  # commits stopped, no member: STOP
        part = g.partitions[0].verdict
        assert part.status is PartitionStatus.STOP and "no member" in part.reason

        # drain: consume at twice the produce rate (net RATE/s) until caught up
        committed = stuck_at
        draining_seen = eta_seen = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            end = max(producer.acked_at) + 1
            committed = min(end, committed + RATE)  # every 0.5 s: 2 x RATE per second
            _commit(kafka.bootstrap, group, topic, committed)
            view = await sampler.sample_for(0.5)
            g = view.groups[group]
            draining_seen |= g.trend is Trend.DRAINING
            eta_seen |= g.eta_s is not None and 0 < g.eta_s < 60
            if committed == end and g.total_lag is not None and g.total_lag < RATE:
                break
        assert draining_seen and eta_seen
    finally:
        producer.stop.set()
        producer.thread.join(10)
    _commit(kafka.bootstrap, group, topic, max(producer.acked_at) + 1)
    view = await sampler.sample_for(1.0)
    g = view.groups[group]
    assert g.total_lag == 0 and g.time_lag_s == 0
    assert g.status is GroupStatus.OK
