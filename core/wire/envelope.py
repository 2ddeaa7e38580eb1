"""The Nexus envelope: the JSON value of every Nexus Kafka record, byte-compatible with Go.

`Envelope.encode()` writes exactly what Go's `encoding/json` writes for the Go struct
`nexus.Envelope` (see /work/shared/nexus/WIRE.md): compact, fields in struct order, the same
omitempty rules, Go's string escaping and Go's float formatting. `Envelope.decode()` accepts
whatever Go accepts (bar invalid UTF-8) and raises `EnvelopeError`, and nothing else, for the
rest. Helpers build roots, children, replies and error replies the way the Go library does.

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
import math
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core.errors import NexusError

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


class EnvelopeError(NexusError):
    """A value is not a Nexus envelope, or an envelope cannot be encoded or answered."""


class MessageKind(StrEnum):
    """What a Nexus message is, classified in WIRE.md's order."""

    REQUEST = "request"
    REPLY = "reply"
    ERROR_REPLY = "error_reply"
    EVENT = "event"


class WireDict(dict[str, Any]):
    """A JSON object read from the wire: `encode()` writes its keys in the order read."""

    __slots__ = ()


class WireList(list[Any]):
    """A JSON array read from the wire: `encode()` writes its objects' keys in the order read."""

    __slots__ = ()


# ---------------------------------------------------------------------------------------------
# Encoding: json's C encoder plus cheap fix-ups for Go's differences.
# ---------------------------------------------------------------------------------------------


def _encode_default(value: object) -> object:
    """Encode what Go can and Python's json cannot: byte strings become base64, as Go's []byte."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"a {type(value).__name__} is not JSON-encodable")


_SORTED_ENCODER = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    sort_keys=True,
    allow_nan=False,
    default=_encode_default,
)
_ORDERED_ENCODER = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    sort_keys=False,
    allow_nan=False,
    default=_encode_default,
)

_GO_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Is there a float in the encoded text? repr() writes "1.5", "1e-07", "1e+16": the first two
# patterns are cheap scans that rule floats out for most payloads; the third checks that a
# candidate sits where a number can (after ":", "," or "[") before the costly rewrite.
_FLOAT_HINTS = (re.compile(r"\.\d"), re.compile(r"e[-+]\d"))
_FLOAT_TOKEN = re.compile(r"[:,\[]-?\d+[.e]")
_STRING_OR_FLOAT = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"|-?\d+(?:\.\d+(?:[eE][-+]?\d+)?|[eE][-+]?\d+)'
)


def go_float(value: float) -> str:
    """Format a float as Go's encoding/json does (shortest digits; exponent outside 1e-6..1e21)."""
    text = repr(value)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        # repr uses exponent form here too; Go then trims "e-07" to "e-7" (not "e+21").
        if text[-4:-1] == "e-0":
            text = text[:-2] + text[-1]
        return text
    if "e" in text:  # 1e-06 <= |value| < 1e-04 or 1e16 <= |value| < 1e21: Go writes digits.
        text = format(Decimal(text), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return text


def _go_float_token(match: re.Match[str]) -> str:
    token = match.group()
    return token if token[0] == '"' else go_float(float(token))


def _encode_payload(payload: object) -> str:
    """The payload as Go-compatible JSON text (before the string escape fix-ups)."""
    if isinstance(payload, float):
        if not math.isfinite(payload):
            raise EnvelopeError(f"payload is not JSON-encodable: {payload!r} (Go refuses it)")
        return go_float(payload)
    in_wire_order = type(payload) is WireDict or type(payload) is WireList
    encoder = _ORDERED_ENCODER if in_wire_order else _SORTED_ENCODER
    try:
        text = encoder.encode(payload)
    except (TypeError, ValueError, RecursionError, OverflowError) as exc:
        raise EnvelopeError(f"payload is not JSON-encodable: {exc}") from None
    if any(hint.search(text) for hint in _FLOAT_HINTS) and _FLOAT_TOKEN.search(text):
        text = _STRING_OR_FLOAT.sub(_go_float_token, text)
    return text


def _go_text_to_bytes(text: str) -> bytes:
    """Apply Go's extra string escapes, then UTF-8 encode (lone surrogates become \\ufffd)."""
    for char, escape in _GO_ESCAPES:
        if char in text:
            text = text.replace(char, escape)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate stands for invalid UTF-8, which Go writes as the escape \ufffd.
        return _LONE_SURROGATE.sub(r"\\ufffd", text).encode("utf-8")


def go_json(value: object) -> bytes:
    """Encode any JSON value as Go's json.Marshal would (map keys sorted, Go escaping)."""
    return _go_text_to_bytes(_encode_payload(value))


# ---------------------------------------------------------------------------------------------
# Decoding: json's C decoder, Go's leniency (null = zero value), strict types.
# ---------------------------------------------------------------------------------------------


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:40]} is out of range for a float64")
    return value


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


class _NegativeZero(float):
    """The JSON integer -0: Go reads it as float64 -0 into `any` (so writes back "-0")."""

    __slots__ = ()


_NEGATIVE_ZERO = _NegativeZero(-0.0)


def _parse_int(text: str) -> int | float:
    return _NEGATIVE_ZERO if text == "-0" else int(text)


_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_constant=_reject_constant)
# Only used when the text holds "-0": a parse_int hook costs a Python call per integer.
_DECODER_NEGATIVE_ZERO = json.JSONDecoder(
    parse_float=_parse_float, parse_constant=_reject_constant, parse_int=_parse_int
)


def _replace_lone_surrogates(value: Any) -> Any:
    """Replace lone surrogates (from \\udXXX escapes) with U+FFFD everywhere, as Go's decoder."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_replace_lone_surrogates(k): _replace_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_lone_surrogates(item) for item in value]
    return value


def _parse_json(data: bytes | bytearray | memoryview) -> Any:
    """Parse UTF-8 JSON text as Go would, or raise EnvelopeError saying why not."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"not an envelope: not UTF-8 text (byte {exc.start})") from None
    try:
        decoder = _DECODER_NEGATIVE_ZERO if "-0" in text else _DECODER
        value = decoder.decode(text)
    except RecursionError:
        raise EnvelopeError("not an envelope: JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, bad numbers, NaN/Infinity
        raise EnvelopeError(f"not an envelope: invalid JSON: {exc}") from None
    if "\\ud" in text or "\\uD" in text:
        value = _replace_lone_surrogates(value)
    return value


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
        if value is None or type(value) is _NegativeZero:
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
# The envelope.
# ---------------------------------------------------------------------------------------------


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _topics(reply_to: str | Iterable[str] | None) -> tuple[str, ...]:
    if reply_to is None:
        return ()
    if isinstance(reply_to, str):
        return (reply_to,)
    return tuple(reply_to)


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
            self._check_int64(name, getattr(self, name))
        topics = self.reply_to_topics
        if not isinstance(topics, tuple):
            if isinstance(topics, str) or not isinstance(topics, Iterable):
                raise EnvelopeError(
                    "not an envelope: field 'reply_to_topics' must be an array of strings, "
                    f"got {_type_name(topics)}"
                )
            topics = tuple(topics)
            object.__setattr__(self, "reply_to_topics", topics)
        for topic in topics:
            if not isinstance(topic, str):
                raise EnvelopeError(
                    "not an envelope: field 'reply_to_topics' must hold strings, "
                    f"got {_type_name(topic)}"
                )
        if self.error is not None and not isinstance(self.error, str):
            raise EnvelopeError(
                f"not an envelope: field 'error' must be a string, got {_type_name(self.error)}"
            )

    @staticmethod
    def _check_int64(name: str, value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise EnvelopeError(
                f"not an envelope: field {name!r} must be an integer (Unix nanoseconds), "
                f"got {_type_name(value)}"
            )
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise EnvelopeError(f"not an envelope: field {name!r} is out of the int64 range")

    # -- wire format ---------------------------------------------------------------------------

    def encode(self) -> bytes:
        """The record value, byte-identical to Go's `json.Marshal(envelope)`."""
        parts = ['{"id":', _json_string(self.id), ',"root_id":', _json_string(self.root_id)]
        if self.request_id:
            parts += [',"request_id":', _json_string(self.request_id)]
        parts += [
            ',"started_at":',
            str(int(self.started_at)),
            ',"created_at":',
            str(int(self.created_at)),
            ',"source_topic":',
            _json_string(self.source_topic),
            ',"destination_topic":',
            _json_string(self.destination_topic),
        ]
        if self.reply_to_topics:
            parts += [
                ',"reply_to_topics":[',
                ",".join(map(_json_string, self.reply_to_topics)),
                "]",
            ]
        parts += [',"schema_version":', _json_string(self.schema_version)]
        if self.error is not None:
            parts += [',"error":', _json_string(self.error)]
        parts += [',"payload":', _encode_payload(self.payload), "}"]
        return _go_text_to_bytes("".join(parts))

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Envelope:
        """Parse a record value. Raises `EnvelopeError` (only) if it is not an envelope.

        Like Go: missing fields and `null` take the zero value, unknown fields are ignored,
        keys match field names case-insensitively, lone surrogate escapes become U+FFFD. The
        payload stays parsed JSON (a base64 string stays a string; see `payload_json()`).
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise EnvelopeError(f"not an envelope: expected bytes, got {type(data).__name__}")
        obj = _parse_json(data)
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
            return _LONE_SURROGATE.sub("\ufffd", self.root_id).encode("utf-8")

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
            return _DECODER.decode(raw.decode("utf-8"))
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
        now = time.time_ns() if now_ns is None else now_ns
        envelope_id = f"{source_topic}:{_new_uuid()}"
        return cls(
            id=envelope_id,
            root_id=envelope_id,
            started_at=now,
            created_at=now,
            source_topic=source_topic,
            destination_topic=destination_topic,
            reply_to_topics=_topics(reply_to),
            schema_version=schema_version,
            payload=payload,
        )

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
        return Envelope(
            id=f"{self.destination_topic}:{_new_uuid()}",
            root_id=self.root_id,
            started_at=self.started_at,
            created_at=time.time_ns() if now_ns is None else now_ns,
            source_topic=self.destination_topic,
            destination_topic=destination_topic,
            reply_to_topics=_topics(reply_to),
            schema_version=self.schema_version,
            payload=payload,
        )

    def reply(self, payload: Any, now_ns: int | None = None) -> Envelope:
        """The answer to this request (Go's ctx.Reply), with a native JSON payload.

        id is a bare uuid4; it goes to `reply_to_topics[0]`. Raises `EnvelopeError` if this
        envelope has no reply_to_topics (Go sends nothing then).
        """
        if not self.reply_to_topics:
            raise EnvelopeError(f"cannot reply to {self.id!r}: it has no reply_to_topics")
        return Envelope(
            id=_new_uuid(),
            root_id=self.root_id,
            request_id=self.id,
            started_at=self.started_at,
            created_at=time.time_ns() if now_ns is None else now_ns,
            source_topic=self.destination_topic,
            destination_topic=self.reply_to_topics[0],
            schema_version=self.schema_version,
            payload=payload,
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
        return _LONE_SURROGATE.sub("\ufffd", payload).encode("utf-8")
    return go_json(payload)
