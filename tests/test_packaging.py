"""Shape of the project: core stays UI-free, docker-compose stays valid."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_core_never_imports_the_ui():
    code = (
        "import sys, pkgutil, importlib, core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'nexus_tui')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_docker_compose_runs_redpanda_on_localhost_19092():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    redpanda = compose["services"]["redpanda"]
    assert "redpanda" in redpanda["image"]
    assert "19092:19092" in redpanda["ports"]
    assert any("external://localhost:19092" in arg for arg in redpanda["command"])
    assert compose["services"]["console"]["profiles"] == ["console"]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return {m.split(".")[0] for m in out.stdout.split()}


def test_core_package_imports_its_modules_on_first_use():
    """`import core` is free; a name from it loads only its own module (PEP 562)."""
    assert not _modules_after("import core") & {"aiokafka", "confluent_kafka", "msgspec"}
    loaded = _modules_after("from core import Envelope")
    assert not loaded & {"aiokafka", "confluent_kafka", "prometheus_client"}
    assert "aiokafka" in _modules_after("from core import KafkaSubscriber")


def test_headless_commands_load_only_what_they_use():
    """The start-up of `nexus-tui groups` (BENCHMARKS.md §4): no TUI, aiokafka, demo or
    publisher; a lazy command still loads and runs when asked for."""
    code = ("from nexus_tui.cli import cli; import click\n"
            "cli.get_command(click.Context(cli), 'groups')")
    loaded = _modules_after(code)
    assert not loaded & {"textual", "aiokafka", "prometheus_client"}, loaded
    assert "confluent_kafka" in loaded
    out = subprocess.run([str(Path(sys.executable).with_name("nexus-tui")), "seek", "--help"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "Reset GROUP" in out.stdout, out.stderr


def test_list_offsets_uses_one_future_per_request():
    """KafkaAdmin's offset and group reads go through the C methods behind AdminClient (one
    future per request, not one per partition or group: BENCHMARKS.md §6), found by
    core/compat.py; a confluent-kafka without them must fail here, by name (tests/test_compat.py
    checks their parameters and the public fallback on the broker)."""
    from core import compat

    for name in compat.ADMIN_C_METHODS:
        assert callable(compat.admin_c_method(name)), name


_PRIVATE_KAFKA_NAME = re.compile(
    r"(?<!self)\._client\b|__mro__\[|\bcimpl\b|\._value\b|_AdminClientImpl"
    r"|from aiokafka\.(?!abc\b|errors\b)")


def test_private_kafka_client_names_live_only_in_compat():
    """Every private name of confluent-kafka or aiokafka is used in core/compat.py only."""
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for top in ("core", "nexus_tui", "bench")
             for path in sorted((ROOT / top).rglob("*.py")) if path.name != "compat.py"
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if _PRIVATE_KAFKA_NAME.search(line)]
    assert found == []
