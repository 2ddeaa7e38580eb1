"""Pure planning for topic and consumer-group administration (no I/O: the reads are passed
in by core/cluster/topic_admin.py and group_admin.py, which also apply the plans).

A plan is what the CLI prints on a dry run, what the TUI's screens show before their typed
confirmation, and what the audit log records as before → after. Its `kafka_command` is the
same change with Apache Kafka's own tools (kafka-topics, kafka-configs, kafka-delete-records,
kafka-consumer-groups), runnable as printed.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.config.request import key_values
from core.errors import ConfigError
from core.wire.partitioner import partition_for_key
from core.wire.topic_names import (
    TopicNameError,
    colliding_topics,
    is_nexus_topic,
    validate_kafka_topic,
)

TP = tuple[str, int]
#: How many of the newest records add-partitions reads to estimate the conversations it moves.
RECENT_RECORDS = 10_000
_MAX_NAMED = 5


class AdminRefused(ConfigError):
    """A change that must not be made as asked (a live group, an internal topic...)."""


@dataclass(frozen=True)
class AdminPlan:
    """One administrative change, planned: nothing is applied until the plan is applied."""

    action: str  # topic.create, topic.alter, topic.add-partitions, topic.purge, topic.delete,
    # group.delete, group.delete-offsets
    target: str  # the topic or group
    args: dict[str, Any]
    summary: str  # what applying it does, in one line
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    refusal: str | None = None  # why applying is refused (it would be refused by the core)
    destructive: bool = True  # the CLI needs --execute; the TUI a typed confirmation
    kafka_argv: tuple[str, ...] = ()  # Kafka's tool, without --bootstrap-server
    kafka_file: tuple[str, str] | None = None  # (file name, content) the command reads
    detail: dict[str, Any] = field(default_factory=dict, compare=False)  # for the apply step

    @property
    def kind(self) -> str:
        return self.action.split(".", 1)[0]

    def kafka_command(self, bootstrap: str) -> str:
        """The same change with Apache Kafka's tool, runnable in a POSIX shell as printed."""
        tool, *rest = self.kafka_argv
        command = shlex.join([tool, "--bootstrap-server", bootstrap, *rest])
        if self.kafka_file is None:
            return command
        name, content = self.kafka_file
        return f"printf '%s\\n' {shlex.quote(content)} > {shlex.quote(name)} && {command}"

    def lines(self) -> list[str]:
        """The plan as text: summary, table, warnings, notes, refusal."""
        out = [self.summary]
        if self.rows:
            out += table_lines(self.columns, self.rows)
        out += [f"warning: {w}" for w in self.warnings]
        out += [f"note: {n}" for n in self.notes]
        if self.refusal:
            out.append(f"refused: {self.refusal}")
        return out

    def to_dict(self, bootstrap: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action, "target": self.target, "args": self.args,
            "summary": self.summary,
            "rows": [dict(zip([c.lower().replace(" ", "_") for c in self.columns], r,
                              strict=True)) for r in self.rows],
            "before": self.before, "after": self.after, "warnings": list(self.warnings),
            "notes": list(self.notes), "refusal": self.refusal,
            "destructive": self.destructive,
        }
        if bootstrap is not None and self.kafka_argv:
            data["kafka_command"] = self.kafka_command(bootstrap)
        return data


def table_lines(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    text = [tuple(columns)] + [tuple("-" if v is None else str(v) for v in r) for r in rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(columns))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
            for r in text]


def named(items: Sequence[str]) -> str:
    """`a, b, c` (the first few, then `+N more`)."""
    shown = list(items[:_MAX_NAMED])
    if len(items) > _MAX_NAMED:
        shown.append(f"+{len(items) - _MAX_NAMED} more")
    return ", ".join(shown)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# ---- input -------------------------------------------------------------------------------------


def parse_config_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """`--config K=V` options (a later one for the same key wins)."""
    return key_values(pairs, "--config", "KEY=VALUE")


def parse_partition_offsets(specs: Iterable[str]) -> dict[int, int]:
    """`--before-offset P:O` options: partition → offset."""
    out: dict[int, int] = {}
    for spec in specs:
        match = re.fullmatch(r"\s*([0-9]{1,10}):([0-9]{1,19})\s*", spec, re.ASCII)
        if match is None:
            raise ConfigError(f"--before-offset {spec!r} is not PARTITION:OFFSET (e.g. 0:1200)")
        out[int(match[1])] = int(match[2])
    if not out:
        raise ConfigError("--before-offset needs PARTITION:OFFSET")
    return out


def check_new_topic_name(name: str, existing: Iterable[str]) -> list[str]:
    """Kafka's rules as errors (ConfigError); the Nexus naming scheme as warnings."""
    try:
        validate_kafka_topic(name)
    except TopicNameError as exc:
        raise ConfigError(str(exc)) from None
    names = set(existing)
    if name in names:
        raise ConfigError(f"topic {name} already exists")
    clash = colliding_topics(name, names)
    if clash:
        raise ConfigError(f"topic {name} collides with {named(clash)}: Kafka replaces '.' with "
                          "'_' in metric names and refuses such a pair")
    warnings = []
    if not is_nexus_topic(name):
        warnings.append(f"{name} does not follow the Nexus naming scheme "
                        "<team>.<domain>[.<purpose>][.cmd|evt|res].v<N>")
    return warnings


def check_not_internal(name: str) -> None:
    if name.startswith("__"):
        raise AdminRefused(f"{name} is an internal topic: nexus-tui never deletes or purges it")


# ---- topics ------------------------------------------------------------------------------------


def plan_create(name: str, partitions: int, replication_factor: int | None,
                configs: Mapping[str, str], existing: Iterable[str]) -> AdminPlan:
    if partitions < 1:
        raise ConfigError(f"--partitions must be at least 1, not {partitions}")
    if replication_factor is not None and replication_factor < 1:
        raise ConfigError(f"--replication-factor must be at least 1, not {replication_factor}")
    warnings = check_new_topic_name(name, existing)
    rf = "broker default" if replication_factor is None else replication_factor
    argv = ["kafka-topics.sh", "--create", "--topic", name, "--partitions", str(partitions)]
    if replication_factor is not None:
        argv += ["--replication-factor", str(replication_factor)]
    for key, value in configs.items():
        argv += ["--config", f"{key}={value}"]
    return AdminPlan(
        "topic.create", name,
        {"topic": name, "partitions": partitions, "replication_factor": replication_factor,
         "configs": dict(configs)},
        f"create topic {name}: {plural(partitions, 'partition')}, replication factor {rf}",
        ("CONFIG", "VALUE"), tuple(sorted(configs.items())),
        before={}, after={"partitions": partitions, "replication_factor": replication_factor,
                          "configs": dict(configs)},
        warnings=tuple(warnings), destructive=False, kafka_argv=tuple(argv))


@dataclass(frozen=True, slots=True)
class ConfigValue:
    """A topic config as DescribeConfigs reports it."""

    value: str | None
    source: str  # default, dynamic topic, static broker...
    sensitive: bool = False


def plan_alter(name: str, current: Mapping[str, ConfigValue], to_set: Mapping[str, str],
               to_delete: Sequence[str]) -> AdminPlan:
    """Each key before → after with its source. Unknown keys and bad values are left to the
    broker's own validation (validate_only), which the I/O step runs on this plan."""
    if not to_set and not to_delete:
        raise ConfigError("nothing to alter: give --config KEY=VALUE or --delete-config KEY")
    both = sorted(set(to_set) & set(to_delete))
    if both:
        raise ConfigError(f"{named(both)}: both set and deleted")
    not_set = [k for k in to_delete if k not in current or current[k].source != "dynamic"]
    if not_set:  # Kafka's kafka-configs refuses these too ("Invalid config(s)")
        raise ConfigError(f"--delete-config {named(not_set)}: not set on topic {name} (only "
                          "a topic's own overrides can be deleted)")
    rows = []
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key in sorted({*to_set, *to_delete}):
        now = current.get(key)
        old = None if now is None else now.value
        new = to_set.get(key, "(default)")
        if now is not None and now.sensitive:
            old, new = "<sensitive>", "<sensitive>"
        rows.append((key, old, new, "-" if now is None else now.source))
        before[key] = old
        after[key] = new if key in to_set else None
    parts = [f"{k}={_config_arg(v)}" for k, v in sorted(to_set.items())]
    argv = ["kafka-configs.sh", "--alter", "--entity-type", "topics", "--entity-name", name]
    if parts:
        argv += ["--add-config", ",".join(parts)]
    if to_delete:
        argv += ["--delete-config", ",".join(sorted(to_delete))]
    changed = [r[0] for r in rows if r[1] != r[2]]
    return AdminPlan(
        "topic.alter", name,
        {"topic": name, "set": dict(to_set), "delete": sorted(to_delete)},
        f"alter {plural(len(rows), 'config')} of topic {name} ({len(changed)} changing)",
        ("CONFIG", "BEFORE", "AFTER", "SOURCE"), tuple(rows), before, after,
        kafka_argv=tuple(argv), detail={"set": dict(to_set), "delete": list(to_delete)})


def _config_arg(value: str) -> str:
    """kafka-configs reads `a,b` in --add-config as two entries: a list value goes in [...]."""
    return f"[{value}]" if "," in value else value


def recent_ranges(starts: Mapping[int, int], ends: Mapping[int, int],
                  limit: int = RECENT_RECORDS) -> dict[int, int]:
    """Where to start reading each partition so that at most `limit` of the newest records
    are read in all: partitions with fewer records than an even share give the rest to the
    others (water-filling). Returns partition → first offset to read."""
    sizes = {p: max(0, ends[p] - starts[p]) for p in ends}
    take: dict[int, int] = {}
    budget = limit
    left = sorted(sizes, key=lambda p: sizes[p])
    while left:
        share = budget // len(left)
        p = left[0]
        if sizes[p] <= share:
            take[p] = sizes[p]
            budget -= sizes[p]
            left.pop(0)
            continue
        extra = budget - share * len(left)
        for i, q in enumerate(sorted(left)):
            take[q] = share + (1 if i < extra else 0)
        break
    return {p: ends[p] - take[p] for p in ends}


@dataclass(frozen=True)
class KeyMoves:
    """What adding partitions does to the conversations seen in the recent records."""

    records: int
    keyed: int
    distinct_keys: int
    moving_keys: int  # distinct keys whose partition under the new count differs
    misplaced_keys: int  # keys not where murmur2 over the current count puts them
    examples: tuple[str, ...]


def key_moves(records: Iterable[tuple[int, bytes | None]], current: int, new: int
              ) -> KeyMoves:
    """`records`: (partition, key) of the records read. A key moves when the partition its
    newest record is on differs from murmur2(key) mod `new` (Java's default partitioner, which
    Nexus publishers use with root ids as keys)."""
    last: dict[bytes, int] = {}
    count = keyed = 0
    for partition, key in records:
        count += 1
        if key is None:
            continue
        keyed += 1
        last[key] = partition
    moving = []
    misplaced = 0
    for key, partition in last.items():
        if partition_for_key(key, current) != partition:
            misplaced += 1
        if partition_for_key(key, new) != partition:
            moving.append(key)
    examples = tuple(k.decode("utf-8", "replace") for k in moving[:_MAX_NAMED])
    return KeyMoves(count, keyed, len(last), len(moving), misplaced, examples)


def check_partition_count(name: str, current: int, to: int) -> None:
    if to <= current:
        raise ConfigError(f"topic {name} has {plural(current, 'partition')}: --to must be more "
                          f"than {current} (Kafka cannot remove partitions), not {to}")


def plan_add_partitions(name: str, current: int, to: int, moves: KeyMoves,
                        read_from: Mapping[int, int]) -> AdminPlan:
    check_partition_count(name, current, to)
    warnings = []
    if moves.moving_keys:
        warnings.append(
            f"{plural(moves.moving_keys, 'conversation')} of the {moves.distinct_keys:,} "
            f"seen in the last {moves.records:,} records would land on another partition "
            f"(e.g. {named(list(moves.examples))}): records of one conversation in flight "
            "on two partitions may be handled out of order")
    notes = []
    if moves.misplaced_keys:
        notes.append(f"{plural(moves.misplaced_keys, 'key')} are not on the partition "
                     f"murmur2 over {current} puts them: a producer without Java's default "
                     "partitioner wrote them")
    if moves.records > moves.keyed:
        notes.append(f"{moves.records - moves.keyed:,} records without a key (no conversation)")
    estimate = {"records_read": moves.records, "keyed_records": moves.keyed,
                "distinct_keys": moves.distinct_keys, "moving_keys": moves.moving_keys,
                "misplaced_keys": moves.misplaced_keys, "examples": list(moves.examples),
                "read_from": {str(p): o for p, o in sorted(read_from.items())}}
    return AdminPlan(
        "topic.add-partitions", name, {"topic": name, "to": to},
        f"add {plural(to - current, 'partition')} to topic {name}: {current} → {to}; "
        f"{moves.moving_keys:,} of {moves.distinct_keys:,} recent root ids move",
        before={"partitions": current}, after={"partitions": to},
        warnings=tuple(warnings), notes=tuple(notes),
        kafka_argv=("kafka-topics.sh", "--alter", "--topic", name, "--partitions", str(to)),
        detail={"estimate": estimate})


def plan_purge(name: str, starts: Mapping[int, int], ends: Mapping[int, int],
               targets: Mapping[int, int], commits: Mapping[str, Mapping[int, int]],
               how: str) -> AdminPlan:
    """DeleteRecords: each partition's log start moves up to its target. `commits`: group →
    partition → committed offset on this topic."""
    for p, offset in sorted(targets.items()):
        if p not in ends:
            raise ConfigError(f"topic {name} has no partition {p} "
                              f"(0-{max(ends) if ends else 0})")
        if offset > ends[p]:
            raise ConfigError(f"{name}[{p}]: offset {offset} is beyond the log end {ends[p]}")
    rows = []
    effective: dict[int, int] = {}
    jumping: dict[str, list[str]] = {}
    for p in sorted(targets):
        target = max(targets[p], starts[p])
        removed = target - starts[p]
        if removed > 0:
            effective[p] = target
        groups = sorted(g for g, offs in commits.items()
                        if p in offs and starts[p] <= offs[p] < target)
        for g in groups:
            jumping.setdefault(g, []).append(f"{p}@{commits[g][p]}")
        rows.append((p, starts[p], ends[p], target, removed, named(groups) or "-"))
    total = sum(r[4] for r in rows)
    warnings = [f"group {g} has committed offsets inside the removed range "
                f"({', '.join(where)}): it will jump to the new log start"
                for g, where in sorted(jumping.items())]
    records = [{"topic": name, "partition": p, "offset": o} for p, o in sorted(effective.items())]
    content = json.dumps({"version": 1, "partitions": records}, separators=(",", ":"))
    return AdminPlan(
        "topic.purge", name, {"topic": name, "how": how,
                              "targets": {str(p): o for p, o in sorted(targets.items())}},
        f"purge topic {name} ({how}): delete {plural(total, 'record')} from "
        f"{plural(len(effective), 'partition')}",
        ("PARTITION", "LOG START", "LOG END", "NEW START", "REMOVED", "GROUPS JUMPING"),
        tuple(rows),
        before={"log_start": {str(p): starts[p] for p in sorted(targets)}},
        after={"log_start": {str(p): max(targets[p], starts[p]) for p in sorted(targets)}},
        warnings=tuple(warnings),
        kafka_argv=("kafka-delete-records.sh", "--offset-json-file", "purge.json"),
        kafka_file=("purge.json", content),
        detail={"offsets": effective})


def plan_delete_topic(name: str, partitions: int, records: int,
                      committed_groups: Sequence[str], active_groups: Mapping[str, Sequence[str]]
                      ) -> AdminPlan:
    check_not_internal(name)
    warnings = [f"group {g} is consuming it now ({named(list(m))})"
                for g, m in sorted(active_groups.items())]
    idle = sorted(set(committed_groups) - set(active_groups))
    if idle:
        warnings.append(f"{plural(len(idle), 'group')} have committed offsets on it: "
                        f"{named(idle)}")
    return AdminPlan(
        "topic.delete", name, {"topic": name},
        f"delete topic {name}: {plural(partitions, 'partition')}, {plural(records, 'record')}",
        before={"partitions": partitions, "records": records,
                "groups": sorted(set(committed_groups) | set(active_groups))},
        after={"exists": False}, warnings=tuple(warnings),
        kafka_argv=("kafka-topics.sh", "--delete", "--topic", name))


# ---- groups ------------------------------------------------------------------------------------


def plan_delete_group(group: str, state: str, members: Sequence[str],
                      offsets: Mapping[TP, int]) -> AdminPlan:
    refusal = None
    if members:
        refusal = (f"group {group} is {state} with {plural(len(members), 'member')} "
                   f"({named(list(members))}): stop them first")
    topics = sorted({t for t, _ in offsets})
    rows = tuple((t, p, o) for (t, p), o in sorted(offsets.items()))
    return AdminPlan(
        "group.delete", group, {"group": group},
        f"delete group {group} ({state}) and its committed offsets on "
        f"{plural(len(topics), 'topic')} ({plural(len(rows), 'partition')})",
        ("TOPIC", "PARTITION", "COMMITTED"), rows,
        before={"state": state, "offsets": {f"{t}[{p}]": o for t, p, o in rows}},
        after={"exists": False}, refusal=refusal,
        kafka_argv=("kafka-consumer-groups.sh", "--delete", "--group", group))


def plan_delete_offsets(group: str, topic: str, offsets: Mapping[TP, int],
                        consuming: Sequence[str]) -> AdminPlan:
    """`consuming`: members assigned partitions of `topic` (the delete is refused then)."""
    mine = {p: o for (t, p), o in offsets.items() if t == topic}
    if not mine:
        raise ConfigError(f"group {group} has no committed offsets on topic {topic}")
    refusal = None
    if consuming:
        refusal = (f"group {group} is consuming {topic} ({named(list(consuming))}): Kafka "
                   "refuses to delete offsets of a topic the group is subscribed to")
    rows = tuple((topic, p, o) for p, o in sorted(mine.items()))
    return AdminPlan(
        "group.delete-offsets", group, {"group": group, "topic": topic},
        f"delete the committed offsets of group {group} on topic {topic} "
        f"({plural(len(rows), 'partition')})",
        ("TOPIC", "PARTITION", "COMMITTED"), rows,
        before={f"{topic}[{p}]": o for p, o in sorted(mine.items())},
        after={f"{topic}[{p}]": None for p in sorted(mine)}, refusal=refusal,
        kafka_argv=("kafka-consumer-groups.sh", "--delete-offsets", "--group", group,
                    "--topic", topic),
        detail={"partitions": sorted(mine)})
