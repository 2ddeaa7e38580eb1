"""Go's encoding/json, byte for byte, on msgspec: what `json.Marshal` writes and `json.Unmarshal`
reads for the values a Nexus envelope carries.

Two paths. The fast path is msgspec's C encoder and decoder, then a fix-up of the only things
in which msgspec's output differs from Go's, done on the output and only when present:

- Go escapes `<`, `>`, `&` (as \\u003c \\u003e \\u0026) and U+2028/2029 in strings: those bytes
  only ever occur inside JSON strings, so one `bytes.replace` per character present;
- Go formats float64 its own way (`1` not `1.0`, `-0`, `100000000000000000000` not `1e20`,
  `1e+21`, `1e-7`). Most floats are written alike by both (the same shortest digits), and
  which are not follows from a rule (integral, or outside 1e-5..1e16): when a msgpack probe
  of the value shows a float64, msgspec's text is searched for the marks such floats leave
  (`.0`, a positive exponent, `e-6`), and only if one is there and a float of the probe is
  one of them are the floats rewritten (as int or `msgspec.Raw`) and the value encoded again.

The exact path is the standard library's json with hooks, for the rare inputs the fast path
declines: integers beyond 64 bits, lone surrogates, non-string map keys, an integer `-0`,
and every invalid input (so that error messages say why, in one line).

Map keys are written sorted (as Go sorts a map's keys) unless the value was read from the
wire (`WireDict`/`WireList`): those are written in the order they were read. Byte strings are
written as base64, as Go writes a []byte. Other Python types are written as msgspec writes
them: a dataclass in field order (like a Go struct), a set as a sorted array, a datetime as
RFC 3339 text, a UUID or Decimal as a string; anything else raises `EnvelopeError`.
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from decimal import Decimal
from typing import Any

import msgspec

from core.errors import NexusError

__all__ = [
    "EnvelopeError",
    "as_base_type",
    "encode_exact",
    "WireDict",
    "WireList",
    "go_escape",
    "go_float",
    "go_json",
    "parse_exact",
    "parse_text",
    "replace_lone_surrogates",
]


class EnvelopeError(NexusError):
    """A value is not a Nexus envelope, or an envelope cannot be encoded or answered."""


class WireDict(dict[str, Any]):
    """A JSON object read from the wire: `encode()` writes its keys in the order read."""

    __slots__ = ()


class WireList(list[Any]):
    """A JSON array read from the wire: `encode()` writes its objects' keys in the order read."""

    __slots__ = ()


LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# ---------------------------------------------------------------------------------------------
# Go's formatting rules, shared by both paths.
# ---------------------------------------------------------------------------------------------


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


def go_escape(data: bytes) -> bytes:
    """Go's extra escapes on JSON text from msgspec: `<`, `>`, `&`, U+2028, U+2029.

    These bytes can only be inside strings (no JSON token or number holds them), so a plain
    replace is exact; each is looked for first, as most records hold none of them.
    """
    if not (60 in data or 62 in data or 38 in data or 0xE2 in data):  # < > & and U+2028/9's
        return data  # the common case: four memchr scans, nothing to escape
    data = data.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")
    if b"\xe2\x80" in data:
        data = data.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return data


# ---------------------------------------------------------------------------------------------
# The fast path: msgspec.
# ---------------------------------------------------------------------------------------------



def as_base_type(value: object) -> object:
    """msgspec's enc_hook: a subclass of float, int or str (NegativeZero, say) as its base."""
    for base in (float, int, str):
        if isinstance(value, base):
            return base(value)
    raise TypeError(f"a {type(value).__name__} is not JSON-encodable")


_SORTED = msgspec.json.Encoder(order="deterministic", enc_hook=as_base_type)
_ORDERED = msgspec.json.Encoder(enc_hook=as_base_type)
# A float64 is always written as 0xcb + 8 bytes: no 0xcb byte, no float.
_PROBE = msgspec.msgpack.Encoder(enc_hook=as_base_type)
# nan and inf (which msgspec writes as null, and Go refuses): exponent bits all set.
_NON_FINITE = re.compile(rb"\xcb[\x7f\xff][\xf0-\xff]").search
# Where msgspec's text for a float differs from Go's, it holds one of these, and most texts
# hold none: an integral float (`1.0`, Go `1`), a positive exponent (msgspec from 1e16,
# `1e16`; Go writes digits below 1e21 and `1e+21` from there) or the exponent -6 (msgspec
# below 1e-5, Go only below 1e-6). Every other float is the same shortest digits in the same
# form: fixed from 1e-5 to 1e16, `Xe-N` below 1e-6 (Go trims `e-07` to `e-7`). A match may be
# inside a string (a hex id's `4e5`): then the floats themselves are looked at.
# Two patterns, each starting with a literal, which re searches for fast.
_INTEGRAL = re.compile(rb"\.0(?:[,\]}]|$)").search  # `$`: a float that is the whole value
_EXPONENT = re.compile(rb"e(?:[0-9]|-6(?:[,\]}]|$))").search
_float_at = struct.Struct(">d").unpack_from
_EXACT_INTEGER = 2.0**53  # below it, an integral float's shortest digits are the integer's


def _floats_written_as_go(probe: bytes) -> bool:
    """Whether msgspec writes every float of this msgpack text as Go does: none is integral,
    nan, inf, or outside 1e-4..1e15 (well inside the range both write in fixed form).

    Every 0xcb byte is read as a float: a float's own marker is among them (and the others,
    inside strings or integers, can only make the answer a cautious False)."""
    find = probe.find
    end = len(probe) - 8
    i = find(b"\xcb")
    while 0 <= i < end:
        number = _float_at(probe, i + 1)[0]
        if not 1e-4 <= abs(number) < 1e15 or number.is_integer():
            return False
        i = find(b"\xcb", i + 1)
    return True


_FAST_ERRORS = (TypeError, ValueError, OverflowError, RecursionError, msgspec.EncodeError)


class _NotPlain(Exception):
    """A value holds a type other than JSON's own (a set, a dataclass...)."""


_LEAVES = frozenset({str, int, bool, type(None), bytes, bytearray})
_raw = msgspec.Raw


def _go_float_raw(value: float) -> msgspec.Raw:
    """Go's text for a float, from msgspec's (the same shortest digits, found without the
    big-number arithmetic that repr() needs for some values)."""
    text = _ORDERED.encode(value)
    if b"e" in text:  # msgspec: 1e16 upwards and below 1e-5; Go: 1e21 upwards, below 1e-6
        magnitude = abs(value)
        if magnitude >= 1e21:
            mantissa, _, exponent = text.partition(b"e")
            return _raw(mantissa + b"e+" + exponent)  # 1e21 -> 1e+21
        if magnitude < 1e-6:
            return _raw(text)  # 1e-7, 5e-324: the same
        return _raw(go_float(value))  # between: Go writes plain digits
    if text[-2:] == b".0":
        return _raw(text[:-2])  # 1.0 -> 1, -0.0 -> -0
    if text == b"null":  # how msgspec writes nan and inf
        raise EnvelopeError(f"payload is not JSON-encodable: {value!r} (Go refuses it)")
    return _raw(text)


def _go_float_value(value: float) -> float | int | msgspec.Raw:
    """What to give msgspec for a float so that it writes Go's text: the float itself where
    their texts agree, the integer where it is one below 2^53 (Go writes its digits), else the
    text as raw JSON."""
    if 1e-4 <= abs(value) < 1e15:
        if not value.is_integer():
            return value
        return int(value)
    if value and abs(value) < _EXACT_INTEGER and value.is_integer():
        return int(value)
    return _go_float_raw(value)


def _go_floats(value: Any) -> Any:
    """`value` with every float replaced by Go's text for it (as raw JSON), containers copied.

    Raises _NotPlain at a type that is not JSON's own: msgspec.to_builtins turns those into
    JSON's types first (a float inside a dataclass is a float there)."""
    kind = type(value)
    if kind is dict or kind is WireDict:
        return {
            key: item if type(item) in _LEAVES else
            _go_float_value(item) if type(item) is float else _go_floats(item)
            for key, item in value.items()
        }
    if kind is list or kind is WireList or kind is tuple:
        return [
            item if type(item) in _LEAVES else
            _go_float_value(item) if type(item) is float else _go_floats(item)
            for item in value
        ]
    if isinstance(value, float):
        return _go_float_raw(value)
    if kind in _LEAVES:
        return value
    raise _NotPlain


def _encode_fast(value: Any) -> bytes:
    """msgspec's encoding with Go's floats; raises (TypeError, ...) where Go's rules need more."""
    kind = type(value)
    if value is None:
        return b"null"
    if kind is str or kind is int or kind is bool:
        return _ORDERED.encode(value)
    in_wire_order = kind is WireDict or kind is WireList
    encoder = _ORDERED if in_wire_order else _SORTED
    if kind is not float:
        try:
            probe = _PROBE.encode(value)
        except OverflowError:  # an integer beyond 64 bits (msgpack's limit, not JSON's)
            probe = None
        if probe is not None:
            if 0xCB not in probe:
                return encoder.encode(value)  # no float
            text = encoder.encode(value)
            if (
                _INTEGRAL(text) is None and _EXPONENT(text) is None
                and _NON_FINITE(probe) is None or _floats_written_as_go(probe)
            ):
                return text  # every float is written as Go writes it
    # Floats msgspec writes otherwise (or bytes that only look so): Go's text for each.
    try:
        return encoder.encode(_go_floats(value))
    except _NotPlain:
        plain = msgspec.to_builtins(
            value, order=None if in_wire_order else "deterministic", enc_hook=as_base_type
        )
        return _ORDERED.encode(_go_floats(plain))


def go_json_unescaped(value: Any) -> bytes:
    """`go_json` before `go_escape`: the value for a larger document that is escaped once."""
    try:
        return _encode_fast(value)
    except EnvelopeError:
        raise
    except _FAST_ERRORS:
        return encode_exact(value)


def go_json(value: Any) -> bytes:
    """Encode any JSON value as Go's json.Marshal would (map keys sorted, Go escaping)."""
    return go_escape(go_json_unescaped(value))


# ---------------------------------------------------------------------------------------------
# The exact path: the standard library's json with hooks.
# ---------------------------------------------------------------------------------------------


def _encode_default(value: object) -> object:
    """Encode what Go can and Python's json cannot: byte strings become base64, as Go's []byte."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"a {type(value).__name__} is not JSON-encodable")


_STD_SORTED = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False,
    default=_encode_default,
)
_STD_ORDERED = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=False, allow_nan=False,
    default=_encode_default,
)
# A float token where a number can stand (strings are matched too, and left as they are).
_STRING_OR_FLOAT = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"|-?\d+(?:\.\d+(?:[eE][-+]?\d+)?|[eE][-+]?\d+)'
)


def _go_float_token(match: re.Match[str]) -> str:
    token = match.group()
    return token if token[0] == '"' else go_float(float(token))


def encode_exact(value: Any) -> bytes:
    """go_json before go_escape, on the exact path: the standard library's encoder with Go's
    floats, lone surrogates as Go's \\ufffd. Slower; for what the fast path declines."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EnvelopeError(f"payload is not JSON-encodable: {value!r} (Go refuses it)")
        return go_float(value).encode("ascii")
    in_wire_order = type(value) is WireDict or type(value) is WireList
    encoder = _STD_ORDERED if in_wire_order else _STD_SORTED
    try:
        text = encoder.encode(value)
    except (TypeError, ValueError, RecursionError, OverflowError) as exc:
        raise EnvelopeError(f"payload is not JSON-encodable: {exc}") from None
    text = _STRING_OR_FLOAT.sub(_go_float_token, text)
    return go_text_bytes(text)


def go_text_bytes(text: str) -> bytes:
    """UTF-8 of JSON text, lone surrogates (invalid UTF-8 in Go) written as the escape \\ufffd."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return LONE_SURROGATE.sub(r"\\ufffd", text).encode("utf-8")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:40]} is out of range for a float64")
    return value


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


class NegativeZero(float):
    """The JSON integer -0: Go reads it as float64 -0 into `any` (so writes back "-0")."""

    __slots__ = ()


_NEGATIVE_ZERO = NegativeZero(-0.0)


def _parse_int(text: str) -> int | float:
    return _NEGATIVE_ZERO if text == "-0" else int(text)


_STD_DECODER = json.JSONDecoder(
    parse_float=_parse_float, parse_constant=_reject_constant, parse_int=_parse_int
)
_STD_TEXT_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_constant=_reject_constant)


def parse_text(text: str) -> Any:
    """JSON text as Go reads it (no NaN/Infinity, float64 range); raises ValueError."""
    return _STD_TEXT_DECODER.decode(text)


def replace_lone_surrogates(value: Any) -> Any:
    """Replace lone surrogates (from \\udXXX escapes) with U+FFFD everywhere, as Go's decoder."""
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {replace_lone_surrogates(k): replace_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_lone_surrogates(item) for item in value]
    return value


def parse_exact(data: bytes | bytearray | memoryview) -> Any:
    """Parse UTF-8 JSON text as Go would, or raise EnvelopeError saying why not (one line)."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"not an envelope: not UTF-8 text (byte {exc.start})") from None
    try:
        value = _STD_DECODER.decode(text)
    except RecursionError:
        raise EnvelopeError("not an envelope: JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, bad numbers, NaN/Infinity
        raise EnvelopeError(f"not an envelope: invalid JSON: {exc}") from None
    if "\\ud" in text or "\\uD" in text:
        value = replace_lone_surrogates(value)
    return value
