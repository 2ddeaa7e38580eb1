"""What the CLI and TUI tests share: run the real CLI as a process, check its one-line error,
wait on a condition while a Textual app runs (with a deadline, never a fixed sleep)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def run_cli(*args: str, timeout: float = 60, cwd: Path | str = ROOT,
                  env: dict[str, str] | None = None) -> tuple[int, str, str, float]:
    """`nexus-tui ARGS...` as a process: (exit code, stdout, stderr, seconds it took)."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_tui", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=cwd,
        env=env if env is not None else dict(os.environ, PYTHONPATH=str(ROOT)))
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode(), time.monotonic() - started


def one_error_line(code: int, stderr: str) -> str:
    """The rule for bad input and failures: non-zero exit, one readable line, no traceback
    (librdkafka's own `%`-prefixed log lines aside)."""
    assert code != 0
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("%")]
    assert len(lines) == 1 and lines[0].startswith(("error: ", '{"error"')), stderr
    return lines[0]


async def wait_on(pilot, cond: Callable[[], bool], timeout: float, what: str) -> float:
    """Let the app run until `cond()` holds; how long it took. Fails after `timeout` s."""
    started = time.monotonic()
    while not cond():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.05)
    return time.monotonic() - started
