"""How the TUI words a failure for a user (one line) and where it keeps the details (a log
file in the user's state directory: the traceback a notification leaves out)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from core.errors import NexusError

#: longest reason a notification shows; the log keeps the whole message
MAX_REASON = 200


def describe_failure(error: BaseException) -> str:
    """One readable line: a NexusError's message as is (the core words those for users),
    anything else prefixed with its type, since the type is most of what it says."""
    text = str(error).strip()
    if not isinstance(error, NexusError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    line = " ".join(text.split()) or type(error).__name__
    return line if len(line) <= MAX_REASON else line[:MAX_REASON - 1] + "…"


def tui_log_path() -> Path:
    """`$XDG_STATE_HOME/nexus-tui/tui.log` (`~/.local/state/nexus-tui/tui.log` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "nexus-tui" / "tui.log"


def log_to_state_dir(path: Path | None = None) -> Path | None:
    """Send the `nexus_tui` logger's records (failures, with tracebacks) to the log file; the
    path, or None when it cannot be written (the TUI runs on without a log file then)."""
    path = path or tui_log_path()
    logger = logging.getLogger("nexus_tui")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return path
