"""Overview ("pulse"): the cluster at a glance."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Label, Sparkline, Static

from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse

HISTORY = 60


class Tile(Static):
    """A big number with a caption."""

    def set(self, caption: str, value: str, level: str = "") -> None:
        self.set_classes(f"tile {level}".strip())
        self.update(f"[b]{value}[/b]\n[dim]{caption}[/dim]")


class OverviewScreen(NexusScreen):
    AUTO_FOCUS = None
    TITLE_TEXT = "Overview"

    def __init__(self) -> None:
        super().__init__()
        self.msgs: deque[float] = deque(maxlen=HISTORY)
        self.errs: deque[float] = deque(maxlen=HISTORY)
        self._seen: float | None = None

    def compose_body(self) -> ComposeResult:
        yield Label("Overview", classes="title")
        with Grid(id="tiles"):
            for tile in ("cluster", "brokers", "controller", "topics", "partitions", "urp",
                         "offline", "groups"):
                yield Tile(id=f"tile-{tile}", classes="tile")
        with Vertical(classes="sparks"):
            yield Label("cluster messages/s", id="msgs-label")
            yield Sparkline([], id="msgs-spark")
            yield Label("error replies/s", id="errs-label")
            yield Sparkline([], id="errs-spark")

    def apply(self, pulse: Pulse) -> None:
        view, snap = pulse.view, pulse.view.snapshot
        if self._seen != pulse.fetched_at:
            self._seen = pulse.fetched_at
            self.msgs.append(pulse.messages_per_s or 0.0)
            self.errs.append(pulse.error_replies_per_s or 0.0)
        up = len(snap.brokers)
        expected = {r for p in snap.partitions() for r in p.replicas} | {b.id for b in snap.brokers}
        total = max(up, len(expected))
        tile = self.query_one
        tile("#tile-cluster", Tile).set("cluster id", snap.cluster_id or "-")
        tile("#tile-brokers", Tile).set("brokers up", f"{up}/{total}",
                                        "bad" if up < total else "good")
        tile("#tile-controller", Tile).set("controller", str(snap.controller))
        tile("#tile-topics", Tile).set("topics", f"{len(snap.topics):,}")
        tile("#tile-partitions", Tile).set("partitions", f"{snap.partition_count:,}")
        tile("#tile-urp", Tile).set("under-replicated", f"{snap.under_replicated:,}",
                                    "warn" if snap.under_replicated else "good")
        tile("#tile-offline", Tile).set("offline partitions", f"{snap.offline:,}",
                                        "bad" if snap.offline else "good")
        by = view.groups_by_status()
        groups = " ".join(f"{k} {v}" for k, v in sorted(by.items())) or "none"
        level = "bad" if by.get("ERR") else "warn" if by.get("WARN") else "good"
        tile("#tile-groups", Tile).set(f"{len(view.groups)} groups", groups, level)
        rate = pulse.messages_per_s
        err = pulse.error_replies_per_s
        self.query_one("#msgs-label", Label).update(
            f"cluster messages/s: [b]{'-' if rate is None else f'{rate:,.1f}'}[/b]")
        self.query_one("#errs-label", Label).update(
            f"error replies/s: [b]{'-' if err is None else f'{err:,.2f}'}[/b]")
        self.query_one("#msgs-spark", Sparkline).data = list(self.msgs)
        self.query_one("#errs-spark", Sparkline).data = list(self.errs)
