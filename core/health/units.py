"""How durations read, in the CLI's tables, the TUI's views and Burrow's reasons alike."""

from __future__ import annotations

import math


def fmt_duration(seconds: float | None) -> str:
    """A duration in words: "45 s", "3 min 5 s", "3 min", "2 h 10 min", "2 h"; "∞" for a wait
    that never ends (a lag that does not drain), "-" when unknown. Negative reads "0 s"."""
    if seconds is None:
        return "-"
    if math.isinf(seconds):
        return "∞"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min" if s % 3600 // 60 else f"{s // 3600} h"


def fmt_time_lag(seconds: float | None, lower_bound: bool = False) -> str:
    """A time lag as it reads everywhere: "45 s", "≥ 5 s" when only a lower bound is known,
    "-" when unknown."""
    if seconds is None:
        return "-"
    return f"≥ {fmt_duration(seconds)}" if lower_bound else fmt_duration(seconds)
