"""Shared steps of the administration tests: the CLI in a subprocess with its own config file
and audit log, Kafka's own tools for the cross-checks, and reading the audit log back."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.local.tools import CONSUMER_GROUP_COMMAND, run_tool, tool_command

TOPIC_COMMAND = "org.apache.kafka.tools.TopicCommand"
CONFIG_COMMAND = "kafka.admin.ConfigCommand"
GET_OFFSET_SHELL = "org.apache.kafka.tools.GetOffsetShell"
DELETE_RECORDS_COMMAND = "org.apache.kafka.tools.DeleteRecordsCommand"
#: the scripts of Kafka's distribution our plans print, and the classes they run
SCRIPTS = {"kafka-topics.sh": TOPIC_COMMAND, "kafka-configs.sh": CONFIG_COMMAND,
           "kafka-consumer-groups.sh": CONSUMER_GROUP_COMMAND,
           "kafka-delete-records.sh": DELETE_RECORDS_COMMAND}


def run_printed(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A Kafka command as a plan prints it, run in a POSIX shell with each script name
    replaced by the java command line of its class (what the script itself runs)."""
    for script, main_class in SCRIPTS.items():
        java = shlex.join(tool_command(main_class, []))
        command = re.sub(rf"(?<![\w.-]){re.escape(script)}(?![\w.-])",
                         lambda _, j=java: j, command)
    return subprocess.run(["sh", "-c", command], cwd=cwd, capture_output=True, text=True,
                          timeout=180)


@dataclass
class Cli:
    """`python -m nexus_tui` against one broker, with a config file and an audit log in tmp."""

    bootstrap: str
    tmp: Path
    config_text: str = ""

    @property
    def audit(self) -> Path:
        return self.tmp / "audit.jsonl"

    def run(self, *args: str, bootstrap: bool = True) -> subprocess.CompletedProcess[str]:
        config = self.tmp / "config.toml"
        config.write_text(self.config_text)
        env = {**os.environ, "NEXUS_TUI_CONFIG": str(config),
               "NEXUS_TUI_AUDIT_LOG": str(self.audit)}
        env.pop("NEXUS_TUI_BOOTSTRAP", None)
        extra = ["-b", self.bootstrap] if bootstrap else []
        return subprocess.run([sys.executable, "-m", "nexus_tui", *args, *extra],
                              capture_output=True, text=True, env=env, timeout=120)

    def json(self, *args: str, bootstrap: bool = True) -> Any:
        done = self.run(*args, "--json", bootstrap=bootstrap)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def error(self, *args: str, bootstrap: bool = True) -> str:
        """The one-line error of a command that must fail."""
        done = self.run(*args, bootstrap=bootstrap)
        assert done.returncode != 0, done.stdout
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
        assert "Traceback" not in done.stderr
        return lines[0]

    def entries(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines()]

    def last_record(self) -> list[dict[str, Any]]:
        """The lines (intent, result) of the last change recorded."""
        entries = self.entries()
        assert entries, "nothing in the audit log"
        last = entries[-1]["id"]
        return [e for e in entries if e["id"] == last]


def kafka_tool(main_class: str, *args: str) -> str:
    done = run_tool(main_class, list(args))
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def describe_topic(bootstrap: str, topic: str) -> str:
    return kafka_tool(TOPIC_COMMAND, "--bootstrap-server", bootstrap, "--describe",
                      "--topic", topic)


def topic_configs(bootstrap: str, topic: str) -> str:
    return kafka_tool(CONFIG_COMMAND, "--bootstrap-server", bootstrap, "--describe",
                      "--entity-type", "topics", "--entity-name", topic)


def listed_topics(bootstrap: str) -> set[str]:
    """Kafka's TopicCommand --list: the topic names the cluster has (asking never creates one)."""
    return set(kafka_tool(TOPIC_COMMAND, "--bootstrap-server", bootstrap, "--list").split())


def broker_setting(bootstrap: str, key: str) -> str:
    """A broker setting as Kafka's ConfigCommand --describe --all reports it (the first broker)."""
    out = kafka_tool(CONFIG_COMMAND, "--bootstrap-server", bootstrap, "--describe",
                     "--entity-type", "brokers", "--all")
    values = [line.split()[0].split("=", 1)[1] for line in out.splitlines()
              if line.strip().startswith(key + "=")]
    assert values, f"{key} not in the broker's configs"
    return values[0]


def log_starts(bootstrap: str, topic: str) -> dict[int, int]:
    """Kafka's GetOffsetShell --time -2 (earliest): partition → log start offset."""
    out = kafka_tool(GET_OFFSET_SHELL, "--bootstrap-server", bootstrap, "--topic", topic,
                     "--time", "-2")
    return {int(p): int(o) for line in out.split() for _, p, o in [line.rsplit(":", 2)]}


def group_command(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_tool(CONSUMER_GROUP_COMMAND, ["--bootstrap-server", bootstrap, *args])


def check_change_recorded(cli: Cli, action: str, outcome: str) -> list[dict[str, Any]]:
    """The last change is an intent line then a result line of `action`, ending in `outcome`."""
    lines = cli.last_record()
    assert [e["phase"] for e in lines] == ["intent", "result"], lines
    assert {e["action"] for e in lines} == {action}
    assert lines[-1]["outcome"] == outcome, lines[-1]
    return lines
