"""`make screenshots`: an SVG of every screen, taken from the live demo cluster.

Starts `nexus-tui demo --no-tui`, waits until its traffic shows what each screen is about
(lag on the slow group, error replies, dead letters), drives the TUI headless through every
screen and saves `screenshots/<screen>.svg`, then stops the demo.

The administration screens are shown with their plans (a config edit, add partitions with
the re-keying estimate, a purge) and the confirmation typed; the config edit alone is applied,
on the demo's own cluster, so that `:audit` has a change to show. The audit log of the run is
a file in a temporary directory (named relative to it, so the picture names no local path),
never the user's.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from textual.widgets import Button, Input, Select

from core.config.settings import ConnectionSettings
from nexus_tui.app import AppOptions, NexusApp
from nexus_tui.coreloop import CoreLoop
from nexus_tui.screens.admin import AdminScreen, open_admin
from nexus_tui.source import LiveSource

SIZE = (160, 46)
OUT = Path(__file__).resolve().parent.parent / "screenshots"


def start_demo() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "nexus_tui", "demo", "--no-tui", "--json",
                             "--quiet"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"the demo did not start (exit {proc.wait()})")
    return proc, json.loads(line)["bootstrap"]


async def pause_until(pilot, cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        await pilot.pause(0.2)
    return True


async def shoot(bootstrap: str, warmup_s: float) -> list[Path]:
    core = CoreLoop()
    settings = ConnectionSettings(bootstrap=bootstrap, request_timeout_s=5)
    app = NexusApp(LiveSource(settings, core), AppOptions(context="demo", refresh_interval_s=2),
                   core)
    saved: list[Path] = []

    def save(name: str) -> None:
        for widget in app.screen.query("Input, TextArea"):  # the cursor shows, not blinks
            widget.cursor_blink = False
        path = OUT / f"{name}.svg"
        app.save_screenshot(str(path))
        saved.append(path)

    def interesting() -> bool:
        pulse = app.pulse
        if pulse is None:
            return False
        slow = [g for g in pulse.view.groups.values() if g.total_lag]
        errs = pulse.error_replies_per_s or 0
        return bool(slow) and errs > 0 and app.refresh_count >= 8

    started = time.time()  # the demo's traffic is at least this old
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pause_until(pilot, interesting, warmup_s)
            save("overview")
            for key, name in (("2", "topics"), ("3", "groups"), ("4", "errors")):
                await pilot.press(key)
                await pilot.pause(1.0)
                save(name)
            await pilot.press("2")
            await pilot.pause(0.5)
            table = app.screen.query_one("KeyedTable")
            if "demo.greeting.v1" in table.keys:
                table.move_cursor(row=table.get_row_index("demo.greeting.v1"))
            await pilot.press("enter")
            await pilot.pause(1.0)
            save("topic_detail")
            await pilot.press("3")
            await pilot.pause(0.5)
            table = app.screen.query_one("KeyedTable")
            worst = max(app.pulse.view.groups.values(), key=lambda g: g.total_lag or 0)
            table.move_cursor(row=table.get_row_index(worst.group_id))
            await pilot.press("enter")
            await pilot.pause(1.0)
            save("group_detail")
            app.open_seek(worst.group_id)
            await pilot.pause(1.0)
            save("seek")
            await pilot.press("escape")
            await pilot.press("6")
            await pilot.pause(0.5)
            app.screen.query_one("#topic").value = "demo.greeting.v1"
            await pilot.pause(0.2)
            await pilot.press("ctrl+s")
            result = app.screen.query_one("#result")
            await pause_until(pilot, lambda: "after" in str(result.render()), 30)
            save("dispatch")
            app.action_view("messages")  # not a key press: the dispatch form has the focus
            await pilot.pause(0.5)
            app.screen.query_one("#msg-topic").value = "demo.greeting.v1"
            await pilot.press("ctrl+l")
            await pause_until(pilot, lambda: bool(app.screen.query_one("KeyedTable").row_count),
                              20)
            save("messages")
            app.screen.query_one("KeyedTable").focus()
            app.action_help()
            await pilot.pause(0.3)
            save("help")
            await pilot.press("escape")
            await pilot.pause(0.3)
            await shoot_changes(app, pilot, save, started)
    finally:
        core.stop()
    return saved


async def admin_plan(app: NexusApp, pilot, action: str, target: str,
                     fields: dict[str, str] | None = None, how: str | None = None
                     ) -> AdminScreen:
    """Open the admin screen of `action`, fill it, preview it and type the confirmation."""
    open_admin(app, action, target)
    await pilot.pause(0.5)
    screen = app.screen
    assert isinstance(screen, AdminScreen), screen
    if how is not None:
        screen.query_one("#admin-how", Select).value = how
    for name, value in (fields or {}).items():
        screen.query_one(f"#admin-{name}", Input).value = value
    await pilot.pause(0.2)
    if screen.spec.fields:
        screen.action_preview()
    if not await pause_until(pilot, lambda: screen.plan is not None, 60):
        raise SystemExit(f"no plan for {action} {target} within 60 s")
    word = screen.confirm_word()
    if word is not None:
        box = screen.query_one("#admin-confirm", Input)
        box.focus()
        box.value = word
    await pilot.pause(0.3)
    return screen


async def shoot_changes(app: NexusApp, pilot, save, started: float) -> None:
    """The admin screens, `:audit`, `:dlq` and a redrive's plan. The purge's plan is of the
    records older than half the time the TUI has watched the demo (records on both sides)."""
    screen = await admin_plan(app, pilot, "topic.alter", "demo.orders.v1",
                              {"set": "retention.ms=86400000"})
    save("admin_alter")
    screen.query_one("#admin-apply", Button).press()  # the demo's cluster: for :audit
    result = screen.query_one("#admin-result")
    if not await pause_until(pilot, lambda: "applied" in str(result.render()), 60):
        raise SystemExit(f"the config edit was not applied: {result.render()}")
    app.pop_screen()
    await admin_plan(app, pilot, "topic.add-partitions", "demo.greeting.v1", {"to": "8"})
    save("admin_add_partitions")
    app.pop_screen()
    middle = time.gmtime((started + time.time()) / 2)
    await admin_plan(app, pilot, "topic.purge", "demo.payments.v1",
                     {"arg": time.strftime("%Y-%m-%dT%H:%M:%SZ", middle)}, how="time")
    save("admin_purge")
    app.pop_screen()
    app.open_audit()
    await pilot.pause(1.0)
    save("audit")
    app.pop_screen()
    app.open_dead_letters("demo.payments.v1.dlq")
    dlq = app.screen
    def shown() -> bool:  # the list of dead-letter topics and the chosen one's letters
        tables = dlq.query("#dlq-topics, #dlq-letters")
        return len(tables) == 2 and all(t.row_count for t in tables)

    if not await pause_until(pilot, shown, 60):
        raise SystemExit("no dead letters shown within 60 s")
    await pilot.pause(0.5)
    save("dead_letters")
    dlq.action_redrive()
    await pilot.pause(0.5)
    redrive = app.screen
    if not await pause_until(pilot, lambda: bool(redrive.query("#redrive-confirm")), 10):
        raise SystemExit("the redrive screen did not open")
    redrive.action_plan()
    if not await pause_until(pilot, lambda: redrive.plan is not None, 60):
        raise SystemExit("no redrive plan within 60 s")
    redrive.query_one("#redrive-confirm", Input).value = redrive.topic
    await pilot.pause(0.3)
    save("redrive")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    warmup = float(os.environ.get("NEXUS_TUI_SCREENSHOT_WARMUP", "90"))
    proc, bootstrap = start_demo()
    cwd = Path.cwd()
    try:
        with tempfile.TemporaryDirectory(prefix="nexus-tui-screenshots-") as scratch:
            os.chdir(scratch)  # the audit log below is named relative to it
            os.environ["NEXUS_TUI_AUDIT_LOG"] = "audit.jsonl"
            try:
                saved = asyncio.run(shoot(bootstrap, warmup))
            finally:
                os.chdir(cwd)
        for path in saved:
            print(path)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


if __name__ == "__main__":
    main()
