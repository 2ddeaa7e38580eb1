"""A chart with a time axis: samples placed by *when* they were taken over a fixed window
ending now, so a few samples sit at the right edge at their true spacing (not stretched over
the whole width, as a sparkline stretches any number of points), and the scale of time never
changes while the history fills up.

`render_chart` is pure (samples, now, window, size in, lines out), so a test can pin its
picture; `TimeChart` shows it in the TUI and renders again when its size changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import median

from rich.text import Text
from textual.widgets import Static

BLOCKS = " ▁▂▃▄▅▆▇█"
LABEL_W = 8  # the value scale's labels, left of the plot


def _label(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2g}"


def _ago(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"-{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"-{seconds / 60:g} min"
    return f"-{seconds:g} s"


def column_values(samples: Sequence[tuple[float, float]], now: float, window_s: float,
                  width: int) -> list[float | None]:
    """One value per column; column `i` covers `(now - window_s + i*w, now - window_s +
    (i+1)*w]` with `w = window_s / width`. A column holds the largest sample taken in it, or
    else the last one before it while that one is fresh (within 1.5 times the usual gap
    between samples: a column narrower than the refresh period is not a hole); `None` where
    nothing was sampled (before the first sample, across an outage)."""
    if width <= 0:
        return []
    step = window_s / width
    points = sorted((t, v) for t, v in samples if now - window_s - step < t <= now)
    gaps = [b[0] - a[0] for a, b in zip(points, points[1:], strict=False)]
    hold = 1.5 * median(gaps) if gaps else step
    out: list[float | None] = []
    j = 0
    last: tuple[float, float] | None = None
    for i in range(width):
        end = now - window_s + (i + 1) * step
        inside: list[float] = []
        while j < len(points) and points[j][0] <= end + 1e-9:
            last = points[j]
            inside.append(last[1])
            j += 1
        if inside:
            out.append(max(inside))
        elif last is None or end - last[0] > max(hold, step) + 1e-9:
            out.append(None)
        else:
            out.append(last[1])
    return out


def render_chart(samples: Sequence[tuple[float, float]], now: float, window_s: float,
                 width: int, height: int = 3, ticks: int = 5) -> list[str]:
    """The chart as `height` lines of bars, an axis line and a line of time labels, each
    `width` characters wide (`LABEL_W` of them for the value scale on the left)."""
    plot_w = max(1, width - LABEL_W)
    values = column_values(samples, now, window_s, plot_w)
    known = [v for v in values if v is not None]
    top = max(known, default=0.0)
    scale = top if top > 0 else 1.0
    levels = height * 8
    rows = []
    for r in range(height):  # top row first
        line = []
        base = (height - 1 - r) * 8
        for v in values:
            if v is None:
                line.append(" ")
                continue
            filled = math.ceil(v / scale * levels) if v > 0 else 0
            line.append(BLOCKS[max(0, min(8, filled - base))])
        label = "" if not known else (
            _label(top) if r == 0 else ("0" if r == height - 1 else ""))
        rows.append(f"{label:>{LABEL_W - 1}} " + "".join(line))
    axis = [" "] * plot_w
    labels = [" "] * plot_w
    for k in range(ticks + 1):
        col = min(plot_w - 1, round(k * (plot_w - 1) / ticks))
        axis[col] = "┴" if 0 < col < plot_w - 1 else ("└" if col == 0 else "┘")
        text = "now" if k == ticks else _ago(window_s * (ticks - k) / ticks)
        start = min(max(0, col - len(text) // 2), plot_w - len(text))
        if k == ticks:
            start = plot_w - len(text)
        if all(c == " " for c in labels[max(0, start - 1):start + len(text) + 1]):
            labels[start:start + len(text)] = list(text)
    axis_line = "".join("─" if c == " " else c for c in axis)
    rows.append(" " * LABEL_W + axis_line)
    rows.append(" " * LABEL_W + "".join(labels))
    return rows


class TimeChart(Static):
    """`render_chart` in a widget: `show(samples, now)` draws the last `window_s` seconds."""

    DEFAULT_CSS = """
    TimeChart { height: auto; }
    """

    def __init__(self, window_s: float, *, height: int = 3, id: str | None = None) -> None:
        super().__init__(id=id)
        self.window_s = window_s
        self.chart_height = height
        self._samples: Sequence[tuple[float, float]] = ()
        self._now = 0.0

    def show(self, samples: Sequence[tuple[float, float]], now: float) -> None:
        self._samples, self._now = tuple(samples), now
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        width = self.size.width or 80
        self.update(Text("\n".join(render_chart(self._samples, self._now, self.window_s,
                                                width, self.chart_height))))
