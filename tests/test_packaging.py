"""Shape of the project: core stays UI-free, docker-compose stays valid."""

from __future__ import annotations

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
