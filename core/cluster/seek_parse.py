"""Pure parsing for seek (consumer-group offset resets): strategies, scopes, datetimes,
durations and reset-plan CSV files, with the grammar of Apache Kafka's
`kafka-consumer-groups.sh --reset-offsets` (ConsumerGroupCommand 4.1).

Every parser here raises nothing but `ConfigError`, whatever the input (fuzzed in
tests/test_seek_parse.py). Kafka's rules this module follows, checked against the real tool:

- `--topic T` means all partitions of T, `--topic T:0,2` some of them.
- `--to-datetime` takes `YYYY-MM-DDTHH:mm:SS.sss` with an optional zone `Z`, `±HH`, `±HHMM` or
  `±HH:MM`; **without a zone it is UTC** (Kafka appends `Z`; the JVM's time zone plays no
  part). Stricter than Kafka: the whole text must match (Kafka ignores trailing junk), the
  milliseconds must have exactly 3 digits (Kafka reads `.5` as 5 ms, a trap), and we also
  accept no fraction at all (`...T10:00:00Z`, which Kafka rejects). Before 1970 is refused
  (Kafka would send a negative timestamp, which ListOffsets reads as a sentinel).
- `--by-duration` takes java.time.Duration's ISO-8601 `[-+]PnDTnHnMn.nS` (case-insensitive,
  signs allowed on every component, `.` or `,` before up to 9 fraction digits, no weeks,
  months or years). A negative duration points into the future (every partition → log end).
- `--from-file` reads the CSV that `--export` writes: `topic,partition,offset` lines, or
  `group,topic,partition,offset` for several groups (rows of other groups are ignored). A later
  row for the same partition wins, as in Kafka. Negative offsets are refused (Kafka: "Invalid
  negative offset"). Extensions: blank lines and a header line are skipped.
- `--to-offset` must be ≥ 0 (Kafka would silently clamp a negative one to the log start).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path

from core.errors import ConfigError

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
_ASCII = re.ASCII
_TOPIC_RE = re.compile(r"[a-zA-Z0-9._-]{1,249}", _ASCII)
_DIGITS_RE = re.compile(r"[+]?[0-9]{1,19}", _ASCII)
_SIGNED_RE = re.compile(r"[-+]?[0-9]{1,19}", _ASCII)
_DATETIME_RE = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})T(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):"
    r"(?P<s>[0-9]{2})(?:[.](?P<frac>[0-9]+))?"
    r"(?P<zone>Z|[-+](?P<zh>[0-9]{2})(?::?(?P<zm>[0-9]{2}))?)?", _ASCII)
# java.time.Duration.parse's own pattern (CASE_INSENSITIVE, ASCII digits).
_DURATION_RE = re.compile(
    r"(?P<sign>[-+]?)P(?:(?P<d>[-+]?[0-9]+)D)?"
    r"(?P<time>T(?:(?P<h>[-+]?[0-9]+)H)?(?:(?P<m>[-+]?[0-9]+)M)?"
    r"(?:(?P<s>[-+]?[0-9]+)(?:[.,](?P<frac>[0-9]{0,9}))?S)?)?", _ASCII | re.IGNORECASE)
DATETIME_FORMAT = "YYYY-MM-DDTHH:mm:SS.sss[Z|±HH:MM] (no zone = UTC)"
DURATION_FORMAT = "ISO-8601 PnDTnHnMn.nS, e.g. PT10M, P1DT2H, PT30S"


class StrategyKind(StrEnum):
    """The reset strategies; the values are Kafka's option names (to-group is ours)."""

    EARLIEST = "to-earliest"
    LATEST = "to-latest"
    CURRENT = "to-current"
    OFFSET = "to-offset"
    SHIFT = "shift-by"
    DATETIME = "to-datetime"
    DURATION = "by-duration"
    FILE = "from-file"
    GROUP = "to-group"


#: The CLI options with their argument, in the order `seek` lists them when none is given.
STRATEGY_OPTIONS = ("--to-earliest", "--to-latest", "--to-current", "--to-offset N",
                    "--shift-by N", "--to-datetime T", "--by-duration D", "--from-file F",
                    "--to-group G")


@dataclass(frozen=True, slots=True)
class TopicScope:
    """`--topic T` (partitions None: all of them) or `--topic T:0,2`."""

    topic: str
    partitions: tuple[int, ...] | None = None

    def __str__(self) -> str:
        if self.partitions is None:
            return self.topic
        return f"{self.topic}:{','.join(map(str, self.partitions))}"


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One line of a reset-plan CSV file."""

    line: int
    topic: str
    partition: int
    offset: int
    group: str | None = None  # the 4-column (several groups) form


@dataclass(frozen=True, slots=True)
class SeekStrategy:
    """What to reset the offsets to. Build it with the class methods or `strategy_from_options`."""

    kind: StrategyKind
    offset: int | None = None  # to-offset
    shift: int | None = None  # shift-by
    timestamp_ms: int | None = None  # to-datetime (UTC epoch ms)
    duration_ns: int | None = None  # by-duration
    text: str | None = None  # the argument as given: duration, file name, source group
    rows: tuple[CsvRow, ...] = field(default=(), repr=False)  # from-file

    # -- constructors ---------------------------------------------------------------------------

    @classmethod
    def earliest(cls) -> SeekStrategy:
        return cls(StrategyKind.EARLIEST)

    @classmethod
    def latest(cls) -> SeekStrategy:
        return cls(StrategyKind.LATEST)

    @classmethod
    def current(cls) -> SeekStrategy:
        return cls(StrategyKind.CURRENT)

    @classmethod
    def to_offset(cls, offset: int | str) -> SeekStrategy:
        return cls(StrategyKind.OFFSET, offset=parse_offset(offset))

    @classmethod
    def shift_by(cls, shift: int | str) -> SeekStrategy:
        return cls(StrategyKind.SHIFT, shift=parse_shift(shift))

    @classmethod
    def to_datetime(cls, when: str | datetime) -> SeekStrategy:
        if isinstance(when, datetime):
            return cls(StrategyKind.DATETIME, timestamp_ms=datetime_to_ms(when))
        return cls(StrategyKind.DATETIME, timestamp_ms=parse_datetime(when))

    @classmethod
    def by_duration(cls, text: str) -> SeekStrategy:
        return cls(StrategyKind.DURATION, duration_ns=parse_duration(text), text=text.strip())

    @classmethod
    def from_csv(cls, text: str, name: str = "the file") -> SeekStrategy:
        return cls(StrategyKind.FILE, text=name, rows=parse_reset_csv(text, name))

    @classmethod
    def from_file(cls, path: str | Path) -> SeekStrategy:
        return cls.from_csv(read_text(path), str(path))

    @classmethod
    def to_group(cls, group: str) -> SeekStrategy:
        return cls(StrategyKind.GROUP, text=parse_group_id(group, "--to-group"))

    # -- rendering ------------------------------------------------------------------------------

    def describe(self) -> str:
        """One line for people: `to-offset 42`, `by-duration PT10M`, ..."""
        arg = {
            StrategyKind.OFFSET: str(self.offset),
            StrategyKind.SHIFT: f"{self.shift:+d}" if self.shift is not None else "",
            StrategyKind.DATETIME: format_datetime(self.timestamp_ms or 0),
            StrategyKind.DURATION: self.text or "",
            StrategyKind.FILE: f"{self.text} ({len(self.rows)} rows)",
            StrategyKind.GROUP: self.text or "",
        }.get(self.kind, "")
        return f"{self.kind.value} {arg}".strip()

    def kafka_args(self, csv_path: str | None = None) -> list[str]:
        """The strategy as kafka-consumer-groups.sh options. to-group has no Kafka equivalent:
        it becomes `--from-file` of the plan's CSV export (`csv_path`)."""
        if self.kind is StrategyKind.GROUP:
            return ["--from-file", csv_path or "offsets.csv"]
        value = {
            StrategyKind.OFFSET: str(self.offset),
            StrategyKind.SHIFT: str(self.shift),
            StrategyKind.DATETIME: format_datetime(self.timestamp_ms or 0),
            StrategyKind.DURATION: self.text,
            StrategyKind.FILE: self.text,
        }.get(self.kind)
        return [f"--{self.kind.value}"] + ([value] if value is not None else [])


# ---- small values ------------------------------------------------------------------------------


def parse_offset(value: int | str, what: str = "--to-offset") -> int:
    """A non-negative offset (Kafka's long)."""
    number = _integer(value, what)
    if number < 0:
        raise ConfigError(f"{what} must be an offset ≥ 0, not {number} "
                          "(Kafka would silently clamp it to the log start)")
    return number


def parse_shift(value: int | str) -> int:
    """A signed number of records to move each committed offset by."""
    return _integer(value, "--shift-by")


def _integer(value: int | str, what: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{what} takes a number, not {value!r}")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not _SIGNED_RE.fullmatch(text):
            raise ConfigError(f"{what} takes a whole number, not {_show(value)}")
        number = int(text)
    if not -LONG_MAX - 1 <= number <= LONG_MAX:
        raise ConfigError(f"{what} {number} is out of Kafka's offset range")
    return number


def parse_group_id(value: str, what: str = "group") -> str:
    """A consumer group id: any non-blank text (Kafka allows nearly anything)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} needs a group id")
    if any(ord(c) < 32 for c in value):
        raise ConfigError(f"{what}: group id {_show(value)} contains control characters")
    return value


def parse_topic_scope(spec: str) -> TopicScope:
    """`T` or `T:0,2` (Kafka's --topic syntax)."""
    if not isinstance(spec, str):
        raise ConfigError(f"--topic takes TOPIC or TOPIC:P,P..., not {spec!r}")
    text = spec.strip()
    topic, sep, parts = text.partition(":")
    _check_topic_name(topic, spec)
    if not sep:
        return TopicScope(topic)
    if not parts:
        raise ConfigError(f"--topic {_show(spec)}: no partitions after ':' (TOPIC:0,2)")
    numbers = []
    for item in parts.split(","):
        item = item.strip()
        if not re.fullmatch(r"[0-9]{1,10}", item, _ASCII) or int(item) > INT_MAX:
            raise ConfigError(f"--topic {_show(spec)}: {_show(item)} is not a partition "
                              "number (TOPIC:0,2)")
        numbers.append(int(item))
    return TopicScope(topic, tuple(sorted(set(numbers))))


def _check_topic_name(topic: str, spec: str) -> None:
    if not topic:
        raise ConfigError(f"--topic {_show(spec)}: no topic name (TOPIC or TOPIC:0,2)")
    if not _TOPIC_RE.fullmatch(topic) or topic in (".", ".."):
        raise ConfigError(f"--topic {_show(spec)}: {_show(topic)} is not a legal topic name "
                          "(letters, digits, '.', '_', '-'; at most 249)")


def merge_scopes(scopes: Iterable[TopicScope]) -> tuple[TopicScope, ...]:
    """Repeated --topic options for one topic add up; a whole topic wins over some partitions."""
    merged: dict[str, tuple[int, ...] | None] = {}
    for scope in scopes:
        if scope.topic in merged and merged[scope.topic] is None:
            continue
        if scope.partitions is None:
            merged[scope.topic] = None
        else:
            merged[scope.topic] = tuple(sorted(
                set(merged.get(scope.topic) or ()) | set(scope.partitions)))
    return tuple(TopicScope(t, p) for t, p in merged.items())


# ---- datetime and duration ---------------------------------------------------------------------


def parse_datetime(text: str) -> int:
    """Kafka's --to-datetime value to UTC epoch milliseconds."""
    if not isinstance(text, str):
        raise ConfigError(f"--to-datetime takes {DATETIME_FORMAT}, not {text!r}")
    match = _DATETIME_RE.fullmatch(text.strip())
    if match is None:
        raise ConfigError(f"--to-datetime {_show(text)} is not {DATETIME_FORMAT}, "
                          "e.g. 2026-11-28T10:00:00.000 or 2026-11-28T10:00:00.000+01:00")
    frac = match["frac"]
    if frac is not None and len(frac) != 3:
        raise ConfigError(f"--to-datetime {_show(text)}: write the milliseconds with 3 digits "
                          "(.500, not .5: Kafka reads .5 as 5 ms)")
    try:
        when = datetime(int(match["y"]), int(match["mo"]), int(match["d"]), int(match["h"]),
                        int(match["mi"]), int(match["s"]), int(frac or 0) * 1000,
                        tzinfo=_zone(match))
    except ValueError as exc:
        raise ConfigError(f"--to-datetime {_show(text)}: {exc}") from None
    ms = datetime_to_ms(when)
    if ms < 0:
        raise ConfigError(f"--to-datetime {_show(text)} is before 1970-01-01T00:00:00Z")
    return ms


def _zone(match: re.Match[str]) -> timezone:
    if match["zone"] in (None, "Z"):
        return UTC
    hours, minutes = int(match["zh"]), int(match["zm"] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"zone offset {match['zone']} is out of range")
    sign = -1 if match["zone"].startswith("-") else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def datetime_to_ms(when: datetime) -> int:
    """Epoch milliseconds of an aware datetime (a naive one is UTC, as in Kafka)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_datetime(ms: int) -> str:
    """UTC epoch ms in the form Kafka's --to-datetime reads: 2026-11-28T10:00:00.000Z."""
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_duration(text: str) -> int:
    """java.time.Duration.parse's grammar to nanoseconds (may be negative)."""
    if not isinstance(text, str):
        raise ConfigError(f"--by-duration takes {DURATION_FORMAT}, not {text!r}")
    stripped = text.strip()
    match = _DURATION_RE.fullmatch(stripped)
    if (match is None or match["time"] == "T"  # "PT" / "P1DT": a T needs a time part
            or all(match[g] is None for g in ("d", "h", "m", "s"))):
        raise ConfigError(f"--by-duration {_show(text)} is not a duration: {DURATION_FORMAT} "
                          "(no weeks, months or years)")
    seconds = 0
    for group, unit in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if match[group] is not None:
            seconds += _duration_part(match[group], unit, text)
    nanos = seconds * 1_000_000_000 + _fraction_ns(match["frac"], match["s"])
    if abs(seconds) > LONG_MAX:
        raise ConfigError(f"--by-duration {_show(text)} is too long")
    return -nanos if match["sign"] == "-" else nanos


def _duration_part(number: str, unit: int, text: str) -> int:
    if len(number.lstrip("+-")) > 19:  # beyond a Java long (and Python's int-parsing limit)
        raise ConfigError(f"--by-duration {_show(text)} is too long")
    value = int(number)
    if abs(value) > LONG_MAX or abs(value * unit) > LONG_MAX:
        raise ConfigError(f"--by-duration {_show(text)} is too long")
    return value * unit


def _fraction_ns(frac: str | None, secs: str | None) -> int:
    if not frac:
        return 0
    nanos = int(frac.ljust(9, "0"))
    return -nanos if secs is not None and secs.startswith("-") else nanos


def duration_target_ms(duration_ns: int, now_ms: int) -> int:
    """Kafka's by-duration timestamp: now − duration (floored to ms; 0 at the earliest)."""
    return max(0, (now_ms * 1_000_000 - duration_ns) // 1_000_000)


# ---- reset-plan CSV ----------------------------------------------------------------------------


def parse_reset_csv(text: str, name: str = "the file") -> tuple[CsvRow, ...]:
    """Lines `topic,partition,offset` (or `group,topic,partition,offset`), as Kafka exports."""
    if not isinstance(text, str):
        raise ConfigError(f"{name}: not text")
    rows: list[CsvRow] = []
    width: int | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        fields = _csv_fields(line.rstrip("\r"), number, name)
        if not fields or (number == 1 and _is_header(fields)):
            continue
        if width is None:
            width = len(fields)
        if len(fields) not in (3, 4) or len(fields) != width:
            raise ConfigError(f"{name} line {number}: expected {width if width in (3, 4) else 3} "
                              f"fields (topic,partition,offset), got {len(fields)}")
        rows.append(_csv_row(fields, number, name))
    if not rows:
        raise ConfigError(f"{name} has no offsets (lines of topic,partition,offset)")
    return tuple(rows)


def _csv_fields(line: str, number: int, name: str) -> list[str]:
    if not line.strip():
        return []
    try:
        parsed = next(csv.reader([line], strict=True), [])
    except csv.Error as exc:
        raise ConfigError(f"{name} line {number}: {exc}") from None
    return [f.strip() for f in parsed]


def _is_header(fields: list[str]) -> bool:
    return [f.lower() for f in fields[-3:]] == ["topic", "partition", "offset"]


def _csv_row(fields: list[str], number: int, name: str) -> CsvRow:
    group = fields[0] if len(fields) == 4 else None
    topic, partition, offset = fields[-3:]
    where = f"{name} line {number}"
    if group is not None and not group:
        raise ConfigError(f"{where}: empty group")
    if not _TOPIC_RE.fullmatch(topic) or topic in (".", ".."):
        raise ConfigError(f"{where}: {_show(topic)} is not a legal topic name")
    if not re.fullmatch(r"[0-9]{1,10}", partition, _ASCII) or int(partition) > INT_MAX:
        raise ConfigError(f"{where}: partition {_show(partition)} is not a number ≥ 0")
    if not _SIGNED_RE.fullmatch(offset) or int(offset) > LONG_MAX:
        raise ConfigError(f"{where}: offset {_show(offset)} is not a whole number")
    if int(offset) < 0:
        raise ConfigError(f"{where}: offset {int(offset)} is negative")
    return CsvRow(number, topic, int(partition), int(offset), group)


def rows_for_group(rows: Iterable[CsvRow], group: str, name: str = "the file"
                   ) -> tuple[dict[tuple[str, int], CsvRow], list[str]]:
    """The rows that apply to `group` (later rows win, as in Kafka) and notes on duplicates."""
    chosen: dict[tuple[str, int], CsvRow] = {}
    notes: list[str] = []
    for row in rows:
        if row.group is not None and row.group != group:
            continue
        key = (row.topic, row.partition)
        if key in chosen:
            notes.append(f"{name} line {row.line}: {row.topic}[{row.partition}] again; "
                         f"this row wins over line {chosen[key].line}")
        chosen[key] = row
    if not chosen:
        raise ConfigError(f"{name} has no rows for group {group}")
    return chosen, notes


def read_text(path: str | Path) -> str:
    """A reset-plan file's text, or a ConfigError saying why it can't be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: NUL in path, undecodable bytes
        raise ConfigError(f"cannot read {_show(str(path))}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None


# ---- the CLI's strategy options ----------------------------------------------------------------


def strategy_from_options(
    options: Mapping[str, object], read: Callable[[str], str] = read_text,
) -> SeekStrategy:
    """Exactly one strategy from the CLI's options (keys like `to_offset`; flags are bools,
    valued options str or None)."""
    given = [k for k in StrategyKind if _is_given(options.get(k.value.replace("-", "_")))]
    if not given:
        raise ConfigError("no strategy given: use one of " + ", ".join(STRATEGY_OPTIONS))
    if len(given) > 1:
        raise ConfigError("only one strategy at a time, got " +
                          " and ".join(f"--{k.value}" for k in given))
    kind = given[0]
    value = options.get(kind.value.replace("-", "_"))
    return _build(kind, value, read)


def _is_given(value: object) -> bool:
    return value is not None and value is not False


def _build(kind: StrategyKind, value: object, read: Callable[[str], str]) -> SeekStrategy:
    if kind in (StrategyKind.EARLIEST, StrategyKind.LATEST, StrategyKind.CURRENT):
        return SeekStrategy(kind)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"--{kind.value} needs a value")
    text = str(value)
    if kind is StrategyKind.FILE:
        if not text.strip():
            raise ConfigError("--from-file needs a file name")
        return SeekStrategy.from_csv(read(text), text)
    builders: dict[StrategyKind, Callable[[str], SeekStrategy]] = {
        StrategyKind.OFFSET: SeekStrategy.to_offset,
        StrategyKind.SHIFT: SeekStrategy.shift_by,
        StrategyKind.DATETIME: SeekStrategy.to_datetime,
        StrategyKind.DURATION: SeekStrategy.by_duration,
        StrategyKind.GROUP: SeekStrategy.to_group,
    }
    return builders[kind](text)


def _show(value: object, limit: int = 60) -> str:
    """A bounded, printable repr of user input for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
