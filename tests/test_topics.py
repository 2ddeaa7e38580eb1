"""Nexus topic names and Kafka's topic rules."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import NexusError
from core.wire.topic_names import (
    TopicKind,
    TopicName,
    TopicNameError,
    build_topic,
    colliding_topics,
    dead_letter_source,
    dead_letter_topic,
    is_dead_letter_topic,
    is_nexus_topic,
    validate_kafka_topic,
)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("demo.greeting.v1", TopicName("demo", "greeting", None, None, 1)),
        ("demo.names.lookup.cmd.v1", TopicName("demo", "names", "lookup", TopicKind.COMMAND, 1)),
        (
            "delivery.handler.orderDelivered.cmd.v1",
            TopicName("delivery", "handler", "orderDelivered", TopicKind.COMMAND, 1),
        ),
        ("demo.audit.greeted.evt.v1", TopicName("demo", "audit", "greeted", TopicKind.EVENT, 1)),
        ("client.app.replies.v1", TopicName("client", "app", "replies", None, 1)),
        ("a.b.c.v12", TopicName("a", "b", "c", None, 12)),  # one extra segment: a purpose
        ("a.b.cmd.v1", TopicName("a", "b", None, TopicKind.COMMAND, 1)),  # ... unless a type
        ("a.b.res.v3", TopicName("a", "b", None, TopicKind.RESULT, 3)),
        ("a.b.cmd.evt.v1", TopicName("a", "b", "cmd", TopicKind.EVENT, 1)),
        ("a.b.v2.v1", TopicName("a", "b", "v2", None, 1)),
        ("my-team.my_domain.v1", TopicName("my-team", "my_domain", None, None, 1)),
    ],
)
def test_parse_and_build_back(name: str, parsed: TopicName) -> None:
    assert TopicName.parse(name) == parsed
    assert str(parsed) == name == parsed.name
    assert is_nexus_topic(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "topic name is empty"),
        ("demo", "must end in .v<N>"),
        ("demo.greeting", "must end in .v<N>"),
        ("demo.greeting.v0", "must end in .v<N>"),
        ("demo.greeting.v01", "no leading zeros"),
        ("demo.greeting.v", "must end in .v<N>"),
        ("demo.greeting.V1", "must end in .v<N>"),
        ("demo.v1", "needs <team>.<domain>.v<N>"),
        ("v1", "needs <team>.<domain>.v<N>"),
        ("a.b.c.d.v1", "its type 'd' is not cmd, evt or res"),
        ("a.b.c.cmd.d.v1", "too many segments"),
        ("a..v1", "the domain of a Nexus topic must not be empty"),
        (".b.v1", "the team of a Nexus topic must not be empty"),
        ("a.b..v1", "the purpose of a Nexus topic must not be empty"),
        ("a.b.c..v1", "its type '' is not cmd, evt or res"),
        ("demo.gréeting.v1", "contains 'é'"),
        ("demo greeting.v1", "contains ' '"),
        ("a." * 124 + "v1", "250 characters long"),
    ],
)
def test_parse_rejects(name: str, message: str) -> None:
    with pytest.raises(TopicNameError, match=re.escape(message)) as info:
        TopicName.parse(name)
    assert isinstance(info.value, NexusError)
    assert not is_nexus_topic(name)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "b", None, None, 1), "team of a Nexus topic must not be empty"),
        (("a", "b.c", None, None, 1), "the domain 'b.c' may hold only"),
        (("a", "b", None, "command", 1), "topic type 'command' is not one of cmd, evt, res"),
        (("a", "b", None, None, 0), "version must be positive"),
        (("a", "b", None, None, True), "version must be an integer"),
        (("a", "b", None, None, "1"), "version must be an integer"),
        ((1, "b", None, None, 1), "team of a Nexus topic must be a string"),
        (("a" * 250, "b", None, None, 1), "Kafka allows at most 249"),
    ],
)
def test_construction_rejects(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(TopicNameError, match=re.escape(message)):
        TopicName(*args)  # type: ignore[arg-type]


def test_build_topic_and_kinds() -> None:
    assert build_topic("demo", "names", 1, purpose="lookup", kind="cmd") == (
        "demo.names.lookup.cmd.v1"
    )
    assert build_topic("demo", "greeting", 2) == "demo.greeting.v2"
    assert build_topic("demo", "greeting", 2, purpose="", kind="") == "demo.greeting.v2"
    topic = TopicName.parse("delivery.handler.orderDelivered.cmd.v1")
    assert topic.kind == "cmd" and isinstance(topic.kind, TopicKind)
    assert str(topic.with_kind(TopicKind.EVENT)) == "delivery.handler.orderDelivered.evt.v1"
    assert str(topic.with_kind(None)) == "delivery.handler.orderDelivered.v1"
    with pytest.raises(TopicNameError):
        topic.with_kind("xyz")


@pytest.mark.parametrize("name", ["a", "A-b_c.9", "x" * 249, "...", ".a", "a.", "__consumer"])
def test_kafka_accepts(name: str) -> None:
    assert validate_kafka_topic(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        (".", "not allowed by Kafka"),
        ("..", "not allowed by Kafka"),
        ("x" * 250, "250 characters long"),
        ("a/b", "contains '/'"),
        ("a b", "contains ' '"),
        ("tópic", "contains 'ó'"),
        ("a\nb", "contains '\\n'"),
    ],
)
def test_kafka_rejects(name: str, message: str) -> None:
    with pytest.raises(TopicNameError, match=re.escape(message)):
        validate_kafka_topic(name)


def test_kafka_rejects_non_strings() -> None:
    with pytest.raises(TopicNameError, match="must be a string"):
        validate_kafka_topic(None)  # type: ignore[arg-type]


def test_metric_name_collisions() -> None:
    existing = ["demo_greeting.v1", "demo.greeting_v1", "demo.greeting.v1", "other.v1"]
    assert colliding_topics("demo.greeting.v1", existing) == [
        "demo.greeting_v1",
        "demo_greeting.v1",
    ]
    assert colliding_topics("fresh.v1", existing) == []


def test_dead_letter_topics() -> None:
    assert dead_letter_topic("demo.greeting.v1") == "demo.greeting.v1.dlq"
    assert is_dead_letter_topic("demo.greeting.v1.dlq")
    assert not is_dead_letter_topic("demo.greeting.v1")
    assert not is_dead_letter_topic(".dlq")
    assert dead_letter_source("demo.greeting.v1.dlq") == "demo.greeting.v1"
    assert dead_letter_source("demo.greeting.v1") is None
    assert not is_nexus_topic("demo.greeting.v1.dlq")  # a DLQ is never taken for a handler topic
    with pytest.raises(TopicNameError, match="already a dead-letter topic"):
        dead_letter_topic("demo.greeting.v1.dlq")
    with pytest.raises(TopicNameError, match="253 characters long"):
        dead_letter_topic("x" * 249)
    with pytest.raises(TopicNameError, match="contains"):
        dead_letter_topic("a b")


# ------------------------------------------------------------------------------ properties

_segment = st.from_regex(r"[a-zA-Z0-9_-]{1,12}", fullmatch=True)
_purpose = _segment.filter(lambda s: s not in ("cmd", "evt", "res"))


@given(st.text(max_size=60) | st.from_regex(r"[a-z.v0-9]{0,20}", fullmatch=True))
def test_parse_raises_only_topic_name_error(name: str) -> None:
    try:
        parsed = TopicName.parse(name)
    except TopicNameError:
        return
    assert str(parsed) == name


@given(
    _segment,
    _segment,
    st.none() | _purpose,
    st.none() | st.sampled_from(list(TopicKind)),
    st.integers(min_value=1, max_value=10**6),
)
def test_build_parse_round_trip(
    team: str, domain: str, purpose: str | None, kind: TopicKind | None, version: int
) -> None:
    topic = TopicName(team, domain, purpose, kind, version)
    assert TopicName.parse(str(topic)) == topic
    assert build_topic(team, domain, version, purpose=purpose, kind=kind) == str(topic)
