"""Seek against a real broker, cross-checked with Apache Kafka's own ConsumerGroupCommand:
for every strategy, two groups with the same commits are reset, one by Kafka's tool
(`--reset-offsets ... --execute`) and one by our plan + apply, and their commits must end
up equal (and equal to what we expect by hand). Plus dry runs, refusals and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from core.cluster.admin import KafkaAdmin, NotFound
from core.cluster.seek import GroupSeeker, SeekPlan, SeekRefused
from core.cluster.seek_parse import SeekStrategy, format_datetime
from core.config.settings import ConnectionSettings
from core.errors import ConfigError, ReadOnlyError
from core.local.tools import CONSUMER_GROUP_COMMAND, run_tool
from tests.kafka_helpers import PollingMember, create_topic, run_printed_command, wait_until

MINUTE = 60_000
RECORDS = {0: 10, 1: 20, 2: 4}  # records per partition, one a minute
DELETED = {1: 5}  # partition 1 starts at 5 (delete_records): log start > 0
COMMITS = {0: 4, 1: 12}  # partition 2 never committed


@dataclass(frozen=True)
class Topic:
    name: str
    base_ms: int  # timestamp of record i is base_ms + i minutes, on every partition

    def ts(self, i: float) -> int:
        return int(self.base_ms + i * MINUTE)

    def offsets(self, by_partition: dict[int, int]) -> dict[tuple[str, int], int]:
        return {(self.name, p): o for p, o in by_partition.items()}


def make_topic(bootstrap: str, name: str) -> Topic:
    """3 partitions: 10, 20 (the first 5 deleted) and 4 records, timestamps a minute apart
    over the last hour."""
    create_topic(bootstrap, name, partitions=len(RECORDS))
    base = (int(time.time() * 1000) // MINUTE - 60) * MINUTE
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for partition, count in RECORDS.items():
        for i in range(count):
            producer.produce(name, f"r{i}".encode(), partition=partition,
                             timestamp=base + i * MINUTE)
    assert producer.flush(30) == 0
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.delete_records(
            [TopicPartition(name, p, o) for p, o in DELETED.items()]).values():
        fut.result(30)
    return Topic(name, base)


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit as a consumer that then leaves: the group is Empty."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                    asynchronous=False)
    consumer.close()


async def committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    return await KafkaAdmin(bootstrap).committed_offsets(group)


def kafka_dry_run(output: str, group: str) -> dict[tuple[str, int], int]:
    """The NEW-OFFSET rows of ConsumerGroupCommand --reset-offsets --dry-run (or --execute)."""
    rows = {}
    for line in output.splitlines():
        cols = line.split()
        if len(cols) == 4 and cols[0] == group:
            rows[(cols[1], int(cols[2]))] = int(cols[3])
    return rows


def run_as_printed(command: str, group: str) -> dict[tuple[str, int], int]:
    """Run our printed `kafka-consumer-groups ...` line as printed; the offsets it reports."""
    tool = run_printed_command(command)
    assert tool.returncode == 0 and "Error" not in tool.stdout, (
        command + "\n" + tool.stdout + tool.stderr)
    return kafka_dry_run(tool.stdout, group)


async def cross_check(
    kafka, unique: str, strategy: SeekStrategy, topics: list[str],
    expected: dict[tuple[str, int], int], commits: dict[tuple[str, int], int],
    csv_dir: Path | None = None,
) -> SeekPlan:
    """Same commits in two groups. The Kafka command we print for our group's plan is run
    as printed (a dry run: it must report our targets); the one printed with --execute for
    the other group's plan is run too, while we apply ours; both groups' commits must end up
    equal, and equal to `expected`. `csv_dir`: where a to-group plan's CSV is exported (the
    file its printed command reads)."""
    bootstrap = kafka.bootstrap
    theirs, ours = f"{unique}-kafka", f"{unique}-ours"
    for group in (theirs, ours):
        commit(bootstrap, group, commits)
    assert await committed(bootstrap, ours) == commits
    seeker = GroupSeeker(bootstrap)
    plan, their_plan = await asyncio.gather(seeker.plan(ours, strategy, topics),
                                            seeker.plan(theirs, strategy, topics))
    csv_ours = csv_theirs = None
    if csv_dir is not None:
        csv_ours, csv_theirs = str(csv_dir / "ours.csv"), str(csv_dir / "theirs.csv")
        Path(csv_ours).write_text(plan.to_csv())
        Path(csv_theirs).write_text(their_plan.to_csv())
    dry_run = plan.kafka_command(bootstrap, csv_path=csv_ours)
    assert dry_run.endswith(" --dry-run")
    assert await asyncio.to_thread(run_as_printed, dry_run, ours) == plan.offsets()
    execute = their_plan.kafka_command(bootstrap, execute=True, csv_path=csv_theirs)
    assert execute.endswith(" --execute")
    tool, applied = await asyncio.gather(
        asyncio.to_thread(run_as_printed, execute, theirs), seeker.apply(plan))
    assert applied == plan.offsets()
    assert tool == their_plan.offsets()
    after_kafka, after_ours = await asyncio.gather(
        committed(bootstrap, theirs), committed(bootstrap, ours))
    assert after_ours == after_kafka, f"ours {after_ours} != Kafka's {after_kafka}"
    assert after_ours == expected
    return plan


@pytest.fixture
async def topic(kafka, unique) -> Topic:
    made = make_topic(kafka.bootstrap, unique)
    admin = KafkaAdmin(kafka.bootstrap)

    async def deleted() -> bool:
        snap = await admin.snapshot(topic_filter=f"^{unique}$", groups=False, configs=False)
        return all(snap.partition(unique, p).log_start == o for p, o in DELETED.items())

    await wait_until(deleted, 30, "delete_records to move the log start")
    return made


# ---- every strategy, cross-checked with ConsumerGroupCommand -----------------------------------


async def test_to_earliest(kafka, unique, topic):
    await cross_check(kafka, unique, SeekStrategy.earliest(), [topic.name],
                      topic.offsets({0: 0, 1: 5, 2: 0}), topic.offsets(COMMITS))


async def test_to_latest(kafka, unique, topic):
    await cross_check(kafka, unique, SeekStrategy.latest(), [topic.name],
                      topic.offsets({0: 10, 1: 20, 2: 4}), topic.offsets(COMMITS))


async def test_to_current_without_commit_goes_to_log_end(kafka, unique, topic):
    plan = await cross_check(kafka, unique, SeekStrategy.current(), [topic.name],
                             topic.offsets({0: 4, 1: 12, 2: 4}), topic.offsets(COMMITS))
    assert [c.note for c in plan.changes] == [None, None, "no commit: log end"]


async def test_to_offset_beyond_end_is_clamped(kafka, unique, topic):
    plan = await cross_check(kafka, unique, SeekStrategy.to_offset(15), [topic.name],
                             topic.offsets({0: 10, 1: 15, 2: 4}), topic.offsets(COMMITS))
    assert [(c.partition, c.clamp_reason) for c in plan.clamped] == [
        (0, "above log end 10: clamped to 10"), (2, "above log end 4: clamped to 4")]


async def test_shift_by_below_start_is_clamped(kafka, unique, topic):
    plan = await cross_check(kafka, unique, SeekStrategy.shift_by(-9), [f"{topic.name}:0,1"],
                             topic.offsets({0: 0, 1: 5}), topic.offsets(COMMITS))
    p0, p1 = plan.changes
    assert (p0.requested, p0.clamp_reason) == (-5, "below log start 0: clamped to 0")
    assert (p1.requested, p1.clamp_reason) == (3, "below log start 5: clamped to 5")
    assert (p1.lag_before, p1.lag_after) == (8, 15)


async def test_shift_by_without_commit_is_refused_like_kafka(kafka, unique, topic):
    commits = topic.offsets(COMMITS)
    theirs, ours = f"{unique}-kafka", f"{unique}-ours"
    for group in (theirs, ours):
        commit(kafka.bootstrap, group, commits)
    # we print no command for a plan we refuse to make: Kafka's tool is asked by hand here
    tool = await asyncio.to_thread(run_tool, CONSUMER_GROUP_COMMAND, [
        "--bootstrap-server", kafka.bootstrap, "--group", theirs, "--reset-offsets",
        "--shift-by", "1", "--topic", topic.name, "--execute"])
    assert tool.returncode == 1
    assert f"Cannot shift offset for partition {topic.name}-2 since there is no current " \
           "committed offset" in tool.stderr
    with pytest.raises(ConfigError, match=rf"cannot shift {topic.name}\[2\]: no current "
                                          "committed offset"):
        await GroupSeeker(kafka.bootstrap).plan(ours, SeekStrategy.shift_by(1), [topic.name])
    assert await committed(kafka.bootstrap, theirs) == commits
    assert await committed(kafka.bootstrap, ours) == commits


async def test_to_datetime_with_a_zone_offset(kafka, unique, topic):
    # between records 3 and 4: p0 → 4; p1 → 5 (record 4 was deleted); p2 (records 0-3) has no
    # record that recent → log end 4. Written at +01:00 to exercise the zone.
    when = format_datetime(topic.ts(3.5) + 3_600_000).replace("Z", "+01:00")
    plan = await cross_check(kafka, unique, SeekStrategy.to_datetime(when), [topic.name],
                             topic.offsets({0: 4, 1: 5, 2: 4}), topic.offsets(COMMITS))
    assert plan.changes[2].note == "no record that recent: log end"


async def test_by_duration(kafka, unique, topic):
    # now − D halfway between records 3 and 4: ±30 s of slack for the JVM's later "now"
    seconds = (time.time() * 1000 - topic.ts(3.5)) / 1000
    duration = f"PT{seconds:.3f}S"
    await cross_check(kafka, unique, SeekStrategy.by_duration(duration), [topic.name],
                      topic.offsets({0: 4, 1: 5, 2: 4}), topic.offsets(COMMITS))


async def test_from_file_with_clamping(kafka, unique, topic, tmp_path):
    plan_file = tmp_path / "plan.csv"
    plan_file.write_text(f"{topic.name},0,3\n{topic.name},1,2\n{topic.name},2,99\n")
    plan = await cross_check(kafka, unique, SeekStrategy.from_file(plan_file), [],
                             topic.offsets({0: 3, 1: 5, 2: 4}), topic.offsets(COMMITS))
    assert "--from-file" in plan.kafka_command(kafka.bootstrap)


async def test_to_group_equals_kafka_from_file_of_the_exported_plan(kafka, unique, topic,
                                                                     tmp_path):
    """Kafka has no to-group: what we print is --from-file of the plan's CSV export, run here
    as printed (Kafka's clamping of --from-file itself: test_from_file_with_clamping)."""
    source = f"{unique}-source"
    commit(kafka.bootstrap, source, topic.offsets({0: 6, 1: 2}))  # p1 below log start
    plan = await cross_check(kafka, unique, SeekStrategy.to_group(source), [topic.name],
                             topic.offsets({0: 6, 1: 5, 2: 1}),
                             topic.offsets({0: 4, 1: 12, 2: 1}), csv_dir=tmp_path)
    assert plan.notes == (f"{topic.name}[2]: group {source} has no commit there: left out",)
    assert plan.changes[1].clamp_reason == "below log start 5: clamped to 5"


# ---- safety ------------------------------------------------------------------------------------


async def test_dry_run_changes_nothing(kafka, unique, topic):
    commits = topic.offsets(COMMITS)
    commit(kafka.bootstrap, unique, commits)
    plan = await GroupSeeker(kafka.bootstrap).plan(unique, SeekStrategy.earliest())
    assert plan.offsets() == topic.offsets({0: 0, 1: 5})  # default scope: committed partitions
    assert all(c.moves for c in plan.changes) and plan.can_apply
    assert await committed(kafka.bootstrap, unique) == commits


async def test_active_group_is_refused_naming_its_member(kafka, unique, topic):
    commits = topic.offsets(COMMITS)
    commit(kafka.bootstrap, unique, commits)
    live = PollingMember(kafka.bootstrap, unique, topic.name, "svc-1")
    admin = KafkaAdmin(kafka.bootstrap)
    try:
        async def stable() -> bool:
            group = await admin.group(unique)
            return group.state == "Stable" and len(group.members) == 1

        await wait_until(stable, 30, "the consumer to join")
        seeker = GroupSeeker(admin)
        plan = await seeker.plan(unique, SeekStrategy.earliest(), [topic.name])
        assert not plan.can_apply and "svc-1@/127.0.0.1" in plan.refusal
        message = (f"group {unique} is Stable with 1 member (svc-1@/127.0.0.1): stop them "
                   "first; seek only applies to Empty or Dead groups")
        with pytest.raises(SeekRefused) as refused:
            await seeker.apply(plan)
        assert str(refused.value) == message
        # Skip our own state check: the broker's UNKNOWN_MEMBER_ID gets the same message.
        seeker._check_inactive = lambda group, info: None  # type: ignore[method-assign]
        with pytest.raises(SeekRefused) as refused:
            await seeker.apply(plan)
        assert str(refused.value) == message
        assert await committed(kafka.bootstrap, unique) == commits
    finally:
        live.stop()


async def test_read_only_refuses_before_any_request(kafka, unique, topic):
    commits = topic.offsets(COMMITS)
    commit(kafka.bootstrap, unique, commits)
    read_only = ConnectionSettings(bootstrap=kafka.bootstrap, read_only=True)
    plan = await GroupSeeker(read_only).plan(unique, SeekStrategy.latest())  # a read: allowed
    with pytest.raises(ReadOnlyError, match="seek refused: the connection is read-only"):
        await GroupSeeker(read_only).apply(plan)
    # Nothing listens on port 1: any request would end in ClusterUnreachable, not this.
    nowhere = ConnectionSettings(bootstrap="127.0.0.1:1", read_only=True, request_timeout_s=1)
    with pytest.raises(ReadOnlyError):
        await GroupSeeker(nowhere).apply(plan)
    assert await committed(kafka.bootstrap, unique) == commits


async def test_commits_moved_since_the_plan_are_refused(kafka, unique, topic):
    commit(kafka.bootstrap, unique, topic.offsets(COMMITS))
    seeker = GroupSeeker(kafka.bootstrap)
    plan = await seeker.plan(unique, SeekStrategy.latest())
    commit(kafka.bootstrap, unique, topic.offsets({0: 7}))
    with pytest.raises(SeekRefused, match=rf"changed since the plan \({topic.name}\[0\]: 4 → 7\)"):
        await seeker.apply(plan)
    assert await committed(kafka.bootstrap, unique) == topic.offsets({0: 7, 1: 12})


async def test_unknown_group_topic_and_partition(kafka, unique, topic, tmp_path):
    commit(kafka.bootstrap, unique, topic.offsets(COMMITS))
    seeker = GroupSeeker(kafka.bootstrap)
    with pytest.raises(NotFound, match=f"group {unique}-nope does not exist"):
        await seeker.plan(f"{unique}-nope", SeekStrategy.earliest(), [topic.name])
    with pytest.raises(NotFound, match=f"group {unique}-nope does not exist"):
        await seeker.plan(unique, SeekStrategy.to_group(f"{unique}-nope"))
    with pytest.raises(ConfigError, match=f"topic {unique}-nope does not exist"):
        await seeker.plan(unique, SeekStrategy.earliest(), [f"{unique}-nope"])
    with pytest.raises(ConfigError, match=rf"topic {topic.name} has 3 partitions \(0-2\): "
                                          "no partition 3"):
        await seeker.plan(unique, SeekStrategy.earliest(), [f"{topic.name}:1,3"])
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{topic.name},0,1\n\n{topic.name},7,1\n")
    with pytest.raises(ConfigError, match=rf"bad.csv line 3: topic {topic.name} has 3 "
                                          r"partitions \(0-2\): no partition 7"):
        await seeker.plan(unique, SeekStrategy.from_file(bad))


# ---- the CLI -----------------------------------------------------------------------------------


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_tui", "seek", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=Path(__file__).parent.parent, env=dict(os.environ))
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_dry_run_then_execute(kafka, unique, topic, tmp_path):
    b = kafka.bootstrap
    commits = topic.offsets(COMMITS)
    commit(b, unique, commits)
    (code, out, err), (hcode, human, _) = await asyncio.gather(
        cli(unique, "--to-earliest", "--topic", topic.name, "-b", b, "--json"),
        cli(unique, "--to-offset", "15", "-b", b))
    assert code == 0, err
    data = json.loads(out)
    assert data["group"] == unique and data["executed"] is False
    assert [{k: c[k] for k in ("topic", "partition", "current", "target", "clamped")}
            for c in data["changes"]] == [
        {"topic": topic.name, "partition": 0, "current": 4, "target": 0, "clamped": False},
        {"topic": topic.name, "partition": 1, "current": 12, "target": 5, "clamped": False},
        {"topic": topic.name, "partition": 2, "current": None, "target": 0, "clamped": False}]
    assert hcode == 0
    assert "4 → 10" in human and "warning: " in human and "above log end 10: clamped to 10" in human
    assert "dry run: nothing changed; add --execute to apply" in human
    (printed,) = [ln.removeprefix("same with Kafka's tool: ") for ln in human.splitlines()
                  if ln.startswith("same with Kafka's tool: ")]
    assert printed == (f"kafka-consumer-groups.sh --bootstrap-server {b} --group {unique} "
                       "--reset-offsets --to-offset 15 --all-topics --dry-run")
    # both printed commands, run as printed, report the targets we planned
    assert run_as_printed(printed, unique) == topic.offsets({0: 10, 1: 15})
    assert run_as_printed(data["kafka_command"], unique) == {
        (c["topic"], c["partition"]): c["target"] for c in data["changes"]}
    assert await committed(b, unique) == commits

    export = tmp_path / "new.csv"
    code, out, err = await cli(unique, "--to-earliest", "--topic", topic.name, "-b", b, "--json",
                               "--execute", "--export-csv", str(export))
    assert code == 0, err
    executed = json.loads(out)
    assert executed["executed"] is True
    assert await committed(b, unique) == topic.offsets({0: 0, 1: 5, 2: 0})
    # Kafka's tool, executing what we printed, finds the group where we left it: no change
    assert executed["kafka_command"].endswith(" --execute")
    assert run_as_printed(executed["kafka_command"], unique) == topic.offsets({0: 0, 1: 5, 2: 0})
    assert await committed(b, unique) == topic.offsets({0: 0, 1: 5, 2: 0})
    assert export.read_text() == f"{topic.name},0,0\n{topic.name},1,5\n{topic.name},2,0\n"


async def test_cli_errors_are_one_line(kafka, unique, topic):
    b = kafka.bootstrap
    commit(b, unique, topic.offsets(COMMITS))
    cases = [
        ((unique, "-b", b), "no strategy given: use one of --to-earliest"),
        ((unique, "--to-datetime", "yesterday", "-b", b), "--to-datetime 'yesterday' is not"),
        ((unique, "--to-offset", "-3", "-b", b), "--to-offset must be an offset ≥ 0"),
        ((f"{unique}-nope", "--to-latest", "-b", b), f"group {unique}-nope does not exist"),
        ((unique, "--to-latest", "--execute", "--read-only", "-b", "127.0.0.1:1"),
         "seek refused: the connection is read-only"),
    ]
    for args, words in cases:  # one by one: concurrent Pythons only fight over the CPUs
        code, out, err = await cli(*args)
        assert code == 1, (args, out, err)
        assert err.startswith("error: ") and words in err, (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (args, err)
    code, out, err = await cli(unique, "--to-latest", "--to-current", "-b", b, "--json")
    assert code == 1 and json.loads(err) == {
        "error": "only one strategy at a time, got --to-latest and --to-current"}
    assert await committed(b, unique) == topic.offsets(COMMITS)


@pytest.mark.parametrize("args, words", [
    (("--to-latest", "--topic", "x:y"), "--topic 'x:y': 'y' is not a partition number"),
    (("--to-latest", "--topic", "{unique}-nope"), "topic {unique}-nope does not exist"),
    (("--by-duration", "10m"), "--by-duration '10m' is not a duration"),
    (("--from-file", "/nonexistent.csv"), "cannot read '/nonexistent.csv'"),
    (("--from-file", "{csv}", "--topic", "t"), "--from-file takes its partitions from the file"),
    (("--to-group", "{unique}-nope"), "group {unique}-nope does not exist"),
])
async def test_cli_argument_errors(kafka, unique, topic, tmp_path, args, words):
    """More bad input, through the real entry point: one line, exit 1, nothing changed."""
    commit(kafka.bootstrap, unique, topic.offsets(COMMITS))
    csv = tmp_path / "ok.csv"
    csv.write_text(f"{topic.name},0,1\n")
    fill = {"unique": unique, "csv": str(csv)}
    code, out, err = await cli(unique, *(a.format(**fill) for a in args), "-b", kafka.bootstrap)
    assert code == 1, (out, err)
    assert err.startswith("error: ") and words.format(**fill) in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert await committed(kafka.bootstrap, unique) == topic.offsets(COMMITS)
