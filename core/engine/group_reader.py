"""Consumer groups read through aiokafka's client, in batches, for a long-lived refresh loop.

librdkafka (2.16, confluentinc/librdkafka#4605, fix proposed in PR #5397) can abort the whole
process (`rd_kafka_enq_once_del_source_return: Assertion 'eonce->refcnt > 0' failed`) when a
coordinator request (DescribeConsumerGroups, ListConsumerGroupOffsets) is sent while the
coordinator's connection goes down, which is what a broker restart does (RELIABILITY.md). The
engine process must outlive exactly that, so it reads groups without librdkafka: aiokafka's
client is pure Python, and a lost connection is an exception here, not an abort.

The requests are batched as ConsumerGroupCommand batches them (core/engine/group_requests.py):
ListGroups per broker (with each group's state and type), one FindCoordinator for all groups,
then per coordinator one DescribeGroups for its classic groups, one ConsumerGroupDescribe for
its KIP-848 groups and OffsetFetch for up to `GROUPS_PER_OFFSET_FETCH` groups per request, all
in flight at once (at most `MAX_IN_FLIGHT`). Empty groups are not described: ListGroups' state
and type say what a description would, and their coordinator is left unknown, as in
`KafkaAdmin.describe_groups` — the same `GroupInfo` for the same group either way.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError, for_code

from core.cluster.admin import ClusterUnreachable
from core.cluster.snapshot import GroupInfo, GroupMember
from core.config.settings import ConnectionSettings
from core.engine.group_requests import (
    DescribeClassicGroups,
    DescribeConsumerGroups,
    FetchCommittedOffsets,
    FindGroupCoordinators,
    ListGroups,
    classic_assignment,
)
from core.errors import NexusError

T = TypeVar("T")
#: groups per OffsetFetch request (each answer carries every committed partition of its groups)
GROUPS_PER_OFFSET_FETCH = 50
#: requests of one read in flight at once
MAX_IN_FLIGHT = 32


class GroupReadError(NexusError):
    """One request of a group read failed (no answer, or an error for all it asked)."""


def error_text(code: int) -> str:
    """A Kafka error code in words: "The coordinator is not available. (COORDINATOR_...)"."""
    err = for_code(code)
    return f"{err.description or err.message} ({err.message})"


class GroupReader:
    """Every consumer group (or those matching a regex) with members and committed offsets,
    read through one aiokafka client kept between reads. `KafkaAdmin.group_reader`: snapshots
    read their groups through it."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._client: AIOKafkaClient | None = None
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    @property
    def timeout_s(self) -> float:
        return self.settings.request_timeout_s

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def groups(self, group_re: re.Pattern[str] | None,
                     errors: list[str]) -> dict[str, GroupInfo]:
        """Every listed group whose id matches `group_re`, in id order. A group whose
        coordinator or description could not be read is `Unknown` with its `error`; offsets
        that could not be read leave it with none and its `error` set (also added to
        `errors`, as `KafkaAdmin.describe_groups` does)."""
        client = await self._started()
        listed = await self._list(client, errors)
        wanted = sorted(g for g in listed if group_re is None or group_re.search(g))
        if not wanted:
            return {}
        failed: dict[str, str] = {}
        coordinators = await self._coordinators(client, wanted, failed)
        by_node: dict[int, list[str]] = {}
        for gid in wanted:
            if gid in coordinators:
                by_node.setdefault(coordinators[gid], []).append(gid)
        reads: list[Awaitable[Any]] = []
        for node, gids in by_node.items():
            live = [g for g in gids if listed[g][0] != "Empty"]
            classic = [g for g in live if listed[g][1] != "consumer"]
            consumer = [g for g in live if listed[g][1] == "consumer"]
            if classic:
                reads.append(self._describe_classic(client, node, classic))
            if consumer:
                reads.append(self._describe_consumer(client, node, consumer))
            for i in range(0, len(gids), GROUPS_PER_OFFSET_FETCH):
                reads.append(self._offsets(client, node, gids[i:i + GROUPS_PER_OFFSET_FETCH]))
        described: dict[str, GroupInfo | str] = {}
        offsets: dict[str, dict[tuple[str, int], int] | str] = {}
        for part in await asyncio.gather(*reads):
            kind, values = part
            (described if kind == "described" else offsets).update(values)
        return {gid: self._info(gid, listed[gid], coordinators.get(gid), described.get(gid),
                                offsets.get(gid), failed.get(gid), errors)
                for gid in wanted}

    @staticmethod
    def _info(gid: str, listing: tuple[str, str], coordinator: int | None,
              desc: GroupInfo | str | None, offs: dict[tuple[str, int], int] | str | None,
              failure: str | None, errors: list[str]) -> GroupInfo:
        state, group_type = listing
        failure = failure or (desc if isinstance(desc, str) else None)
        if failure is not None:
            errors.append(f"group {gid}: {failure}")
            return GroupInfo(gid, "Unknown", error=failure)
        error = None
        if isinstance(offs, str) or offs is None:
            error = offs or "no committed offsets in the answer"
            errors.append(f"offsets of group {gid}: {error}")
            offs = {}
        if desc is None:  # listed Empty: not described
            return GroupInfo(gid, "Empty", group_type=group_type.title(), offsets=offs,
                             error=error)
        assert isinstance(desc, GroupInfo)
        return GroupInfo(gid, desc.state, desc.protocol, desc.group_type, coordinator,
                         desc.members, offs, error)

    # ---- requests -------------------------------------------------------------------------------

    async def _started(self) -> AIOKafkaClient:
        if self._client is None:
            client = AIOKafkaClient(
                **self.settings.aiokafka_kwargs(), client_id="nexus-tui-groups",
                request_timeout_ms=int(self.timeout_s * 1000))
            try:
                await asyncio.wait_for(client.bootstrap(), self.timeout_s + 1)
            except (KafkaError, OSError, TimeoutError) as exc:
                await client.close()
                raise ClusterUnreachable(
                    f"reading consumer groups: cannot reach the cluster at "
                    f"{self.settings.bootstrap}: {_text(exc)}") from None
            self._client = client
        return self._client

    async def _send(self, client: AIOKafkaClient, node: int, request: Any, what: str) -> Any:
        async with self._slots:
            try:
                return await asyncio.wait_for(client.send(node, request), self.timeout_s + 1)
            except (KafkaError, OSError, TimeoutError) as exc:
                client.force_metadata_update()  # the brokers may have moved: read them again
                raise GroupReadError(f"{what}: broker {node}: {_text(exc)}") from None

    async def _list(self, client: AIOKafkaClient,
                    errors: list[str]) -> dict[str, tuple[str, str]]:
        """group -> (state, type) from every broker's ListGroups."""
        nodes = sorted(b.nodeId for b in client.cluster.brokers())
        answers = await asyncio.gather(
            *(self._send(client, n, ListGroups(), "list groups") for n in nodes),
            return_exceptions=True)
        listed: dict[str, tuple[str, str]] = {}
        answered = 0
        for answer in answers:
            if isinstance(answer, GroupReadError):
                errors.append(str(answer))
                continue
            if isinstance(answer, BaseException):
                raise answer
            if answer.error_code:
                errors.append(f"list groups: {error_text(answer.error_code)}")
                continue
            answered += 1
            for group in answer.groups:
                group_type = group[3] if len(group) > 4 else "classic"
                listed[group[0]] = (group[2], group_type or "classic")
        if not answered:
            raise ClusterUnreachable(f"list groups: no broker of {self.settings.bootstrap} "
                                     f"answered: {'; '.join(errors[-len(nodes):])}")
        return listed

    async def _coordinators(self, client: AIOKafkaClient, group_ids: list[str],
                            failed: dict[str, str]) -> dict[str, int]:
        """group -> coordinator node, asking the brokers in turn until one answers."""
        nodes = [b.nodeId for b in client.cluster.brokers()]
        random.shuffle(nodes)
        last = "no broker known"
        for node in nodes:
            try:
                answer = await self._send(client, node, FindGroupCoordinators(group_ids),
                                          "find coordinators")
            except GroupReadError as exc:
                last = str(exc)
                continue
            found: dict[str, int] = {}
            for key, node_id, _host, _port, code, _message, _tags in answer.coordinators:
                if code:
                    failed[key] = f"coordinator: {error_text(code)}"
                else:
                    found[key] = node_id
            return found
        failed.update(dict.fromkeys(group_ids, last))
        return {}

    async def _describe_classic(self, client: AIOKafkaClient, node: int,
                                group_ids: list[str]) -> tuple[str, dict[str, GroupInfo | str]]:
        answer = await self._or_each(
            group_ids, lambda: self._send(client, node, DescribeClassicGroups(group_ids),
                                          "describe groups"))
        if isinstance(answer, dict):
            return "described", answer
        out: dict[str, GroupInfo | str] = {}
        for code, gid, state, protocol_type, protocol, members, _ops, _tags in answer.groups:
            if code:
                out[gid] = error_text(code)
                continue
            out[gid] = GroupInfo(gid, state, protocol, "Classic", members=tuple(
                GroupMember(member_id, client_id, host,
                            classic_assignment(assignment) if protocol_type == "consumer"
                            else (), instance_id)
                for member_id, instance_id, client_id, host, _meta, assignment, _t in members))
        return "described", out

    async def _describe_consumer(self, client: AIOKafkaClient, node: int,
                                 group_ids: list[str]) -> tuple[str, dict[str, GroupInfo | str]]:
        answer = await self._or_each(
            group_ids, lambda: self._send(client, node, DescribeConsumerGroups(group_ids),
                                          "describe consumer groups"))
        if isinstance(answer, dict):
            return "described", answer
        out: dict[str, GroupInfo | str] = {}
        for group in answer.groups:
            code, message, gid, state, _epoch, _assigned, assignor, members, _ops, _t = group
            if code:
                out[gid] = message or error_text(code)
                continue
            out[gid] = GroupInfo(gid, state, assignor, "Consumer", members=tuple(
                GroupMember(m[0], m[4], m[5], tuple(sorted(
                    (tp[2], p) for tp in m[8][0] for p in tp[3])), m[1])
                for m in members))
        return "described", out

    async def _offsets(self, client: AIOKafkaClient, node: int, group_ids: list[str]
                       ) -> tuple[str, dict[str, dict[tuple[str, int], int] | str]]:
        answer = await self._or_each(
            group_ids, lambda: self._send(client, node, FetchCommittedOffsets(group_ids),
                                          "offsets"))
        if isinstance(answer, dict):
            return "offsets", answer
        out: dict[str, dict[tuple[str, int], int] | str] = {}
        for gid, topics, code, _tags in answer.groups:
            if code:
                out[gid] = error_text(code)
                continue
            out[gid] = {(name, p[0]): p[1] for name, parts, _t in topics for p in parts
                        if p[1] >= 0 and not p[4]}
        return "offsets", out

    @staticmethod
    async def _or_each(group_ids: list[str], send: Callable[[], Awaitable[T]]
                       ) -> T | dict[str, str]:
        """The answer of `send()`, or the reason it failed for each of the groups."""
        try:
            return await send()
        except GroupReadError as exc:
            return dict.fromkeys(group_ids, str(exc))


def _text(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__
