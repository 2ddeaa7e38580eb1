"""A fixed, recorded cluster for deterministic screenshots (SVG snapshot tests).

The numbers are shaped like the demo's (a hot partition, a lagging group, error replies, dead
letters) but fixed, and every time is pinned, so the SVGs never change between runs. This is
a picture source only: no test that claims Kafka behaviour uses it.
"""

from __future__ import annotations

from core.cluster.snapshot import (
    Broker,
    ClusterSnapshot,
    GroupInfo,
    GroupMember,
    PartitionInfo,
    TopicInfo,
)
from core.engine.monitor import LagTracker
from core.traffic.window import DeadLetter, ErrorReply, TopicTraffic
from nexus_tui.source import Pulse

T0 = 1_795_800_000.0  # pinned wall clock of the first recorded refresh
STEP = 5.0
TOPICS = {  # name: per-partition records at T0 and per-refresh growth
    "demo.greeting.v1": ([900, 880, 2950, 910, 870, 905], [9, 9, 30, 9, 9, 9]),
    "demo.names.lookup.cmd.v1": ([600, 610, 590], [6, 6, 6]),
    "demo.orders.v1": ([4000, 4100, 3950], [40, 40, 40]),
    "demo.payments.v1": ([700, 720, 690], [7, 7, 7]),
    "demo.payments.v1.dlq": ([31], [1]),
    "client.app.replies.v1": ([500, 510, 505], [5, 5, 5]),
}
CONFIGS = {"retention.ms": "604800000", "cleanup.policy": "delete", "min.insync.replicas": "1"}


def _snapshot(step: int) -> ClusterSnapshot:
    topics = {}
    for name, (base, growth) in TOPICS.items():
        parts = tuple(
            PartitionInfo(name, p, 1, (1,), (1,), 0, base[p] + growth[p] * step)
            for p in range(len(base)))
        topics[name] = TopicInfo(name, parts, configs=dict(CONFIGS))
    orders_commit = {("demo.orders.v1", p): 3000 + 10 * step for p in range(3)}
    groups = {
        "demo.greeting.v1-svc": GroupInfo(
            "demo.greeting.v1-svc", "Stable", "roundrobin", "Classic", 1,
            (GroupMember("m-1", "greeting-1", "/127.0.0.1",
                         tuple(("demo.greeting.v1", p) for p in range(6))),),
            {("demo.greeting.v1", p): TOPICS["demo.greeting.v1"][0][p]
             + TOPICS["demo.greeting.v1"][1][p] * step for p in range(6)}),
        "demo.orders.v1-slow": GroupInfo(
            "demo.orders.v1-slow", "Stable", "roundrobin", "Classic", 1,
            (GroupMember("m-2", "orders-slow-1", "/127.0.0.1",
                         tuple(("demo.orders.v1", p) for p in range(3))),),
            orders_commit),
        "demo.payments.v1-flaky": GroupInfo(
            "demo.payments.v1-flaky", "Empty", "", "Classic", 1, (),
            {("demo.payments.v1", p): 650 for p in range(3)}),
    }
    return ClusterSnapshot("MkU3OEVBNTcwNTJENDM2Qg", 1, (Broker(1, "127.0.0.1", 9092),),
                           topics, groups, T0 + STEP * step, 0.05)


def _traffic() -> dict[str, TopicTraffic]:
    def t(topic: str, msgs: float, req: float, rep: float, err: float, unanswered: int,
          p50: float | None, p99: float | None, dlq: float = 0.0) -> TopicTraffic:
        errors = int(err * 60)
        replies = int(rep * 60)
        return TopicTraffic(
            topic, "watched", 60.0, int(msgs * 60), int(req * 60), replies, errors, 0, 0,
            unanswered, int(req * 60) - unanswered, errors, 0, 0, msgs, req, rep, err, 0.0,
            0.0, (100.0 * errors / replies) if replies else None, p50, p99, replies, dlq)

    return {
        "client.app.replies.v1": t("client.app.replies.v1", 12.0, 0.0, 12.0, 0.6, 0, 4.2, 18.5),
        "demo.greeting.v1": t("demo.greeting.v1", 42.0, 12.0, 24.0, 1.2, 2, 1.9, 7.4),
        "demo.names.lookup.cmd.v1": t("demo.names.lookup.cmd.v1", 12.0, 12.0, 0.0, 0.0, 0,
                                      None, None),
        "demo.payments.v1": t("demo.payments.v1", 8.0, 8.0, 0.0, 0.0, 3, None, None),
        "demo.payments.v1.dlq": t("demo.payments.v1.dlq", 0.0, 0.0, 0.0, 0.0, 0, None, None,
                                  0.2),
    }


def recorded_pulses(steps: int = 12) -> list[Pulse]:
    """`steps` refreshes of the recorded cluster, with histories for trends and time lag."""
    tracker = LagTracker()
    pulses = []
    errors = tuple(
        ErrorReply(int((T0 + i) * 1e9), "demo.greeting.v1", f"demo.greeting.v1:req-{i}",
                   "demo.names.validate.cmd.v1", "name u-13 failed validation")
        for i in range(3))
    dead = tuple(
        DeadLetter("demo.payments.v1.dlq", 0, 28 + i, int((T0 + i) * 1000),
                   "ValueError: card declined (simulated)", 3, "demo.payments.v1", i % 3,
                   640 + i, None, f"client.app.v1:pay-{i}")
        for i in range(3))
    for step in range(steps):
        snap = _snapshot(step)
        view = tracker.observe(snap, snap.taken_at)
        pulses.append(Pulse(view, _traffic(), errors, dead, fetched_at=snap.taken_at))
    return pulses
