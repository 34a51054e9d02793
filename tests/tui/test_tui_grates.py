"""Issue 15, what grated when walking the bundled checklist in tmux at 120×40 and 80×24: the filter's
Enter, the step chooser's digits and wording, the confirmation's repeated kind, the sign-off screen's
footer and keys, the resume dialog's timestamps, and the sign-off at 80×24."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.screen import Screen
from textual.widgets import Checkbox, Input, OptionList
from textual.widgets._footer import FooterKey
from textual.widgets._toast import Toast

from deploytui.core.session import ActionStarted, Tick
from deploytui.services.project import resolve
from deploytui.storage.fs import SessionStore
from deploytui.tui.screens.dialogs import ChoiceDialog, ConfirmDialog, ResumeDialog
from deploytui.tui.screens.help import HelpScreen
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.screens.signoff import SignoffScreen
from deploytui.tui.widgets.footer import DeployFooter
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


# 5. The sign-off's footer and keys ---------------------------------------------------------------


async def _signoff(pilot) -> SignoffScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("e")
    await until(pilot, lambda: isinstance(pilot.app.screen, SignoffScreen), "the sign-off")
    await settle(pilot)
    return pilot.app.screen  # type: ignore[no-any-return]


def _footer_keys(screen: Screen[object]) -> list[str]:
    return [f"{key.key_display} {key.description}" for key in screen.query_one(DeployFooter).query(FooterKey)]


async def test_the_signoff_has_the_apps_footer_and_f1_opens_its_help(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _signoff(pilot)
        keys = _footer_keys(screen)
        assert keys[:2] == ["f1 Help", "^q Quit"], keys  # first, so that no width drops them
        assert "esc Back" in keys
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        described = [description for _keys, description, _tip in app.screen.rows]  # type: ignore[attr-defined]
        assert "Finish & export" in described and "Back" in described
        assert "Tick" not in described  # the checklist's keys do not apply here
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "back on the sign-off")


async def test_ctrl_q_on_the_signoff_saves_the_form_and_quits(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _signoff(pilot)
        screen.query_one("#field-reviewed-by", Input).value = "Bob Reviewer"
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app.return_code is not None, "the app to quit")
    assert app.return_code == 0
    assert app.live.session.signoff["reviewed-by"] == "Bob Reviewer"  # typed, then kept


async def test_ctrl_q_on_the_signoff_asks_while_checks_run(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, "preflight/slow-probe")
        await pilot.press("r")  # sleep 30
        await until(pilot, lambda: main_screen(app).pending_runs, "the slow probe to start")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, SignoffScreen), "the sign-off")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the quit question")
        assert app.screen.id == "quit-dialog" and app.return_code is None
        await pilot.press("escape")  # stay
        await until(pilot, lambda: isinstance(app.screen, SignoffScreen), "back on the sign-off")
        app.engine.cancel_all()


# 7. The sign-off at 80×24 ------------------------------------------------------------------------

SNAP_ID = "20261125T021437Z-snap"


async def _ran_and_left(tmp_path: Path) -> Path:
    """A session whose checks ran (config lint failed) and whose operator left: it is resumed next."""
    config = write_project(tmp_path, flood=20, quick=True)
    app = build_app(
        tmp_path, config=config, choice="new", clock=lambda: FROZEN_NOW, new_session_id=SNAP_ID
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
    return config


def _resumed_app(tmp_path: Path, config: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "ssh").mkdir(exist_ok=True)
    return build_app(
        tmp_path, config=config, choice="resume", clock=lambda: FROZEN_NOW, ssh_dir=tmp_path / "ssh"
    )


def _overlaps(a: Region, b: Region) -> bool:
    return a.overlaps(b)


async def test_the_signoff_reads_cleanly_at_80x24_after_a_resume(tmp_path: Path) -> None:
    config = await _ran_and_left(tmp_path)
    app = _resumed_app(tmp_path, config)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await until(pilot, lambda: bool(app.screen.query(Toast)), "the Resumed toast")
        screen = await _signoff(pilot)
        # The toast left from the checklist is not on the form (it covered its last fields and buttons).
        assert not screen.query(Toast)
        # The form's own toasts show at the top, over the open items: never over a field or the buttons.
        screen.notify("Sign-off saved.")
        await until(pilot, lambda: bool(screen.query(Toast)), "the form's own toast")
        await pilot.pause()
        toasts = [t.region for t in screen.query(Toast)]
        covered = [*(f.region for f in screen.query(".field")), screen.query_one("#signoff-buttons").region]
        assert not any(_overlaps(t, c) for t in toasts for c in covered if c.height), (toasts, covered)
        # The acknowledgement is read whole (wrapped if need be, never cut).
        ack = screen.query_one("#ack", Checkbox)
        label = str(ack.label)
        assert ack.region.right <= 80 and ack.size.width * ack.size.height >= len(label) + 4
        # Each label once: an empty field shows no placeholder repeating it.
        assert screen.query_one("#field-reviewed-by", Input).placeholder != "Reviewed by"
        # The form starts on the first screen: the open list is cut short on a short terminal.
        assert ack.region.bottom <= 24 - 3


def test_signoff_at_80x24_after_a_run_snapshot(  # type: ignore[no-untyped-def]
    snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """You should see, at 80×24 on a resumed session whose config lint failed: the open items (config
    valid ✘ failed, notify team and push image ○) in a short box, the acknowledgement on one line ending
    "as they are", each field's label once (Reviewed by above an empty field), date 2026-11-25 and time
    02:14 UTC, no toast over the form, and the footer `f1 Help  ^q Quit  esc Back  ^s Save  ^e Finish &
    export`."""
    import asyncio

    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    config = asyncio.run(_ran_and_left(tmp_path))

    async def signoff(pilot) -> None:  # type: ignore[no-untyped-def]
        await _signoff(pilot)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(_resumed_app(tmp_path, config), terminal_size=(80, 24), run_before=signoff)
