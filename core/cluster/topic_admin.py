"""Topic administration on a real cluster: create, alter configs, add partitions, purge
(DeleteRecords) and delete — each planned first (admin_plan.py, pure), validated by the
broker itself where Kafka offers it (`validate_only`), then applied through `Changes`, which
checks read-only first and writes the audit log.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from core.cluster.admin import NotFound
from core.cluster.admin_plan import (
    RECENT_RECORDS,
    AdminPlan,
    ConfigValue,
    check_not_internal,
    check_partition_count,
    key_moves,
    plan_add_partitions,
    plan_alter,
    plan_create,
    plan_delete_topic,
    plan_purge,
    recent_ranges,
)
from core.cluster.change import Changes
from core.cluster.snapshot import ClusterSnapshot, TopicInfo
from core.errors import ConfigError, NexusError

T = TypeVar("T")

_SOURCES = {
    ConfigSource.DYNAMIC_TOPIC_CONFIG: "dynamic",
    ConfigSource.DEFAULT_CONFIG: "default",
    ConfigSource.STATIC_BROKER_CONFIG: "static broker",
    ConfigSource.DYNAMIC_BROKER_CONFIG: "dynamic broker",
    ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG: "dynamic broker default",
}


def _source(source: Any) -> str:
    """DescribeConfigs' source (an int or a ConfigSource, by client version) in words."""
    try:
        known = ConfigSource(getattr(source, "value", source))
    except ValueError:
        return str(source)
    return _SOURCES.get(known, known.name.lower().replace("_", " "))


class TopicAdmin(Changes):
    """Plans and applies topic changes on one cluster."""

    # ---- create --------------------------------------------------------------------------------

    async def plan_create(self, name: str, partitions: int, replication_factor: int | None,
                          configs: Mapping[str, str]) -> AdminPlan:
        existing = await self._topic_names()
        plan = plan_create(name, partitions, replication_factor, configs, existing)
        await self._broker_check(lambda: self.admin.client.create_topics(
            [self._new_topic(plan)], validate_only=True, request_timeout=self.admin.timeout),
            f"create topic {name}")
        return plan

    def create(self, name: str, partitions: int, replication_factor: int | None = None,
               configs: Mapping[str, str] | None = None, execute: bool = True
               ) -> Any:
        args = {"topic": name, "partitions": partitions,
                "replication_factor": replication_factor, "configs": dict(configs or {})}
        return self.perform("topic.create", args, lambda: self.plan_create(
            name, partitions, replication_factor, configs or {}), execute)

    @staticmethod
    def _new_topic(plan: AdminPlan) -> NewTopic:
        rf = plan.args["replication_factor"]
        return NewTopic(plan.target, plan.args["partitions"], -1 if rf is None else rf,
                        config=dict(plan.args["configs"]))

    # ---- alter configs -------------------------------------------------------------------------

    async def configs(self, name: str) -> dict[str, ConfigValue]:
        """Every config of the topic with its source (DescribeConfigs)."""
        resource = ConfigResource(ResourceType.TOPIC, name)
        futures = self.admin.client.describe_configs([resource],
                                                     request_timeout=self.admin.timeout)
        try:
            entries = await self.admin.result(futures[resource], f"configs of topic {name}")
        except NexusError as exc:
            if "UNKNOWN_TOPIC" in str(exc):
                raise NotFound(f"topic {name} does not exist") from None
            raise
        return {k: ConfigValue(e.value, _source(e.source), bool(e.is_sensitive))
                for k, e in entries.items()}

    async def plan_alter(self, name: str, to_set: Mapping[str, str],
                         to_delete: Sequence[str]) -> AdminPlan:
        plan = plan_alter(name, await self.configs(name), to_set, to_delete)
        await self._alter(plan, validate_only=True)
        return plan

    def alter(self, name: str, to_set: Mapping[str, str], to_delete: Sequence[str] = (),
              execute: bool = False) -> Any:
        args = {"topic": name, "set": dict(to_set), "delete": sorted(to_delete)}
        return self.perform("topic.alter", args,
                            lambda: self.plan_alter(name, to_set, to_delete), execute)

    async def _alter(self, plan: AdminPlan, validate_only: bool) -> None:
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                   for k, v in plan.detail["set"].items()]
        entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
                    for k in plan.detail["delete"]]
        resource = ConfigResource(ResourceType.TOPIC, plan.target, incremental_configs=entries)
        request = partial(self.admin.client.incremental_alter_configs, [resource],
                          validate_only=validate_only, request_timeout=self.admin.timeout)
        what = f"alter configs of topic {plan.target}"
        if validate_only:
            await self._broker_check(request, what)
        else:
            await self._validate(request(), what)

    # ---- add partitions ------------------------------------------------------------------------

    async def plan_add_partitions(self, name: str, to: int,
                                  limit: int = RECENT_RECORDS) -> AdminPlan:
        info = (await self._snapshot(name, groups=False)).topics[name]
        current = len(info.partitions)
        check_partition_count(name, current, to)  # before reading any record
        starts = {p.partition: p.log_start or 0 for p in info.partitions}
        ends = {p.partition: p.log_end or 0 for p in info.partitions}
        read_from = recent_ranges(starts, ends, limit)
        records = await asyncio.to_thread(self._read_keys, name, read_from, ends)
        plan = plan_add_partitions(name, current, to, key_moves(records, current, to),
                                   read_from)
        await self._broker_check(lambda: self.admin.client.create_partitions(
            [NewPartitions(name, to)], validate_only=True, request_timeout=self.admin.timeout),
            f"add partitions to {name}")
        return plan

    def add_partitions(self, name: str, to: int, execute: bool = False) -> Any:
        return self.perform("topic.add-partitions", {"topic": name, "to": to},
                            lambda: self.plan_add_partitions(name, to), execute)

    def _read_keys(self, name: str, read_from: Mapping[int, int], ends: Mapping[int, int]
                   ) -> list[tuple[int, bytes | None]]:
        """(partition, key) of the records in [read_from[p], ends[p]) of every partition, with
        one consumer assigned to all of them (no group: nothing is committed)."""
        wanted = {p: ends[p] for p in ends if read_from[p] < ends[p]}
        if not wanted:
            return []
        consumer = Consumer(self.settings.confluent_config(**{
            "group.id": f"nexus-tui-admin-{uuid.uuid4().hex}", "enable.auto.commit": False,
            "enable.partition.eof": True, "log_level": 0,
            "fetch.wait.max.ms": 100}))
        out: list[tuple[int, bytes | None]] = []
        try:
            consumer.assign([TopicPartition(name, p, read_from[p]) for p in wanted])
            deadline = time.monotonic() + max(30.0, self.admin.timeout * 3)
            while wanted and time.monotonic() < deadline:
                for msg in consumer.consume(1000, 0.5):
                    p = msg.partition()
                    if msg.error() is not None:
                        if msg.error().code() == KafkaError._PARTITION_EOF:
                            wanted.pop(p, None)
                        continue
                    if p in wanted and msg.offset() < wanted[p]:
                        out.append((p, msg.key()))
                        if msg.offset() >= wanted[p] - 1:
                            wanted.pop(p)
            if wanted:
                raise NexusError(f"reading the recent records of {name} took too long "
                                 f"(partitions {sorted(wanted)} unfinished)")
        finally:
            consumer.close()
        return out

    # ---- purge ---------------------------------------------------------------------------------

    async def plan_purge(self, name: str, before_offsets: Mapping[int, int] | None = None,
                         before_time_ms: int | None = None, everything: bool = False
                         ) -> AdminPlan:
        given = sum((before_offsets is not None, before_time_ms is not None, everything))
        if given != 1:
            raise ConfigError("purge needs exactly one of --before-offset P:O, "
                              "--before-time T, --all")
        check_not_internal(name)
        snap = await self._snapshot(name, groups=True)
        info = snap.topics[name]
        starts = {p.partition: p.log_start or 0 for p in info.partitions}
        ends = {p.partition: p.log_end or 0 for p in info.partitions}
        if before_offsets is not None:
            targets, how = dict(before_offsets), "before offsets"
        elif before_time_ms is not None:
            from core.cluster.seek_parse import format_datetime

            targets = await self._offsets_before(name, ends, before_time_ms)
            how = f"before {format_datetime(before_time_ms)}"
        else:
            targets, how = dict(ends), "all records"
        return plan_purge(name, starts, ends, targets, _commits_on(snap, name), how)

    def purge(self, name: str, before_offsets: Mapping[int, int] | None = None,
              before_time_ms: int | None = None, everything: bool = False,
              execute: bool = False) -> Any:
        args = {"topic": name, "before_offsets": before_offsets,
                "before_time_ms": before_time_ms, "all": everything}
        return self.perform("topic.purge", args, lambda: self.plan_purge(
            name, before_offsets, before_time_ms, everything), execute)

    # ---- delete --------------------------------------------------------------------------------

    async def plan_delete(self, name: str) -> AdminPlan:
        check_not_internal(name)  # before any request
        snap = await self._snapshot(name, groups=True)
        info = snap.topics[name]
        committed = sorted(_commits_on(snap, name))
        active = {g.group_id: [f"{m.client_id or m.member_id}@{m.host}" for m in g.members
                               if any(t == name for t, _ in m.assignment)]
                  for g in snap.groups.values()}
        return plan_delete_topic(name, len(info.partitions), info.records, committed,
                                 {g: m for g, m in active.items() if m})

    def delete(self, name: str, execute: bool = False, confirm: str | None = None) -> Any:
        """With `execute`, `confirm` must repeat the name (the CLI's --confirm)."""

        async def planner() -> AdminPlan:
            if execute and confirm != name:
                raise ConfigError(f"deleting topic {name} needs --confirm {name}"
                                  + ("" if confirm is None else f" (got {confirm!r})"))
            return await self.plan_delete(name)

        return self.perform("topic.delete", {"topic": name}, planner, execute)

    # ---- apply ---------------------------------------------------------------------------------

    async def _apply(self, plan: AdminPlan) -> dict[str, Any]:
        client, timeout, name = self.admin.client, self.admin.timeout, plan.target
        if plan.action == "topic.create":
            await self._validate(client.create_topics([self._new_topic(plan)],
                                                      request_timeout=timeout),
                                 f"create topic {name}")
            return {"partitions": await self._wait_partitions(name, plan.args["partitions"])}
        if plan.action == "topic.alter":
            await self._alter(plan, validate_only=False)
            now = await self._wait_configs(name, plan.detail["set"], plan.detail["delete"])
            return {"configs": {k: now[k].value if k in now else None for k in plan.after}}
        if plan.action == "topic.add-partitions":
            to = plan.after["partitions"]
            await self._validate(client.create_partitions([NewPartitions(name, to)],
                                                          request_timeout=timeout),
                                 f"add partitions to {name}")
            return {"partitions": await self._wait_partitions(name, to)}
        if plan.action == "topic.purge":
            offsets: dict[int, int] = plan.detail["offsets"]
            if not offsets:
                return {"log_start": {}}
            futures = client.delete_records(
                [TopicPartition(name, p, o) for p, o in sorted(offsets.items())],
                request_timeout=timeout)
            low: dict[str, int] = {}
            for tp, fut in futures.items():
                deleted = await self.admin.result(fut, f"purge {name}[{tp.partition}]")
                low[str(tp.partition)] = deleted.low_watermark
            return {"log_start": dict(sorted(low.items(), key=lambda kv: int(kv[0])))}
        if plan.action == "topic.delete":
            await self._validate(client.delete_topics([name], request_timeout=timeout),
                                 f"delete topic {name}")
            return {"deleted": name}
        raise ConfigError(f"not a topic change: {plan.action}")

    # ---- helpers -------------------------------------------------------------------------------

    async def _snapshot(self, name: str, groups: bool) -> ClusterSnapshot:
        snap = await self.admin.snapshot(topic_filter=f"^{re.escape(name)}$",
                                         include_internal=True, groups=groups, configs=False)
        info: TopicInfo | None = snap.topics.get(name)
        if info is None:
            raise NotFound(f"topic {name} does not exist")
        missing = [p.partition for p in info.partitions
                   if p.log_start is None or p.log_end is None]
        if missing:
            raise NexusError(f"cannot read the log offsets of {name} partitions {missing}: "
                             + ("; ".join(snap.errors) or "no answer"))
        return snap

    async def _topic_names(self) -> Collection[str]:
        return await self.admin.topic_names(include_internal=True)

    async def _offsets_before(self, name: str, ends: Mapping[int, int],
                              before_time_ms: int) -> dict[int, int]:
        """Per partition, the first offset at or after the time (ListOffsets by timestamp);
        the log end where no record is that recent."""
        found = await self.admin.list_offsets(
            [TopicPartition(name, p) for p in ends], OffsetSpec.for_timestamp(before_time_ms))
        return {p: found[(name, p)] if found.get((name, p), -1) >= 0 else ends[p] for p in ends}

    async def _broker_check(self, request: Callable[[], Mapping[Any, Any]], what: str) -> None:
        """The broker's own validation of a planned change: `request` sends it with
        validate_only; its refusal is one ConfigError."""
        await self._validate(request(), what)

    async def _validate(self, futures: Mapping[Any, Any], what: str) -> None:
        """Wait on every future of an admin call; the broker's refusal as one ConfigError."""
        for fut in futures.values():
            try:
                await self.admin.result(fut, what)
            except NexusError as exc:
                if isinstance(exc, NotFound) or "cannot reach" in str(exc):
                    raise
                if "UNKNOWN_TOPIC_OR_PART" in str(exc):
                    raise NotFound(f"{what}: the topic does not exist") from None
                raise ConfigError(str(exc)) from None

    async def _wait_configs(self, name: str, to_set: Mapping[str, str],
                            to_delete: Sequence[str]) -> dict[str, ConfigValue]:
        """The topic's configs once they show the change: the controller acknowledges an
        alter before every broker has applied it, so a DescribeConfigs right after it may
        still answer the old values (seen in CI)."""
        override = _SOURCES[ConfigSource.DYNAMIC_TOPIC_CONFIG]
        return await self._once_settled(
            lambda: self.configs(name),
            lambda now: (all(k in now and now[k].value == v for k, v in to_set.items())
                         and all(k not in now or now[k].source != override
                                 for k in to_delete)))

    async def _wait_partitions(self, name: str, count: int) -> int:
        """The partition count the cluster's metadata shows, once it shows `count`."""
        async def partitions() -> int:
            try:
                return await self.admin.partitions_of(name)
            except NotFound:
                return 0

        return await self._once_settled(partitions, lambda seen: seen >= count)

    async def _once_settled(self, read: Callable[[], Awaitable[T]],
                            settled: Callable[[T], bool]) -> T:
        """`read()` again until `settled` holds of it (what a change shows once the cluster's
        brokers have applied it), or its last answer when the deadline passes."""
        deadline = time.monotonic() + max(10.0, self.admin.timeout)
        while True:
            seen = await read()
            if settled(seen) or time.monotonic() >= deadline:
                return seen
            await asyncio.sleep(0.1)  # propagation, bounded by the deadline above

def _commits_on(snap: ClusterSnapshot, topic: str) -> dict[str, dict[int, int]]:
    """group → partition → committed offset, for the groups that committed on `topic`."""
    out: dict[str, dict[int, int]] = {}
    for g in snap.groups.values():
        mine = {p: o for (t, p), o in g.offsets.items() if t == topic}
        if mine:
            out[g.group_id] = mine
    return out
