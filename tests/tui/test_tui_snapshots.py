"""Snapshot tests of the screens at 120×40 and 80×24 (pytest-textual-snapshot).

Stable by construction: a fixed session id, a frozen clock (elapsed time, sign-off date/time), a temp
user config dir (default theme, no keymap), no ssh keys or agent, and no blinking cursor.
Update after an intended change with `pytest tests/tui/test_tui_snapshots.py --snapshot-update` and look at
the report it writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from deploytui.tui.app import DeployApp
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from tests.support.tui_support import FROZEN_NOW, SECRET, build_app, write_project

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.chdir(tmp_path)


def snapshot_app(tmp_path: Path) -> DeployApp:
    config = write_project(tmp_path, flood=20, quick=True)
    (tmp_path / "ssh").mkdir()
    return build_app(
        tmp_path,
        config=config,
        choice="new",
        clock=lambda: FROZEN_NOW,
        new_session_id="20261125T021437Z-snap",
        ssh_dir=tmp_path / "ssh",
    )


STARTED = "2026-11-25T01:58:00.000Z"
"""Shown start of the snapshot session: with FROZEN_NOW the header reads `elapsed 16:37` on any date."""


async def steady(pilot: Pilot[int], *, workers: bool = True) -> None:
    if workers:
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    app = pilot.app
    assert isinstance(app, DeployApp)
    app.live.session.started = STARTED
    main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    main.refresh_all()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_fresh_session(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """You should see the checklist tree with every item pending (○), the first section selected with
    its open items in the detail pane, the check (◆) and action ($) markers, the rollback plan collapsed
    at the end, and a footer of the keys that apply."""
    assert snap_compare(snapshot_app(tmp_path), terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_run_with_passes_and_failures(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """You should see, after R (run all): tests pass ✔, config valid ✘ failed, flood output ✔, the
    Preflight section ✘ with the failed item listed first among its open items, and the header counting
    the failure. (A section is selected: an item's detail shows durations and times that vary per run.)"""

    async def run_all(pilot: Pilot[int]) -> None:
        await pilot.pause()
        await pilot.press("R")
        await steady(pilot)

    assert snap_compare(snapshot_app(tmp_path), terminal_size=size, run_before=run_all)


@pytest.mark.parametrize("size", SIZES)
def test_action_confirmation(  # type: ignore[no-untyped-def]
    snap_compare, tmp_path: Path, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """You should see the confirmation dialog for Push image's command: "This changes the world", the
    exact command with the token masked as [secret:DEPLOY_TOKEN], "in /srv/release  on deploy-host", Cancel
    focused, a Copy command button and a red Run it button."""
    import dataclasses

    from deploytui.tui.screens import main as main_screen

    real = main_screen.describe

    def fixed_place(engine, step):  # type: ignore[no-untyped-def]
        # The absolute directory and the host vary by machine and run; the snapshot shows fixed ones.
        return dataclasses.replace(real(engine, step), cwd="/srv/release", host="deploy-host")

    monkeypatch.setattr(main_screen, "describe", fixed_place)

    async def confirm(pilot: Pilot[int]) -> None:
        await pilot.pause()
        pilot.app.screen.query_one(ChecklistTree).select_id("deploy/push-image")
        await pilot.pause()
        await pilot.press("x")
        await steady(pilot, workers=False)  # the dialog's worker waits for an answer

    assert snap_compare(snapshot_app(tmp_path), terminal_size=size, run_before=confirm)


@pytest.mark.parametrize("size", SIZES)
def test_signoff_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """You should see the sign-off form: open items listed with an acknowledgement box, Deployed by
    prefilled with alice, date 2026-11-25 and time 02:14 UTC, Result Success/Rollback, Notes, the record
    file name, the signing choice and the buttons."""

    async def signoff(pilot: Pilot[int]) -> None:
        await pilot.pause()
        await pilot.press("e")
        await steady(pilot)

    assert snap_compare(snapshot_app(tmp_path), terminal_size=size, run_before=signoff)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """You should see every key with what it does, and the legend of status glyphs and markers."""

    async def show_help(pilot: Pilot[int]) -> None:
        await pilot.pause()
        await pilot.press("question_mark")
        await steady(pilot)

    assert snap_compare(snapshot_app(tmp_path), terminal_size=size, run_before=show_help)


def held_snapshot_app(tmp_path: Path) -> DeployApp:
    """The snapshot project with Slow probe held running until a file `release` appears (never, here):
    the screen is shot while it runs, on any machine at any speed."""
    config = write_project(tmp_path, flood=20)
    text = config.read_text(encoding="utf-8")
    held = 'run = "while [ ! -e release ]; do sleep 0.05; done"'
    config.write_text(text.replace('run = "sleep 30"', held), encoding="utf-8")
    (tmp_path / "ssh").mkdir()
    return build_app(
        tmp_path,
        config=config,
        choice="new",
        clock=lambda: FROZEN_NOW,
        new_session_id="20261125T021437Z-snap",
        ssh_dir=tmp_path / "ssh",
    )


async def run_all_until_only_the_held_probe_runs(pilot: Pilot[int]) -> None:
    await pilot.pause()
    await pilot.press("R")
    app = pilot.app
    assert isinstance(app, DeployApp)
    screen = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    for _ in range(2000):
        pending = set(screen.pending_runs.values())
        if pending == {"preflight/slow-probe"} and app.live.session.running():
            break
        await pilot.pause(0.01)
    else:
        raise AssertionError(f"the other checks never ended: {screen.pending_runs}")


@pytest.mark.parametrize("size", SIZES)
def test_checks_running(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """You should see, during R: Slow probe ▶ (held running) and its section Preflight ▶, the header
    with the session id whole, `✘ 1 failed` and `▶ 1 running`, and a footer that ends in `? Help  q Quit`
    with `c Cancel` in it."""

    async def running(pilot: Pilot[int]) -> None:
        await run_all_until_only_the_held_probe_runs(pilot)
        await steady(pilot, workers=False)

    assert snap_compare(held_snapshot_app(tmp_path), terminal_size=size, run_before=running)


@pytest.mark.parametrize("size", SIZES)
def test_full_screen_log(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """You should see the held Slow probe's run log over the whole screen (its title line
    `── slow: $ while … ──`), the header, and a footer saying `esc Leave full screen  w Wrap  a Activity`."""

    async def full_log(pilot: Pilot[int]) -> None:
        await run_all_until_only_the_held_probe_runs(pilot)
        pilot.app.screen.query_one(ChecklistTree).select_id("preflight/slow-probe")
        await pilot.pause()
        await pilot.press("z")
        await steady(pilot, workers=False)

    assert snap_compare(held_snapshot_app(tmp_path), terminal_size=size, run_before=full_log)
