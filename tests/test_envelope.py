"""The envelope against the golden records of the reference Go implementation, and fuzzed."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import NexusError
from core.wire.envelope import Envelope, EnvelopeError, MessageKind, WireDict, go_float, go_json
from core.wire.gojson import encode_exact, go_escape

DATA = Path(__file__).resolve().parent / "data" / "nexus"  # provenance: its README.md
GOLDEN: list[dict[str, str]] = json.loads((DATA / "wire_examples.json").read_text())["records"]
EXTENDED: list[dict[str, str]] = json.loads(
    (DATA / "wire_examples_extended.json").read_text()
)["records"]
ALL_VECTORS = GOLDEN + EXTENDED
# Go wrote invalid UTF-8 in these as the escape \ufffd; any decoder reads it as U+FFFD, and Go's
# own decode + re-encode then writes that character raw. The one accepted difference (the
# extended file's `about`): either form. Listed by kind, so that a new such record is noticed.
REPLACEMENT_ESCAPED = {
    "request: string with invalid UTF-8 bytes ff fe",
    "reply via ctx.Reply: string with invalid UTF-8 bytes ff fe",
    "request: string with invalid UTF-8 inside text",
    "reply via ctx.Reply: string with invalid UTF-8 inside text",
    # the map holds the two invalid-UTF-8 strings above as values
    "request: all escape strings inside a map (also escapes in keys)",
    "reply via ctx.Reply: all escape strings inside a map (also escapes in keys)",
    # the error message ends with an invalid UTF-8 byte
    "error reply via ctx.ReplyError: error message with escapes",
}
EXACT_VECTORS = [r for r in ALL_VECTORS if r["kind"] not in REPLACEMENT_ESCAPED]
ESCAPED_VECTORS = [r for r in ALL_VECTORS if r["kind"] in REPLACEMENT_ESCAPED]


def kinds(records: list[dict[str, str]]) -> list[str]:
    return [r["kind"] for r in records]


def extended(kind: str) -> Envelope:
    """The extended vector of exactly this kind, decoded."""
    (record,) = [r for r in EXTENDED if r["kind"] == kind]
    return Envelope.decode(record["value_raw"].encode())


def golden(kind_prefix: str) -> dict[str, str]:
    """The one golden record whose description starts with `kind_prefix`."""
    found = [r for r in GOLDEN if r["kind"].startswith(kind_prefix)]
    assert len(found) == 1, kind_prefix
    return found[0]


def golden_envelope(kind_prefix: str) -> Envelope:
    return Envelope.decode(golden(kind_prefix)["value_raw"].encode())


def raw(kind_prefix: str) -> bytes:
    return golden(kind_prefix)["value_raw"].encode()


UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

# ------------------------------------------------------------------------------ golden records


def test_vectors_are_all_there_with_unique_kinds() -> None:
    assert (len(GOLDEN), len(EXTENDED)) == (11, 116)
    assert len(set(kinds(ALL_VECTORS))) == len(ALL_VECTORS)
    assert REPLACEMENT_ESCAPED <= set(kinds(EXTENDED))


@pytest.mark.parametrize("record", EXACT_VECTORS, ids=kinds(EXACT_VECTORS))
def test_vector_round_trips_byte_for_byte(record: dict[str, str]) -> None:
    value = record["value_raw"].encode()
    assert b"\\ufffd" not in value  # else it belongs to REPLACEMENT_ESCAPED
    envelope = Envelope.decode(value)
    assert envelope.encode() == value
    assert envelope.destination_topic == record["topic"]
    assert envelope.key == record["key"].encode()
    # The same bytes in a bytearray or memoryview (as Kafka clients may hand them over).
    assert Envelope.decode(bytearray(value)) == Envelope.decode(memoryview(value)) == envelope


@pytest.mark.parametrize("record", ESCAPED_VECTORS, ids=kinds(ESCAPED_VECTORS))
def test_vector_with_go_replacement_escape_round_trips_in_either_form(
    record: dict[str, str],
) -> None:
    value = record["value_raw"].encode()
    assert b"\\ufffd" in value
    envelope = Envelope.decode(value)
    raw_form = value.replace(b"\\ufffd", "\ufffd".encode())
    # Only the escape may change: we write U+FFFD raw, as Go's own re-encoding does.
    assert envelope.encode() == raw_form
    assert Envelope.decode(raw_form) == envelope
    assert Envelope.decode(raw_form).encode() == raw_form
    assert envelope.key == record["key"].encode()


def test_go_own_reencoding_writes_the_replacement_raw() -> None:
    """The accepted difference is Go's own: its ReplyError echoes the request after a decode,
    and that echo holds U+FFFD raw where the request held the escape."""
    request = extended("request: string with invalid UTF-8 inside text")
    echoed = extended("error reply via ctx.ReplyError: string with invalid UTF-8 inside text")
    assert request.payload == echoed.payload["payload"] == "ok\ufffdok\ufffd"
    assert b"\\ufffd" not in echoed.encode()
    assert request.reply_error(echoed.payload["error"], now_ns=echoed.created_at).payload == (
        echoed.payload
    )


def test_extended_vectors_decode_to_go_values() -> None:
    # Integers are exact Python ints, whatever their size.
    limits = extended("request: integers near limits nested in objects and arrays").payload
    assert limits == {
        "int64_2p53p1": 9007199254740993,
        "int64_max": 2**63 - 1,
        "int64_min": -(2**63),
        "json_number": 9007199254740993,
        "list": [9007199254740993, 2**63 - 1, 2**64 - 1, -(2**63), 0, -1],
        "uint64_max": 2**64 - 1,
    }
    assert all(type(v) is int for v in limits["list"])
    assert extended("request: uint64 max 18446744073709551615").payload == 2**64 - 1
    # Inside an error reply's echoed request, Go's float64 rounding is on the wire already.
    echoed = extended("error reply via ctx.ReplyError: int64 max 9223372036854775807")
    assert echoed.payload["payload"] == 9223372036854776000  # float64(2^63 - 1), Go's digits
    assert float(echoed.payload["payload"]) == float(2**63 - 1)
    assert type(echoed.payload["payload"]) is int and echoed.kind is MessageKind.ERROR_REPLY
    # Floats, -0 among them (a float, negative), in wire order.
    floats = extended("request: float64 values as a top-level array").payload
    assert floats == [0.1, 1e20, 1e21, 1e-7, 1.5e300, -0.0, 123456789.125, 5e-324,
                      1.7976931348623157e308, 2.5]
    assert isinstance(floats[5], float) and math.copysign(1, floats[5]) == -1
    assert type(floats[1]) is int  # Go wrote 1e20 as digits: an integer on the way back
    deep = extended("request: float64 values nested in objects and arrays").payload["deep"]
    assert math.copysign(1, deep["list"][0]["y"]) == -1
    # Struct payloads keep Go's field order; maps are sorted.
    struct = extended("request: struct payload (field order, not sorted)").payload
    assert list(struct) == ["zeta", "alpha", "nested"] and list(struct["nested"]) == ["b", "a"]
    # nil, empty and []byte payloads; top-level error present but empty.
    assert extended("request: nil payload").payload is None
    assert extended("request: nil slice ([]any(nil))").payload is None
    assert extended("request: empty string").payload == ""
    assert extended("request: []byte payload (Go writes base64)").payload == "/wBhPA=="
    assert extended("request: top-level error set to empty string").error == ""
    hand = extended("request: timestamps set by hand (started_at 0, created_at int64 max)")
    assert (hand.started_at, hand.created_at) == (0, 2**63 - 1)
    escapes = extended("request: string with HTML-special chars and quotes")
    assert "<" in escapes.payload and "&" in escapes.payload
    child = extended("child request via ctx.Dispatch (payload base64): float64 1e21")
    assert child.payload_json() == 1e21 and child.kind is MessageKind.REQUEST


def test_a_64_kib_payload_round_trips() -> None:
    """(The extended file has no 64 KiB record: its largest is under 1.5 KiB.)"""
    text = "".join(chr(0x20 + i % 0x5F) for i in range(64 * 1024))  # every printable ASCII
    payload = {"blob": text, "n": 2**64 - 1, "f": -0.0, "list": [1.5] * 100}
    value = Envelope.new_root("a.b.v1", "c.d.v1", payload, now_ns=1).encode()
    assert len(value) > 64 * 1024
    envelope = Envelope.decode(value)
    assert envelope.payload == payload
    assert envelope.payload["n"] == 2**64 - 1 and type(envelope.payload["n"]) is int
    assert math.copysign(1, envelope.payload["f"]) == -1
    assert envelope.encode() == value
    assert json.loads(value)["payload"]["blob"] == text  # an independent decoder agrees
    assert b"<" not in value and value.count(b"\\u003c") == text.count("<")


EXPECTED_KINDS = {
    "request (root, from a client)": MessageKind.REQUEST,
    "event (fire-and-forget child)": MessageKind.EVENT,
    "request (child, from ctx.Dispatch; payload base64)": MessageKind.REQUEST,
    "reply (success)": MessageKind.REPLY,
    "request (child, will be answered with an error)": MessageKind.REQUEST,
    "reply (error, from ctx.ReplyError)": MessageKind.ERROR_REPLY,
    "reply (success, final answer to the client)": MessageKind.REPLY,
    "request (root) with a []byte payload: base64 on the wire": MessageKind.EVENT,
    "hand-built envelope with a Go string payload": MessageKind.EVENT,
    "zero-value envelope": MessageKind.EVENT,
    "request after MarkRequired (reply_to_topics = source)": MessageKind.REQUEST,
}


def test_every_golden_record_has_an_expected_kind() -> None:
    assert sorted(EXPECTED_KINDS) == sorted(r["kind"] for r in GOLDEN)


@pytest.mark.parametrize("record", GOLDEN, ids=[r["kind"] for r in GOLDEN])
def test_golden_kinds(record: dict[str, str]) -> None:
    envelope = Envelope.decode(record["value_raw"].encode())
    assert envelope.kind is EXPECTED_KINDS[record["kind"]]
    is_error = EXPECTED_KINDS[record["kind"]] is MessageKind.ERROR_REPLY
    assert (envelope.error_message is not None) == is_error


def test_golden_fields_decode_to_the_right_values() -> None:
    request = golden_envelope("request (root, from a client)")
    assert request.id == request.root_id == "client.app.v1:01c87e8b-953a-4064-aa48-7876b9a60b14"
    assert request.started_at == request.created_at == 1795837425222335300
    assert isinstance(request.started_at, int)
    assert request.reply_to_topics == ("client.app.replies.v1",)
    assert request.request_id == "" and request.error is None and request.schema_version == ""
    assert request.payload == {"user_id": "u-42"}
    zero = golden_envelope("zero-value envelope")
    assert zero == Envelope()
    assert zero.payload is None and zero.key == b""


def test_golden_error_reply_message_and_echoed_request() -> None:
    reply = golden_envelope("reply (error, from ctx.ReplyError)")
    assert reply.error_message == "user u-42 is suspended"
    assert reply.error is None  # Go leaves the top-level error absent
    assert reply.payload["id"] == reply.request_id
    assert list(reply.payload) == [
        "id",
        "root_id",
        "started_at",
        "created_at",
        "source_topic",
        "destination_topic",
        "reply_to_topics",
        "schema_version",
        "error",
        "payload",
    ]
    assert reply.payload_json() == reply.payload  # an object payload is returned as is


def test_payload_json_undoes_base64_of_json() -> None:
    assert golden_envelope("request (child, from ctx.Dispatch").payload_json() == {
        "user_id": "u-42"
    }
    assert golden_envelope("request (root) with a []byte").payload_json() == {"a": 1}
    # A plain Go string payload is not base64: it comes back unchanged.
    assert golden_envelope("hand-built envelope").payload_json() == '{"a":1}'
    assert Envelope(payload="MTIz").payload_json() == 123  # base64 of "123" is JSON
    assert Envelope(payload="1234").payload_json() == "1234"  # base64, but not of JSON
    assert Envelope(payload="eyJhIjox").payload_json() == "eyJhIjox"  # truncated JSON
    assert Envelope(payload="eyJhIjoxfQ").payload_json() == "eyJhIjoxfQ"  # unpadded
    assert Envelope(payload="").payload_json() == ""
    assert Envelope(payload=None).payload_json() is None
    assert Envelope(payload="TmFO").payload_json() == "TmFO"  # "NaN" is not JSON for Go


# ------------------------------------------------------------------------------ helpers


def test_new_root_reproduces_the_golden_client_request() -> None:
    expected = golden_envelope("request (root, from a client)")
    root = Envelope.new_root(
        "client.app.v1",
        "demo.greeting.v1",
        {"user_id": "u-42"},
        reply_to="client.app.replies.v1",
        now_ns=expected.created_at,
    )
    prefix, _, suffix = root.id.partition(":")
    assert prefix == "client.app.v1" and UUID4.fullmatch(suffix)
    assert root.root_id == root.id
    fixed = dataclasses.replace(root, id=expected.id, root_id=expected.root_id)
    assert fixed.encode() == raw("request (root, from a client)")
    assert root.kind is MessageKind.REQUEST


def test_new_root_without_reply_to_is_an_event_and_uses_the_clock() -> None:
    before = time.time_ns()
    event = Envelope.new_root("a.b.v1", "c.d.v1", None)
    assert event.kind is MessageKind.EVENT
    assert event.started_at == event.created_at >= before
    assert b'"reply_to_topics"' not in event.encode()


def test_child_reproduces_the_golden_dispatches() -> None:
    root = golden_envelope("request (root, from a client)")
    for prefix, reply_to in [
        ("request (child, from ctx.Dispatch", [root.destination_topic]),
        ("event (fire-and-forget child)", None),
    ]:
        expected = golden_envelope(prefix)
        child = root.child(
            expected.destination_topic,
            {"user_id": "u-42"},
            reply_to=reply_to,
            now_ns=expected.created_at,
        )
        head, _, tail = child.id.partition(":")
        assert head == "demo.greeting.v1" and UUID4.fullmatch(tail)
        assert dataclasses.replace(child, id=expected.id).encode() == raw(prefix)


def test_child_base64_rules_follow_go_dispatch() -> None:
    root = Envelope.new_root("a.b.v1", "c.d.v1", None, now_ns=5)
    assert root.child("e.f.v1", b'{"a":1}').payload == "eyJhIjoxfQ=="  # []byte as is
    assert root.child("e.f.v1", '{"a":1}').payload == "eyJhIjoxfQ=="  # string: its bytes
    assert root.child("e.f.v1", {"b": 1, "a": "<"}).payload_json() == {"a": "<", "b": 1}
    native = root.child("e.f.v1", {"b": 1}, base64_payload=False, now_ns=9)
    assert native.payload == {"b": 1}
    assert (native.started_at, native.created_at, native.root_id) == (5, 9, root.id)
    assert native.source_topic == "c.d.v1" and native.schema_version == ""


def test_child_inherits_schema_version() -> None:
    parent = Envelope.new_root("a.b.v1", "c.d.v1", None, schema_version="2")
    assert parent.child("e.f.v1", None).schema_version == "2"
    request = parent.child("e.f.v1", None, reply_to="c.d.v1")
    assert request.reply(None).schema_version == "2"


def test_reply_reproduces_the_golden_success_reply() -> None:
    request = golden_envelope("request (child, from ctx.Dispatch")
    expected = golden_envelope("reply (success)")
    reply = request.reply({"user_id": "u-42", "name": "Ada"}, now_ns=expected.created_at)
    assert UUID4.fullmatch(reply.id)
    assert reply.kind is MessageKind.REPLY and reply.error_message is None
    assert dataclasses.replace(reply, id=expected.id).encode() == raw("reply (success)")


def test_reply_error_reproduces_the_golden_error_reply() -> None:
    request = golden_envelope("request (child, will be answered with an error)")
    expected = golden_envelope("reply (error, from ctx.ReplyError)")
    reply = request.reply_error("user u-42 is suspended", now_ns=expected.created_at)
    assert reply.kind is MessageKind.ERROR_REPLY
    assert reply.error_message == "user u-42 is suspended"
    assert request.error is None  # the request itself is not changed
    fixed = dataclasses.replace(reply, id=expected.id)
    assert fixed.encode() == raw("reply (error, from ctx.ReplyError)")


def test_reply_error_echoes_a_native_payload_as_go_reencodes_it() -> None:
    request = Envelope.decode(
        b'{"id":"x:1","root_id":"x:1","started_at":1,"created_at":2,"source_topic":"x",'
        b'"destination_topic":"y","reply_to_topics":["x"],"schema_version":"",'
        b'"payload":{"z":1,"a":{"y":12345678901234567891,"b":2}}}'
    )
    echoed = request.reply_error("boom", now_ns=3).encode()
    # Go decodes the payload into maps (keys sorted) and float64s (big ints lose digits).
    assert echoed.endswith(
        b'"error":"boom","payload":{"a":{"b":2,"y":12345678901234567000},"z":1}}}'
    )


def test_reply_needs_reply_to_topics() -> None:
    event = golden_envelope("event (fire-and-forget child)")
    with pytest.raises(EnvelopeError, match="no reply_to_topics"):
        event.reply({})
    with pytest.raises(EnvelopeError, match="no reply_to_topics"):
        event.reply_error("x")


def test_top_level_error_makes_a_reply_an_error_reply() -> None:
    reply = Envelope(id="r", request_id="q", error="bad", payload={"error": "other", "id": "z"})
    assert reply.kind is MessageKind.ERROR_REPLY
    assert reply.error_message == "bad"  # payload.id != request_id: not Go's shape
    assert Envelope(request_id="q", payload={"id": "q", "error": ""}).kind is MessageKind.REPLY
    assert Envelope(request_id="q", payload={"id": "q", "error": 5}).kind is MessageKind.REPLY
    # A request is a request even with an error in it; an event stays an event.
    assert Envelope(reply_to_topics=("t",), error="x").kind is MessageKind.REQUEST
    assert Envelope(error="x").kind is MessageKind.EVENT
    assert Envelope(error="x").error_message is None


def test_key_is_root_id_utf8() -> None:
    assert Envelope(root_id="é:1").key == "é:1".encode()


def test_message_kind_values_are_strings() -> None:
    assert [k.value for k in MessageKind] == ["request", "reply", "error_reply", "event"]


def test_fields_are_the_wire_fields_in_wire_order() -> None:
    assert [f.name for f in dataclasses.fields(Envelope)] == [
        "id",
        "root_id",
        "request_id",
        "started_at",
        "created_at",
        "source_topic",
        "destination_topic",
        "reply_to_topics",
        "schema_version",
        "error",
        "payload",
    ]


# ------------------------------------------------------------------------------ encoding


def test_omitempty_rules() -> None:
    bare = Envelope(id="i").encode()
    assert bare == (
        b'{"id":"i","root_id":"","started_at":0,"created_at":0,"source_topic":"",'
        b'"destination_topic":"","schema_version":"","payload":null}'
    )
    # Go's error is a *string: an empty but present error is still written.
    assert b',"error":"","payload"' in Envelope(error="").encode()
    assert b'"reply_to_topics":["a","b"]' in Envelope(reply_to_topics=["a", "b"]).encode()
    assert b'"request_id":"q"' in Envelope(request_id="q").encode()


def test_go_escaping_and_sorted_keys() -> None:
    payload = {"b": "<a&b>", "a": {"z": "\u2028\u2029", "y": "é€😀"}, "c": "\x00\x08\x0c\x1f\x7f"}
    assert go_json(payload) == (
        b'{"a":{"y":"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80","z":"\\u2028\\u2029"},'
        b'"b":"\\u003ca\\u0026b\\u003e","c":"\\u0000\\b\\f\\u001f\x7f"}'
    )
    envelope = Envelope(id="<&>", payload=payload)
    assert envelope.encode().startswith(b'{"id":"\\u003c\\u0026\\u003e"')


def test_big_integers_stay_integers() -> None:
    big = 2**62 + 1
    envelope = Envelope(started_at=big, created_at=-big, payload=[2**64 + 1])
    value = envelope.encode()
    assert b'"started_at":4611686018427387905' in value
    assert b'"created_at":-4611686018427387905' in value
    assert value.endswith(b'"payload":[18446744073709551617]}')
    assert Envelope.decode(value) == envelope


@pytest.mark.parametrize(
    ("number", "go_text"),
    [
        (1.0, "1"),
        (-0.0, "-0"),
        (0.0, "0"),
        (0.1, "0.1"),
        (123.456, "123.456"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (2.5e16, "25000000000000000"),
        (1e-5, "0.00001"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (5e-324, "5e-324"),
        (-1e-10, "-1e-10"),
        (12345678901234567890.0, "12345678901234567000"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
    ],
)
def test_floats_are_formatted_like_go(number: float, go_text: str) -> None:
    assert go_float(number) == go_text
    assert go_json([number, "1.5", {"k": number}]) == (
        f'[{go_text},"1.5",{{"k":{go_text}}}]'.encode()
    )


def test_bytes_payload_is_base64_like_go_byte_slices() -> None:
    envelope = Envelope(payload=b'{"a":1}')
    assert envelope.encode().endswith(b'"payload":"eyJhIjoxfQ=="}')


def test_lone_surrogates_are_written_as_the_replacement_escape() -> None:
    assert go_json("a\udc80b") == b'"a\\ufffdb"'
    assert Envelope(root_id="\ud800").key == "\ufffd".encode()


class _Thing:
    pass


@pytest.mark.parametrize(
    "payload",
    [_Thing(), math.nan, math.inf, [-math.inf], {"a": [1.5, math.nan]}, {"a": {(1, 2): 3}},
     {1: "a", "b": 2}, {1, "a"}],
    ids=["object", "nan", "inf", "-inf", "nested-nan", "tuple-key", "mixed-keys", "mixed-set"],
)
def test_unencodable_payloads_raise_envelope_error(payload: Any) -> None:
    with pytest.raises(EnvelopeError, match="payload is not JSON-encodable"):
        Envelope(payload=payload).encode()


def test_sets_are_written_as_sorted_arrays() -> None:
    """Go has no sets; msgspec writes one as a JSON array, sorted here like a map's keys."""
    assert go_json({3, 1, 2}) == b"[1,2,3]"
    assert go_json({"k": frozenset({"b", "a"})}) == b'{"k":["a","b"]}'


def test_circular_and_too_deep_payloads_raise_envelope_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(EnvelopeError):
        Envelope(payload=loop).encode()
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(EnvelopeError):
        Envelope(payload=deep).encode()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": 5}, "'id' must be a string, got number"),
        ({"started_at": 1.5}, "'started_at' must be an integer"),
        ({"created_at": True}, "'created_at' must be an integer"),
        ({"created_at": 2**63}, "out of the int64 range"),
        ({"reply_to_topics": "a"}, "'reply_to_topics' must be an array"),
        ({"reply_to_topics": [1]}, "'reply_to_topics' must hold strings"),
        ({"error": 3}, "'error' must be a string"),
    ],
)
def test_construction_validates_types(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(EnvelopeError, match=re.escape(message)):
        Envelope(**fields)


# ------------------------------------------------------------------------------ decoding


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "invalid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"\xef\xbb\xbf{}", "invalid JSON"),  # a BOM: Go refuses it too
        (b"{", "invalid JSON"),
        (b'{"id":"a"} x', "invalid JSON"),
        (b"[]", "JSON array, not an object"),
        (b'"id"', "JSON string, not an object"),
        (b"null", "JSON null, not an object"),
        (b'{"id":1}', "'id' must be a string, got number"),
        (b'{"root_id":["x"]}', "'root_id' must be a string, got array"),
        (b'{"started_at":"1"}', "'started_at' must be an integer"),
        (b'{"created_at":1.0}', "'created_at' must be an integer"),
        (b'{"created_at":1e3}', "'created_at' must be an integer"),
        (b'{"created_at":9223372036854775808}', "int64 range"),
        (b'{"reply_to_topics":{"a":1}}', "'reply_to_topics' must be an array"),
        (b'{"reply_to_topics":[true]}', "'reply_to_topics' must hold strings"),
        (b'{"error":{}}', "'error' must be a string"),
        (b'{"payload":NaN}', "invalid JSON"),
        (b'{"payload":-Infinity}', "invalid JSON"),
        (b'{"payload":1e400}', "out of range"),
        (b'{"payload":"a\x01"}', "invalid JSON"),  # raw control character
        (b'{"payload":' + b"1" * 5000 + b"}", "invalid JSON"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_decode_rejects_what_is_not_an_envelope(data: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError, match=re.escape(message)) as info:
        Envelope.decode(data)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, NexusError)


def test_decode_rejects_non_bytes() -> None:
    with pytest.raises(EnvelopeError, match="expected bytes"):
        Envelope.decode("{}")  # type: ignore[arg-type]


def test_decode_is_as_lenient_as_go() -> None:
    envelope = Envelope.decode(
        b' {"ID":"x","root_id":null,"request_id":null,"started_at":null,"reply_to_topics":null,'
        b'"error":null,"extra":{"ignored":true},"Payload":[1,{"b":1,"a":2}],"schema_version":null}'
        b"\n"
    )
    assert envelope == Envelope(id="x", payload=[1, {"b": 1, "a": 2}])
    assert envelope.encode().endswith(b'"payload":[1,{"b":1,"a":2}]}')  # order as read
    assert Envelope.decode(b"{}") == Envelope()
    assert Envelope.decode(b'{"reply_to_topics":["a",null]}').reply_to_topics == ("a", "")
    assert Envelope.decode(b'{"id":"a","id":"b"}').id == "b"  # the last duplicate wins
    assert Envelope.decode(memoryview(b'{"id":"m"}')).id == "m"


def test_negative_zero_survives_a_round_trip_like_in_go() -> None:
    value = (
        b'{"id":"a-0","root_id":"","started_at":-0,"created_at":0,"source_topic":"",'
        b'"destination_topic":"","schema_version":"","payload":[-0,0,-0.0,-0.5,{"k":-0}]}'
    )
    envelope = Envelope.decode(value)
    assert envelope.started_at == 0 and type(envelope.started_at) is int
    # Go writes the int64 as 0 but the payload's float64 -0 (also from "-0.0") as -0.
    assert envelope.encode() == value.replace(b"-0.0", b"-0").replace(
        b'"started_at":-0', b'"started_at":0'
    )
    with pytest.raises(EnvelopeError, match="must be an integer"):
        Envelope.decode(b'{"started_at":-0.0}')


@pytest.mark.parametrize("payload", [b"-0", b"-0.0", b"1.0", b"1e-6", b"2.5e-7"])
def test_a_number_that_is_the_whole_payload_is_written_back_as_go_writes_it(
        payload: bytes) -> None:
    """A bare -0 payload decodes as a float subclass (-0 is an integer in JSON, a float64 -0
    in Go): written back, it is Go's `-0`, not msgspec's `-0.0` (found by hypothesis)."""
    value = (b'{"id":"","root_id":"","started_at":0,"created_at":0,"source_topic":"",'
             b'"destination_topic":"","schema_version":"","payload":' + payload + b"}")
    go_text = {b"-0.0": b"-0", b"1.0": b"1", b"1e-6": b"0.000001"}.get(payload, payload)
    assert Envelope.decode(value).encode() == value.replace(payload + b"}", go_text + b"}")


def test_decode_replaces_lone_surrogates_like_go() -> None:
    envelope = Envelope.decode(b'{"root_id":"\\ud800x","payload":{"\\udfff":"\\ud83d\\ude00"}}')
    assert envelope.root_id == "\ufffdx"
    assert envelope.payload == {"\ufffd": "😀"}
    assert envelope.key == "\ufffdx".encode()


def test_decoded_payload_keeps_wire_order_but_python_payloads_are_sorted() -> None:
    decoded = Envelope.decode(b'{"payload":{"b":{"d":1,"c":2},"a":1}}')
    assert isinstance(decoded.payload, WireDict)
    assert decoded.encode().endswith(b'"payload":{"b":{"d":1,"c":2},"a":1}}')
    rebuilt = dataclasses.replace(decoded, payload=dict(decoded.payload))
    assert rebuilt.encode().endswith(b'"payload":{"a":1,"b":{"c":2,"d":1}}}')
    assert rebuilt == decoded


# ------------------------------------------------------------------------------ properties

_text = st.text(max_size=12)
_floats = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda x: not (x.is_integer() and abs(x) >= 2**53)  # Go writes those as digits: ints back
)
_json_scalars = st.none() | st.booleans() | st.integers() | _floats | _text
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)
_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

_envelopes = st.builds(
    Envelope,
    id=_text,
    root_id=_text,
    request_id=_text,
    started_at=_int64,
    created_at=_int64,
    source_topic=_text,
    destination_topic=_text,
    reply_to_topics=st.lists(_text, max_size=3).map(tuple),
    schema_version=_text,
    error=st.none() | _text,
    payload=_json_values,
)


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_decode_of_arbitrary_bytes_raises_only_envelope_error(data: bytes) -> None:
    try:
        Envelope.decode(data)
    except EnvelopeError:
        pass


_junk_fields = st.dictionaries(
    st.sampled_from(
        [
            "id",
            "ID",
            "root_id",
            "request_id",
            "started_at",
            "created_at",
            "source_topic",
            "destination_topic",
            "reply_to_topics",
            "schema_version",
            "error",
            "payload",
            "x",
        ]
    ),
    _json_values,
)


@settings(max_examples=400)
@given(_json_values | _junk_fields)
def test_decode_of_arbitrary_json_raises_only_envelope_error(value: Any) -> None:
    data = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        envelope = Envelope.decode(data)
    except EnvelopeError:
        return
    assert isinstance(value, dict)
    assert Envelope.decode(envelope.encode()) == envelope


@settings(max_examples=300)
@given(_envelopes)
def test_encode_decode_round_trip(envelope: Envelope) -> None:
    value = envelope.encode()
    decoded = Envelope.decode(value)
    assert decoded == envelope
    assert decoded.encode() == value
    assert json.loads(value) == json.loads(decoded.encode())


@settings(max_examples=400)
@given(_envelopes)
def test_fast_and_exact_paths_agree_on_envelopes(envelope: Envelope) -> None:
    """msgspec's path (with its fix-ups) and the standard library's path are two codecs: on
    whatever Python can build, they write the same bytes and read them back the same."""
    value = envelope.encode()
    assert go_escape(encode_exact(envelope.payload)) == go_json(envelope.payload)
    assert Envelope._decode_exact(value) == Envelope.decode(value)


@settings(max_examples=400)
@given(_json_values | _junk_fields)
def test_fast_and_exact_decoders_agree_on_any_json(value: Any) -> None:
    data = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        exact: Envelope | EnvelopeError = Envelope._decode_exact(data)
    except EnvelopeError as exc:
        exact = exc
    try:
        fast: Envelope | EnvelopeError = Envelope.decode(data)
    except EnvelopeError as exc:
        fast = exc
    if isinstance(exact, EnvelopeError):
        assert isinstance(fast, EnvelopeError) and str(fast) == str(exact)
    else:
        assert fast == exact and fast.encode() == exact.encode()


def _reference_go_string(text: str) -> str:
    """Go's encodeState.string, written out character by character."""
    short = {
        '"': '\\"',
        "\\": "\\\\",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
    }
    out = ['"']
    for char in text:
        if char in short:
            out.append(short[char])
        elif ord(char) < 0x20 or char in "<>&\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _reference_go_float(value: float) -> str:
    """Go's encoding/json float64 text, written out from its rule (not from go_float): the
    shortest digits (Python's repr has the same), 'f' form for 1e-6 <= |x| < 1e21, else 'e'
    form with a signed exponent of at least two digits, then "e-07" trimmed to "e-7"."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)  # value = 0.<digits> * 10**point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    sign = "-" if value < 0 else ""
    if 1e-6 <= abs(value) < 1e21:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return sign + digits + "0" * (point - len(digits))
        return f"{sign}{digits[:point]}.{digits[point:]}"
    power = point - 1
    text = f"{sign}{digits[0]}{'.' + digits[1:] if len(digits) > 1 else ''}e"
    text += f"{'-' if power < 0 else '+'}{abs(power):02d}"
    return text[:-2] + text[-1] if text[-4:-1] == "e-0" else text


def _reference_go_json(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _reference_go_float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _reference_go_string(value)
    if isinstance(value, list):
        return "[" + ",".join(_reference_go_json(v) for v in value) + "]"
    assert isinstance(value, dict)
    items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-8"))  # Go: bytewise order
    members = (f"{_reference_go_string(k)}:{_reference_go_json(v)}" for k, v in items)
    return "{" + ",".join(members) + "}"


_tricky_text = st.text(
    alphabet=st.sampled_from('<>&\u2028\u2029"\\\n\t\x00\x1f\x7fé€😀aZ0 /'), max_size=10
) | st.text(max_size=8) | st.text(  # what a float's text holds, inside strings
    alphabet=st.sampled_from("0156.e-+,]}[:"), max_size=10
)
# Floats of every magnitude, the ones Go and msgspec write alike and the ones they do not:
# integral ones, around 1e-6, 1e-5, 1e15, 1e16, 2^53, 1e21 and the ends of the range.
_any_float = st.floats(allow_nan=False, allow_infinity=False) | st.builds(
    lambda digits, power: float(f"{digits}e{power}"),
    st.integers(min_value=1, max_value=10**17),
    st.integers(min_value=-340, max_value=290),
).filter(math.isfinite) | st.sampled_from([
    -0.0, 1e-6, 9.999999999999999e-7, 1e-5, 9.99999999999999e-6, 1.5e-6, 1e-4, 1e15, 1e16,
    9007199254740992.0, 9007199254740993.0, 1e20, 1e21, 9.999999999999999e20, 5e-324,
    1.7976931348623157e308, 100.0, -3.0, 0.5,
])
_tricky_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _tricky_text | _any_float,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_tricky_text, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=400)
@given(_tricky_values)
def test_payload_encoding_matches_a_reference_go_encoder(payload: Any) -> None:
    expected = _reference_go_json(payload).encode("utf-8")
    assert go_json(payload) == expected
    assert Envelope(id="i", payload=payload).encode().endswith(b'"payload":' + expected + b"}")


def test_reference_encoder_agrees_on_a_known_value() -> None:
    assert _reference_go_json({"b": "<", "a": [1, None]}) == '{"a":[1,null],"b":"\\u003c"}'
    assert [_reference_go_float(x) for x in (1e21, 1e20, 1e-7, 1e-6, 1.0, -0.0, 2.5e-300)] == [
        "1e+21", "100000000000000000000", "1e-7", "0.000001", "1", "-0", "2.5e-300"]


@settings(max_examples=1000)
@given(_any_float, _tricky_text)
def test_every_float_is_written_as_go_writes_it(number: float, text: str) -> None:
    """Each float, alone, in a list and in a map read from the wire (written in wire order),
    next to strings that hold a float's text (which must stay as they are)."""
    go = _reference_go_float(number)
    assert go_json(number) == go.encode()
    expected = f"[{go},{_reference_go_string(text)},{go}]".encode()
    assert go_json([number, text, number]) == expected
    wire = WireDict({"s": text, "f": number, "l": [text, number]})
    assert go_json(wire) == (
        f'{{"s":{_reference_go_string(text)},"f":{go},"l":[{_reference_go_string(text)},{go}]}}'
    ).encode()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_anywhere_raise_envelope_error(bad: float) -> None:
    for payload in (bad, [1.5, bad], {"a": 0.5, "b": [bad]}, WireDict({"x": bad})):
        with pytest.raises(EnvelopeError, match="Go refuses it"):
            go_json(payload)


def test_helpers_make_unique_ids() -> None:
    root = Envelope.new_root("a.b.v1", "c.d.v1", None, reply_to=["x.y.v1"])
    ids = {root.child("e.f.v1", None).id for _ in range(50)} | {root.reply(None).id}
    assert len(ids) == 51
    assert all(UUID4.fullmatch(i.partition(":")[2] or i) for i in ids)
    assert uuid.UUID(root.reply(None).id).version == 4


def test_uuids_are_version_4_and_unique_across_batches() -> None:
    ids = [Envelope.new_root("a.b.v1", "c.d.v1", None).id.partition(":")[2]
           for _ in range(3_000)]  # several of the pool's os.urandom batches
    assert len(set(ids)) == len(ids)
    for text in ids:
        assert UUID4.fullmatch(text)
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


def test_a_forked_child_never_reuses_its_parents_pending_uuids() -> None:
    import multiprocessing

    Envelope.new_root("a.b.v1", "c.d.v1", None)  # the pool now holds ids drawn in advance
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        child_ids = pool.apply(_ids, (20,))
    assert not set(child_ids) & set(_ids(20))


def _ids(count: int) -> list[str]:
    return [Envelope(reply_to_topics=("r",)).reply(None).id for _ in range(count)]
