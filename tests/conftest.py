"""Real-broker fixtures: one single-broker cluster for the whole run, a 3-broker one on demand.

Both are started by the same code as `nexus-tui local up`. Set NEXUS_TUI_TEST_BOOTSTRAP to run
the single-broker tests against a cluster you already started (faster while developing).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from core.local import LocalCluster


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Preflight: when a collected test needs Java and Kafka's jars (a cluster of its own or
    Kafka's tools), stop the run at once with the one line saying what to install."""
    if config.option.collectonly or not any(
            {"kafka", "kafka3"} & set(getattr(item, "fixturenames", ())) for item in items):
        return
    from core.errors import LocalClusterError
    from core.local.jars import ensure_jars, find_java

    try:
        find_java()
        ensure_jars()  # at once when cached; else fetched now (needed anyway), or mvn missing
    except LocalClusterError as exc:
        pytest.exit(f"install first (README, Quick start): {exc}", returncode=4)


@dataclass(frozen=True)
class KafkaCluster:
    bootstrap: str
    brokers: int
    local: LocalCluster | None  # None when the cluster was given from outside


def _start(tmp_path_factory: pytest.TempPathFactory, brokers: int) -> Iterator[KafkaCluster]:
    cluster = LocalCluster(state_dir=tmp_path_factory.mktemp(f"cluster{brokers}"))
    state = cluster.up(brokers=brokers)
    try:
        yield KafkaCluster(state.bootstrap, brokers, cluster)
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """The single-broker cluster shared by the whole test run."""
    given = os.environ.get("NEXUS_TUI_TEST_BOOTSTRAP")
    if given:
        yield KafkaCluster(given, 1, None)
        return
    yield from _start(tmp_path_factory, 1)


@pytest.fixture(scope="session")
def kafka3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """A 3-broker KRaft cluster (replication factor 3, min ISR 2) for replication and faults."""
    yield from _start(tmp_path_factory, 3)


@pytest.fixture(autouse=True, scope="session")
def _audit_log(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Changes the tests make are audited into a temporary file, not the user's state dir."""
    if not os.environ.get("NEXUS_TUI_AUDIT_LOG"):
        os.environ["NEXUS_TUI_AUDIT_LOG"] = str(tmp_path_factory.mktemp("audit") / "audit.jsonl")


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    """A name no other test uses: prefix topics and groups with it."""
    base = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:60].strip("-")
    return f"t-{base}-{uuid.uuid4().hex[:8]}"
