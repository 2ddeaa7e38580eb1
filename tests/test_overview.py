"""The on-call overview (issue #16): what is wrong now first, each line a link to its detail
view, "all OK" said plainly; charts with a time axis.

Pilot tests run the app on the real broker (its engine scoped to the test's topic and group,
as `health --topics/--groups` is: the shared broker holds other tests' groups). The chart's
picture is pinned on the recorded cluster and as text: a picture, not Kafka behaviour.
"""

from __future__ import annotations

import time

import pytest
from textual.widgets import Label

from core.config.settings import ConnectionSettings
from nexus_tui.app import AppOptions, NexusApp
from nexus_tui.coreloop import CoreLoop
from nexus_tui.recorded import recorded_pulses
from nexus_tui.screens.group_detail import GroupDetailScreen
from nexus_tui.screens.overview import OverviewScreen
from nexus_tui.source import LiveSource, RecordedSource
from nexus_tui.timechart import column_values, render_chart
from nexus_tui.widgets import KeyedTable
from tests.app_helpers import wait_on
from tests.kafka_helpers import commit_offsets, create_topic, produce_counts
from tests.test_time_lag_truth import AGE_S, RECORDS, _old_records

SIZE = (150, 46)


# ---- the chart: a fixed window of time, samples right-aligned -----------------------------


def test_few_samples_sit_at_the_right_edge_at_their_spacing():
    # 4 samples 5 s apart in a 300 s window of 60 columns (5 s each): the last 4 columns
    samples = [(985.0, 10.0), (990.0, 20.0), (995.0, 40.0), (1000.0, 30.0)]
    values = column_values(samples, 1000.0, 300.0, 60)
    assert values[:56] == [None] * 56
    assert values[56:] == [10.0, 20.0, 40.0, 30.0]


def test_the_chart_picture_with_few_samples():
    samples = [(985.0, 10.0), (990.0, 20.0), (995.0, 40.0), (1000.0, 30.0)]
    assert render_chart(samples, 1000.0, 300.0, 68, height=2) == [
        "     40                                                           █▄",
        "      0                                                         ▄███",
        "        └───────────┴───────────┴──────────┴───────────┴───────────┘",
        "        -5 min   -4 min      -3 min     -2 min      -1 min       now",
    ]  # 10, 20, 40, 30 of 40 in 16 eighths: 4, 8, 16, 12


def test_a_column_narrower_than_the_refresh_period_is_not_a_hole_but_an_outage_is():
    every_5s = [(float(t), 1.0) for t in range(700, 1001, 5)]
    assert None not in column_values(every_5s, 1000.0, 300.0, 120)[1:]  # 2.5 s columns
    outage = [s for s in every_5s if not 800 < s[0] < 900]
    values = column_values(outage, 1000.0, 300.0, 60)
    assert values[22:38] == [None] * 16 and values[-1] == 1.0


class TestPicture:
    def test_overview_with_three_refreshes(self, snap_compare):
        async def replay(pilot) -> None:
            app = pilot.app
            for _ in range(3):
                count = app.refresh_count
                app.action_refresh()
                while app.refresh_count == count:
                    await pilot.pause(0.01)
            await pilot.pause()

        options = AppOptions(context="recorded", refresh_interval_s=0)
        app = NexusApp(RecordedSource(recorded_pulses(3)), options)
        assert snap_compare(app, run_before=replay, terminal_size=(150, 42))


# ---- on the real broker -------------------------------------------------------------------


@pytest.fixture
def scoped_app():
    cores: list[CoreLoop] = []

    def make(bootstrap: str, prefix: str) -> NexusApp:
        core = CoreLoop()
        cores.append(core)
        settings = ConnectionSettings(bootstrap=bootstrap, request_timeout_s=5.0)
        source = LiveSource(settings, core, watch_traffic=False,
                            topic_filter=f"^{prefix}", group_filter=f"^{prefix}")
        return NexusApp(source, AppOptions(context="test", refresh_interval_s=0.3), core)

    yield make
    for core in cores:
        core.stop()


def _problems(app: NexusApp) -> KeyedTable:
    return app.screen.query_one("#problems", KeyedTable)


async def test_a_stopped_consumer_is_a_problem_line_and_enter_opens_its_group(
        kafka, unique, scoped_app):
    group = f"{unique}-g"
    ts = _old_records(kafka.bootstrap, unique)
    commit_offsets(kafka.bootstrap, group, {(unique, 0): 5})  # then nobody consumes
    app = scoped_app(kafka.bootstrap, unique)
    key = f"group/{group}/0"
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, OverviewScreen)
        # Burrow's STOP needs a full window of samples (10 refreshes)
        await wait_on(pilot, lambda: key in _problems(app).keys, 90, "the group's problem")
        table = _problems(app)
        # the engine reads the record at the commit in the background: a bound until then
        await wait_on(pilot, lambda: "≥" not in str(table.get_cell(key, "reason")), 30,
                      "the exact time lag")
        assert table.display and table.keys[0] == key  # the only problem, and the worst
        assert str(table.get_cell(key, "severity")) == "ERR"
        reason = str(table.get_cell(key, "reason"))
        assert reason.startswith("ERR: time lag ") and "STOP" in reason, reason
        age_min = int((time.time() - ts[5]) // 60)
        assert f"time lag {age_min} min" in reason or f"time lag {age_min + 1} min" in reason, (
            reason, age_min)
        title = str(app.screen.query_one("#problems-title", Label).render())
        assert title.startswith("What is wrong now: 1 problem(s), 1 ERR"), title

        table.focus()
        table.move_cursor(table.get_row_index(key))
        await pilot.press("enter")
        await wait_on(pilot, lambda: isinstance(app.screen, GroupDetailScreen), 10,
                      "the group's detail")
        assert app.screen.group_id == group
        detail = app.screen.query_one(KeyedTable)
        await wait_on(pilot, lambda: f"{unique}:0" in detail.keys, 30, "its partition row")
        assert str(detail.get_cell(f"{unique}:0", "lag")) == str(RECORDS - 5)
        assert "min" in str(detail.get_cell(f"{unique}:0", "tlag"))
        assert AGE_S > 60  # (so the figure above is minutes, not the sampling window)


async def test_a_healthy_cluster_says_all_ok(kafka, unique, scoped_app):
    create_topic(kafka.bootstrap, unique, partitions=2)
    produce_counts(kafka.bootstrap, unique, [5, 5])
    commit_offsets(kafka.bootstrap, f"{unique}-g", {(unique, 0): 5, (unique, 1): 5})
    app = scoped_app(kafka.bootstrap, unique)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on(pilot, lambda: app.pulse is not None, 60, "the first refresh")
        await pilot.pause()
        title = str(app.screen.query_one("#problems-title", Label).render())
        assert title.startswith("All OK: nothing wrong now (1 group(s), 1 topic(s), "
                                "1 broker(s) checked)"), title
        assert not _problems(app).display and _problems(app).keys == []


async def test_the_groups_view_shows_a_lower_bound_as_one_and_unknown_as_unknown(
        kafka, unique, scoped_app):
    import re

    from tests.test_time_lag_truth import _delete_records

    gone_head, all_gone = f"{unique}-a", f"{unique}-b"
    for topic in (gone_head, all_gone):
        _old_records(kafka.bootstrap, topic)
        commit_offsets(kafka.bootstrap, f"{topic}-g", {(topic, 0): 5})
    _delete_records(kafka.bootstrap, gone_head, 10)  # the record at the commit is gone
    _delete_records(kafka.bootstrap, all_gone, RECORDS)  # no record left to date it
    app = scoped_app(kafka.bootstrap, unique)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        table = app.screen.query_one(KeyedTable)
        await wait_on(pilot, lambda: {f"{gone_head}-g", f"{all_gone}-g"} <= set(table.keys),
                      60, "both groups")
        # until the engine's background read of the record after the commit is in: "-",
        # then at least the time since the first sample; never a plain figure
        seen: list[str] = []

        def bound_read() -> bool:
            seen.append(str(table.get_cell(f"{gone_head}-g", "tlag")))
            return re.fullmatch(r"≥ 1[45] min( \d+ s)?", seen[-1]) is not None

        await wait_on(pilot, bound_read, 30, "the lower bound from the record after the commit")
        assert all(v == "-" or v.startswith("≥ ") for v in seen), seen
        # one sample: unknown; later samples: at least the time since the first one
        unknown = str(table.get_cell(f"{all_gone}-g", "tlag"))
        assert unknown == "-" or re.fullmatch(r"≥ \d+ s", unknown), unknown
