"""The `:` command palette: jump to a view, switch context, refresh — only what makes sense
now (no dispatch or seek on a read-only connection)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from nexus_tui.app import NexusApp

VIEWS = [
    ("overview", "Overview: the cluster's pulse"),
    ("topics", "Topics: partitions, records, rates, skew"),
    ("groups", "Consumer groups: lag, time lag, status"),
    ("errors", "Errors: Nexus error replies, unanswered requests, dead letters"),
    ("messages", "Messages: browse and tail topics, follow a conversation"),
    ("dispatch", "Dispatch: send a test request and watch its reply"),
]


class NexusCommands(Provider):
    def _commands(self) -> list[tuple[str, str, object]]:
        app: NexusApp = self.app  # type: ignore[assignment]
        out: list[tuple[str, str, object]] = []
        for name, help_text in VIEWS:
            if name == "dispatch" and app.read_only:
                continue
            out.append((name, help_text, partial(app.action_view, name)))
        out.append(("dlq", "Dead letters: inspect and redrive dead-letter topics",
                    partial(app.open_dead_letters, None)))
        if not app.read_only:
            out.append(("seek", "Seek: reset a consumer group's offsets",
                        partial(app.open_seek, None)))
        for ctx in sorted(app.options.contexts):
            out.append((f"ctx {ctx}", f"Switch to context {ctx}",
                        partial(app.start_context_switch, ctx)))
        out.append(("audit", "Audit log: every change made to a cluster", app.open_audit))
        out.append(("refresh", "Refresh now", app.action_refresh))
        out.append(("help", "List every key", app.action_help))
        out.append(("quit", "Quit nexus-tui", app.exit))
        return out

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback,  # type: ignore[arg-type]
                          help=help_text)
