"""Kafka's default key partitioning, bit for bit: murmur2 as in the Java client.

Java (`BuiltInPartitioner.partitionForKey`) and franz-go's sticky key partitioner put a keyed
record on `(murmur2(key) & 0x7fffffff) % partitions`. Nexus keys every record by its root_id,
so this tells which partition a conversation lives on. librdkafka's default partitioner
(CRC32) differs: configure `partitioner=murmur2_random` there.
"""

from __future__ import annotations

import struct
from functools import lru_cache

__all__ = ["murmur2", "partition_for_key"]

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK32 = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2): a signed 32-bit int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK32
    words = length >> 2
    m = _M
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * m) & _MASK32
        k ^= k >> 24
        h = ((h * m) & _MASK32) ^ ((k * m) & _MASK32)
    tail = length & 3
    if tail:
        base = words << 2
        if tail == 3:
            h ^= data[base + 2] << 16
        if tail >= 2:
            h ^= data[base + 1] << 8
        h ^= data[base]
        h = (h * m) & _MASK32
    h ^= h >> 13
    h = (h * m) & _MASK32
    h ^= h >> 15
    return h - 0x100000000 if h & 0x80000000 else h


@lru_cache(maxsize=65536)
def _murmur2_of_str(key: str) -> int:
    return murmur2(key.encode("utf-8"))


def partition_for_key(key: bytes | str, num_partitions: int) -> int:
    """The partition of a keyed record, as Java's default partitioner picks it.

    `key` is the record key (a str is taken as its UTF-8 bytes); `num_partitions` must be a
    positive integer. Returns `(murmur2(key) & 0x7fffffff) % num_partitions`.
    """
    if not isinstance(num_partitions, int) or isinstance(num_partitions, bool):
        raise TypeError(f"num_partitions must be an int, got {type(num_partitions).__name__}")
    if num_partitions <= 0:
        raise ValueError(f"num_partitions must be positive, got {num_partitions}")
    if isinstance(key, str):
        hashed = _murmur2_of_str(key)
    else:
        hashed = murmur2(bytes(key))
    return (hashed & 0x7FFFFFFF) % num_partitions
