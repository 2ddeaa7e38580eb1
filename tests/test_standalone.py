"""The project stands alone (issue 13 §2): nothing in it reads or names a path outside the
repository. Proven on a copy of the tracked files (`git ls-files`) placed in a folder of its own
(no sibling folder: `../anything` finds nothing), where the whole suite must collect and the
pure tests (no broker) must pass, run by this interpreter with PYTHONPATH on the copy and
NEXUS_TUI_TEST_BOOTSTRAP unset.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: The tests that need no broker (test_partitioner runs Kafka's Java partitioner from the jars,
#: a prerequisite, but no broker).
PURE = [
    "tests/test_envelope.py", "tests/test_lag_math.py", "tests/test_burrow.py",
    "tests/test_seek_parse.py", "tests/test_skew.py", "tests/test_timelag.py",
    "tests/test_traffic_window.py", "tests/test_partitioner.py", "tests/test_config.py",
    "tests/test_consumer_stop.py", "tests/test_monitor_view.py",
]

#: Paths outside the repository that files once named (built from parts, so that this file
#: does not name them itself).
OUTSIDE = re.compile("|".join(re.escape(p) for p in ("/wo" + "rk/", ".." + "/shared")))

#: Property tests run fewer examples in the copy: what is proven there is where the code and
#: data come from, not the properties (the suite runs those in full).
_RUN = """
import sys
import hypothesis
import pytest

hypothesis.settings.register_profile("standalone", max_examples=20, deadline=None)
hypothesis.settings.load_profile("standalone")
status = pytest.main(sys.argv[1:])
ours = ("core", "nexus_tui", "tests", "conftest")
print("IMPORTED", *(getattr(m, "__file__", None) or "" for name, m in list(sys.modules.items())
                    if name.split(".")[0] in ours))
sys.exit(status)
"""


def _tracked() -> list[str]:
    try:
        proc = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                              timeout=60)
    except OSError as exc:
        pytest.fail(f"git is needed to list the tracked files (install git): {exc}",
                    pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"not a git work tree: {proc.stderr.decode().strip()}", pytrace=False)
    return [name for name in proc.stdout.decode().split("\0") if name]


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked files, copied to <tmp>/alone/repo: nothing else in <tmp>/alone."""
    repo = tmp_path_factory.mktemp("alone") / "repo"
    for name in _tracked():
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is left out
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name, follow_symlinks=False)
    assert list(repo.parent.iterdir()) == [repo]
    return repo


def _env(where: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NEXUS_TUI_TEST_BOOTSTRAP"}
    env["PYTHONPATH"] = str(where)
    return env


def _collected(where: Path) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=where, env=_env(where), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {line for line in proc.stdout.splitlines() if "::" in line}


@pytest.mark.timeout(1200)
def test_the_copy_collects_every_test(copy: Path) -> None:
    tracked = set(_tracked())
    here = {node for node in _collected(ROOT) if node.split("::")[0] in tracked}
    there = _collected(copy)
    assert there == here
    assert len(there) > 100


@pytest.mark.timeout(1200)
def test_the_pure_tests_pass_in_the_copy(copy: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, "-q", "-p", "no:cacheprovider",
         "-W", "ignore::pytest.PytestAssertRewriteWarning", *PURE],
        cwd=copy, env=_env(copy), capture_output=True, text=True, timeout=1100)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    imported = proc.stdout.split("IMPORTED", 1)[1].split()
    assert "core/__init__.py" in " ".join(imported)
    assert all(Path(f).is_relative_to(copy) for f in imported), imported
    assert re.search(r"\d+ passed", proc.stdout) and " failed" not in proc.stdout


def test_no_file_names_a_path_outside_the_repository() -> None:
    found = []
    for name in _tracked():
        path = ROOT / name
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary or deleted in the work tree
        found += [f"{name}:{n}: {line.strip()}"
                  for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert found == []
