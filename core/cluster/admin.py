"""KafkaAdmin: every cluster-wide read and admin write of the core, batched, on confluent-kafka.

A snapshot costs a handful of requests whatever the cluster's size: one Metadata, one
DescribeCluster, DescribeConfigs for all topics, one ListOffsets round per broker for log
start and one for log end, ListGroups, DescribeGroups batched per coordinator, and the
groups' committed offsets with bounded concurrency (librdkafka takes one group per
OffsetFetch). Commits are read *before* end offsets, so lag is never negative or falsely 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from core import compat
from core.cluster.snapshot import (
    TOPIC_CONFIGS,
    Broker,
    ClusterSnapshot,
    GroupInfo,
    GroupMember,
    PartitionInfo,
    TopicInfo,
)
from core.config.settings import ConnectionSettings
from core.errors import ConfigError, NexusError

if TYPE_CHECKING:
    from core.engine.group_reader import GroupReader

T = TypeVar("T")
GROUP_OFFSET_CONCURRENCY = 128
#: Partitions per ListOffsets call. librdkafka checks a call's partition list for duplicates
#: in quadratic time, before any request is sent, so a snapshot sends one request per 500
#: partitions per leader, all at once (BENCHMARKS.md §4 has the figures).
LIST_OFFSETS_CHUNK = 500
#: librdkafka's first backoff before a broker connection (default 100 ms; it doubles on each
#: failure up to reconnect.backoff.max.ms). Since librdkafka 2.10 the bootstrap broker's
#: connection is dropped as soon as the first Metadata answer names the real brokers, and the
#: client's own first request, sent on it, waits half this backoff before it is sent again to
#: a real broker: every command's and the TUI's first answer waited that long
#: (BENCHMARKS.md §10). A -X reconnect.backoff.ms given by the user still wins.
RECONNECT_BACKOFF_MS = 20


class ClusterUnreachable(NexusError):
    """The cluster did not answer within the timeout."""


class NotFound(NexusError):
    """A topic or group that does not exist."""


class AuthenticationFailed(ClusterUnreachable):
    """The cluster refused the connection's credentials (SASL) or its TLS handshake failed."""


#: Authorization errors, in words that say which ACL is missing.
_NOT_AUTHORIZED = {
    KafkaError.GROUP_AUTHORIZATION_FAILED: "not authorized for this group: the principal "
    "needs an ACL for it (Describe to see it, Read to commit offsets)",
    KafkaError.TOPIC_AUTHORIZATION_FAILED: "not authorized for this topic: the principal "
    "needs an ACL for it (Describe to see it, DescribeConfigs, Read, Write or Create)",
    KafkaError.CLUSTER_AUTHORIZATION_FAILED: "not authorized on the cluster: the principal "
    "needs an ACL on the cluster resource for this operation",
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "not authorized for this "
    "transactional id",
}
#: Errors of the link itself that a timeout would otherwise hide (reported by librdkafka's
#: error callback, not by the request that timed out): the credentials or TLS are refused...
_LINK_ERRORS = (KafkaError._AUTHENTICATION, KafkaError._SSL,
                KafkaError.SASL_AUTHENTICATION_FAILED)
#: ...or the brokers cannot be reached at all (name not resolved, connection refused).
_REACH_ERRORS = (KafkaError._RESOLVE, KafkaError._TRANSPORT)
_LINK_PREFIX = re.compile(r"^\S+/(?:bootstrap|\d+): ")
_LINK_SUFFIX = re.compile(r" \(after \d+ms in state \w+(?:, \d+ identical error\(s\) "
                          r"suppressed)?\)$")


def kafka_error_text(exc: BaseException) -> str:
    """The readable part of a librdkafka error (authorization errors say what is missing)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        err: KafkaError = exc.args[0]
        if err.code() in _NOT_AUTHORIZED:
            return f"{_NOT_AUTHORIZED[err.code()]} ({err.name()})"
        return f"{err.str()} ({err.name()})"
    return str(exc) or type(exc).__name__


def link_error_text(err: KafkaError) -> str:
    """One line for a connection-level error: librdkafka's reason without its
    connection-state prefix and timing suffix, saying what failed."""
    text = _LINK_SUFFIX.sub("", _LINK_PREFIX.sub("", err.str().strip()))
    if err.code() == KafkaError._SSL:
        return f"TLS handshake failed: {text.removeprefix('SSL handshake failed: ')}"
    if err.code() in _LINK_ERRORS:
        return f"authentication failed: {text}"
    return text


def _error_code(exc: BaseException) -> int | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0].code()
    return None


def _state_name(state: Any) -> str:
    name = getattr(state, "name", str(state))
    return {"PREPARING_REBALANCING": "PreparingRebalance",
            "COMPLETING_REBALANCING": "CompletingRebalance"}.get(
        name, name.title().replace("_", ""))


class _LinkErrors:
    """The last connection-level errors librdkafka reported (its error callback, any thread):
    an authentication/TLS failure, and the last reason a broker could not be reached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.refused: KafkaError | None = None
        self.unreachable: KafkaError | None = None

    def record(self, err: KafkaError) -> None:
        with self._lock:
            if err.code() in _LINK_ERRORS:
                self.refused = err
            elif err.code() in _REACH_ERRORS:
                self.unreachable = err

    def take(self) -> tuple[KafkaError | None, KafkaError | None]:
        with self._lock:
            taken = self.refused, self.unreachable
            self.refused = self.unreachable = None
        return taken


class KafkaAdmin:
    """Admin operations on one cluster; create once, reuse for every refresh.

    Topic configs (retention, cleanup policy, min ISR) change rarely and cost a DescribeConfigs
    answer of ~60 entries per topic: a reused client reads a topic's configs again only when
    they are older than ``configs_ttl_s``.
    """

    def __init__(self, brokers: str | ConnectionSettings, *, configs_ttl_s: float = 60.0) -> None:
        self.settings = ConnectionSettings.of(brokers)
        self.configs_ttl_s = configs_ttl_s
        self._configs: dict[str, tuple[float, dict[str, str]]] = {}  # topic -> (read at, configs)
        #: when set, snapshots read groups through it (core/engine/group_reader.py: no librdkafka)
        self.group_reader: GroupReader | None = None
        timeout_ms = int(self.settings.request_timeout_s * 1000)
        self._link_errors = _LinkErrors()
        try:
            self._admin = AdminClient(self.settings.confluent_config(**{
                "socket.connection.setup.timeout.ms": min(timeout_ms, 10_000),
                "reconnect.backoff.ms": RECONNECT_BACKOFF_MS,
                "log_level": 0, "error_cb": self._link_errors.record,
            }))
        except KafkaException as exc:  # e.g. a key that does not open with ssl_key_password
            raise ConfigError(f"bad connection settings: {kafka_error_text(exc)}") from None

    @property
    def timeout(self) -> float:
        return self.settings.request_timeout_s

    @property
    def client(self) -> AdminClient:
        """The confluent AdminClient (topic_admin.py and group_admin.py write through it)."""
        return self._admin

    async def result(self, fut: Future[T], what: str) -> T:
        """`fut`'s result within the timeout; failures as one readable NexusError."""
        return await self._await(fut, what)

    def _unreachable(self, fallback: str) -> ClusterUnreachable:
        """Why the cluster did not answer: refused credentials or TLS (AuthenticationFailed),
        else the last connection error librdkafka reported, else `fallback`."""
        self._admin.poll(0)  # serve the error callback
        refused, unreachable = self._link_errors.take()
        if refused is not None:
            return AuthenticationFailed(
                f"{link_error_text(refused)} (connecting to {self.settings.bootstrap})")
        if unreachable is not None:
            return ClusterUnreachable(
                f"cannot reach the cluster at {self.settings.bootstrap} within "
                f"{self.timeout:g} s: {link_error_text(unreachable)}")
        return ClusterUnreachable(fallback)

    def _group_error_text(self, error: BaseException | KafkaError) -> str:
        """A group's describe error in words; a timeout names the servers it tried and the
        connection error behind it (librdkafka's own says only "Local: Timed out")."""
        inner = error.args[0] if isinstance(error, KafkaException) and error.args else error
        if isinstance(inner, KafkaError) and inner.code() == KafkaError._TIMED_OUT:
            return str(self._unreachable(
                f"no answer from {self.settings.bootstrap} within {self.timeout:g} s"))
        return kafka_error_text(error) if isinstance(error, BaseException) else (
            f"{error.str()} ({error.name()})")

    async def _await(self, fut: Future[T], what: str) -> T:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), self.timeout + 1)
        except TimeoutError:
            raise self._unreachable(
                f"{what}: no answer from {self.settings.bootstrap} within {self.timeout:g} s"
            ) from None
        except KafkaException as exc:
            code = _error_code(exc)
            if code in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT,
                        KafkaError._ALL_BROKERS_DOWN) + _LINK_ERRORS:
                raise self._unreachable(
                    f"{what}: cannot reach {self.settings.bootstrap}: {kafka_error_text(exc)}"
                ) from None
            raise NexusError(f"{what}: {kafka_error_text(exc)}") from None

    # ---- metadata -----------------------------------------------------------------------------

    async def _metadata(self) -> Any:
        self._admin.poll(0)  # forget connection errors from before this round:
        self._link_errors.take()  # a failure below is explained by its own
        try:
            return await asyncio.to_thread(self._admin.list_topics, timeout=self.timeout)
        except KafkaException as exc:
            raise self._unreachable(
                f"cannot reach the cluster at {self.settings.bootstrap} within "
                f"{self.timeout:g} s ({kafka_error_text(exc)})"
            ) from None

    async def topic_names(self, include_internal: bool = False) -> list[str]:
        md = await self._metadata()
        return sorted(t for t in md.topics if include_internal or not t.startswith("__"))

    async def partitions_of(self, topic: str) -> int:
        # whole-cluster metadata: asking for one topic by name lets the broker auto-create it
        md = await self._metadata()
        info = md.topics.get(topic)
        if info is None or info.error is not None:
            raise NotFound(f"topic {topic} does not exist")
        return len(info.partitions)

    async def topology(self, topic_filter: str | None = None,
                       include_internal: bool = False) -> ClusterSnapshot:
        """The cluster as one Metadata request shows it: brokers, controller, topics and their
        partitions (leaders, replicas, ISR), without offsets, configs or groups."""
        started = time.monotonic()
        taken_at = time.time()
        topic_re = _compile(topic_filter, "topic filter")
        md = await self._metadata()
        topics = {}
        for name, t in md.topics.items():
            if t.error is not None or (name.startswith("__") and not include_internal) or (
                    topic_re is not None and not topic_re.search(name)):
                continue
            parts = tuple(sorted((
                PartitionInfo(name, p.id, p.leader, tuple(p.replicas), tuple(p.isrs))
                for p in t.partitions.values()), key=lambda p: p.partition))
            topics[name] = TopicInfo(name, parts, internal=name.startswith("__"))
        brokers = tuple(sorted((Broker(b.id, b.host, b.port) for b in md.brokers.values()),
                               key=lambda b: b.id))
        controller = md.controller_id if md.controller_id is not None and (
            md.controller_id >= 0) else None
        return ClusterSnapshot(
            cluster_id=md.cluster_id or "", controller=controller, brokers=brokers,
            topics=dict(sorted(topics.items())), groups={}, taken_at=taken_at,
            took_s=time.monotonic() - started)

    # ---- snapshot -----------------------------------------------------------------------------

    async def snapshot(
        self,
        topic_filter: str | None = None,
        include_internal: bool = False,
        groups: bool = True,
        group_filter: str | None = None,
        configs: bool = True,
    ) -> ClusterSnapshot:
        """The whole cluster (or the topics/groups matching the regexes) in one pass."""
        started = time.monotonic()
        taken_at = time.time()
        topic_re = _compile(topic_filter, "topic filter")
        group_re = _compile(group_filter, "group filter")
        errors: list[str] = []
        # commits first (with the metadata), end offsets after: lag can't go negative. Log
        # start offsets only flag commits below them, so they are read alongside the groups
        groups_read = asyncio.ensure_future(
            self._read_groups(group_re, errors) if groups else _empty_groups())
        try:
            md, cluster = await asyncio.gather(
                self._metadata(),
                self._await(self._admin.describe_cluster(request_timeout=self.timeout),
                            "describe cluster"),
            )
            wanted = {
                name: t for name, t in md.topics.items()
                if (include_internal or not name.startswith("__"))
                and (topic_re is None or topic_re.search(name)) and t.error is None
            }
            tps = [TopicPartition(name, p) for name, t in wanted.items() for p in t.partitions]
            starts, group_infos = await asyncio.gather(
                self.list_offsets(tps, OffsetSpec.earliest(), errors), groups_read)
        finally:
            if not groups_read.done():  # this snapshot failed: so does its groups' read
                groups_read.cancel()
                await asyncio.gather(groups_read, return_exceptions=True)
        brokers = tuple(sorted(
            (Broker(n.id, n.host, n.port, n.rack) for n in cluster.nodes), key=lambda b: b.id))
        controller = cluster.controller.id if cluster.controller else None
        ends, topic_configs = await asyncio.gather(
            self.list_offsets(tps, OffsetSpec.latest(), errors),
            self._topic_configs(list(wanted), errors) if configs else _none(),
        )
        topics = {}
        for name, t in wanted.items():
            parts = tuple(sorted((
                PartitionInfo(name, p.id, p.leader, tuple(p.replicas), tuple(p.isrs),
                              starts.get((name, p.id)), ends.get((name, p.id)))
                for p in t.partitions.values()), key=lambda p: p.partition))
            topics[name] = TopicInfo(name, parts, internal=name.startswith("__"),
                                     configs=(topic_configs or {}).get(name, {}))
        return ClusterSnapshot(
            cluster_id=cluster.cluster_id or "", controller=controller, brokers=brokers,
            topics=dict(sorted(topics.items())), groups=group_infos, taken_at=taken_at,
            took_s=time.monotonic() - started, errors=tuple(errors),
        )

    async def list_offsets(
        self, tps: Iterable[TopicPartition], spec: Any, errors: list[str] | None = None
    ) -> dict[tuple[str, int], int]:
        """One ListOffsets round: librdkafka groups the partitions by leader broker; requests
        of at most LIST_OFFSETS_CHUNK partitions, all in flight at once (see there)."""
        value = compat.offset_spec_value(spec)
        request = [TopicPartition(tp.topic, tp.partition, value) for tp in tps]
        if not request:
            return {}
        chunks = await asyncio.gather(*(
            self._list_offsets(request[i:i + LIST_OFFSETS_CHUNK], spec)
            for i in range(0, len(request), LIST_OFFSETS_CHUNK)))
        out: dict[tuple[str, int], int] = {}
        for tp, result in (item for chunk in chunks for item in chunk.items()):
            if isinstance(result, KafkaError):
                result = KafkaException(result)
            if isinstance(result, BaseException):
                text = kafka_error_text(result)
                if errors is None:
                    raise NexusError(f"offsets of {tp.topic}[{tp.partition}]: {text}")
                errors.append(f"offsets of {tp.topic}[{tp.partition}]: {text}")
                continue
            out[(tp.topic, tp.partition)] = result.offset
        return out

    async def _list_offsets(
        self, request: list[TopicPartition], spec: Any
    ) -> Mapping[TopicPartition, Any]:
        """{partition: ListOffsetsResultInfo or KafkaError} for one ListOffsets request.

        `AdminClient.list_offsets` turns librdkafka's one result into a future per partition
        (with its Condition, RLock and callbacks: several GC-tracked objects each, so a
        snapshot of a big cluster made the garbage collections long). The
        request is the same through the C method it wraps, completing a single future
        (core/compat.py)."""
        fut = compat.list_offsets(self._admin, request, spec, self.timeout)
        await _all_done((fut,))
        failed = fut.exception()
        if failed is not None:
            return dict.fromkeys(request, failed)
        results: Mapping[TopicPartition, Any] = fut.result()
        return results

    async def _topic_configs(
        self, names: list[str], errors: list[str]
    ) -> dict[str, dict[str, str]]:
        now = time.monotonic()
        cached = {n: c for n, (at, c) in
                  ((n, self._configs[n]) for n in names if n in self._configs)
                  if now - at < self.configs_ttl_s}
        wanted = [n for n in names if n not in cached]
        if not wanted:
            return cached
        resources = [ConfigResource(ResourceType.TOPIC, n) for n in wanted]
        futures = self._admin.describe_configs(resources, request_timeout=self.timeout)
        await _all_done(futures.values())
        out = cached
        for res, fut in futures.items():
            failed = fut.exception()
            if failed is not None:
                errors.append(f"configs of {res.name}: {kafka_error_text(failed)}")
                continue
            result = fut.result()
            out[res.name] = {k: result[k].value for k in TOPIC_CONFIGS if k in result}
            self._configs[res.name] = (now, out[res.name])
        for gone in set(self._configs) - set(names):  # deleted or filtered out: forget
            del self._configs[gone]
        return out

    # ---- groups -------------------------------------------------------------------------------

    async def _read_groups(self, group_re: re.Pattern[str] | None,
                           errors: list[str]) -> dict[str, GroupInfo]:
        if self.group_reader is not None:
            return await self.group_reader.groups(group_re, errors)
        return await self._groups(group_re, errors)

    async def _groups(
        self, group_re: re.Pattern[str] | None, errors: list[str]
    ) -> dict[str, GroupInfo]:
        listed = await self._await(
            self._admin.list_consumer_groups(request_timeout=self.timeout), "list groups")
        for err in listed.errors or ():
            errors.append(f"list groups: {err}")
        wanted = sorted((g for g in listed.valid
                         if group_re is None or group_re.search(g.group_id)),
                        key=lambda g: g.group_id)
        # an Empty group has no members by definition: ListGroups' state and type say all a
        # description would (see describe_groups)
        empty = {g.group_id: _state_name(g.type) if g.type is not None else ""
                 for g in wanted if _state_name(g.state) == "Empty"}
        return await self.describe_groups([g.group_id for g in wanted], errors, empty=empty)

    async def describe_groups(
        self, group_ids: list[str], errors: list[str] | None = None,
        empty: Mapping[str, str] | None = None,
    ) -> dict[str, GroupInfo]:
        """Members, state and committed offsets of these groups: one DescribeConsumerGroups
        call for all of them, their committed offsets with bounded concurrency.

        `empty` (group -> type) names groups ListGroups just reported Empty: they are not
        described (no members, no assignor; the coordinator is left unknown). librdkafka
        describes a group with up to 5 requests (FindCoordinator, ConsumerGroupDescribe,
        FindCoordinator, DescribeGroups when it is a classic group), one group at a time on
        the coordinator's connection, so the requests grow with the groups (BENCHMARKS.md §4)."""
        if not group_ids:
            return {}
        group_ids = list(dict.fromkeys(group_ids))  # one result per distinct group, in order
        empty = empty or {}
        sem = asyncio.Semaphore(GROUP_OFFSET_CONCURRENCY)

        async def offsets(gid: str) -> dict[tuple[str, int], int] | BaseException:
            async with sem:
                try:
                    return await self.committed_offsets(gid)
                except NexusError as exc:
                    return exc

        to_describe = [g for g in group_ids if g not in empty]
        described, committed = await asyncio.gather(
            self._describe_groups(to_describe), asyncio.gather(*(offsets(g) for g in group_ids)))
        descriptions = dict(zip(to_describe, described, strict=True))
        out: dict[str, GroupInfo] = {}
        for gid, offs in zip(group_ids, committed, strict=True):
            desc = descriptions.get(gid)  # None: listed Empty, not described
            if isinstance(desc, BaseException | KafkaError):
                error = self._group_error_text(desc)
                if errors is not None:
                    errors.append(f"group {gid}: {error}")
                out[gid] = GroupInfo(gid, "Unknown", error=error)
                continue
            error = None
            if isinstance(offs, BaseException):
                error = str(offs)
                if errors is not None:
                    errors.append(f"offsets of group {gid}: {error}")
                offs = {}
            if desc is None:
                out[gid] = GroupInfo(gid, "Empty", group_type=empty[gid], offsets=offs,
                                     error=error)
                continue
            members = tuple(
                GroupMember(
                    m.member_id, m.client_id, m.host,
                    tuple(sorted((tp.topic, tp.partition)
                                 for tp in (m.assignment.topic_partitions if m.assignment
                                            else []))),
                    m.group_instance_id,
                ) for m in desc.members
            )
            out[gid] = GroupInfo(
                gid, _state_name(desc.state), desc.partition_assignor or "",
                _state_name(getattr(desc, "type", "")) if getattr(desc, "type", None) else "",
                desc.coordinator.id if desc.coordinator else None, members, offs, error,
            )
        return out

    async def _describe_groups(self, group_ids: list[str]) -> list[Any]:
        """One description (or the exception saying why not) per group, in order.

        Through the C method behind `AdminClient.describe_consumer_groups`: one future for
        the whole call, where the public API adds one per group, each waking this loop
        (core/compat.py)."""
        if not group_ids:
            return []
        fut = compat.describe_consumer_groups(self._admin, group_ids, self.timeout)
        try:
            results: list[Any] = await asyncio.wrap_future(fut)
        except Exception as exc:  # the whole request failed: every group says why
            return [exc] * len(group_ids)
        if len(results) != len(group_ids):
            raise NexusError(f"describe groups: {len(results)} answers for "
                             f"{len(group_ids)} groups")
        return [KafkaException(r) if isinstance(r, KafkaError) else r for r in results]

    async def committed_offsets(self, group_id: str) -> dict[tuple[str, int], int]:
        """Every offset the group committed (partitions without a commit are left out)."""
        fut = compat.list_consumer_group_offsets(  # one future, not two per group
            self._admin, [ConsumerGroupTopicPartitions(group_id)], self.timeout)
        (result,) = await self._await(fut, f"offsets of group {group_id}")
        if isinstance(result, KafkaError):
            raise NexusError(f"offsets of group {group_id}: "
                             f"{kafka_error_text(KafkaException(result))}")
        return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions
                if tp.offset >= 0 and tp.error is None}

    async def group(self, group_id: str) -> GroupInfo:
        """One group, or NotFound when the cluster knows nothing of it."""
        info = (await self.describe_groups([group_id]))[group_id]
        if info.state == "Dead" and not info.offsets and not info.members:
            raise NotFound(f"group {group_id} does not exist")
        if info.error:
            raise NexusError(f"group {group_id}: {info.error}")
        return info

    # ---- writes -------------------------------------------------------------------------------

    async def alter_group_offsets(
        self, group_id: str, offsets: Mapping[tuple[str, int], int]
    ) -> None:
        """Commit these offsets for an inactive group (the seek's apply step)."""
        self.settings.check_writable("seek")
        request = ConsumerGroupTopicPartitions(
            group_id, [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())])
        futures = self._admin.alter_consumer_group_offsets(
            [request], request_timeout=self.timeout)
        result = await self._await(futures[group_id], f"commit offsets of {group_id}")
        failed = [f"{tp.topic}[{tp.partition}]: {tp.error.str()}"
                  for tp in result.topic_partitions if tp.error is not None]
        if failed:
            raise NexusError(f"commit offsets of {group_id} failed for " + "; ".join(failed))

    async def create_topics(
        self, topics: Iterable[tuple[str, int, int]], configs: Mapping[str, str] | None = None,
        exist_ok: bool = True,
    ) -> None:
        """Create (name, partitions, replication factor) topics; wait until all exist."""
        self.settings.check_writable("create topic")
        new = [NewTopic(n, p, r, config=dict(configs or {})) for n, p, r in topics]
        if not new:
            return
        futures = self._admin.create_topics(new, request_timeout=self.timeout)
        for name, fut in futures.items():
            try:
                await self._await(fut, f"create topic {name}")
            except NexusError as exc:
                if not (exist_ok and "TOPIC_ALREADY_EXISTS" in str(exc)):
                    raise

    async def delete_topics(self, names: Iterable[str]) -> None:
        self.settings.check_writable("delete topic")
        futures = self._admin.delete_topics(list(names), request_timeout=self.timeout)
        for name, fut in futures.items():
            await self._await(fut, f"delete topic {name}")


async def _none() -> None:
    return None


async def _all_done(futures: Iterable[Future[Any]]) -> None:
    """Wait until every future is done, woken once: librdkafka completes one future per
    partition, and an asyncio wrapper for each (two per partition in a snapshot) cost the
    loop's thread a wake-up, a callback and a gather entry apiece."""
    pending = list(futures)
    if not pending:
        return
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    lock = threading.Lock()
    left = len(pending)

    def finish() -> None:
        if not done.done():
            done.set_result(None)

    def one_done(_: Future[Any]) -> None:  # on librdkafka's thread (or here, if done already)
        nonlocal left
        with lock:
            left -= 1
            last = left == 0
        if last:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(finish)

    for fut in pending:
        fut.add_done_callback(one_done)
    await done


async def _empty_groups() -> dict[str, GroupInfo]:
    return {}


def _compile(pattern: str | None, what: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"bad {what} regex {pattern!r}: {exc}") from None
