"""The CLI's connection options are honoured wherever they are written, checked on the real
broker through the real entry point (`python -m nexus_tui` in a subprocess).

Every run gets its own config file (NEXUS_TUI_CONFIG) and no NEXUS_TUI_* variable from the
caller. In the -b tests the config's current context points at a port where nothing listens,
so a run that reads the shared broker proves that its -b was used; a wrong bootstrap in the
losing position with a short --timeout makes a wrong choice fail fast and visibly.

The read-only tests judge by what reached the broker (the topics, their end offsets, log
starts and config overrides, the group's committed offsets, read with confluent-kafka's own
clients), not only by the exit code; each write command also runs once without --read-only,
to show the oracle sees it.
Later write commands are appended to WRITES (the admin writes of issue 15 are there: create,
alter, add-partitions, purge, delete, group delete and delete-offsets; and `dlq redrive
--execute`, whose scene first gets a dead-letter topic holding one dead letter).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, OffsetSpec

from core import HandlerContext, KafkaSubscriber
from core.messaging.requester import Requester
from core.wire.envelope import Envelope
from tests.kafka_helpers import commit_offsets, create_topic, end_offsets, produce_counts

NOWHERE = "127.0.0.1:1"  # nothing listens: connection refused at once
COMMITTED = 3  # records per partition, all committed by the scene's group


@dataclass(frozen=True)
class Scene:
    """A topic with records, an Empty group that committed all of them, and a topic that
    dispatch writes to (so that the first topic's offsets stay as made)."""

    bootstrap: str
    prefix: str
    topic: str
    group: str
    inbox: str


def make_scene(bootstrap: str, prefix: str) -> Scene:
    scene = Scene(bootstrap, prefix, f"{prefix}.orders.v1", f"{prefix}-group",
                  f"{prefix}.inbox.v1")
    create_topic(bootstrap, scene.topic, partitions=2)
    create_topic(bootstrap, scene.inbox, partitions=1)
    produce_counts(bootstrap, scene.topic, [COMMITTED, COMMITTED])
    commit_offsets(bootstrap, scene.group,
                   {(scene.topic, 0): COMMITTED, (scene.topic, 1): COMMITTED})
    return scene


def write_config(path: Path, current: str, contexts: dict[str, dict[str, Any]]) -> Path:
    lines = [f'current_context = "{current}"']
    for name, fields in contexts.items():
        lines.append(f"[contexts.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_TUI_")}
    env["NEXUS_TUI_CONFIG"] = str(config)
    env["XDG_STATE_HOME"] = str(config.parent / "state")
    return env


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nexus_tui", *args], capture_output=True,
                          text=True, env=cli_env(config), timeout=120)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """The group's committed offsets, as the broker has them."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    listed = result[group].result(30)
    return {(tp.topic, tp.partition): tp.offset for tp in listed.topic_partitions or []}


def broker_state(scene: Scene) -> dict[str, Any]:
    """What a write could change: the scene's topics, their end offsets, log starts and
    config overrides, the group's commits."""
    admin = AdminClient({"bootstrap.servers": scene.bootstrap})
    topics = sorted(t for t in admin.list_topics(timeout=10).topics
                    if t.startswith(scene.prefix))
    return {"topics": topics,
            "end_offsets": {t: end_offsets(scene.bootstrap, t) for t in topics},
            "log_starts": {t: log_starts(admin, t, len(admin.list_topics(
                t, timeout=10).topics[t].partitions)) for t in topics},
            "configs": {t: topic_overrides(admin, t) for t in topics},
            "committed": committed(scene.bootstrap, scene.group)}


def log_starts(admin: AdminClient, topic: str, partitions: int) -> dict[int, int]:
    """The first offset of each partition (what a purge moves)."""
    asked = {TopicPartition(topic, p): OffsetSpec.earliest() for p in range(partitions)}
    return {tp.partition: fut.result(30).offset
            for tp, fut in admin.list_offsets(asked).items()}


def topic_overrides(admin: AdminClient, topic: str) -> dict[str, str]:
    """The topic's configs set on it (what an alter changes)."""
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(30)
    return {k: str(e.value) for k, e in entries.items()
            if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}


# ---- -b before, after, or both -----------------------------------------------------------


@pytest.fixture(scope="module")
def scene(kafka) -> Scene:
    return make_scene(kafka.bootstrap, f"t-cliopt-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def nowhere_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config whose current context is unreachable: only a -b that is used can succeed."""
    return write_config(tmp_path_factory.mktemp("cfg") / "config.toml", "elsewhere",
                        {"elsewhere": {"bootstrap": NOWHERE}})


@dataclass(frozen=True)
class Command:
    name: str
    args: Callable[[Scene], list[str]]
    check: Callable[[Scene, Any], None]  # the --json output read from the shared broker


def _topics(s: Scene, data: Any) -> None:
    assert s.topic in [row["topic"] for row in data]


def _topic_describe(s: Scene, data: Any) -> None:
    assert data["topic"] == s.topic and data["partitions"] == 2
    assert [p["log_end"] for p in data["partition_detail"]] == [COMMITTED, COMMITTED]


def _groups(s: Scene, data: Any) -> None:
    assert s.group in [row["group"] for row in data]


def _group_describe(s: Scene, data: Any) -> None:
    assert data["group"] == s.group
    assert [p["committed"] for p in data["partitions"]] == [COMMITTED, COMMITTED]


def _seek(s: Scene, data: Any) -> None:
    assert data["group"] == s.group and data["executed"] is False
    assert [(c["current"], c["target"]) for c in data["changes"]] == [(COMMITTED, 0)] * 2


def _dispatch(s: Scene, data: Any) -> None:
    assert data["topic"] == s.inbox and data["partition"] == 0
    assert end_offsets(s.bootstrap, s.inbox)[0] == data["offset"] + 1


def _errors(s: Scene, data: Any) -> None:
    assert [row["topic"] for row in data] == [s.topic]


def _messages(s: Scene, data: Any) -> None:
    assert sorted((r["topic"], r["partition"], r["offset"]) for r in data) == [
        (s.topic, p, o) for p in (0, 1) for o in range(COMMITTED)]


COMMANDS = [
    Command("topics", lambda s: ["topics", "--filter", f"^{s.prefix}"], _topics),
    Command("topic describe", lambda s: ["topic", "describe", s.topic], _topic_describe),
    Command("groups", lambda s: ["groups", "--filter", f"^{s.group}$"], _groups),
    Command("group describe", lambda s: ["group", "describe", s.group], _group_describe),
    Command("seek", lambda s: ["seek", s.group, "--to-earliest"], _seek),
    Command("dispatch", lambda s: ["dispatch", s.inbox, "--payload", '{"n": 1}',
                                   "--reply-topic", f"{s.prefix}.replies.v1",
                                   "--reply-timeout", "0"], _dispatch),
    Command("errors", lambda s: ["errors", "--topic", s.topic, "--window", "1"], _errors),
    Command("messages", lambda s: ["messages", s.topic, "--from-beginning"], _messages),
]


@pytest.mark.parametrize("position", ["before", "after", "both: after wins",
                                      "both: a wrong one after fails"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_bootstrap_is_honoured_before_or_after_the_command(
    scene: Scene, nowhere_config: Path, command: Command, position: str,
) -> None:
    good, sub = scene.bootstrap, command.args(scene)
    if position == "before":
        args = ["-b", good, "--json", *sub]
    elif position == "after":
        args = [*sub, "-b", good, "--json"]
    elif position == "both: after wins":
        args = ["-b", NOWHERE, "--timeout", "2", *sub, "-b", good, "--timeout", "30",
                "--json"]
    else:
        args = ["-b", good, "--timeout", "30", *sub, "-b", NOWHERE, "--timeout", "2"]
    proc = cli(nowhere_config, *args)
    if position == "both: a wrong one after fails":
        one_error_line(proc)
        assert proc.stdout == ""
        return
    assert proc.returncode == 0, proc.stderr
    command.check(scene, json.loads(proc.stdout))


def test_without_b_the_config_context_is_used(scene: Scene, nowhere_config: Path) -> None:
    """The control of the test above: the same command without -b reads the (unreachable)
    current context and fails within its --timeout, given before the command."""
    started = time.monotonic()
    line = one_error_line(cli(nowhere_config, "--timeout", "1", "topics"))
    assert NOWHERE in line and "within 1 s" in line
    assert time.monotonic() - started < 60


def test_x_properties_merge_with_the_commands_winning_per_key(
    scene: Scene, nowhere_config: Path,
) -> None:
    """-X before and after the command merge: a bad property before is overridden by the
    same key after (else librdkafka refuses it), another key before still applies."""
    bad = ["-X", "socket.timeout.ms=not-a-number"]
    proc = cli(nowhere_config, "-b", scene.bootstrap, *bad, "topics", "--filter",
               f"^{scene.prefix}", "-X", "socket.timeout.ms=30000", "--json")
    assert proc.returncode == 0, proc.stderr
    _topics(scene, json.loads(proc.stdout))
    line = one_error_line(cli(nowhere_config, "-b", scene.bootstrap, *bad, "topics",
                              "-X", "client.id=hcli"))
    assert "socket.timeout.ms" in line


@pytest.mark.parametrize("args,expected", [
    (["-b", "127.0.0.1:9092", "local", "status"], "-b/--bootstrap does not apply to `local`"),
    (["--read-only", "local", "down"], "--read-only does not apply to `local`"),
    (["-X", "a=b", "demo", "--no-tui"], "-X does not apply to `demo`"),
    (["--context", "x", "demo"], "--context does not apply to `demo`"),
    (["--timeout", "3", "local", "up"], "--timeout does not apply to `local`"),
    (["--refresh", "2", "topics"], "--refresh applies to the dashboard"),
    (["--timeout", "3"], "--timeout applies to the commands, not to the dashboard"),
])
def test_options_that_do_not_apply_are_refused_aloud(
    tmp_path: Path, args: list[str], expected: str,
) -> None:
    config = write_config(tmp_path / "config.toml", "x", {"x": {"bootstrap": NOWHERE}})
    assert expected in one_error_line(cli(config, *args))
    assert not (tmp_path / "state").exists()  # nothing was started (local up, demo)


def test_help_says_the_option_after_the_command_wins(nowhere_config: Path) -> None:
    top = cli(nowhere_config, "--help").stdout
    sub = cli(nowhere_config, "group", "describe", "--help").stdout
    assert "the one after the name wins" in " ".join(top.split())
    assert "Wins over the same option given before the command's name" in " ".join(sub.split())


# ---- --read-only refuses every write, wherever it comes from ----------------------------


@dataclass(frozen=True)
class Write:
    name: str
    args: Callable[[Scene], list[str]]  # the command, without connection options
    prepare: Callable[[Scene], None] | None = None  # what the scene needs beyond make_scene


def dead_letter(s: Scene) -> None:
    """`<topic>.dlq` holding one dead letter of the scene's topic, with the headers a nexus
    subscriber writes (tests/test_dlq.py): a redrive copies it back to the topic."""
    dlq = f"{s.topic}.dlq"
    create_topic(s.bootstrap, dlq, partitions=1)
    headers = [("nexus-dlq-error", b"handler failed"), ("nexus-dlq-attempts", b"3"),
               ("nexus-dlq-original-topic", s.topic.encode()),
               ("nexus-dlq-original-partition", b"0"), ("nexus-dlq-original-offset", b"0"),
               ("nexus-dlq-failed-at", b"2026-12-04T10:00:00.000+00:00")]
    producer = Producer({"bootstrap.servers": s.bootstrap})
    producer.produce(dlq, b'{"n": 0}', b"root-0", partition=0, headers=headers)
    assert producer.flush(30) == 0
    assert end_offsets(s.bootstrap, dlq) == {0: 1}


#: Every command that writes to the cluster: append new ones here.
WRITES = [
    Write("dispatch", lambda s: ["dispatch", s.topic, "--payload", '{"n": 1}',
                                 "--reply-topic", f"{s.prefix}.replies.v1",
                                 "--reply-timeout", "0"]),
    Write("seek --execute", lambda s: ["seek", s.group, "--to-earliest", "--execute"]),
    Write("topic create", lambda s: ["topic", "create", f"{s.prefix}.made.v1",
                                     "--partitions", "1"]),
    Write("topic alter", lambda s: ["topic", "alter", s.topic, "--config",
                                    "retention.ms=3600000", "--execute"]),
    Write("topic add-partitions", lambda s: ["topic", "add-partitions", s.topic, "--to", "3",
                                             "--execute"]),
    Write("topic purge", lambda s: ["topic", "purge", s.topic, "--all", "--execute"]),
    Write("topic delete", lambda s: ["topic", "delete", s.topic, "--execute",
                                     "--confirm", s.topic]),
    Write("group delete", lambda s: ["group", "delete", s.group, "--execute"]),
    Write("group delete-offsets", lambda s: ["group", "delete-offsets", s.group,
                                             "--topic", s.topic, "--execute"]),
    Write("dlq redrive --execute", lambda s: ["dlq", "redrive", f"{s.topic}.dlq", "--execute"],
          prepare=dead_letter),
]


@pytest.fixture
def write_scene(kafka, unique: str) -> Scene:
    return make_scene(kafka.bootstrap, unique)


@pytest.fixture
def configs(tmp_path: Path, kafka) -> Iterator[dict[str, Path]]:
    yield {
        "plain": write_config(tmp_path / "plain.toml", "main",
                              {"main": {"bootstrap": kafka.bootstrap}}),
        "read-only context": write_config(tmp_path / "ro.toml", "prod",
                                          {"prod": {"bootstrap": kafka.bootstrap,
                                                    "read_only": True}}),
    }


@pytest.mark.parametrize("position", ["before", "after", "read-only context"])
@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.name)
def test_read_only_refuses_every_write_before_it_reaches_kafka(
    write_scene: Scene, configs: dict[str, Path], write: Write, position: str,
) -> None:
    sub = write.args(write_scene)
    if position == "before":
        config, args = configs["plain"], ["--read-only", *sub]
    elif position == "after":
        config, args = configs["plain"], [*sub, "--read-only"]
    else:
        config, args = configs["read-only context"], sub
    if write.prepare is not None:
        write.prepare(write_scene)
    before = broker_state(write_scene)
    line = one_error_line(cli(config, *args))
    assert "read-only" in line
    assert broker_state(write_scene) == before


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.name)
def test_each_write_is_seen_by_the_oracle_without_read_only(
    write_scene: Scene, configs: dict[str, Path], write: Write,
) -> None:
    """The control of the test above: the same command, writable, changes what it reads."""
    if write.prepare is not None:
        write.prepare(write_scene)
    before = broker_state(write_scene)
    proc = cli(configs["plain"], *write.args(write_scene))
    assert proc.returncode == 0, proc.stderr
    assert broker_state(write_scene) != before


# ---- dispatch latencies ------------------------------------------------------------------


async def _run(config: Path, *args: str) -> tuple[int, str, str, float]:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_tui", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=cli_env(config))
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode(), time.perf_counter() - started


async def test_dispatch_reports_ack_and_reply_from_the_hand_over(
    kafka, unique: str, configs: dict[str, Path],
) -> None:
    topic, replies = f"{unique}.greet.v1", f"{unique}.replies.v1"
    create_topic(kafka.bootstrap, topic, partitions=1)
    create_topic(kafka.bootstrap, replies, partitions=1)

    async def handler(ctx: HandlerContext) -> None:
        await ctx.reply({"hello": ctx.envelope.payload_json()["name"]})

    service = KafkaSubscriber(kafka.bootstrap, f"{unique}-svc")
    service.handle(topic, handler)
    await service.start()
    try:
        async with Requester(kafka.bootstrap, replies) as requester:  # the service answers
            await requester.request(topic, {"name": "warm-up"}, timeout=60)
        code, _, err, startup_s = await _run(configs["plain"], "--version")
        assert code == 0, err
        code, out, err, wall_s = await _run(
            configs["plain"], "dispatch", topic, "--payload", '{"name": "Ada"}',
            "--reply-topic", replies, "--json")
        assert code == 0, err
        data = json.loads(out)
        assert data["reply"]["payload"] == {"hello": "Ada"}
        assert 0 < data["ack_ms"] <= data["reply_ms"]
        assert data["reply_ms"] < (wall_s - startup_s) * 1000
        code, out, err, _ = await _run(configs["plain"], "dispatch", topic, "--payload",
                                       '{"name": "Bob"}', "--reply-topic", replies)
        assert code == 0, err
        assert " acked in " in out and "\nreply in " in out
    finally:
        await service.stop()


# ---- messages --json decodes a Go child request's payload ---------------------------------


def test_messages_json_decodes_a_child_requests_base64_payload(
    kafka, unique: str, configs: dict[str, Path],
) -> None:
    topic = f"{unique}.names.lookup.cmd.v1"
    create_topic(kafka.bootstrap, topic, partitions=1)
    root = Envelope.new_root("demo.caller.v1", f"{unique}.parent.v1", {"who": "root"})
    child = root.child(topic, {"name": "Zoë", "tags": ["<a&b>"]},
                       reply_to=f"{unique}.parent.v1")
    plain = root.child(topic, {"native": True}, base64_payload=False)
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for envelope in (child, plain):
        producer.produce(topic, envelope.encode(), envelope.key)
    assert producer.flush(30) == 0
    wire = json.loads(child.encode())["payload"]
    assert isinstance(wire, str)  # base64 on the wire, as Go's ctx.Dispatch writes it

    proc = cli(configs["plain"], "messages", topic, "--from-beginning", "--json")
    assert proc.returncode == 0, proc.stderr
    first, second = (r["envelope"] for r in json.loads(proc.stdout))
    assert first["payload"] == {"name": "Zoë", "tags": ["<a&b>"]}
    assert first["payload_raw"] == wire
    assert json.loads(base64.b64decode(first["payload_raw"])) == first["payload"]
    assert first["payload_encoding"] == "base64-json"
    assert second["payload"] == {"native": True} and second["payload_encoding"] == "json"
    assert "payload_raw" not in second

    proc = cli(configs["plain"], "messages", topic, "--follow-conversation", root.root_id,
               "--json")
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)["records"]
    assert [r["envelope"]["payload_encoding"] for r in records] == ["base64-json", "json"]
    assert records[0]["envelope"]["payload"]["name"] == "Zoë"


# ---- the Kafka clients' transient errors stay off the user's stderr -----------------------


def test_aiokafka_errors_are_not_shown_unless_verbose(scene: Scene, tmp_path: Path) -> None:
    """aiokafka logs what it retries by itself as errors (GroupCoordinatorNotAvailableError at
    a first join, an unreachable bootstrap server...). A bootstrap list of 99 refusing ports
    and the broker makes its consumer log "Unable connect" unless it tries the broker first
    (a 1 % chance: hence -v twice as the control)."""
    config = write_config(tmp_path / "config.toml", "x", {"x": {"bootstrap": NOWHERE}})
    servers = ",".join([*(f"127.0.0.1:{port}" for port in range(1, 100)), scene.bootstrap])
    args = ["-b", servers, "messages", scene.topic, "--tail", "1"]
    for _ in range(2):
        quiet = cli(config, *args)
        assert quiet.returncode == 0, quiet.stderr
        assert quiet.stderr == ""
    shown = [cli(config, "-v", *args).stderr for _ in range(2)]
    assert any("ERROR aiokafka" in err and "Unable connect" in err for err in shown), shown


@pytest.mark.parametrize("args", [["group", "describe", "some-group"],
                                  ["seek", "some-group", "--to-earliest"]],
                         ids=["group describe", "seek"])
def test_an_unreachable_bootstrap_is_one_line_naming_it(configs, args):
    """Not librdkafka's bare "Local: Timed out": the line says which servers were tried."""
    line = one_error_line(cli(configs["plain"], *args, "-b", NOWHERE, "--timeout", "2"))
    assert NOWHERE in line and "Timed out" not in line, line
