"""Dead letters on the real broker: `dlq list|show|redrive` through the real entry point.

A subscriber fills a dead-letter topic; the redrive puts every dead letter back exactly once,
also after a SIGKILL between the broker's ack and the commit of the progress, and a re-run
republishes nothing. What reached the target is counted by a plain consumer of our own
(`read_all`), not by the redrive's code.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from core import Envelope, HandlerContext, KafkaPublisher, KafkaSubscriber, RetryPolicy
from core.cluster.dead_letters import REDRIVE_HEADERS, mask_error
from core.cluster.redrive import progress_group
from core.cluster.seek_parse import format_datetime
from tests.kafka_helpers import create_topic, end_offsets, read_all, wait_until
from tests.test_faults import _leader_of, cluster3  # noqa: F401 (cluster3: the fixture)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_TUI_")}
    env.update(NEXUS_TUI_CONFIG=str(config), NEXUS_TUI_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
               PYTHONPATH=str(ROOT))
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_tui", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def dlq_headers(topic: str, partition: int, offset: int, error: str) -> list[tuple[str, bytes]]:
    return [("nexus-dlq-error", error.encode()), ("nexus-dlq-attempts", b"3"),
            ("nexus-dlq-original-topic", topic.encode()),
            ("nexus-dlq-original-partition", str(partition).encode()),
            ("nexus-dlq-original-offset", str(offset).encode()),
            ("nexus-dlq-failed-at", b"2026-12-04T10:00:00.000+00:00")]


def fill_dlq(bootstrap: str, dlq: str, target: str, n: int, partitions: int = 2,
             error: Any = "handler failed for user {i}", value: Any = None,
             timestamp_ms: Any = None) -> None:
    """`n` dead letters as the subscriber writes them, spread over `partitions`."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(n):
        err = error(i) if callable(error) else error.format(i=i)
        body = value(i) if callable(value) else json.dumps({"n": i}).encode()
        kwargs: dict[str, Any] = {}
        if timestamp_ms is not None:
            kwargs["timestamp"] = timestamp_ms(i)
        producer.produce(dlq, body, f"root-{i}".encode(), partition=i % partitions,
                         headers=dlq_headers(target, 0, i, err), **kwargs)
    assert producer.flush(30) == 0


def redriven_copies(bootstrap: str, topic: str, expect: int) -> Counter[tuple[int, int]]:
    """(dead-letter partition, offset) of every redriven copy in `topic`, with repeats."""
    found: Counter[tuple[int, int]] = Counter()
    for msg in read_all(bootstrap, topic, expect, timeout=30):
        headers = dict(msg.headers() or ())
        if REDRIVE_HEADERS[0] in headers:
            found[(int(headers[REDRIVE_HEADERS[1]]), int(headers[REDRIVE_HEADERS[2]]))] += 1
    return found


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p)
                                               for p in range(partitions)])
    res = admin.list_consumer_group_offsets([req])[group].result(timeout=30)
    return {tp.partition: tp.offset for tp in res.topic_partitions}


def audit_lines(env: dict[str, str]) -> list[dict[str, Any]]:
    path = Path(env["NEXUS_TUI_AUDIT_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ---- pure ------------------------------------------------------------------------------------


def test_error_texts_group_by_masking_ids_and_numbers():
    assert mask_error("user 42 not found") == mask_error("user 7 not found") == (
        "user <n> not found")
    assert mask_error("order 3f2c1a9e-1111-2222-3333-444455556666 timed out after 1.5s") == (
        "order <id> timed out after <n>s")
    assert mask_error("bad value 'abc' in topic team.orders.v1") == (
        "bad value <value> in topic team.orders.v1")


# ---- the whole story: a subscriber, its dead letters, the fix, the redrive -------------------


async def test_redrive_brings_every_dead_letter_back_to_the_fixed_service_once(
        kafka, unique, cli_env):
    topic, group = f"{unique}.orders.v1", unique
    dlq = f"{topic}.dlq"
    create_topic(kafka.bootstrap, topic, partitions=3)
    create_topic(kafka.bootstrap, dlq, partitions=1)
    envelopes = [Envelope.new_root("t.client.v1", topic, {"n": i, "bad": i % 4 == 0})
                 for i in range(200)]
    bad = {e.id for e in envelopes if e.payload["bad"]}

    async def broken(ctx: HandlerContext) -> None:
        if ctx.envelope.payload_json()["bad"]:
            raise ValueError(f"cannot handle order {ctx.envelope.payload_json()['n']}")

    async with KafkaPublisher(kafka.bootstrap) as pub:
        await pub.publish_many(envelopes)
        sub = KafkaSubscriber(kafka.bootstrap, group, publisher=pub,
                              retry=RetryPolicy(attempts=2, base_s=0.01))
        sub.handle(topic, broken)
        async with sub:
            await wait_until(lambda: sum(end_offsets(kafka.bootstrap, dlq).values()) == len(bad),
                             60, "every bad order dead-lettered")
            await wait_until(lambda: committed(kafka.bootstrap, group, topic, 3)
                             == end_offsets(kafka.bootstrap, topic), 60, "the service caught up")

    listed = cli(cli_env, "dlq", "list", dlq, "--json", "-b", kafka.bootstrap)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["records"] == len(bad) and row["redriven"] == 0
    assert row["by_original_topic"] == {topic: len(bad)}
    assert row["by_error"] == {"ValueError: cannot handle order <n>": len(bad)}

    handled: Counter[str] = Counter()

    async def fixed(ctx: HandlerContext) -> None:
        handled[ctx.envelope.id] += 1

    async with KafkaPublisher(kafka.bootstrap) as pub:
        sub = KafkaSubscriber(kafka.bootstrap, group, publisher=pub)
        sub.handle(topic, fixed)
        async with sub:
            run = await asyncio.to_thread(
                cli, cli_env, "dlq", "redrive", dlq, "--execute", "--json", "-b",
                kafka.bootstrap)
            assert run.returncode == 0, run.stderr
            assert json.loads(run.stdout)["redriven"] == len(bad)
            await wait_until(lambda: set(handled) == bad, 60, "every dead letter handled")
            again = await asyncio.to_thread(
                cli, cli_env, "dlq", "redrive", dlq, "--execute", "--json", "-b",
                kafka.bootstrap)
            assert again.returncode == 0, again.stderr
            assert json.loads(again.stdout)["redriven"] == 0
            await wait_until(lambda: committed(kafka.bootstrap, group, topic, 3)
                             == end_offsets(kafka.bootstrap, topic), 60, "the service caught up")
    assert handled == Counter({i: 1 for i in bad})  # each exactly once, by id

    relisted = json.loads(cli(cli_env, "dlq", "list", dlq, "--json", "-b",
                              kafka.bootstrap).stdout)
    assert relisted[0]["redriven"] == len(bad)
    actions = [(line["action"], line["phase"], line["mode"]) for line in audit_lines(cli_env)]
    executed = [("dlq.redrive", "intent", "execute"), ("dlq.redrive", "result", "execute")]
    assert actions == executed * 2
    assert audit_lines(cli_env)[1]["result"]["redriven"] == len(bad)


# ---- interrupted runs ------------------------------------------------------------------------


def start_redrive(env: dict[str, str], bootstrap: str, dlq: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nexus_tui", "dlq", "redrive", dlq, "--execute", "--json", "-b",
         bootstrap, *extra], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


async def test_a_redrive_killed_between_ack_and_commit_neither_loses_nor_repeats(
        kafka, unique, cli_env):
    target, n = f"{unique}.orders.v1", 3000
    dlq = f"{target}.dlq"
    create_topic(kafka.bootstrap, target, partitions=3)
    create_topic(kafka.bootstrap, dlq, partitions=2)
    fill_dlq(kafka.bootstrap, dlq, target, n)
    group = progress_group(dlq)

    proc = start_redrive(cli_env, kafka.bootstrap, dlq, "--rate", "400")

    def copied_beyond_commit() -> bool:
        done = sum(max(o, 0) for o in committed(kafka.bootstrap, group, dlq, 2).values())
        return sum(end_offsets(kafka.bootstrap, target).values()) - done >= 50

    await wait_until(copied_beyond_commit, 60, "copies acknowledged but not yet committed")
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    in_target = sum(end_offsets(kafka.bootstrap, target).values())
    done = sum(max(o, 0) for o in committed(kafka.bootstrap, group, dlq, 2).values())
    assert done < in_target < n, (done, in_target)  # killed mid-way, with acks uncommitted

    rerun = await asyncio.to_thread(cli, cli_env, "dlq", "redrive", dlq, "--execute", "--json",
                                    "-b", kafka.bootstrap)
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert result["redriven"] == n - in_target
    assert result["skipped_already_redriven"] == in_target - done
    copies = redriven_copies(kafka.bootstrap, target, n)
    assert len(copies) == n and set(copies.values()) == {1}  # none lost, none twice
    assert sum(end_offsets(kafka.bootstrap, target).values()) == n

    final = cli(cli_env, "dlq", "redrive", dlq, "--execute", "--json", "-b", kafka.bootstrap)
    assert json.loads(final.stdout)["redriven"] == 0
    assert sum(end_offsets(kafka.bootstrap, target).values()) == n
    lines = audit_lines(cli_env)
    assert [line["phase"] for line in lines] == ["intent", "intent", "result", "intent", "result"]


async def test_ctrl_c_commits_what_was_acknowledged(kafka, unique, cli_env):
    target, n = f"{unique}.orders.v1", 2000
    dlq = f"{target}.dlq"
    create_topic(kafka.bootstrap, target, partitions=2)
    create_topic(kafka.bootstrap, dlq, partitions=1)
    fill_dlq(kafka.bootstrap, dlq, target, n, partitions=1)
    proc = start_redrive(cli_env, kafka.bootstrap, dlq, "--rate", "400")
    await wait_until(lambda: sum(end_offsets(kafka.bootstrap, target).values()) >= 200, 60,
                     "a part redriven")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    in_target = sum(end_offsets(kafka.bootstrap, target).values())
    assert committed(kafka.bootstrap, progress_group(dlq), dlq, 1) == {0: in_target}
    result = audit_lines(cli_env)[-1]
    assert result["phase"] == "result" and "interrupted" in result["error"]


# ---- selection -------------------------------------------------------------------------------


async def test_filters_select_exactly_what_a_reference_filter_selects(kafka, unique, cli_env):
    target, n = f"{unique}.orders.v1", 120
    dlq = f"{target}.dlq"
    create_topic(kafka.bootstrap, target, partitions=2)
    create_topic(kafka.bootstrap, dlq, partitions=3)
    base = 1_790_000_000_000  # record timestamps, one minute apart

    def error(i: int) -> str:
        return ["timeout after 30s", "user {i} not found", "schema mismatch"][i % 3].format(i=i)

    def value(i: int) -> bytes:
        return json.dumps({"n": i, "sku": f"SKU-{i % 7}"}).encode()

    fill_dlq(kafka.bootstrap, dlq, target, n, partitions=3, error=error, value=value,
             timestamp_ms=lambda i: base + i * 60_000)
    since_ms, until_ms = base + 40 * 60_000, base + 80 * 60_000  # i in [40, 80)
    since, until = format_datetime(since_ms), format_datetime(until_ms)

    def reference(i: int, err: str = "", grep: str = "") -> bool:
        return (since_ms <= base + i * 60_000 < until_ms and re.search(err, error(i)) is not None
                and re.search(grep, value(i).decode()) is not None)

    shown = cli(cli_env, "dlq", "show", dlq, "--since", since, "--until", until, "--error",
                "not found|timeout", "--grep", "SKU-[0-3]", "--limit", "1000", "--json",
                "-b", kafka.bootstrap)
    assert shown.returncode == 0, shown.stderr
    got = sorted(json.loads(d["value"])["n"] for d in json.loads(shown.stdout)["dead_letters"])
    want = sorted(i for i in range(n) if reference(i, "not found|timeout", "SKU-[0-3]"))
    assert got == want and want

    first = cli(cli_env, "dlq", "redrive", dlq, "--error", "schema", "--limit", "25",
                "--execute", "--json", "-b", kafka.bootstrap)
    assert first.returncode == 0, first.stderr
    copies = redriven_copies(kafka.bootstrap, target, 25)
    # the first 25 schema errors in each partition's offset order: offsets of i % 3 == 2
    picked = sorted(copies)
    assert len(picked) == 25 and all(error(o * 3 + p) == "schema mismatch" for p, o in picked)
    rest = cli(cli_env, "dlq", "redrive", dlq, "--execute", "--json", "-b", kafka.bootstrap)
    assert json.loads(rest.stdout)["redriven"] == n - 25
    copies = redriven_copies(kafka.bootstrap, target, n)
    assert len(copies) == n and set(copies.values()) == {1}


async def test_undecodable_dead_letters_go_back_as_raw_bytes(kafka, unique, cli_env):
    target = f"{unique}.orders.v1"
    dlq = f"{target}.dlq"
    create_topic(kafka.bootstrap, target, partitions=1)
    create_topic(kafka.bootstrap, dlq, partitions=1)
    raw = [b"\xff\xfe not json", b"", b'{"id": 1}', b"\x00" * 100]
    fill_dlq(kafka.bootstrap, dlq, target, len(raw), partitions=1,
             error="undecodable: {i}", value=lambda i: raw[i])
    shown = json.loads(cli(cli_env, "dlq", "show", dlq, "--json", "-b", kafka.bootstrap).stdout)
    assert [d["decoded"] for d in shown["dead_letters"]] == [False] * 4
    run = cli(cli_env, "dlq", "redrive", dlq, "--execute", "--json", "-b", kafka.bootstrap)
    assert run.returncode == 0, run.stderr
    assert [m.value() or b"" for m in read_all(kafka.bootstrap, target, 4)] == raw


# ---- refusals: one line, nothing written ------------------------------------------------------


def nothing_written(bootstrap: str, dlq: str, target: str, partitions: int) -> bool:
    return (sum(end_offsets(bootstrap, target).values()) == 0
            and all(o < 0 for o in committed(bootstrap, progress_group(dlq), dlq,
                                             partitions).values()))


def test_bad_input_is_one_line_and_writes_nothing(kafka, unique, cli_env):
    target = f"{unique}.orders.v1"
    dlq = f"{target}.dlq"
    create_topic(kafka.bootstrap, target, partitions=1)
    create_topic(kafka.bootstrap, dlq, partitions=1)

    missing = cli(cli_env, "dlq", "redrive", f"{unique}.nope.dlq", "--execute", "-b",
                  kafka.bootstrap)
    assert missing.returncode != 0 and "does not exist" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1

    # someone else's DLQ: records without our headers need --to
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    producer.produce(dlq, b'{"x": 1}', b"k")
    assert producer.flush(30) == 0
    foreign = cli(cli_env, "dlq", "redrive", dlq, "--execute", "-b", kafka.bootstrap)
    assert foreign.returncode != 0 and "--to" in foreign.stderr
    assert len(foreign.stderr.strip().splitlines()) == 1
    assert nothing_written(kafka.bootstrap, dlq, target, 1)

    nowhere = cli(cli_env, "dlq", "redrive", dlq, "--to", f"{unique}.absent.v1", "--execute",
                  "-b", kafka.bootstrap)
    assert nowhere.returncode != 0 and "does not exist" in nowhere.stderr
    assert len(nowhere.stderr.strip().splitlines()) == 1
    assert nothing_written(kafka.bootstrap, dlq, target, 1)

    refused = cli(cli_env, "--read-only", "dlq", "redrive", dlq, "--to", target, "--execute",
                  "-b", kafka.bootstrap)
    assert refused.returncode != 0 and "read-only" in refused.stderr
    assert nothing_written(kafka.bootstrap, dlq, target, 1)
    errors = [line for line in audit_lines(cli_env) if line.get("error")]
    assert len(errors) >= 3  # each refusal left its intent/result with the error

    ok = cli(cli_env, "dlq", "redrive", dlq, "--to", target, "--execute", "--json", "-b",
             kafka.bootstrap)
    assert json.loads(ok.stdout)["redriven"] == 1


def test_dry_run_writes_nothing_and_shows_the_plan(kafka, unique, cli_env):
    target = f"{unique}.orders.v1"
    dlq = f"{target}.dlq"
    create_topic(kafka.bootstrap, target, partitions=2)
    create_topic(kafka.bootstrap, dlq, partitions=2)
    fill_dlq(kafka.bootstrap, dlq, target, 10)
    plan = cli(cli_env, "dlq", "redrive", dlq, "--json", "-b", kafka.bootstrap)
    assert plan.returncode == 0, plan.stderr
    data = json.loads(plan.stdout)
    assert data["to_send"] == 10 and data["by_target"] == {target: 10}
    assert data["by_error"] == {"handler failed for user <n>": 10}
    assert len(data["sample"]) == 5 and all(s["target"] == target for s in data["sample"])
    assert nothing_written(kafka.bootstrap, dlq, target, 2)


# ---- a broker SIGKILLed during the redrive (3 brokers, replication factor 3) ------------------


@pytest.mark.cluster3
@pytest.mark.usefixtures("cluster3")  # the 3 brokers whole before and after
async def test_a_broker_killed_during_the_redrive_loses_and_repeats_nothing(
        kafka3, unique, cli_env):
    bootstrap, n = kafka3.bootstrap, 3000
    target = f"{unique}.orders.v1"
    dlq = f"{target}.dlq"
    create_topic(bootstrap, target, partitions=3, rf=3)
    create_topic(bootstrap, dlq, partitions=2, rf=3)
    fill_dlq(bootstrap, dlq, target, n)
    victim = _leader_of(bootstrap, target, 0)

    proc = start_redrive(cli_env, bootstrap, dlq, "--rate", "600")
    await wait_until(lambda: sum(end_offsets(bootstrap, target).values()) >= 600, 60,
                     "a part redriven")
    await asyncio.to_thread(kafka3.local.kill_broker, victim)
    out, err = await asyncio.to_thread(proc.communicate, timeout=180)
    if proc.returncode != 0:  # the failover may end the run: one line, then go on
        assert len(err.strip().splitlines()) == 1, err
        rerun = await asyncio.to_thread(cli, cli_env, "dlq", "redrive", dlq, "--execute",
                                        "--json", "-b", bootstrap)
        assert rerun.returncode == 0, rerun.stderr
    assert _leader_of(bootstrap, target, 0) != victim  # the leader moved under the redrive
    copies = redriven_copies(bootstrap, target, n)
    assert len(copies) == n and set(copies.values()) == {1}, Counter(copies.values())
