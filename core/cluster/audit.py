"""The audit log: every change nexus-tui makes to a cluster, as JSON lines.

A change appends an **intent** line before its first write request and a **result** line
after it (same `id`): time, OS user, host, context, bootstrap, action, arguments, mode
(`dry-run` or `execute`), before → after, and the outcome or the error. Lines are appended
with O_APPEND and flushed with fsync, so a change that crashes or is killed leaves its intent
line (an intent without a result means "interrupted: check the cluster").

No secret is ever written: connection settings are reduced to the bootstrap, the context's
name and the security protocol; raw client properties (-X) whose key names a password,
secret, token or SASL setting, and argument keys of that kind, are written as `<redacted>`.

Where: `NEXUS_TUI_AUDIT_LOG`, else `audit_log` in the config file, else
`$XDG_STATE_HOME/nexus-tui/audit.jsonl` (XDG_STATE_HOME defaults to ~/.local/state).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config.settings import ConnectionSettings
from core.errors import ConfigError

__all__ = [
    "AuditRecord", "audit_path", "audited", "parse_since", "read_entries", "redact",
    "set_context",
]

ENV_VAR = "NEXUS_TUI_AUDIT_LOG"
REDACTED = "<redacted>"
_SECRET_WORDS = ("password", "secret", "token", "credential", "sasl", "jaas")
_context: str | None = None


def set_context(name: str | None) -> None:
    """The config context the process's connections come from (the CLI and the TUI set it)."""
    global _context
    _context = name


def audit_path() -> Path:
    """NEXUS_TUI_AUDIT_LOG, else the config file's `audit_log`, else the XDG state dir."""
    given = os.environ.get(ENV_VAR)
    if given:
        return Path(given).expanduser()
    try:
        from core.config.contexts import load_settings

        configured = getattr(load_settings(), "audit_log", None)
    except ConfigError:
        configured = None
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "nexus-tui" / "audit.jsonl"


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def redact(value: Any) -> Any:
    """`value` with every mapping entry whose key names a secret replaced by <redacted>."""
    if isinstance(value, Mapping):
        return {str(k): REDACTED if is_secret_key(str(k)) else redact(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def connection_fields(settings: ConnectionSettings) -> dict[str, Any]:
    """Where the change went, without any secret."""
    props = {k: REDACTED if is_secret_key(k) else v
             for k, v in sorted(settings.client_properties.items())}
    out: dict[str, Any] = {"context": _context, "bootstrap": settings.bootstrap,
                           "security_protocol": settings.security_protocol}
    if props:
        out["client_properties"] = props
    return out


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def append_line(path: Path, entry: Mapping[str, Any]) -> None:
    """One JSON line, appended atomically (O_APPEND, one write) and fsynced."""
    data = (json.dumps(entry, default=str, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(f"cannot write the audit log {path}: "
                          f"{exc.strerror or exc} (set {ENV_VAR} or audit_log)") from None


@dataclass
class AuditRecord:
    """One change being made. Fill `before`/`after` (and `result`) as they become known;
    `intent()` writes the intent line, `finish()` the result line."""

    settings: ConnectionSettings
    action: str
    args: dict[str, Any]
    execute: bool
    path: Path = field(default_factory=audit_path)
    before: Any = None
    after: Any = None
    result: Any = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    intent_written: bool = False

    def _line(self, phase: str, **extra: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "ts_ms": int(time.time() * 1000), "id": self.id, "phase": phase,
            "user": _user(), "host": socket.gethostname(),
            **connection_fields(self.settings),
            "action": self.action, "args": redact(self.args),
            "mode": "execute" if self.execute else "dry-run",
        }
        if self.before is not None:
            entry["before"] = redact(self.before)
        if self.after is not None:
            entry["after"] = redact(self.after)
        entry.update(extra)
        return entry

    def intent(self, error: str | None = None) -> None:
        """The intent line (once): written before the first write request."""
        if self.intent_written:
            return
        extra = {"error": error} if error is not None else {}
        append_line(self.path, self._line("intent", **extra))
        self.intent_written = True

    def finish(self, error: str | None = None) -> None:
        """The result line: the outcome, or the error (nothing applied unless `after` says)."""
        self.intent(error)
        outcome = "error" if error is not None else ("applied" if self.execute else "planned")
        extra: dict[str, Any] = {"outcome": outcome}
        if error is not None:
            extra["error"] = error
        if self.result is not None:
            extra["result"] = redact(self.result)
        append_line(self.path, self._line("result", **extra))


@contextlib.contextmanager
def audited(settings: ConnectionSettings, action: str, args: Mapping[str, Any], *,
            execute: bool = True, before: Any = None, after: Any = None,
            deferred: bool = False, path: Path | None = None) -> Iterator[AuditRecord]:
    """Record one change around the block: the intent line now (or, when `deferred`, at
    `record.intent()`, once the block knows before → after: it must call it before its first
    write), the result line when the block ends; an exception is written as the error
    (with an intent line if none was written yet) and raised again."""
    record = AuditRecord(settings, action, dict(args), execute, path or audit_path(),
                         before=before, after=after)
    if not deferred:
        record.intent()
    try:
        yield record
    except BaseException as exc:
        text = str(exc) or type(exc).__name__
        if not isinstance(exc, Exception):  # KeyboardInterrupt, CancelledError
            text = f"interrupted ({type(exc).__name__})"
        with contextlib.suppress(ConfigError):  # the original error matters more
            record.finish(text)
        raise
    record.finish()


# ---- reading -------------------------------------------------------------------------------


def parse_since(text: str, now_ms: int, option: str = "--since") -> int:
    """A point in time as epoch ms: a datetime as seek's --to-datetime reads it, or an
    ISO-8601 duration ago as its --by-duration (PT1H: an hour before `now_ms`)."""
    from core.cluster.seek_parse import (
        DATETIME_FORMAT,
        DURATION_FORMAT,
        duration_target_ms,
        parse_datetime,
        parse_duration,
    )

    stripped = text.strip() if isinstance(text, str) else ""
    try:
        if stripped[:1] in ("P", "p") or stripped[:2].upper() in ("-P", "+P"):
            return duration_target_ms(parse_duration(stripped), now_ms)
        return parse_datetime(stripped)
    except ConfigError:
        raise ConfigError(f"{option} {text!r} is neither a datetime ({DATETIME_FORMAT}) nor "
                          f"a duration ago ({DURATION_FORMAT})") from None



def read_entries(path: Path | None = None, since_ms: int | None = None,
                 action: str | None = None) -> list[dict[str, Any]]:
    """The log's lines, oldest first, at or after `since_ms`, of actions equal to or under
    `action` (`topic` matches `topic.alter`). A torn last line (a crash mid-write) is skipped."""
    path = path or audit_path()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"cannot read the audit log {path}: {exc.strerror or exc}") from None
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(entry, dict):
            continue
        if since_ms is not None and int(entry.get("ts_ms", 0)) < since_ms:
            continue
        name = str(entry.get("action", ""))
        if action and not (name == action or name.startswith(action + ".")):
            continue
        out.append(entry)
    return out
