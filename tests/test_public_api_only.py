"""nexus_tui/ uses Textual and Rich through their public APIs only: an upgrade may change
anything private without notice (Textual is pinned for the snapshot SVGs, not for this).

An AST scan of every module under nexus_tui/ flags:
* an import of a private module or name (`from textual.widgets._data_table import ...`,
  `from rich.x import _y`, `import textual._z`);
* `obj._name` on anything but `self` / `cls` (another object's privates: in this code base
  that is a Textual or Rich object, or one of ours reached from outside);
* `self._name` / `cls._name` where no class of ours in the method's class hierarchy defines
  `_name` (so it is inherited from Textual: `self._bindings` in a Screen);
* `getattr(obj, "_name")` and the like, the same rule spelled as a string.
Dunder names (`__init__`, `__mro__`, ...) are Python's, not a library's private names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nexus_tui"
LIBRARIES = ("textual", "rich")
#: namedtuple's public API happens to start with an underscore
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass
class ClassInfo:
    bases: list[str]
    defines: set[str] = field(default_factory=set)


def classes_of(trees: dict[Path, ast.Module]) -> dict[str, ClassInfo]:
    """Every class of the package: its bases (by name) and the underscore names it defines
    (methods, class attributes, and `self._x = ...` anywhere in its methods)."""
    out: dict[str, ClassInfo] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            info = out.setdefault(node.name, ClassInfo(
                [b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute)
                 else "" for b in node.bases]))
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    info.defines.add(item.name)
                elif isinstance(item, ast.Assign):
                    info.defines.update(t.id for t in item.targets if isinstance(t, ast.Name))
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    info.defines.add(item.target.id)
            for sub in ast.walk(node):
                targets = (sub.targets if isinstance(sub, ast.Assign) else
                           [sub.target] if isinstance(sub, ast.AnnAssign | ast.AugAssign)
                           else [])
                for t in targets:
                    for leaf in ast.walk(t):
                        if (isinstance(leaf, ast.Attribute) and isinstance(leaf.value, ast.Name)
                                and leaf.value.id in ("self", "cls")):
                            info.defines.add(leaf.attr)
    return out


def own_names(cls: str, classes: dict[str, ClassInfo], seen: set[str] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if cls in seen or cls not in classes:
        return set()
    seen.add(cls)
    names = set(classes[cls].defines)
    for base in classes[cls].bases:
        names |= own_names(base, classes, seen)
    return names


def violations(trees: dict[Path, ast.Module]) -> Iterator[str]:
    classes = classes_of(trees)
    for path, tree in trees.items():
        where = path.relative_to(ROOT)
        yield from _imports(tree, where)
        yield from _attributes(tree, where, classes)


def _imports(tree: ast.Module, where: Path) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] not in LIBRARIES:
                continue
            if any(private(p) for p in parts):
                yield f"{where}:{node.lineno}: imports private module {node.module}"
            for alias in node.names:
                if private(alias.name):
                    yield f"{where}:{node.lineno}: imports {alias.name} from {node.module}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in LIBRARIES and any(private(p) for p in parts):
                    yield f"{where}:{node.lineno}: imports private module {alias.name}"


def _attributes(tree: ast.Module, where: Path,
                classes: dict[str, ClassInfo]) -> Iterator[str]:
    def visit(node: ast.AST, cls: str | None) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from visit(child, child.name)
                continue
            if isinstance(child, ast.Attribute) and private(child.attr) \
                    and child.attr not in NAMEDTUPLE_API:
                target = child.value
                if isinstance(target, ast.Name) and target.id in ("self", "cls"):
                    if cls is None or child.attr not in own_names(cls, classes):
                        yield (f"{where}:{child.lineno}: {target.id}.{child.attr} is not "
                               f"defined by {cls or 'a class of ours'} (a library's private)")
                else:
                    yield f"{where}:{child.lineno}: .{child.attr} of another object"
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) \
                    and child.func.id in ("getattr", "setattr", "hasattr", "delattr") \
                    and len(child.args) >= 2 and isinstance(child.args[1], ast.Constant) \
                    and isinstance(child.args[1].value, str) and private(child.args[1].value):
                target, name = child.args[0], child.args[1].value
                own = (isinstance(target, ast.Name) and target.id in ("self", "cls")
                       and cls is not None and name in own_names(cls, classes))
                if not own:
                    yield f"{where}:{child.lineno}: {child.func.id}(…, {name!r})"
            yield from visit(child, cls)

    yield from visit(tree, None)


def parse(source: str, name: str = "nexus_tui/x.py") -> dict[Path, ast.Module]:
    return {ROOT / name: ast.parse(source)}


def test_nexus_tui_uses_only_public_names_of_textual_and_rich() -> None:
    trees = {path: ast.parse(path.read_text(), str(path))
             for path in sorted(PACKAGE.rglob("*.py"))}
    assert len(trees) > 10
    found = list(violations(trees))
    assert not found, "private names used:\n" + "\n".join(found)


@pytest.mark.parametrize("source", [
    "from textual.widgets._data_table import ColumnKey",
    "from textual.widgets import _data_table",
    "import textual._compositor",
    "from rich._loop import loop_last",
    "def f(table):\n    table._row_render_cache.clear()",
    "class T:\n    def f(self):\n        return super()._render_cell(0, 0)",
    "from textual.screen import Screen\nclass S(Screen):\n    def f(self):\n"
    "        return self._bindings",
    "def f(w):\n    return getattr(w, '_update_count')",
])
def test_the_scan_finds_private_names(source: str) -> None:
    assert list(violations(parse(source)))


@pytest.mark.parametrize("source", [
    "from textual.widgets import DataTable\nfrom rich.text import Text",
    "class T:\n    def __init__(self):\n        self._rows = {}\n    def f(self):\n"
    "        return self._rows",
    "class A:\n    def _helper(self):\n        pass\nclass B(A):\n    def f(self):\n"
    "        self._helper()",
    "def f(p):\n    return p._replace(x=1), type(p).__mro__",
    "class T:\n    def f(self):\n        self._shown = []\n    def g(self):\n"
    "        return getattr(self, '_shown', [])",
])
def test_the_scan_lets_our_own_names_be(source: str) -> None:
    assert not list(violations(parse(source)))
