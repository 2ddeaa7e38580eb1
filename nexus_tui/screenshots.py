"""`make screenshots`: an SVG of every screen, taken from the live demo cluster.

Starts `nexus-tui demo --no-tui`, waits until its traffic shows what each screen is about
(lag on the slow group, error replies, dead letters), drives the TUI headless through every
screen and saves `screenshots/<screen>.svg`, then stops the demo.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.config.settings import ConnectionSettings
from nexus_tui.app import AppOptions, NexusApp
from nexus_tui.coreloop import CoreLoop
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
    finally:
        core.stop()
    return saved


def main() -> None:
    OUT.mkdir(exist_ok=True)
    warmup = float(os.environ.get("NEXUS_TUI_SCREENSHOT_WARMUP", "90"))
    proc, bootstrap = start_demo()
    try:
        for path in asyncio.run(shoot(bootstrap, warmup)):
            print(path)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


if __name__ == "__main__":
    main()
