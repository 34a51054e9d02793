"""Re-running by failure in the app: `F` runs exactly the failed checks under the cursor (not the whole
section), `r` under an active filter runs only what the filter shows, and `f` goes to the next failure
before any pending item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.pilot import Pilot

from deploytui.core.status import Status
from deploytui.tui.app import DeployApp
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from tests.support.tui_support import build_app, write_project

SIZE = (120, 40)


pytestmark = pytest.mark.usefixtures("tui_home")


def _screen(app: DeployApp) -> MainScreen:
    assert isinstance(app.screen, MainScreen)
    return app.screen


def _started(app: DeployApp) -> list[str]:
    events = (app.store.session_dir(app.live.id) / "events.jsonl").read_text().splitlines()  # type: ignore[attr-defined]
    return [e["check"] for e in map(json.loads, events) if e["type"] == "run_started"]


async def _settle(pilot: Pilot[int], app: DeployApp) -> None:
    await pilot.app.workers.wait_for_complete()
    for _ in range(100):
        await pilot.pause()
        if not app.live.session.running() and not _screen(app).pending_runs:
            return


async def _select(pilot: Pilot[int], app: DeployApp, node_id: str) -> None:
    assert _screen(app).query_one(ChecklistTree).select_id(node_id)
    await pilot.pause()


async def test_F_reruns_only_the_failed_checks_under_the_cursor(tmp_path: Path) -> None:
    app = build_app(tmp_path, config=write_project(tmp_path, quick=True, flood=3), choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("R")
        await _settle(pilot, app)
        assert app.live.session.status_of("preflight/config-valid", app.checklist) is Status.FAILED
        before = len(_started(app))
        await _select(pilot, app, "preflight")
        await pilot.press("F")
        await _settle(pilot, app)
        assert _started(app)[before:] == ["preflight/config-valid#1"]  # not tests-pass, not slow-probe
        await _select(pilot, app, "deploy")
        await pilot.press("F")  # nothing failed under Deploy: the key does nothing there
        await _settle(pilot, app)
        assert len(_started(app)) == before + 1
        app.exit(0)


async def test_r_under_a_filter_runs_only_what_the_filter_shows(tmp_path: Path) -> None:
    app = build_app(tmp_path, config=write_project(tmp_path, quick=True, flood=3), choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"tests", "enter")
        await pilot.pause()
        await _select(pilot, app, "preflight")
        await pilot.press("r")
        await _settle(pilot, app)
        assert _started(app) == ["preflight/tests-pass#0"]
        app.exit(0)


async def test_f_goes_to_the_next_failure_before_pending_items(tmp_path: Path) -> None:
    app = build_app(tmp_path, config=write_project(tmp_path, quick=True, flood=3), choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _select(pilot, app, "preflight/config-valid")
        await pilot.press("r")
        await _settle(pilot, app)
        await _select(pilot, app, "preflight")  # before tests-pass (pending) and config-valid (failed)
        await pilot.press("f")
        await pilot.pause()
        assert _screen(app).selected_id == "preflight/config-valid"
        app.exit(0)
