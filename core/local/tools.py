"""Run Apache Kafka's own command-line tools (from the cached jars) as cross-checks."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from core.local.cluster import TOOL_JVM_FLAGS, tools_log_config
from core.local.jars import ensure_jars, find_java, java_classpath

CONSUMER_GROUP_COMMAND = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
PRODUCER_PERFORMANCE = "org.apache.kafka.tools.ProducerPerformance"
CONSUMER_PERFORMANCE = "org.apache.kafka.tools.ConsumerPerformance"


def tool_command(main_class: str, args: Sequence[str], fast_start: bool = True) -> list[str]:
    """The java command line of a Kafka tool; fast_start trades peak speed for start time."""
    flags = TOOL_JVM_FLAGS if fast_start else ["-Xms256m", "-Xmx512m", "-XX:+UseG1GC"]
    return [
        find_java(), *flags, "-cp", java_classpath(ensure_jars()),
        f"-Dlog4j2.configurationFile={tools_log_config()}", main_class, *args,
    ]


def run_tool(
    main_class: str, args: Sequence[str], timeout: float = 120.0, fast_start: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a Kafka tool to completion and return its output (stdout parseable, logs on stderr)."""
    return subprocess.run(
        tool_command(main_class, args, fast_start), capture_output=True, text=True,
        timeout=timeout, input=input,
    )
