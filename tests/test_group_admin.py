"""Consumer-group administration on a real broker, through the CLI, cross-checked with Apache
Kafka's ConsumerGroupCommand: delete a group (refused while it has members, named), delete a
group's offsets of one topic (refused for a topic it consumes)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer

from core.cluster.admin import KafkaAdmin
from tests.admin_helpers import Cli, check_change_recorded, group_command, run_printed
from tests.kafka_helpers import commit_offsets, create_topic


@pytest.fixture
def cli(kafka, tmp_path) -> Cli:
    return Cli(kafka.bootstrap, tmp_path)


def _member(bootstrap: str, group: str, topic: str, client_id: str) -> Consumer:
    """A live member of `group`, assigned `topic`'s partitions (librdkafka heartbeats on its
    own thread, so it stays a member while the test runs)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "client.id": client_id, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    deadline = time.monotonic() + 60
    while not consumer.assignment():
        assert time.monotonic() < deadline, "the consumer was never assigned"
        consumer.poll(0.2)
    return consumer


@pytest.fixture
def live(kafka, unique) -> Iterator[tuple[str, str, str, Consumer]]:
    """Group `g` with commits on topics `a` and `b`, and a live member consuming `a`."""
    a, b, group = f"{unique}-a", f"{unique}-b", f"{unique}-g"
    create_topic(kafka.bootstrap, a, partitions=2)
    create_topic(kafka.bootstrap, b, partitions=2)
    commit_offsets(kafka.bootstrap, group, {(a, 0): 0, (a, 1): 0, (b, 0): 0, (b, 1): 0})
    consumer = _member(kafka.bootstrap, group, a, f"{unique}-svc")
    try:
        yield group, a, b, consumer
    finally:
        consumer.close()


def _listed(bootstrap: str) -> set[str]:
    done = group_command(bootstrap, "--list")
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


def _committed_topics(bootstrap: str, group: str) -> set[str]:
    """The topics Kafka's tool shows committed offsets for."""
    done = group_command(bootstrap, "--describe", "--offsets", "--group", group)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(group)]
    return {r[1] for r in rows if len(r) > 3 and r[3] != "-"}


def test_group_delete_is_refused_while_members_are_there_then_deletes(kafka, cli, live, unique):
    group, _, _, consumer = live
    plan = cli.json("group", "delete", group)
    assert f"{unique}-svc@" in plan["refusal"] and not plan["executed"]
    line = cli.error("group", "delete", group, "--execute")
    assert "stop them first" in line and f"{unique}-svc@" in line
    assert group in _listed(kafka.bootstrap)
    intent, result = cli.last_record()
    assert "stop them first" in intent["error"] and result["outcome"] == "error"

    consumer.close()
    done = cli.json("group", "delete", group, "--execute")
    assert done["result"] == {"deleted": group}
    assert group not in _listed(kafka.bootstrap)
    intent, _ = check_change_recorded(cli, "group.delete", "applied")
    assert len(intent["before"]["offsets"]) == 4


def test_group_delete_of_an_unknown_group_is_one_line(cli, unique):
    assert f"group {unique} does not exist" in cli.error("group", "delete", unique, "--execute")


def test_delete_offsets_refused_for_the_consumed_topic_allowed_for_another(kafka, cli, live):
    group, a, b, _ = live
    line = cli.error("group", "delete-offsets", group, "--topic", a, "--execute")
    assert f"is consuming {a}" in line
    assert _committed_topics(kafka.bootstrap, group) == {a, b}

    plan = cli.json("group", "delete-offsets", group, "--topic", b)
    assert [r["partition"] for r in plan["rows"]] == [0, 1] and plan["refusal"] is None
    assert plan["kafka_command"].endswith(f"--delete-offsets --group {group} --topic {b}")
    done = cli.json("group", "delete-offsets", group, "--topic", b, "--execute")
    assert done["result"] == {"remaining_on_topic": []}
    assert _committed_topics(kafka.bootstrap, group) == {a}
    intent, _ = check_change_recorded(cli, "group.delete-offsets", "applied")
    assert intent["before"] == {f"{b}[0]": 0, f"{b}[1]": 0}


def test_delete_offsets_of_a_topic_without_commits_is_one_line(kafka, cli, unique):
    group = f"{unique}-g"
    create_topic(kafka.bootstrap, f"{unique}-a")
    commit_offsets(kafka.bootstrap, group, {(f"{unique}-a", 0): 0})
    line = cli.error("group", "delete-offsets", group, "--topic", f"{unique}-b")
    assert f"no committed offsets on topic {unique}-b" in line


async def test_the_printed_delete_offsets_command_does_what_we_do(kafka, cli, unique, tmp_path):
    topic, other = f"{unique}-a", f"{unique}-b"
    create_topic(kafka.bootstrap, topic, partitions=2)
    create_topic(kafka.bootstrap, other)
    commits = {(topic, 0): 1, (topic, 1): 0, (other, 0): 0}
    ours, theirs = f"{unique}-ours", f"{unique}-theirs"
    for group in (ours, theirs):
        commit_offsets(kafka.bootstrap, group, commits)
    plan = cli.json("group", "delete-offsets", ours, "--topic", topic)
    done = run_printed(plan["kafka_command"].replace(ours, theirs), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    cli.json("group", "delete-offsets", ours, "--topic", topic, "--execute")
    admin = KafkaAdmin(kafka.bootstrap)
    assert await admin.committed_offsets(ours) == await admin.committed_offsets(theirs) == {
        (other, 0): 0}
