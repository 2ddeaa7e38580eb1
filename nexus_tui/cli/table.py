"""Plain aligned text tables for the CLI's human output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.ljust(widths[i]) if i < len(widths) else c for i, c in enumerate(row)]
        lines.append("  ".join(parts).rstrip())
    if len(cells) == 1:
        lines.append("(none)")
    return "\n".join(lines)
