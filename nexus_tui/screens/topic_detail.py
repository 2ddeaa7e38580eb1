"""One topic: partitions, the distribution of records over them with skew, its groups,
and which partition a root id lands on."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from core.wire.partitioner import partition_for_key
from nexus_tui.screens.base import NexusScreen
from nexus_tui.source import Pulse
from nexus_tui.widgets import Cell, KeyedTable, num

COLUMNS = [("P", "p"), ("Leader", "leader"), ("Replicas", "replicas"), ("ISR", "isr"),
           ("Log start", "start"), ("Log end", "end"), ("Records", "records"),
           ("Msg/s", "rate"), ("Flags", "flags")]
BAR_WIDTH = 40


def bars(values: dict[int, float], hot: tuple[int, ...], width: int = BAR_WIDTH,
         digits: int = 0) -> str:
    """A horizontal bar per partition (rich markup)."""
    top = max(values.values(), default=0) or 1
    lines = []
    for p, v in sorted(values.items()):
        n = int(round(v / top * width))
        style = "red" if p in hot else "cyan"
        mark = " [b red]hot[/b red]" if p in hot else ""
        bar = f"[{style}]{'█' * n}[/{style}]{' ' * (width - n)}"
        lines.append(f"p{p:<3} {bar} {v:,.{digits}f}{mark}")
    return "\n".join(lines)


class TopicDetailScreen(NexusScreen):
    BINDINGS = [
        Binding("e", "admin('topic.alter')", "Edit config", id="topic.alter", show=False),
        Binding("a", "admin('topic.add-partitions')", "Add partitions",
                id="topic.add_partitions", show=False),
        Binding("X", "admin('topic.purge')", "Purge records", id="topic.purge", show=False),
        Binding("D", "admin('topic.delete')", "Delete topic", id="topic.delete", show=False),
    ]

    def __init__(self, topic: str) -> None:
        super().__init__()
        self.topic = topic
        self.partitions = 0

    def compose_body(self) -> ComposeResult:
        yield Label(f"Topic {self.topic}", classes="title", id="topic-title")
        yield KeyedTable(COLUMNS, id="partitions-table")
        with Horizontal(id="topic-lower"):
            with Vertical(id="distribution-box"):
                yield Label("Distribution", classes="subtitle")
                yield Static(id="distribution")
                yield Static(id="skew")
            with Vertical(id="topic-side"):
                yield Label("Consumer groups", classes="subtitle")
                yield Static(id="topic-groups")
                yield Label("Which partition does a root id go to?", classes="subtitle")
                yield Input(placeholder="root id", id="root-id")
                yield Static(id="root-partition")

    def apply(self, pulse: Pulse) -> None:
        health = pulse.view.topics.get(self.topic)
        if health is None:
            self.query_one("#topic-title", Label).update(f"Topic {self.topic} (gone)")
            return
        info = health.info
        self.partitions = len(info.partitions)
        rows = {}
        for p in info.partitions:
            flags = ", ".join(f for f, on in (("offline", p.offline),
                                               ("under-replicated", p.under_replicated),
                                               ("hot", p.partition in health.skew.hot_partitions))
                              if on)
            rows[str(p.partition)] = [
                num(p.partition), num(p.leader), Cell(",".join(map(str, p.replicas))),
                Cell(",".join(map(str, p.isr))), num(p.log_start), num(p.log_end),
                num(p.records), num(health.partition_rates.get(p.partition), 1),
                Cell(flags, flags, "red" if flags else ""),
            ]
        self.query_one(KeyedTable).sync(rows)
        rates = health.partition_rates
        use_rates = all(v is not None for v in rates.values()) and sum(
            v or 0 for v in rates.values()) > 0
        values = ({p: v or 0.0 for p, v in rates.items()} if use_rates
                  else {p.partition: float(p.records or 0) for p in info.partitions})
        what = "msgs/s" if use_rates else "records"
        self.query_one("#distribution", Static).update(
            bars(values, health.skew.hot_partitions, digits=1 if use_rates else 0))
        s = health.skew
        self.query_one("#skew", Static).update(
            f"by {what}: skew [b]{s.level}[/b] — coefficient of variation {s.cv:.2f}"
            f" (> 0.5 high), max/mean {s.max_over_mean:.2f} (≥ 2 severe); hot: "
            f"{', '.join(f'p{p}' for p in s.hot_partitions) or 'none'}")
        lines = []
        for gid in health.groups:
            g = pulse.view.groups.get(gid)
            lag = sum(r.offset_lag or 0 for r in g.partitions if r.topic == self.topic) if g \
                else 0
            lines.append(f"{gid}  lag {lag:,}  {g.status.value if g else ''}")
        self.query_one("#topic-groups", Static).update("\n".join(lines) or "none")
        self._lookup(self.query_one("#root-id", Input).value)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # read-only: hidden (`?` asks with the whole action string, admin('...'))
        return not (action.startswith("admin") and self.nexus.read_only)

    def action_admin(self, action: str) -> None:
        from nexus_tui.screens.admin import open_admin

        open_admin(self.nexus, action, self.topic)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "root-id":
            self._lookup(event.value)
        else:
            super().on_input_changed(event)

    def _lookup(self, root_id: str) -> None:
        out = self.query_one("#root-partition", Static)
        if not root_id or not self.partitions:
            out.update("")
            return
        p = partition_for_key(root_id.encode(), self.partitions)
        out.update(f"→ partition [b]{p}[/b] of {self.partitions} (murmur2, like Nexus Go)")
