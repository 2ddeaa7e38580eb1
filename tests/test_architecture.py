"""The import rules of docs/ARCHITECTURE.md, read from the source (ast) of every module of
`core/`, and checked again in a fresh interpreter: what importing a package actually loads."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
CLIENTS = {"confluent_kafka", "aiokafka"}
UI = {"textual", "rich", "nexus_tui"}

#: the core packages each package of core/ may import at run time (itself, core.errors and
#: core.compat always: the errors every caller shows, the clients' private names in one place);
#: a layer only imports the layers below it. `core` is core/__init__.py (lazy names).
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "compat": set(),
    "wire": set(),
    "health": set(),
    "config": set(),
    "local": set(),
    "messaging": {"wire", "config"},
    "cluster": {"wire", "config", "health", "messaging"},
    "traffic": {"wire", "config", "messaging", "cluster"},
    "engine": {"wire", "config", "health", "messaging", "cluster", "traffic"},
    "exporter": {"wire", "config", "health", "messaging", "cluster", "traffic", "engine"},
    "core": set(),
}
#: the packages that import no Kafka client at all
NO_CLIENT = {"wire", "health", "errors"}
ALWAYS = {"errors", "compat"}


def _package(path: Path) -> str:
    parts = path.relative_to(CORE).with_suffix("").parts
    return "core" if parts == ("__init__",) else parts[0]


def _imports(path: Path, *, module_level_only: bool = False) -> set[str]:
    """Every module `path` imports when it runs (lazy imports inside functions included,
    `if TYPE_CHECKING:` blocks left out: they never run)."""
    tree = ast.parse(path.read_text(), str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


MODULES = sorted(CORE.rglob("*.py"))


def test_every_package_of_core_is_ruled() -> None:
    assert {_package(p) for p in MODULES} == set(MAY_IMPORT)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_only_the_layers_below_and_never_the_ui(path: Path) -> None:
    package = _package(path)
    allowed = MAY_IMPORT[package] | {package} | ALWAYS
    for name in _imports(path):
        top = name.split(".")[0]
        assert top not in UI, f"{name}: core never imports the UI"
        if package in NO_CLIENT:
            assert top not in CLIENTS, f"{name}: core.{package} imports no Kafka client"
        if top == "core" and name != "core":
            layer = name.split(".")[1]
            assert layer in allowed, f"{name}: core.{package} may import only {sorted(allowed)}"


def test_health_math_imports_nothing_of_core_but_itself_and_errors() -> None:
    for path in sorted((CORE / "health").glob("*.py")):
        core_imports = {n for n in _imports(path) if n.split(".")[0] == "core"}
        assert all(n.startswith(("core.health", "core.errors")) for n in core_imports), path


@pytest.mark.parametrize("name", ["settings.py", "contexts.py"])
def test_config_imports_no_kafka_client_at_module_level(name: str) -> None:
    """`oauth.py` is the exception by its job (aiokafka's token-provider base class); the
    settings load it only when an OAUTHBEARER connection asks for its providers."""
    tops = {n.split(".")[0] for n in _imports(CORE / "config" / name, module_level_only=True)}
    assert not tops & CLIENTS


def _loaded_after(*modules: str) -> set[str]:
    """Top-level packages in sys.modules after importing `modules` in a fresh interpreter."""
    code = ("import importlib, json, sys\n"
            f"for m in {list(modules)!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=True).stdout
    return set(json.loads(out))


@pytest.mark.parametrize(("modules", "absent"), [
    (["core"], UI | CLIENTS),
    ([f"core.health.{p.stem}" for p in sorted((CORE / "health").glob("*.py"))],
     UI | CLIENTS),
    ([f"core.wire.{p.stem}" for p in sorted((CORE / "wire").glob("*.py"))],
     UI | CLIENTS),
    (["core.config.settings", "core.config.contexts"], UI | CLIENTS),
    (["core.engine.process", "core.cluster.admin"], UI),
], ids=["core", "core.health", "core.wire", "core.config", "core.engine"])
def test_importing_a_package_loads_only_what_its_rules_allow(modules: list[str],
                                                             absent: set[str]) -> None:
    assert not _loaded_after(*modules) & absent
