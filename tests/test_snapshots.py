"""Snapshot tests (pytest-textual-snapshot) of every screen, from the recorded cluster in
nexus_tui/recorded.py: fixed data and pinned clocks, so the SVGs are stable. Update them with
`pytest tests/test_snapshots.py --snapshot-update` after a deliberate change of a screen."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from nexus_tui.app import AppOptions, NexusApp
from nexus_tui.recorded import recorded_pulses
from nexus_tui.source import RecordedSource

SIZE = (150, 42)
REFRESHES = 12


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def make_app(read_only: bool = False) -> NexusApp:
    options = AppOptions(context="recorded", refresh_interval_s=0, read_only=read_only)
    return NexusApp(RecordedSource(recorded_pulses(REFRESHES)), options)


async def _loaded(pilot) -> None:
    """Replay every recorded refresh (the sparklines need their history)."""
    app = pilot.app
    for _ in range(REFRESHES):
        count = app.refresh_count
        app.action_refresh()
        while app.refresh_count == count:
            await pilot.pause(0.01)
    await pilot.pause()


def run(*keys: str, then=None):
    async def before(pilot) -> None:
        await _loaded(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        if then is not None:
            await then(pilot)
        await pilot.pause()
        pilot.app.screen.set_focus(None) if keys and keys[-1] == "escape" else None
        steady_cursors(pilot.app)
        await pilot.pause()

    return before


def steady_cursors(app) -> None:
    """A focused input's cursor blinks every 0.5 s: whether it shows at the capture depended
    on how long the steps before took (the machine's load). Without blinking it always shows."""
    for widget in app.screen.query("Input, TextArea"):
        widget.cursor_blink = False


class TestScreens:
    def test_overview(self, snap_compare):
        assert snap_compare(make_app(), run_before=run(), terminal_size=SIZE)

    def test_topics(self, snap_compare):
        assert snap_compare(make_app(), run_before=run("2"), terminal_size=SIZE)

    def test_topic_detail_with_root_id_lookup(self, snap_compare):
        async def lookup(pilot) -> None:
            table = pilot.app.screen.query_one("KeyedTable")
            table.move_cursor(row=table.get_row_index("demo.greeting.v1"))
            await pilot.press("enter")
            await pilot.pause()
            await pilot.click("#root-id")
            await pilot.press(*"client.app.v1:42")

        assert snap_compare(make_app(), run_before=run("2", then=lookup), terminal_size=SIZE)

    def test_groups(self, snap_compare):
        assert snap_compare(make_app(), run_before=run("3"), terminal_size=SIZE)

    def test_group_detail(self, snap_compare):
        async def open_slow(pilot) -> None:
            table = pilot.app.screen.query_one("KeyedTable")
            table.move_cursor(row=table.get_row_index("demo.orders.v1-slow"))
            await pilot.press("enter")

        assert snap_compare(make_app(), run_before=run("3", then=open_slow), terminal_size=SIZE)

    def test_errors(self, snap_compare):
        assert snap_compare(make_app(), run_before=run("4"), terminal_size=SIZE)

    def test_messages(self, snap_compare):
        assert snap_compare(make_app(), run_before=run("5"), terminal_size=SIZE)

    def test_dispatch(self, snap_compare):
        async def fill(pilot) -> None:
            pilot.app.screen.query_one("#topic").value = "demo.greeting.v1"

        assert snap_compare(make_app(), run_before=run("6", then=fill), terminal_size=SIZE)

    def test_seek(self, snap_compare):
        async def open_seek(pilot) -> None:
            pilot.app.open_seek("demo.payments.v1-flaky")

        assert snap_compare(make_app(), run_before=run(then=open_seek), terminal_size=SIZE)

    def test_audit(self, snap_compare, monkeypatch):
        """`:audit` over a recorded log (tests/data/audit_recorded.jsonl, written for this
        test: an applied alter, a refused group delete), named relative so the path shown is
        the same in every checkout."""
        monkeypatch.chdir(Path(__file__).parent / "data")
        monkeypatch.setenv("NEXUS_TUI_AUDIT_LOG", "audit_recorded.jsonl")

        async def open_audit(pilot) -> None:
            pilot.app.open_audit()
            await pilot.pause()

        assert snap_compare(make_app(), run_before=run(then=open_audit), terminal_size=SIZE)

    def test_help(self, snap_compare):
        assert snap_compare(make_app(), run_before=run("3", "question_mark"),
                            terminal_size=SIZE)

    def test_read_only_groups(self, snap_compare):
        async def open_group(pilot) -> None:
            await pilot.press("enter")

        assert snap_compare(make_app(read_only=True), run_before=run("3", then=open_group),
                            terminal_size=SIZE)


async def until(pilot, ready, what: str) -> None:
    """Wait (deadline 10 s) for a screen's worker to show what the snapshot must hold."""
    deadline = time.monotonic() + 10
    while not ready():
        assert time.monotonic() < deadline, f"no {what} within 10 s"
        await pilot.pause(0.01)


def admin(*keys: str, fields: dict[str, str] | None = None, how: str | None = None,
          confirm: bool = True):
    """After `keys` (which open an admin screen): fill its form, preview it (F5), wait for the
    plan (made by the recorded source from the recorded snapshot: nexus_tui/recorded_admin.py)
    and, for a destructive plan, type the confirmation."""

    async def then(pilot) -> None:
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        screen = pilot.app.screen
        assert type(screen).__name__ == "AdminScreen"
        if how is not None:
            screen.query_one("#admin-how").value = how
        for name, value in (fields or {}).items():
            screen.query_one(f"#admin-{name}").value = value
        await pilot.pause()
        if screen.spec.fields:
            await pilot.press("f5")
        await until(pilot, lambda: screen.plan is not None, "plan")
        word = screen.confirm_word()
        if confirm and word is not None:
            box = screen.query_one("#admin-confirm")
            box.focus()
            box.value = word
            await until(pilot, lambda: not screen.query_one("#admin-apply").disabled,
                        "Apply enabled")

    return then


def on_row(key: str, *then: str):
    """The keys after moving the current table's cursor to the row `key` and opening it."""

    async def go(pilot) -> None:
        table = pilot.app.screen.query_one("KeyedTable")
        table.move_cursor(row=table.get_row_index(key))
        await pilot.press("enter")
        await pilot.pause()

    return go


def chain(*steps):
    async def then(pilot) -> None:
        for step in steps:
            await step(pilot)
            await pilot.pause()

    return then


class TestAdminScreens:
    """The administration screens of issue 15 (nexus_tui/screens/admin.py) as a user sees
    them: the form filled, the plan with the equivalent Kafka command, the typed confirmation
    and Apply enabled (nothing applied: the recorded source refuses)."""

    def test_create_topic_from_the_topics_list(self, snap_compare):
        fill = admin("c", fields={"name": "demo.invoices.v1", "partitions": "6",
                                  "configs": "retention.ms=86400000 cleanup.policy=delete"})
        assert snap_compare(make_app(), run_before=run("2", then=fill), terminal_size=SIZE)

    def test_edit_config(self, snap_compare):
        steps = chain(on_row("demo.orders.v1"),
                      admin("e", fields={"set": "retention.ms=86400000"}))
        assert snap_compare(make_app(), run_before=run("2", then=steps), terminal_size=SIZE)

    def test_add_partitions_with_the_re_keying_estimate(self, snap_compare):
        steps = chain(on_row("demo.greeting.v1"), admin("a", fields={"to": "8"}))
        assert snap_compare(make_app(), run_before=run("2", then=steps), terminal_size=SIZE)

    def test_purge_before_offsets(self, snap_compare):
        steps = chain(on_row("demo.payments.v1"),
                      admin("X", how="offsets", fields={"arg": "0:700 1:700"}))
        assert snap_compare(make_app(), run_before=run("2", then=steps), terminal_size=SIZE)

    def test_delete_topic(self, snap_compare):
        steps = chain(on_row("demo.greeting.v1"), admin("D"))
        assert snap_compare(make_app(), run_before=run("2", then=steps), terminal_size=SIZE)

    def test_group_delete(self, snap_compare):
        steps = chain(on_row("demo.payments.v1-flaky"), admin("D"))
        assert snap_compare(make_app(), run_before=run("3", then=steps), terminal_size=SIZE)

    def test_group_delete_refused_while_members_are_there(self, snap_compare):
        steps = chain(on_row("demo.orders.v1-slow"), admin("D", confirm=False))
        assert snap_compare(make_app(), run_before=run("3", then=steps), terminal_size=SIZE)

    def test_group_delete_offsets(self, snap_compare):
        steps = chain(on_row("demo.payments.v1-flaky"),
                      admin("X", fields={"topic": "demo.payments.v1"}))
        assert snap_compare(make_app(), run_before=run("3", then=steps), terminal_size=SIZE)


class TestDeadLetterScreens:
    """`:dlq` (nexus_tui/screens/dead_letters.py) over the recorded dead letters, and the
    redrive's plan with its command and typed confirmation."""

    @staticmethod
    async def open_dead_letters(pilot) -> None:
        pilot.app.open_dead_letters()
        await pilot.pause()
        screen = pilot.app.screen
        await until(pilot, lambda: screen.query_one("#dlq-topics").row_count == 1
                    and screen.query_one("#dlq-letters").row_count > 0, "dead letters")
        await pilot.pause()

    def test_dead_letters(self, snap_compare):
        assert snap_compare(make_app(), run_before=run(then=self.open_dead_letters),
                            terminal_size=SIZE)

    def test_redrive_plan(self, snap_compare):
        async def plan(pilot) -> None:
            await self.open_dead_letters(pilot)
            await pilot.press("r")
            await pilot.pause()
            screen = pilot.app.screen
            assert type(screen).__name__ == "RedriveScreen"
            await pilot.press("f5")
            await until(pilot, lambda: screen.plan is not None, "redrive plan")
            box = screen.query_one("#redrive-confirm")
            box.focus()
            box.value = screen.topic
            await until(pilot, lambda: not screen.query_one("#redrive-go").disabled,
                        "Redrive enabled")

        assert snap_compare(make_app(), run_before=run(then=plan), terminal_size=SIZE)


def test_snapshot_data_is_recorded_not_live():
    """A guard: the snapshot app never talks to a cluster."""
    app = make_app()
    assert app.source.live is False and "recorded" in app.settings.bootstrap
    assert os.environ.get("TZ") == "UTC"


async def test_recorded_plans_are_never_applied(tmp_path, monkeypatch):
    """The recorded source plans (for the pictures) but refuses every apply and redrive, and
    writes no audit line: it is not a cluster."""
    from core.cluster.group_admin import GroupAdmin
    from core.cluster.redrive import RedriveRequest
    from core.cluster.topic_admin import TopicAdmin
    from core.errors import NexusError

    monkeypatch.setenv("NEXUS_TUI_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    source = RecordedSource(recorded_pulses(2))
    topics, groups = source.changes(TopicAdmin), source.changes(GroupAdmin)
    plan = await topics.plan_purge("demo.payments.v1", everything=True)
    assert plan.detail["offsets"] == {0: 700, 1: 720, 2: 690}
    with pytest.raises(NexusError, match="recorded cluster"):
        await topics.apply(plan)
    with pytest.raises(NexusError, match="recorded cluster"):
        await groups.apply(await groups.plan_delete("demo.payments.v1-flaky"))
    store = source.dead_letters()
    redrive = store.plan(RedriveRequest("demo.payments.v1.dlq"))
    assert redrive.to_send == 31 - 10 and redrive.by_target == {"demo.payments.v1": 21}
    with pytest.raises(NexusError, match="recorded cluster"):
        store.run(redrive)
    assert not (tmp_path / "audit.jsonl").exists()


async def test_gc_policy_is_the_apps_own_and_undone_at_exit():
    """After the first paint the app freezes its long-lived objects and makes full collections
    rarer, and collects once a switched-to view is painted (BENCHMARKS.md §6); when it exits,
    the process gets its own policy back."""
    import gc

    from nexus_tui.app import (
        FULL_GC_EVERY_S,
        FULL_GC_MAX_WAIT_S,
        GC_THRESHOLDS,
    )

    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + 10
        while gc.get_freeze_count() == 0 and time.monotonic() < deadline:
            await pilot.pause(0.01)
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold() == GC_THRESHOLDS

        # a view switch is followed by a full collection once painted
        full: list[int] = []

        def seen(phase: str, info: dict) -> None:
            if phase == "stop" and info["generation"] == 2:
                full.append(info["collected"])

        # the app's collections after a view's paint (not those of its 2 s timer): freeze?
        after_paint: list[bool] = []
        collect = app._collect

        def recording(freeze: bool | None = None) -> None:
            if freeze is not None:  # collect_after_paint's call; the timer's passes nothing
                after_paint.append(freeze)
            collect(bool(freeze))

        app._collect = recording  # type: ignore[method-assign]

        async def switch(key: str) -> bool:
            """Press a view's key; once the app's collection after its paint ran, whether it
            froze the view."""
            after_paint.clear()
            full.clear()
            gc.callbacks.append(seen)
            try:
                await pilot.press(key)
                deadline = time.monotonic() + 10
                while not after_paint and time.monotonic() < deadline:
                    await pilot.pause(0.01)
            finally:
                gc.callbacks.remove(seen)
            assert after_paint == [after_paint[0]] and full, f"no collection after {key!r}"
            return after_paint[0]

        frozen = gc.get_freeze_count()
        assert await switch("3")  # the groups view, frozen once shown
        assert type(app.screen).__name__ == "GroupsScreen"
        assert gc.get_freeze_count() > frozen
        frozen = gc.get_freeze_count()
        assert await switch("2")  # the topics view, likewise
        assert gc.get_freeze_count() > frozen
        frozen = gc.get_freeze_count()
        for key in ("3", "2", "3"):  # each main view is frozen once: no more freezing
            assert not await switch(key)
        assert gc.get_freeze_count() <= frozen

        # no automatic full collection: the app runs them, at most every FULL_GC_EVERY_S and
        # not while a refresh is in flight (here, with no refresh coming: from its timer)
        assert GC_THRESHOLDS[2] >= 1_000_000
        full.clear()
        gc.callbacks.append(seen)
        try:
            started = time.monotonic()
            while not full and time.monotonic() - started < FULL_GC_EVERY_S * 3:
                await pilot.pause(0.05)
        finally:
            gc.callbacks.remove(seen)
        assert full, "no full collection from the app's timer"

        # while a refresh is in flight: only once the last collection is FULL_GC_MAX_WAIT_S old
        def collected(last_ago: float, refreshing: bool) -> bool:
            full.clear()
            app._last_full_gc = time.monotonic() - last_ago
            app.refreshing = refreshing
            gc.callbacks.append(seen)
            try:
                app._collect_if_due()
            finally:
                gc.callbacks.remove(seen)
                app.refreshing = False
            return bool(full)

        assert not collected(FULL_GC_EVERY_S + 1, refreshing=True)
        assert collected(FULL_GC_EVERY_S + 1, refreshing=False)
        assert not collected(FULL_GC_EVERY_S / 2, refreshing=False)
        assert collected(FULL_GC_MAX_WAIT_S + 1, refreshing=True)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
