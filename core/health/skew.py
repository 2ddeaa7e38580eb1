"""How evenly records (or rates) spread over a topic's partitions, and leaders over brokers.

kafkatop's measures: the coefficient of variation ``cv = population stddev / mean``
(> 0.5 is "high") and ``max / mean`` (>= 2 is "severe"). A partition is *hot* when its
count is at least twice the mean (and above 0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, NamedTuple

from msgspec import Struct

SkewLevel = Literal["ok", "high", "severe"]

HIGH_CV = 0.5
"""``cv`` above this is "high"."""
SEVERE_MAX_OVER_MEAN = 2.0
"""``max / mean`` at or above this is "severe"."""
HOT_FACTOR = 2.0
"""A partition at or above ``HOT_FACTOR * mean`` is hot."""


class Skew(Struct, frozen=True):
    """Distribution skew of one topic; ``hot_partitions`` are partition ids, ascending."""

    cv: float
    max_over_mean: float
    hot_partitions: tuple[int, ...]
    level: SkewLevel



def _as_items(counts: Sequence[float] | Mapping[int, float]) -> list[tuple[int, float]]:
    """(partition id, value) pairs: list positions for a sequence, keys for a mapping."""
    items = sorted(counts.items()) if isinstance(counts, Mapping) else list(enumerate(counts))
    for pid, value in items:
        if value < 0 or math.isnan(value):
            raise ValueError(f"partition {pid}: count {value!r} is not a non-negative number")
    return items


def partition_skew(counts: Sequence[float] | Mapping[int, float]) -> Skew:
    """Skew of per-partition counts or rates (a sequence indexed by partition, or a mapping).

    Empty input or a zero mean gives ``cv = 0``, ``max_over_mean = 0``, level "ok".
    Level is "severe" when ``max/mean >= 2``, else "high" when ``cv > 0.5``, else "ok".
    Raises ``ValueError`` on a negative or NaN value.
    """
    items = _as_items(counts)
    if not items:
        return Skew(0.0, 0.0, (), "ok")
    values = [float(v) for _, v in items]
    mean = math.fsum(values) / len(values)
    if mean == 0:
        return Skew(0.0, 0.0, (), "ok")
    variance = math.fsum((v - mean) ** 2 for v in values) / len(values)
    cv = math.sqrt(variance) / mean
    max_over_mean = max(values) / mean
    hot = tuple(pid for pid, v in items if v > 0 and v >= HOT_FACTOR * mean)
    return Skew(cv, max_over_mean, hot, _level(cv, max_over_mean))


def _level(cv: float, max_over_mean: float) -> SkewLevel:
    """Map the two measures to a level (severe wins over high)."""
    if max_over_mean >= SEVERE_MAX_OVER_MEAN:
        return "severe"
    if cv > HIGH_CV:
        return "high"
    return "ok"


class BrokerLoad(NamedTuple):
    """How many partitions a broker leads, and how many replicas it hosts (leader included)."""

    leaders: int
    replicas: int


def leaders_per_broker(
    partitions: Iterable[tuple[int | None, Sequence[int]]],
) -> dict[int, BrokerLoad]:
    """Per broker id: partitions led and replicas hosted, from (leader, replicas) pairs.

    A leader of ``None`` or ``-1`` (no leader) is not counted; a broker that only hosts
    replicas appears with 0 leaders. A leader missing from its replica list still counts as
    a leader (and not as a replica). Keys are sorted by broker id.
    """
    leaders: dict[int, int] = {}
    replicas: dict[int, int] = {}
    for leader, reps in partitions:
        for broker in set(reps):
            replicas[broker] = replicas.get(broker, 0) + 1
        if leader is not None and leader >= 0:
            leaders[leader] = leaders.get(leader, 0) + 1
    brokers = sorted(set(leaders) | set(replicas))
    return {b: BrokerLoad(leaders.get(b, 0), replicas.get(b, 0)) for b in brokers}
