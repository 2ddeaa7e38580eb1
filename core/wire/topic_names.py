"""Nexus topic names (`<team>.<domain>[.<purpose>][.<cmd|evt|res>].v<N>`) and Kafka's rules.

Nexus Go (topic.go) only requires a team, a domain and a positive version; a name is also a
Kafka topic, so it must pass Kafka's own checks (`validate_kafka_topic`). Parsing is not fully
unambiguous: Go writes purpose "cmd" without a type and type "cmd" without a purpose the same
way (`a.b.cmd.v1`); `TopicName.parse` reads such a segment as the type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from msgspec import Struct
from msgspec.structs import force_setattr

from core.errors import NexusError

__all__ = [
    "traffic_topics",
    "DEAD_LETTER_SUFFIX",
    "KAFKA_TOPIC_MAX_LENGTH",
    "TopicKind",
    "TopicName",
    "TopicNameError",
    "build_topic",
    "colliding_topics",
    "dead_letter_source",
    "dead_letter_topic",
    "is_dead_letter_topic",
    "is_nexus_topic",
    "validate_kafka_topic",
]

KAFKA_TOPIC_MAX_LENGTH = 249
DEAD_LETTER_SUFFIX = ".dlq"

_KAFKA_LEGAL = re.compile(r"[a-zA-Z0-9._-]+")
_SEGMENT = re.compile(r"[a-zA-Z0-9_-]+")
_VERSION = re.compile(r"v([1-9][0-9]*)")


class TopicNameError(NexusError):
    """A topic name breaks Kafka's topic rules or the Nexus naming scheme."""


class TopicKind(StrEnum):
    """The optional type segment of a Nexus topic (Go's TopicType)."""

    COMMAND = "cmd"
    EVENT = "evt"
    RESULT = "res"


def validate_kafka_topic(name: str) -> str:
    """Return `name` if Kafka accepts it as a topic name, else raise `TopicNameError`.

    Kafka's rules: 1 to 249 characters of [a-zA-Z0-9._-], and not "." or "..".
    """
    if not isinstance(name, str):
        raise TopicNameError(f"a topic name must be a string, got {type(name).__name__}")
    if not name:
        raise TopicNameError("topic name is empty")
    if len(name) > KAFKA_TOPIC_MAX_LENGTH:
        raise TopicNameError(
            f"topic name is {len(name)} characters long; Kafka allows at most "
            f"{KAFKA_TOPIC_MAX_LENGTH}"
        )
    if name in (".", ".."):
        raise TopicNameError(f"topic name {name!r} is not allowed by Kafka")
    if not _KAFKA_LEGAL.fullmatch(name):
        bad = sorted({c for c in name if not _KAFKA_LEGAL.fullmatch(c)})
        raise TopicNameError(
            f"topic name {name!r} contains {''.join(bad)!r}; Kafka allows only "
            "ASCII letters, digits, '.', '_' and '-'"
        )
    return name


def _metric_name(name: str) -> str:
    return name.replace(".", "_")


def colliding_topics(name: str, existing: Iterable[str]) -> list[str]:
    """Existing topics whose metric names collide with `name`'s.

    Kafka replaces '.' with '_' in metric names, so `a.b` and `a_b` share metrics; Kafka
    refuses to create a topic that collides with an existing one.
    """
    metric = _metric_name(name)
    return sorted(t for t in existing if t != name and _metric_name(t) == metric)


def _check_segment(role: str, value: object) -> None:
    if not isinstance(value, str):
        raise TopicNameError(f"the {role} of a Nexus topic must be a string, got {value!r}")
    if not value:
        raise TopicNameError(f"the {role} of a Nexus topic must not be empty")
    if not _SEGMENT.fullmatch(value):
        raise TopicNameError(
            f"the {role} {value!r} may hold only ASCII letters, digits, '_' and '-'"
        )


def _to_kind(value: object) -> TopicKind | None:
    """A TopicKind from "cmd"/"evt"/"res" (None or "" for none), else TopicNameError."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value in TopicKind._value2member_map_:
        return TopicKind(value)
    raise TopicNameError(f"topic type {value!r} is not one of cmd, evt, res")


class TopicName(Struct, frozen=True):
    """A parsed Nexus topic name; `str(topic)` builds it back (as Go's Topic.String)."""

    team: str
    domain: str
    purpose: str | None
    kind: TopicKind | None
    version: int

    def __post_init__(self) -> None:
        _check_segment("team", self.team)
        _check_segment("domain", self.domain)
        if self.purpose == "":
            force_setattr(self, "purpose", None)
        if self.purpose is not None:
            _check_segment("purpose", self.purpose)
        force_setattr(self, "kind", _to_kind(self.kind))
        if not isinstance(self.version, int) or isinstance(self.version, bool):
            raise TopicNameError(f"topic version must be an integer, got {self.version!r}")
        if self.version <= 0:
            raise TopicNameError(f"topic version must be positive, got {self.version}")
        validate_kafka_topic(str(self))

    def __str__(self) -> str:
        segments = [self.team, self.domain]
        if self.purpose:
            segments.append(self.purpose)
        if self.kind:
            segments.append(str(self.kind))
        segments.append(f"v{self.version}")
        return ".".join(segments)

    @property
    def name(self) -> str:
        """The topic name, as `str(self)`."""
        return str(self)

    @classmethod
    def parse(cls, name: str) -> TopicName:
        """Parse `<team>.<domain>[.<purpose>][.<cmd|evt|res>].v<N>`, or raise TopicNameError.

        A single segment between domain and version is the type if it is cmd/evt/res, else
        the purpose.
        """
        validate_kafka_topic(name)
        *head, last = name.split(".")
        match = _VERSION.fullmatch(last)
        if match is None:
            raise TopicNameError(
                f"{name!r} is not a Nexus topic: it must end in .v<N> with N a positive "
                f"integer (no leading zeros), not .{last}"
            )
        if len(head) < 2:
            raise TopicNameError(f"{name!r} is not a Nexus topic: it needs <team>.<domain>.v<N>")
        if len(head) > 4:
            raise TopicNameError(
                f"{name!r} is not a Nexus topic: too many segments "
                "(<team>.<domain>[.<purpose>][.<cmd|evt|res>].v<N>)"
            )
        team, domain, *rest = head
        purpose: str | None = None
        kind: str | None = None
        if len(rest) == 2:
            purpose, kind = rest
            if kind not in TopicKind._value2member_map_:
                raise TopicNameError(
                    f"{name!r} is not a Nexus topic: its type {kind!r} is not cmd, evt or res"
                )
        elif len(rest) == 1:
            if rest[0] in TopicKind._value2member_map_:
                kind = rest[0]
            else:
                purpose = rest[0]
        if purpose is not None:
            _check_segment("purpose", purpose)  # "" would otherwise mean "no purpose"
        return cls(team, domain, purpose, TopicKind(kind) if kind else None, int(match.group(1)))

    def with_kind(self, kind: TopicKind | str | None) -> TopicName:
        """The same topic with another type (Go's AsCommand/AsEvent/AsResult)."""
        return TopicName(self.team, self.domain, self.purpose, _to_kind(kind), self.version)


def build_topic(
    team: str,
    domain: str,
    version: int,
    *,
    purpose: str | None = None,
    kind: TopicKind | str | None = None,
) -> str:
    """Build and validate a Nexus topic name, e.g. build_topic("demo", "names", 1, ...)."""
    return str(TopicName(team, domain, purpose, _to_kind(kind), version))


def is_nexus_topic(name: str) -> bool:
    """True if `name` parses as a Nexus topic name."""
    try:
        TopicName.parse(name)
    except TopicNameError:
        return False
    return True


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of `topic`: `<topic>.dlq` (validated against Kafka's rules)."""
    validate_kafka_topic(topic)
    if is_dead_letter_topic(topic):
        raise TopicNameError(f"{topic!r} is already a dead-letter topic")
    return validate_kafka_topic(topic + DEAD_LETTER_SUFFIX)


def is_dead_letter_topic(name: str) -> bool:
    """True if `name` is a dead-letter topic name (`<topic>.dlq`)."""
    return len(name) > len(DEAD_LETTER_SUFFIX) and name.endswith(DEAD_LETTER_SUFFIX)


def dead_letter_source(name: str) -> str | None:
    """The topic whose dead letters `name` holds, or None if it is not a dead-letter topic."""
    return name[: -len(DEAD_LETTER_SUFFIX)] if is_dead_letter_topic(name) else None


def traffic_topics(names: Iterable[str]) -> list[str]:
    """The topics whose Nexus traffic is watched, sorted: non-internal topics named like Nexus
    topics, and the `.dlq` topics of such topics."""
    chosen = []
    for name in names:
        if name.startswith("__"):
            continue
        source = dead_letter_source(name)
        if is_nexus_topic(name) or (source is not None and is_nexus_topic(source)):
            chosen.append(name)
    return sorted(chosen)
