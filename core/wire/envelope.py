"""The Nexus envelope: the JSON value of every Nexus Kafka record, byte-compatible with Go.

`Envelope.encode()` writes exactly what Go's `encoding/json` writes for the Go struct
`nexus.Envelope` (see docs/WIRE.md): compact, fields in struct order, the same omitempty rules,
Go's string escaping and Go's float formatting. `Envelope.decode()` accepts whatever Go accepts
(bar invalid UTF-8) and raises `EnvelopeError`, and nothing else, for the rest. Helpers build
roots, children, replies and error replies the way the Go library does.

The codec runs on msgspec (core/wire/gojson.py says how Go's rules are kept): a record is
decoded into a typed msgspec Struct in one C call, which also checks every field's type; any
record it declines (an unknown or differently cased key, a null where Go takes the zero value,
an integer `-0`, a lone surrogate escape, invalid JSON) is decoded again on the exact path,
which says why it is not an envelope or reads it as Go would.

Payload key order: Go writes a map payload with its keys sorted but a struct payload in field
order, and only the wire knows which one it was. So a payload built in Python is written with
its keys sorted (recursively), like a Go map, while a payload read by `decode()` comes back as
a `WireDict`/`WireList`, which is written in the order it was read: re-encoding a decoded
envelope gives the bytes it was decoded from.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from core.wire.gojson import (
    LONE_SURROGATE,
    EnvelopeError,
    NegativeZero,
    WireDict,
    WireList,
    as_base_type,
    go_escape,
    go_float,
    go_json,
    go_json_unescaped,
    go_text_bytes,
    parse_exact,
    parse_text,
)

__all__ = [
    "Envelope",
    "EnvelopeError",
    "MessageKind",
    "WireDict",
    "WireList",
    "go_float",
    "go_json",
]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_EXACT_FLOAT_INT = 2**53

_STRING_FIELDS = (
    "id",
    "root_id",
    "request_id",
    "source_topic",
    "destination_topic",
    "schema_version",
)
_INT_FIELDS = ("started_at", "created_at")
_WIRE_FIELDS = (
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
)
# Go's decoder matches object keys to struct fields case-insensitively (ASCII folding here).
_FIELD_BY_FOLDED_NAME = {name: name for name in _WIRE_FIELDS}

_json_string = json.encoder.encode_basestring  # C-accelerated, ensure_ascii=False flavour


class MessageKind(StrEnum):
    """What a Nexus message is, classified in WIRE.md's order."""

    REQUEST = "request"
    REPLY = "reply"
    ERROR_REPLY = "error_reply"
    EVENT = "event"


# ---------------------------------------------------------------------------------------------
# The wire shapes msgspec reads and writes.
# ---------------------------------------------------------------------------------------------

_Int64 = Annotated[int, msgspec.Meta(ge=_INT64_MIN, le=_INT64_MAX)]


class _WireIn(msgspec.Struct, forbid_unknown_fields=True):
    """A record exactly as Go writes it: known keys only, no nulls where Go has a zero value."""

    id: str = ""
    root_id: str = ""
    request_id: str = ""
    started_at: _Int64 = 0
    created_at: _Int64 = 0
    source_topic: str = ""
    destination_topic: str = ""
    reply_to_topics: tuple[str, ...] = ()
    schema_version: str = ""
    error: str | None = None
    payload: Any = None


class _WireOut(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Go's `nexus.Envelope` field order and omitempty rules; the payload is already JSON.

    Not tracked by the garbage collector (`gc=False`): it holds only strings, ints, a tuple
    of strings and the payload's bytes, so it cannot be part of a cycle, and one is made
    and dropped per encode()."""

    id: str
    root_id: str
    request_id: str = ""
    started_at: int
    created_at: int
    source_topic: str
    destination_topic: str
    reply_to_topics: tuple[str, ...] = ()
    schema_version: str
    error: str | None = None
    payload: msgspec.Raw


class _WireOutPlain(_WireOut, kw_only=True, omit_defaults=True, gc=False):
    """_WireOut with a payload that msgspec writes exactly as Go does: a str, int, bool, None."""

    payload: str | int | bool | None  # type: ignore[assignment]


_WIRE_DECODER = msgspec.json.Decoder(_WireIn)
_WIRE_ENCODER = msgspec.json.Encoder(enc_hook=as_base_type)  # str/int subclasses as such
_Raw = msgspec.Raw
# The JSON integer -0 in a payload: msgspec reads it as 0, Go (into `any`) as float64 -0. The
# pattern starts with its literal, which re searches fast; the look-behind then checks that a
# number stands there (after ":", "," or "["), not a uuid's "-0" inside a string.
_INTEGER_NEGATIVE_ZERO = re.compile(rb"-0(?![0-9.eE])(?<=[:,\[ \t\n\r]-0)")


# ---------------------------------------------------------------------------------------------
# The exact path: Go's leniency (null = zero value, case-insensitive keys), strict types.
# ---------------------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _wire_payload(value: Any) -> Any:
    """Mark a decoded payload container so that encode() keeps the order it was read in."""
    if type(value) is dict:
        return WireDict(value)
    if type(value) is list:
        return WireList(value)
    return value


def _fields_from_object(obj: dict[str, Any]) -> dict[str, Any]:
    """Map a decoded JSON object to Envelope keyword arguments, with Go's null handling."""
    fields: dict[str, Any] = {}
    for key, value in obj.items():
        name = _FIELD_BY_FOLDED_NAME.get(key)
        if name is None and key.isascii():
            name = _FIELD_BY_FOLDED_NAME.get(key.lower())
        if name is not None:
            fields[name] = value
    for name in _STRING_FIELDS:
        if fields.get(name, "") is None:
            fields[name] = ""  # Go: null leaves a string field empty
    for name in _INT_FIELDS:
        value = fields.get(name, 0)
        if value is None or type(value) is NegativeZero:
            fields[name] = 0  # Go: null leaves an int64 at 0; -0 parses as 0
    topics = fields.get("reply_to_topics")
    if topics is None:
        fields["reply_to_topics"] = ()
    elif isinstance(topics, list):
        fields["reply_to_topics"] = tuple("" if t is None else t for t in topics)
    else:
        raise EnvelopeError(
            f"not an envelope: field 'reply_to_topics' must be an array of strings, "
            f"got {_type_name(topics)}"
        )
    if "payload" in fields:
        fields["payload"] = _wire_payload(fields["payload"])
    return fields


# ---------------------------------------------------------------------------------------------
# Ids: uuid4 strings drawn from one os.urandom call per batch.
# ---------------------------------------------------------------------------------------------

_UUID_BATCH = 256
# RFC 4122 version 4: byte 6 = 0100xxxx, byte 8 = 10xxxxxx, over a whole batch at once.
_UUID_KEEP = int.from_bytes(b"\xff" * 6 + b"\x0f\xff\x3f" + b"\xff" * 7, "big")
_UUID_SET = int.from_bytes(b"\x00" * 6 + b"\x40\x00\x80" + b"\x00" * 7, "big")
_UUID_KEEP_ALL = int.from_bytes(_UUID_KEEP.to_bytes(16, "big") * _UUID_BATCH, "big")
_UUID_SET_ALL = int.from_bytes(_UUID_SET.to_bytes(16, "big") * _UUID_BATCH, "big")
_uuid_pool: list[str] = []
os.register_at_fork(after_in_child=_uuid_pool.clear)  # a child must never reuse its parent's


# The text of a batch is laid out as rows of 37 characters: the uuid's 36, then a space. Each
# hex digit's column is filled for all rows at once by one strided slice assignment, from the
# same column of the hex text (32 digits a row), so no Python runs per uuid.
_UUID_ROW = 37
_UUID_DIGIT_COLUMNS = [
    (target, source)
    for source, target in enumerate(
        [*range(0, 8), *range(9, 13), *range(14, 18), *range(19, 23), *range(24, 36)]
    )
]


def _uuid_batch() -> list[str]:
    bits = int.from_bytes(os.urandom(16 * _UUID_BATCH), "big") & _UUID_KEEP_ALL | _UUID_SET_ALL
    digits = bits.to_bytes(16 * _UUID_BATCH, "big").hex().encode("ascii")
    text = bytearray(b"-" * (_UUID_ROW * _UUID_BATCH))
    text[_UUID_ROW - 1::_UUID_ROW] = b" " * _UUID_BATCH
    for target, source in _UUID_DIGIT_COLUMNS:
        text[target::_UUID_ROW] = digits[source::32]
    return text.decode("ascii").split()


def _new_uuid() -> str:
    """A random (version 4) UUID string, as Go's uuid.NewString()."""
    try:
        return _uuid_pool.pop()
    except IndexError:
        _uuid_pool.extend(_uuid_batch())
        return _uuid_pool.pop()


# ---------------------------------------------------------------------------------------------
# Checks of the arguments the builders take (the rest of their fields is known good).
# ---------------------------------------------------------------------------------------------


def _check_text(name: str, value: object) -> str:
    if type(value) is not str and not isinstance(value, str):
        raise EnvelopeError(
            f"not an envelope: field {name!r} must be a string, got {_type_name(value)}"
        )
    return value


def _check_int64(name: str, value: object) -> int:
    if type(value) is not int and (not isinstance(value, int) or isinstance(value, bool)):
        raise EnvelopeError(
            f"not an envelope: field {name!r} must be an integer (Unix nanoseconds), "
            f"got {_type_name(value)}"
        )
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise EnvelopeError(f"not an envelope: field {name!r} is out of the int64 range")
    return value


def _topics(reply_to: str | Iterable[str] | None) -> tuple[str, ...]:
    if reply_to is None:
        return ()
    if isinstance(reply_to, str):
        return (reply_to,)
    if not isinstance(reply_to, Iterable):
        raise EnvelopeError(
            "not an envelope: field 'reply_to_topics' must be an array of strings, "
            f"got {_type_name(reply_to)}"
        )
    topics = tuple(reply_to)
    for topic in topics:
        if not isinstance(topic, str):
            raise EnvelopeError(
                "not an envelope: field 'reply_to_topics' must hold strings, "
                f"got {_type_name(topic)}"
            )
    return topics


_time_ns = time.time_ns


def _now(now_ns: int | None) -> int:
    return _time_ns() if now_ns is None else _check_int64("created_at", now_ns)


# ---------------------------------------------------------------------------------------------
# The envelope.
# ---------------------------------------------------------------------------------------------


def _go_any(value: Any) -> Any:
    """What a JSON value becomes after a Go decode into `any` and a re-encode.

    Objects become maps (keys sorted), numbers become float64 (so integers beyond 2^53 lose
    precision exactly as in Go). Used for the request that Go's ReplyError echoes back.
    """
    if isinstance(value, dict):
        try:
            keys = sorted(value)
        except TypeError as exc:
            raise EnvelopeError(f"payload is not JSON-encodable: {exc}") from None
        return {key: _go_any(value[key]) for key in keys}
    if isinstance(value, list | tuple):
        return [_go_any(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _EXACT_FLOAT_INT:
        try:
            return float(value)
        except OverflowError:
            raise EnvelopeError("payload number is out of range for a float64") from None
    return value


@dataclass(frozen=True, slots=True)
class Envelope:
    """One Nexus message: the fields of Go's `nexus.Envelope`, in wire order.

    `reply_to_topics` is stored as a tuple; `error` is None when absent (Go's nil pointer) and
    a string, possibly empty, when present. Construction validates the field types and raises
    `EnvelopeError`. Timestamps are Unix nanoseconds (int64).
    """

    id: str = ""
    root_id: str = ""
    request_id: str = ""
    started_at: int = 0
    created_at: int = 0
    source_topic: str = ""
    destination_topic: str = ""
    reply_to_topics: tuple[str, ...] = ()
    schema_version: str = ""
    error: str | None = None
    payload: Any = None

    def __post_init__(self) -> None:
        for name in _STRING_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str):
                raise EnvelopeError(
                    f"not an envelope: field {name!r} must be a string, got {_type_name(value)}"
                )
        for name in _INT_FIELDS:
            _check_int64(name, getattr(self, name))
        topics = self.reply_to_topics
        if type(topics) is not tuple:
            if isinstance(topics, str):
                raise EnvelopeError(
                    "not an envelope: field 'reply_to_topics' must be an array of strings, "
                    "got string"
                )
            object.__setattr__(self, "reply_to_topics", _topics(topics))
        else:
            _topics(topics)
        if self.error is not None and not isinstance(self.error, str):
            raise EnvelopeError(
                f"not an envelope: field 'error' must be a string, got {_type_name(self.error)}"
            )

    # -- wire format ---------------------------------------------------------------------------

    def encode(self) -> bytes:
        """The record value, byte-identical to Go's `json.Marshal(envelope)`."""
        payload = self.payload
        kind = type(payload)
        if kind is str or kind is int or kind is bool or payload is None:
            wire: _WireOut = _WireOutPlain  # type: ignore[assignment]
        else:
            wire, payload = _WireOut, _Raw(go_json_unescaped(payload))
        try:
            value = _WIRE_ENCODER.encode(
                wire(
                    id=self.id,
                    root_id=self.root_id,
                    request_id=self.request_id,
                    started_at=self.started_at,
                    created_at=self.created_at,
                    source_topic=self.source_topic,
                    destination_topic=self.destination_topic,
                    reply_to_topics=self.reply_to_topics,
                    schema_version=self.schema_version,
                    error=self.error,
                    payload=payload,
                )
            )
        except UnicodeEncodeError:  # a lone surrogate in a field: Go writes \ufffd
            value = self._encode_exact(go_json_unescaped(self.payload))
        return go_escape(value)

    def _encode_exact(self, payload: bytes) -> bytes:
        """encode() with the standard library's string escaping (for lone surrogates)."""
        parts = ['{"id":', _json_string(self.id), ',"root_id":', _json_string(self.root_id)]
        if self.request_id:
            parts += [',"request_id":', _json_string(self.request_id)]
        parts += [
            f',"started_at":{self.started_at},"created_at":{self.created_at}',
            ',"source_topic":',
            _json_string(self.source_topic),
            ',"destination_topic":',
            _json_string(self.destination_topic),
        ]
        if self.reply_to_topics:
            topics = ",".join(map(_json_string, self.reply_to_topics))
            parts += [',"reply_to_topics":[', topics, "]"]
        parts += [',"schema_version":', _json_string(self.schema_version)]
        if self.error is not None:
            parts += [',"error":', _json_string(self.error)]
        parts.append(',"payload":')
        return go_text_bytes("".join(parts)) + payload + b"}"

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Envelope:
        """Parse a record value. Raises `EnvelopeError` (only) if it is not an envelope.

        Like Go: missing fields and `null` take the zero value, unknown fields are ignored,
        keys match field names case-insensitively, lone surrogate escapes become U+FFFD. The
        payload stays parsed JSON (a base64 string stays a string; see `payload_json()`).
        """
        if type(data) is not bytes:
            if not isinstance(data, bytes | bytearray | memoryview):
                raise EnvelopeError(f"not an envelope: expected bytes, got {type(data).__name__}")
            data = bytes(data)
        # Only the payload can hold a number that is not an int64 field (where -0 reads as 0):
        # Go writes it last, and no earlier field can hold its key unescaped.
        start = data.find(b'"payload":')
        if _INTEGER_NEGATIVE_ZERO.search(data, start if start > 0 else 0) is None:
            try:
                wire = _WIRE_DECODER.decode(data)
            except (msgspec.DecodeError, RecursionError):
                pass  # not as Go writes it: the exact path reads it or says why not
            else:
                payload = wire.payload
                kind = type(payload)
                if kind is dict:
                    payload = WireDict(payload)
                elif kind is list:
                    payload = WireList(payload)
                return _assemble(
                    cls, wire.id, wire.root_id, wire.request_id, wire.started_at,
                    wire.created_at, wire.source_topic, wire.destination_topic,
                    wire.reply_to_topics, wire.schema_version, wire.error, payload,
                )
        return cls._decode_exact(data)

    @classmethod
    def _decode_exact(cls, data: bytes) -> Envelope:
        """decode() on the exact path: the standard library's parser with Go's leniency."""
        obj = parse_exact(data)
        if not isinstance(obj, dict):
            raise EnvelopeError(f"not an envelope: JSON {_type_name(obj)}, not an object")
        return cls(**_fields_from_object(obj))

    def as_wire_dict(self) -> dict[str, Any]:
        """The fields Go writes (omitempty applied), in wire order, as a plain dict."""
        wire: dict[str, Any] = {"id": self.id, "root_id": self.root_id}
        if self.request_id:
            wire["request_id"] = self.request_id
        wire.update(
            started_at=self.started_at,
            created_at=self.created_at,
            source_topic=self.source_topic,
            destination_topic=self.destination_topic,
        )
        if self.reply_to_topics:
            wire["reply_to_topics"] = list(self.reply_to_topics)
        wire["schema_version"] = self.schema_version
        if self.error is not None:
            wire["error"] = self.error
        wire["payload"] = self.payload
        return wire

    # -- what it is ------------------------------------------------------------------------------

    @property
    def key(self) -> bytes:
        """The Kafka record key: `root_id` as UTF-8 (lone surrogates as U+FFFD, like Go)."""
        try:
            return self.root_id.encode("utf-8")
        except UnicodeEncodeError:
            return LONE_SURROGATE.sub("\ufffd", self.root_id).encode("utf-8")

    @property
    def kind(self) -> MessageKind:
        """Request, reply, error reply or event (checked in that order, see WIRE.md)."""
        if self.reply_to_topics:
            return MessageKind.REQUEST
        if self.request_id:
            return MessageKind.ERROR_REPLY if self._is_error() else MessageKind.REPLY
        return MessageKind.EVENT

    def _payload_error(self) -> str | None:
        """The error Go's ReplyError puts in the echoed request, if this payload is one."""
        payload = self.payload
        if isinstance(payload, dict):
            message = payload.get("error")
            if isinstance(message, str) and message and payload.get("id") == self.request_id:
                return message
        return None

    def _is_error(self) -> bool:
        return self.error is not None or self._payload_error() is not None

    @property
    def error_message(self) -> str | None:
        """The remote error text of an error reply (payload.error, else top-level error)."""
        if self.kind is not MessageKind.ERROR_REPLY:
            return None
        message = self._payload_error()
        return message if message is not None else self.error

    def payload_json(self) -> Any:
        """The payload with Go's base64-of-JSON undone.

        If the payload is a string of standard, padded base64 whose bytes are UTF-8 JSON (what
        Go's ctx.Dispatch writes), return that JSON parsed; otherwise the payload as it is.
        """
        payload = self.payload
        if not isinstance(payload, str) or not payload:
            return payload
        try:
            raw = base64.b64decode(payload, validate=True)
            return parse_text(raw.decode("utf-8"))
        except (binascii.Error, ValueError, RecursionError):
            return payload

    # -- building messages the way Go does -------------------------------------------------------

    @classmethod
    def new_root(
        cls,
        source_topic: str,
        destination_topic: str,
        payload: Any,
        reply_to: str | Iterable[str] | None = None,
        now_ns: int | None = None,
        schema_version: str = "",
    ) -> Envelope:
        """A new conversation (Go's NewEnvelope): id = root_id = "<source_topic>:<uuid4>".

        Pass `reply_to` (a topic you consume) to make it a request; the payload is written as
        native JSON (bytes as base64, as Go writes a []byte).
        """
        # the checks are calls only for what is not a plain str (a subclass, or an error)
        if type(source_topic) is not str:
            _check_text("source_topic", source_topic)
        if type(destination_topic) is not str:
            _check_text("destination_topic", destination_topic)
        if type(schema_version) is not str:
            _check_text("schema_version", schema_version)
        try:
            uid = _uuid_pool.pop()
        except IndexError:
            uid = _new_uuid()
        now = _time_ns() if now_ns is None else _check_int64("created_at", now_ns)
        envelope_id = f"{source_topic}:{uid}"
        topics = () if reply_to is None else _topics(reply_to)
        if cls is not Envelope:
            return _assemble(cls, envelope_id, envelope_id, "", now, now, source_topic,
                             destination_topic, topics, schema_version, None, payload)
        shell = _Shell()  # _assemble's stores, inline: new_root is the publisher's hot path
        shell.id = envelope_id
        shell.root_id = envelope_id
        shell.request_id = ""
        shell.started_at = now
        shell.created_at = now
        shell.source_topic = source_topic
        shell.destination_topic = destination_topic
        shell.reply_to_topics = topics
        shell.schema_version = schema_version
        shell.error = None
        shell.payload = payload
        shell.__class__ = Envelope  # type: ignore[assignment]
        return shell  # type: ignore[return-value]

    def child(
        self,
        destination_topic: str,
        payload: Any,
        reply_to: str | Iterable[str] | None = None,
        base64_payload: bool = True,
        now_ns: int | None = None,
    ) -> Envelope:
        """A message sent while handling this one (Go's ctx.Dispatch / NewChildEnvelope).

        id = "<this destination_topic>:<uuid4>"; root_id, started_at and schema_version are
        inherited; source_topic = this destination_topic. Go's ctx.Dispatch sets
        `reply_to = [this destination_topic]` when it expects a reply. With `base64_payload`
        (the default, like ctx.Dispatch) the payload goes on the wire as base64: bytes as they
        are, a str as its UTF-8 bytes, anything else as its Go JSON encoding.
        """
        if base64_payload:
            payload = base64.b64encode(_dispatch_bytes(payload)).decode("ascii")
        source = self.destination_topic
        return _assemble(
            Envelope, f"{source}:{_new_uuid()}", self.root_id, "", self.started_at,
            _now(now_ns), source, _check_text("destination_topic", destination_topic),
            _topics(reply_to), self.schema_version, None, payload,
        )

    def reply(self, payload: Any, now_ns: int | None = None) -> Envelope:
        """The answer to this request (Go's ctx.Reply), with a native JSON payload.

        id is a bare uuid4; it goes to `reply_to_topics[0]`. Raises `EnvelopeError` if this
        envelope has no reply_to_topics (Go sends nothing then).
        """
        if not self.reply_to_topics:
            raise EnvelopeError(f"cannot reply to {self.id!r}: it has no reply_to_topics")
        return _assemble(
            Envelope, _new_uuid(), self.root_id, self.id, self.started_at, _now(now_ns),
            self.destination_topic, self.reply_to_topics[0], (), self.schema_version, None,
            payload,
        )

    def reply_error(self, message: str, now_ns: int | None = None) -> Envelope:
        """An error answer shaped like Go's ctx.ReplyError.

        The payload is this request envelope itself, with `"error": message` set inside it, in
        Go's struct field order (its own payload as Go re-encodes it: maps sorted, numbers as
        float64); the reply's top-level error stays absent.
        """
        echoed = self.as_wire_dict()
        echoed.pop("payload")
        echoed["error"] = message
        echoed["payload"] = _go_any(self.payload)
        return self.reply(WireDict(echoed), now_ns=now_ns)


def _dispatch_bytes(payload: Any) -> bytes:
    """The bytes Go's ctx.Dispatch base64-encodes: []byte as is, string as is, else JSON."""
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    if isinstance(payload, str):
        return LONE_SURROGATE.sub("\ufffd", payload).encode("utf-8")
    return go_json(payload)


_new_object = object.__new__
(
    _set_id, _set_root_id, _set_request_id, _set_started_at, _set_created_at, _set_source_topic,
    _set_destination_topic, _set_reply_to_topics, _set_schema_version, _set_error, _set_payload,
) = (getattr(Envelope, name).__set__ for name in _WIRE_FIELDS)


class _Shell:
    """Envelope's slot layout without its frozen __setattr__ (and without an __init__): filled
    by plain attribute stores where it is made, then given the class Envelope (Python allows
    that between identical slot layouts): fewer calls than setting the eleven slots through
    their descriptors, or passing them through an __init__."""

    __slots__ = _WIRE_FIELDS


assert Envelope.__slots__ == _WIRE_FIELDS  # the layouts _Shell relies on are the same


def _assemble(
    cls: type[Envelope], id: str, root_id: str, request_id: str, started_at: int,
    created_at: int, source_topic: str, destination_topic: str,
    reply_to_topics: tuple[str, ...], schema_version: str, error: str | None, payload: Any,
) -> Envelope:
    """An Envelope from fields already checked (by msgspec, or by the builder that calls this):
    the slots are set directly, without __post_init__'s checks."""
    if cls is Envelope:
        shell = _Shell()
        shell.id = id
        shell.root_id = root_id
        shell.request_id = request_id
        shell.started_at = started_at
        shell.created_at = created_at
        shell.source_topic = source_topic
        shell.destination_topic = destination_topic
        shell.reply_to_topics = reply_to_topics
        shell.schema_version = schema_version
        shell.error = error
        shell.payload = payload
        shell.__class__ = Envelope  # type: ignore[assignment]
        return shell  # type: ignore[return-value]
    envelope = _new_object(cls)  # a subclass may have another layout (a __dict__)
    _set_id(envelope, id)
    _set_root_id(envelope, root_id)
    _set_request_id(envelope, request_id)
    _set_started_at(envelope, started_at)
    _set_created_at(envelope, created_at)
    _set_source_topic(envelope, source_topic)
    _set_destination_topic(envelope, destination_topic)
    _set_reply_to_topics(envelope, reply_to_topics)
    _set_schema_version(envelope, schema_version)
    _set_error(envelope, error)
    _set_payload(envelope, payload)
    return envelope
