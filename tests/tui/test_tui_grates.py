"""Issue 15, what grated when walking the bundled checklist in tmux at 120×40 and 80×24: the filter's
Enter, the step chooser's digits and wording, the confirmation's repeated kind, the sign-off screen's
footer and keys, the resume dialog's timestamps, and the sign-off at 80×24."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.widgets import OptionList

from deploytui.core.session import ActionStarted, Tick
from deploytui.services.project import resolve
from deploytui.storage.fs import SessionStore
from deploytui.tui.screens.dialogs import ChoiceDialog, ConfirmDialog, ResumeDialog
from deploytui.tui.screens.main import MainScreen
from tests.support.clock_support import TickingClock
from tests.support.pilot_support import main_screen, rendered_text, select, settle, until
from tests.support.tui_support import FROZEN_NOW, build_app, write_project

SIZE = (120, 40)

pytestmark = pytest.mark.usefixtures("tui_home")

NOTIFY = "preflight/notify-team"

SECOND_STEP = f"""
[[check]]
item = "{NOTIFY}"
kind = "action"
run = "echo second > second.txt"
"""
"""A bound, unnamed action on an item that also has a fenced block: two steps, so `x` asks which."""


# 1. The filter -----------------------------------------------------------------------------------


async def test_enter_in_the_filter_moves_the_selection_to_the_first_match(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        assert screen.selected_id == "preflight"  # the first section, which "image" does not match
        await pilot.press("slash", *"image", "enter")
        await pilot.pause()
        assert screen.selected_id == "deploy/push-image"  # not its section, kept only as an ancestor
        assert screen.focused is not None and screen.focused.id != "filter"  # the tree has the keys
        # A match among several: the first in the tree's order, whatever was selected before.
        await pilot.press("slash", "ctrl+u", *"flood", "enter")
        await pilot.pause()
        assert screen.selected_id == "deploy/flood-output"


# 2. The step chooser -----------------------------------------------------------------------------


async def _chooser(pilot, app) -> ChoiceDialog:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await select(pilot, NOTIFY)
    await pilot.press("x")
    await until(pilot, lambda: isinstance(app.screen, ChoiceDialog), "the chooser")
    chooser = app.screen
    assert isinstance(chooser, ChoiceDialog)
    return chooser


async def test_the_chooser_shows_a_digit_beside_each_step_and_a_digit_picks_it(tmp_path: Path) -> None:
    config = write_project(tmp_path, extra=SECOND_STEP)
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        chooser = await _chooser(pilot, app)
        options = chooser.query_one(OptionList)
        lines = [rendered_text(options.get_option_at_index(i).prompt).strip() for i in range(2)]
        assert lines[0].startswith("1  command 1 (bash, line"), lines
        assert lines[1].startswith("2  action  ·  $ echo second"), lines
        # The interpreter is said once: the label names it, the command does not repeat `bash:`.
        assert lines[0].count("bash") == 1 and lines[0].endswith("echo notified > notified.txt"), lines
        assert "1–2 picks" in str(chooser.query_one("#choice-hint").render())
        await pilot.press("2")  # the second step, with the highlight still on the first
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert "echo second > second.txt" in rendered_text(dialog.body)


async def test_a_digit_past_the_last_step_picks_nothing(tmp_path: Path) -> None:
    config = write_project(tmp_path, extra=SECOND_STEP)
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        chooser = await _chooser(pilot, app)
        await pilot.press("3")
        await pilot.pause()
        assert app.screen is chooser
        await pilot.press("1")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        assert "echo notified" in rendered_text(app.screen.body)  # type: ignore[attr-defined]


# 3. The confirmation says what a step is once ----------------------------------------------------


async def test_the_confirmation_names_a_steps_kind_once(tmp_path: Path) -> None:
    config = write_project(tmp_path, extra=SECOND_STEP)
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await _chooser(pilot, app)
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        body = rendered_text(app.screen.body)  # type: ignore[attr-defined]
        assert f"{NOTIFY}  ·  action\n" in body, body
        assert "action  ·  action" not in body
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "back on the checklist")
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ChoiceDialog), "the chooser")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the fenced block's confirmation")
        body = rendered_text(app.screen.body)  # type: ignore[attr-defined]
        context = next(line for line in body.splitlines() if line.startswith(NOTIFY))
        assert context.startswith(f"{NOTIFY}  ·  command 1 (bash, line ") and context.count("bash") == 1



# 6. The resume dialog's times --------------------------------------------------------------------

WROTE = datetime(2026, 11, 25, 1, 14, 37, 250000, tzinfo=UTC)
"""When the unfinished session was written (with milliseconds, as the store records times)."""


def _unfinished_session(tmp_path: Path) -> Path:
    """A session written from WROTE on (a second per reading): an item ticked, then a step cut off."""
    config = write_project(tmp_path)
    checklist, cfg = resolve(str(config), None)
    store = SessionStore(tmp_path / "sessions", clock=TickingClock(WROTE))
    with store.create(checklist, "carol", host="h1", redactor=cfg.redactor()) as live:
        live.apply(Tick("preflight/tests-pass", "carol"))
        live.apply(
            ActionStarted(
                NOTIFY, f"{NOTIFY}!action0", "r1", "bash: echo notified", "/srv", "h1", 4242, "carol",
                label="command 1", log="logs/r1.log",
            )
        )
    return config


def _resume_text(app) -> str:  # type: ignore[no-untyped-def]
    dialog = app.screen
    assert isinstance(dialog, ResumeDialog)
    return rendered_text(dialog.summary)


@pytest.mark.parametrize(
    ("now", "started", "changed", "cut"),
    [
        pytest.param(FROZEN_NOW, "started 01:14:38", "last change 01:14:40", "started 01:14:40", id="today"),
        pytest.param(
            FROZEN_NOW + timedelta(days=3),
            "started 2026-11-25 01:14",
            "last change 2026-11-25 01:14",
            "started 2026-11-25 01:14",
            id="another-day",
        ),
    ],
)
async def test_the_resume_dialog_shows_times_as_an_operator_reads_them(
    tmp_path: Path, now: datetime, started: str, changed: str, cut: str
) -> None:
    """The app's clock (not the wall clock) says what today is: the same bytes on any day."""
    config = _unfinished_session(tmp_path)
    app = build_app(tmp_path, config=config, clock=lambda: now)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResumeDialog), "the resume dialog")
        text = _resume_text(app)
        assert started in text and changed in text, text
        assert f"{NOTIFY}: command 1 {cut} by carol" in text, text
        assert "T01:14" not in text and ".250Z" not in text and "Z\n" not in text, text
