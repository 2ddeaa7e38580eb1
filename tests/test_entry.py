"""The executable's own reading of a plain dashboard command line (nexus_tui/entry.py) means
what click's reading means, and hands everything else to click.

Each command line is read both ways: by `dashboard_args`, and by click's group with
`launch_tui` replaced by a recorder. Where the entry reads it, click must launch the dashboard
with the same arguments; where click refuses it or runs something else, the entry must not
read it. No broker is involved: nothing is launched.
"""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nexus_tui.launch
from nexus_tui.cli import cli
from nexus_tui.entry import DashboardArgs, dashboard_args

TOKENS = ["-b", "--bootstrap", "--context", "-X", "--refresh", "--read-only", "-v",
          "--verbose", "--timeout", "--json", "h:1", "h:2,h:3", "prod", "a=b", "a=c",
          "5", "0", "3600", "3601", "0.5", "1e3", "nan", "-1", "", " 5", "--", "topics",
          "--help", "--bootstrap=h:4", "-bh:5", "-Xa=d", "-vb", "--refresh=2", "--version"]


def click_reading(argv: list[str], env: dict[str, str],
                  monkeypatch: pytest.MonkeyPatch) -> DashboardArgs | str:
    """What click does with `argv`: the dashboard's arguments, or how it ended otherwise."""
    launched: list[DashboardArgs] = []
    with monkeypatch.context() as m:
        m.setattr(nexus_tui.launch, "launch_tui",
                  lambda *args: launched.append(DashboardArgs(*args)))
        m.delenv("NEXUS_TUI_BOOTSTRAP", raising=False)
        for key, value in env.items():
            m.setenv(key, value)
        try:
            cli.main(argv, prog_name="nexus-tui", standalone_mode=False)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit) as exc:
            return f"ended: {type(exc).__name__}"
        except Exception as exc:  # a command that ran and failed: not the dashboard either
            return f"ran something else: {type(exc).__name__}"
    return launched[0] if launched else "ran something else"


def check_same(argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    ours = dashboard_args(argv, env)
    if ours is not None:
        assert click_reading(argv, env, monkeypatch) == ours, argv


@pytest.mark.parametrize("argv, expected", [
    ([], DashboardArgs(None, None, (), False, None)),
    (["-b", "h:1"], DashboardArgs("h:1", None, (), False, None)),
    (["--bootstrap", "h:1", "-b", "h:2", "--context", "prod", "--read-only", "-v"],
     DashboardArgs("h:2", "prod", (), True, None)),
    (["-X", "a=b", "--refresh", "0.5", "-X", "c=d"],
     DashboardArgs(None, None, ("a=b", "c=d"), False, 0.5)),
    (["--refresh", "3600"], DashboardArgs(None, None, (), False, 3600.0)),
])
def test_a_plain_dashboard_command_line_is_read_as_click_reads_it(argv, expected, monkeypatch):
    assert dashboard_args(argv, {}) == expected
    assert click_reading(argv, {}, monkeypatch) == expected


@pytest.mark.parametrize("argv", [
    ["topics"], ["--help"], ["--version"], ["--timeout", "5"], ["--json"], ["-b"],
    ["-b", ""], ["-b", "--read-only"], ["--bootstrap=h:1"], ["-bh:1"], ["--refresh", "3601"],
    ["--refresh", "1e3"], ["--refresh", "nan"], ["--refresh", "-1"], ["-vb", "h:1"],
    ["--", "-b"], ["-b", "h:1", "groups", "--json"],
])
def test_everything_else_is_left_to_click(argv):
    assert dashboard_args(argv, {}) is None


def test_the_bootstrap_variable_counts_as_click_counts_it(monkeypatch):
    for env in ({"NEXUS_TUI_BOOTSTRAP": "h:9"}, {"NEXUS_TUI_BOOTSTRAP": ""}, {}):
        for argv in ([], ["-b", "h:1"]):
            assert dashboard_args(argv, env) is not None
            check_same(argv, env, monkeypatch)


@settings(max_examples=300, deadline=None)
@given(argv=st.lists(st.sampled_from(TOKENS), max_size=6),
       env=st.sampled_from([{}, {"NEXUS_TUI_BOOTSTRAP": "h:8"}]))
def test_any_command_line_the_entry_reads_click_reads_the_same(argv, env):
    with pytest.MonkeyPatch.context() as monkeypatch:
        check_same(argv, env, monkeypatch)


def test_the_executable_does_not_import_click_to_open_the_dashboard():
    """What the fast path is for: measured in BENCHMARKS.md §10."""
    code = ("import sys, nexus_tui.entry as e; assert e.dashboard_args(['-b', 'h:1']); "
            "import nexus_tui.launch; print('click' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_a_failure_of_the_fast_path_is_one_line_and_a_non_zero_exit(tmp_path):
    """A malformed -X is refused by launch_tui (ConfigError): the same line click's path
    prints, no traceback."""
    env = {"NEXUS_TUI_CONFIG": str(tmp_path / "none.toml"), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "nexus_tui", "-b", "h:1", "-X", "novalue"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 1
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    assert "Traceback" not in run.stderr


def test_the_exit_skips_the_final_collections():
    """What is alive at exit is frozen and the collector off: interpreter shutdown then never
    finalizes a Kafka client left in a reference cycle (destroying one whose broker never
    answered waits for librdkafka's threads: 2.5 s more for a `dispatch` to an unresolvable
    host, tests/test_fuzz_inputs.py)."""
    code = ("import gc; from nexus_tui.entry import skip_final_collection; x = [1]; "
            "skip_final_collection(); print(gc.isenabled(), gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "True"]
