"""Consumer groups read in a child process, so that a librdkafka abort cannot kill the caller.

librdkafka (2.16, confluentinc/librdkafka#4605, fix proposed in PR #5397) can abort the whole
process (`rd_kafka_enq_once_del_source_return: Assertion 'eonce->refcnt > 0' failed`) when a
coordinator request — DescribeConsumerGroups, ListConsumerGroupOffsets — is sent while the
coordinator's connection is going down. Measured here: 2 aborts in 14 broker restarts with a
refresh loop reading 100 groups (RELIABILITY.md). A dashboard must survive exactly that, so a
long-lived refresh loop (the TUI) reads groups through :class:`GroupReader`: a child process
(`python -m core.engine.group_reader`) owning its own admin client, spoken to over its stdin/stdout
in length-prefixed pickles (core/engine/child.py). When the child dies, the call raises a
`NexusError` saying why, and the next call starts a new child.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, BinaryIO

from core.cluster.snapshot import GroupInfo
from core.config.settings import ConnectionSettings
from core.engine.child import ChildService, background_priority, read, write
from core.errors import NexusError


class GroupReader(ChildService):
    """`KafkaAdmin`'s consumer-group reads (list, describe, offsets) done in a child process."""

    doing = "reading consumer groups"
    role = "reader"

    def __init__(self, settings: ConnectionSettings) -> None:
        # the child's own requests time out after request_timeout_s; list + describe +
        # offsets run one after the other, plus its start-up
        super().__init__("core.engine.group_reader", settings, 3 * settings.request_timeout_s + 10)
        self.settings = settings

    async def groups(self, group_filter: str | None, errors: list[str]) -> dict[str, GroupInfo]:
        """Every group matching the regex, described with its committed offsets."""
        infos, child_errors = await self.call(("groups", group_filter))
        errors.extend(child_errors)
        return dict(infos)


def _serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The child: settings first, then one answer per request until stdin closes."""
    from core.cluster.admin import KafkaAdmin, _compile

    background_priority()
    admin = KafkaAdmin(read(stdin))
    loop = asyncio.new_event_loop()
    while True:
        try:
            op, group_filter = read(stdin)
        except EOFError:
            return
        errors: list[str] = []
        try:
            assert op == "groups", op
            infos = loop.run_until_complete(
                admin._groups(_compile(group_filter, "group filter"), errors))
            answer: tuple[bool, Any] = (True, (list(infos.items()), errors))
        except NexusError as exc:
            answer = (False, exc)
        except Exception as exc:  # noqa: BLE001 - a bug: the caller shows it as one line
            answer = (False, NexusError(f"reading consumer groups: {type(exc).__name__}: {exc}"))
        write(stdout, answer)


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
