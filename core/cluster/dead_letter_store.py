"""What the TUI's dead-letter screens read and run, behind one small interface: the list of
dead-letter topics, the dead letters of one, a redrive's plan and the redrive itself.

`ClusterDeadLetters` does it on a cluster with the same calls as `nexus-tui dlq list|show|
redrive`. The TUI's data source hands the screens one of these (`DataSource.dead_letters`), so
a source that is not a cluster (the recorded one of the snapshot tests) gives its own.
"""

from __future__ import annotations

from typing import Protocol

from core.cluster.dead_letters import (
    DeadLetter,
    DeadLetterSummary,
    dead_letter_topics,
    read_dead_letters,
    reader,
    summarize,
)
from core.cluster.redrive import (
    Progress,
    Redrive,
    RedrivePlan,
    RedriveRequest,
    RedriveResult,
    run_audited,
)
from core.config.settings import ConnectionSettings


class DeadLetterStore(Protocol):
    def summaries(self) -> list[DeadLetterSummary]:
        """Each dead-letter topic (`<topic>.dlq`), with how many were redriven already."""
        ...

    def letters(self, topic: str) -> list[DeadLetter]:
        """Every dead letter of `topic`, oldest first."""
        ...

    def plan(self, request: RedriveRequest) -> RedrivePlan: ...

    def run(self, plan: RedrivePlan, progress: Progress | None = None) -> RedriveResult:
        """The redrive of `plan`, audited (read-only refused by the core)."""
        ...


class ClusterDeadLetters:
    """The dead letters of one cluster (blocking calls: run them in a thread)."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings

    def topics(self) -> list[str]:
        """The cluster's dead-letter topics."""
        consumer = reader(self.settings)
        try:
            names = consumer.list_topics(timeout=self.settings.request_timeout_s).topics
        finally:
            consumer.close()
        return dead_letter_topics(names)

    def summary(self, topic: str) -> DeadLetterSummary:
        """One dead-letter topic's summary, with how many were redriven already."""
        summary = summarize(self.settings, topic)
        summary.redriven = Redrive(self.settings, RedriveRequest(topic)).progress().redriven_before
        return summary

    def summaries(self) -> list[DeadLetterSummary]:
        return [self.summary(topic) for topic in self.topics()]

    def letters(self, topic: str) -> list[DeadLetter]:
        return sorted(read_dead_letters(self.settings, topic), key=lambda d: d.timestamp_ms)

    def plan(self, request: RedriveRequest) -> RedrivePlan:
        return Redrive(self.settings, request).plan()

    def run(self, plan: RedrivePlan, progress: Progress | None = None) -> RedriveResult:
        return run_audited(Redrive(self.settings, plan.request), plan, progress)
