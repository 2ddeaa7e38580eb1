"""The Kafka requests that read consumer groups in batches, as aiokafka request classes.

aiokafka's admin client reads groups one request per group and parses DescribeGroups v3 with
the v2 schema (the second group of an answer comes out as garbage against Kafka 4.x); it has
no ConsumerGroupDescribe (KIP-848 groups) and no batched OffsetFetch. Its request classes are
its extension point for exactly this (`aiokafka.protocol.api.Request`: "the aiokafka clients
must use children classes of Request"), sent with the public `AIOKafkaClient.send`. The
schemas follow Kafka's message definitions (clients/src/main/resources/common/message/*.json):

* ListGroups v5 (v4 without types): every group of a broker with its state and type;
* FindCoordinator v4: the coordinators of many groups in one request;
* DescribeGroups v5: classic groups, all those of one coordinator in one request;
* ConsumerGroupDescribe v0: KIP-848 consumer groups, likewise;
* OffsetFetch v8: the committed offsets of many groups in one request.

Flexible versions end every struct with tagged fields (`tags`); requests send none.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from core.compat import aiokafka_protocol

_protocol = aiokafka_protocol()  # aiokafka's request-building classes (private: see compat)
Request, RequestStruct, Response = _protocol.Request, _protocol.RequestStruct, _protocol.Response
(Array, Boolean, CompactArray, CompactBytes, CompactString, Int8, Int16, Int32, Int64, Schema,
 String, TaggedFields) = (getattr(_protocol, name) for name in _protocol.TYPES)

_TEXT = CompactString("utf-8")
_NO_TAGS: dict[int, bytes] = {}
#: the coordinator type of consumer groups in FindCoordinator
GROUP_KEY_TYPE = 0


# ---- ListGroups ---------------------------------------------------------------------------------

class ListGroupsResponseV4(Response):
    API_KEY = 16
    API_VERSION = 4
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("groups", CompactArray(
            ("group_id", _TEXT), ("protocol_type", _TEXT), ("group_state", _TEXT),
            ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class ListGroupsResponseV5(Response):
    API_KEY = 16
    API_VERSION = 5
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("groups", CompactArray(
            ("group_id", _TEXT), ("protocol_type", _TEXT), ("group_state", _TEXT),
            ("group_type", _TEXT), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class ListGroupsRequestV4(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 16
    API_VERSION = 4
    RESPONSE_TYPE = ListGroupsResponseV4
    SCHEMA = Schema(("states_filter", CompactArray(_TEXT)), ("tags", TaggedFields))


class ListGroupsRequestV5(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 16
    API_VERSION = 5
    RESPONSE_TYPE = ListGroupsResponseV5
    SCHEMA = Schema(("states_filter", CompactArray(_TEXT)),
                    ("types_filter", CompactArray(_TEXT)), ("tags", TaggedFields))


class ListGroups(Request[ListGroupsRequestV4 | ListGroupsRequestV5]):
    """Every group the broker coordinates, of every state and type."""

    API_KEY = 16

    def build(self, request_struct_class: type[Any]) -> Any:
        if request_struct_class.API_VERSION >= 5:
            return request_struct_class([], [], _NO_TAGS)
        return request_struct_class([], _NO_TAGS)


# ---- FindCoordinator ----------------------------------------------------------------------------

class FindCoordinatorResponseV4(Response):
    API_KEY = 10
    API_VERSION = 4
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("coordinators", CompactArray(
            ("key", _TEXT), ("node_id", Int32), ("host", _TEXT), ("port", Int32),
            ("error_code", Int16), ("error_message", _TEXT), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class FindCoordinatorRequestV4(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 10
    API_VERSION = 4
    RESPONSE_TYPE = FindCoordinatorResponseV4
    SCHEMA = Schema(("key_type", Int8), ("coordinator_keys", CompactArray(_TEXT)),
                    ("tags", TaggedFields))


class FindGroupCoordinators(Request[FindCoordinatorRequestV4]):
    """The coordinator of each of these groups."""

    API_KEY = 10

    def __init__(self, group_ids: list[str]) -> None:
        self.group_ids = group_ids

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(GROUP_KEY_TYPE, self.group_ids, _NO_TAGS)


# ---- DescribeGroups (classic groups) ------------------------------------------------------------

class DescribeGroupsResponseV5(Response):
    API_KEY = 15
    API_VERSION = 5
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("groups", CompactArray(
            ("error_code", Int16), ("group_id", _TEXT), ("group_state", _TEXT),
            ("protocol_type", _TEXT), ("protocol_data", _TEXT),
            ("members", CompactArray(
                ("member_id", _TEXT), ("group_instance_id", _TEXT), ("client_id", _TEXT),
                ("client_host", _TEXT), ("member_metadata", CompactBytes),
                ("member_assignment", CompactBytes), ("tags", TaggedFields))),
            ("authorized_operations", Int32), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class DescribeGroupsRequestV5(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 15
    API_VERSION = 5
    RESPONSE_TYPE = DescribeGroupsResponseV5
    SCHEMA = Schema(("groups", CompactArray(_TEXT)),
                    ("include_authorized_operations", Boolean), ("tags", TaggedFields))


class DescribeClassicGroups(Request[DescribeGroupsRequestV5]):
    API_KEY = 15

    def __init__(self, group_ids: list[str]) -> None:
        self.group_ids = group_ids

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(self.group_ids, False, _NO_TAGS)


# ---- ConsumerGroupDescribe (KIP-848 groups) -----------------------------------------------------

_ASSIGNMENT = Schema(
    ("topic_partitions", CompactArray(
        ("topic_id_high", Int64), ("topic_id_low", Int64), ("topic_name", _TEXT),
        ("partitions", CompactArray(Int32)), ("tags", TaggedFields))),
    ("tags", TaggedFields),
)


class ConsumerGroupDescribeResponseV0(Response):
    API_KEY = 69
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("groups", CompactArray(
            ("error_code", Int16), ("error_message", _TEXT), ("group_id", _TEXT),
            ("group_state", _TEXT), ("group_epoch", Int32), ("assignment_epoch", Int32),
            ("assignor_name", _TEXT),
            ("members", CompactArray(
                ("member_id", _TEXT), ("instance_id", _TEXT), ("rack_id", _TEXT),
                ("member_epoch", Int32), ("client_id", _TEXT), ("client_host", _TEXT),
                ("subscribed_topic_names", CompactArray(_TEXT)),
                ("subscribed_topic_regex", _TEXT), ("assignment", _ASSIGNMENT),
                ("target_assignment", _ASSIGNMENT), ("tags", TaggedFields))),
            ("authorized_operations", Int32), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class ConsumerGroupDescribeRequestV0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 69
    API_VERSION = 0
    RESPONSE_TYPE = ConsumerGroupDescribeResponseV0
    SCHEMA = Schema(("group_ids", CompactArray(_TEXT)),
                    ("include_authorized_operations", Boolean), ("tags", TaggedFields))


class DescribeConsumerGroups(Request[ConsumerGroupDescribeRequestV0]):
    API_KEY = 69

    def __init__(self, group_ids: list[str]) -> None:
        self.group_ids = group_ids

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(self.group_ids, False, _NO_TAGS)


# ---- OffsetFetch --------------------------------------------------------------------------------

class OffsetFetchResponseV8(Response):
    API_KEY = 9
    API_VERSION = 8
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("groups", CompactArray(
            ("group_id", _TEXT),
            ("topics", CompactArray(
                ("name", _TEXT),
                ("partitions", CompactArray(
                    ("partition_index", Int32), ("committed_offset", Int64),
                    ("committed_leader_epoch", Int32), ("metadata", _TEXT),
                    ("error_code", Int16), ("tags", TaggedFields))),
                ("tags", TaggedFields))),
            ("error_code", Int16), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class OffsetFetchRequestV8(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 9
    API_VERSION = 8
    RESPONSE_TYPE = OffsetFetchResponseV8
    SCHEMA = Schema(
        ("groups", CompactArray(
            ("group_id", _TEXT),
            ("topics", CompactArray(
                ("name", _TEXT), ("partition_indexes", CompactArray(Int32)),
                ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("require_stable", Boolean),
        ("tags", TaggedFields),
    )


class FetchCommittedOffsets(Request[OffsetFetchRequestV8]):
    """Every offset each of these groups committed (topics null: all of them)."""

    API_KEY = 9

    def __init__(self, group_ids: list[str]) -> None:
        self.group_ids = group_ids

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class([(g, None, _NO_TAGS) for g in self.group_ids], False,
                                    _NO_TAGS)


# ---- the classic consumer protocol's assignment -------------------------------------------------

_CONSUMER_ASSIGNMENT = Schema(
    ("version", Int16),
    ("topics", Array(("topic", String("utf-8")), ("partitions", Array(Int32)))),
)


def classic_assignment(data: bytes | None) -> tuple[tuple[str, int], ...]:
    """The partitions in a classic consumer member's assignment (ConsumerProtocolAssignment:
    version, [topic, [partition]], user data), sorted; () for none or another protocol's."""
    if not data:
        return ()
    try:
        _, topics = _CONSUMER_ASSIGNMENT.decode(BytesIO(data))
    except (ValueError, TypeError, IndexError, UnicodeDecodeError):
        return ()
    return tuple(sorted((topic, p) for topic, parts in topics or () for p in parts or ()))


__all__ = [
    "DescribeClassicGroups", "DescribeConsumerGroups", "FetchCommittedOffsets",
    "FindGroupCoordinators", "ListGroups", "classic_assignment",
]
