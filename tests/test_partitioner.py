"""murmur2 partitioning, checked against Apache Kafka's Java client itself."""

from __future__ import annotations

import random
import subprocess
import uuid
from pathlib import Path

import pytest

from core.errors import NexusError
from core.wire.partitioner import murmur2, partition_for_key

ORACLE = Path(__file__).parent / "java" / "Murmur2Oracle.java"
PARTITION_COUNTS = (1, 3, 6, 7, 12, 50, 1000)

# org.apache.kafka.common.utils.UtilsTest#testMurmur2, plus a Nexus root id.
KNOWN = [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
    (b"", 275646681),
    (b"client.app.v1:01c87e8b-953a-4064-aa48-7876b9a60b14", 373983343),
]


@pytest.mark.parametrize(("key", "expected"), KNOWN)
def test_known_murmur2_values(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected


def test_partition_for_key_uses_to_positive() -> None:
    # -790332482 & 0x7fffffff = 1357151166
    assert partition_for_key(b"foobar", 1000) == 1357151166 % 1000 == 166
    assert partition_for_key("foobar", 12) == partition_for_key(b"foobar", 12) == 6
    assert partition_for_key(bytearray(b"foobar"), 12) == 6
    assert partition_for_key("é", 1) == 0
    assert partition_for_key("é", 50) == (murmur2("é".encode()) & 0x7FFFFFFF) % 50


@pytest.mark.parametrize("bad", [0, -1])
def test_partition_count_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        partition_for_key(b"k", bad)


@pytest.mark.parametrize("bad", [True, 1.0, "3"])
def test_partition_count_must_be_an_int(bad: object) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        partition_for_key(b"k", bad)  # type: ignore[arg-type]


def test_results_are_signed_32_bit() -> None:
    values = [murmur2(uuid.uuid4().bytes) for _ in range(2000)]
    assert all(-(2**31) <= v < 2**31 for v in values)
    assert any(v < 0 for v in values) and any(v > 0 for v in values)


# ------------------------------------------------------------------------------ Java oracle


def _oracle_keys() -> list[bytes]:
    rng = random.Random(20240601)
    keys: list[bytes] = [b""]
    keys += [
        f"client.app.v1:{uuid.UUID(int=rng.getrandbits(128), version=4)}".encode()
        for _ in range(4000)
    ]
    keys += [bytes(rng.getrandbits(8) for _ in range(n)) for n in range(21) for _ in range(40)]
    keys += [
        "".join(
            chr(rng.choice([0xE9, 0x4E2D, 0x1F600, 0x41 + rng.randrange(26)]))
            for _ in range(rng.randrange(1, 15))
        ).encode()
        for _ in range(600)
    ]
    keys += [b"\x00" * n for n in range(21)] + [b"\xff" * n for n in range(1, 21)]
    keys += [key for key, _ in KNOWN]
    return keys


def _java_values(keys: list[bytes], counts: tuple[int, ...]) -> list[tuple[int, int]]:
    """Java's (murmur2, partition) for every key × count, from ONE Murmur2Oracle process."""
    from core.errors import LocalClusterError
    from core.local.jars import ensure_jars, find_java, java_classpath

    try:
        java = find_java()
        libs = ensure_jars()
    except LocalClusterError as exc:
        pytest.skip(f"no Java/Kafka jars for the murmur2 oracle: {exc}")
    lines = [f"{key.hex()}\t{n}" for key in keys for n in counts]
    proc = subprocess.run(
        [java, "-cp", java_classpath(libs), str(ORACLE)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    out = [line.split("\t") for line in proc.stdout.splitlines()]
    assert len(out) == len(lines)
    return [(int(h), int(p)) for h, p in out]


def test_matches_the_java_client_for_thousands_of_keys() -> None:
    keys = _oracle_keys()
    assert len(keys) >= 5000
    java = _java_values(keys, PARTITION_COUNTS)
    ours = [(murmur2(key), partition_for_key(key, n)) for key in keys for n in PARTITION_COUNTS]
    mismatches = [
        (key, n, mine, theirs)
        for (key, n), mine, theirs in zip(
            ((k, n) for k in keys for n in PARTITION_COUNTS), ours, java, strict=True
        )
        if mine != theirs
    ]
    assert mismatches == []
    # The str path (UTF-8, cached) agrees with the bytes path on the same keys.
    text_keys = [k for k in keys if k.decode("utf-8", "replace").encode() == k]
    assert all(partition_for_key(k.decode(), 7) == partition_for_key(k, 7) for k in text_keys)


def test_partitioner_errors_are_not_nexus_errors() -> None:
    # Bad partition counts are programming errors, not user-facing NexusErrors.
    with pytest.raises(ValueError) as info:
        partition_for_key(b"k", 0)
    assert not isinstance(info.value, NexusError)
