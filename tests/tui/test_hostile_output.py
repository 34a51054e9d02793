"""Hostile command output and a hostile checklist in the app: ANSI and OSC sequences (window title, OSC 52
clipboard, cursor moves, screen clears), a single 10 MB line, invalid UTF-8, NUL bytes, `\\r` progress
bars, 8-bit C1 controls. The screen never carries a raw escape and the app keeps responding; the log file
keeps the output (decoded with errors="replace", the DESIGN.md contract); the record shows inert text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Log

from deploytui.core.status import Status
from deploytui.services.project import resolve
from deploytui.tui.app import DeployApp, make_app
from deploytui.tui.screens.dialogs import ConfirmDialog
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from deploytui.tui.widgets.log_panes import LogPanes

REPO = Path(__file__).resolve().parents[2]
SIZE = (120, 40)

CLIPBOARD = "SGFja2VkIGNsaXBib2FyZA=="
"""An OSC 52 payload (base64): it must never reach the terminal, nor show as text."""

HOSTILE = (
    b"L" * (10 * 1024 * 1024)
    + b"\n\x1b[2J\x1b[H\x1b[31mred alert\x1b[0m\n"
    b"\x1b]0;pwned title\x07window title\n"
    b"\x1b]52;c;" + CLIPBOARD.encode() + b"\x07clipboard\n"
    b"\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\\n"
    b"cursor\x1b[10;10H\x1b[5Amoves\x1b7\x1b8\n"
    b"progress 10%\rprogress 50%\rprogress 100%\n"
    b"nul\x00byte bell\x07 backspace\x08 del\x7f\n"
    b"c1 \xc2\x9b31m csi \xc2\x9d0;t\xc2\x9c\n"
    b"invalid utf8 \xff\xfe\xc3\x28 end\n"
    b"last line\n"
)
"""The 10 MB line comes first, so the hostile lines are in the tail a reopened app reads back from disk."""

CHECKLIST = (
    "# Hostile \x1b]0;retitled\x07release\n\n## Steps\n\n"
    "- [ ] Print hostile output\n"
    "- [ ] Clear \x1b[2Jthe screen [/] and [bold markup\n"
    "  ```bash\n  printf 'ok\\n'; echo '\x1b]52;c;" + CLIPBOARD + "\x07'\n  ```\n\n"
    "- [ ] Manual step\n"
)

CONFIG = """\
checklist = "hostile.md"

[[check]]
item = "steps/print-hostile-output"
kind = "command"
name = "hostile"
run = "cat hostile.bin"
timeout = "60s"
"""

ITEM = "steps/print-hostile-output"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.chdir(tmp_path)


def _project(tmp_path: Path) -> Path:
    (tmp_path / "hostile.bin").write_bytes(HOSTILE)
    (tmp_path / "hostile.md").write_text(CHECKLIST, encoding="utf-8")
    config = tmp_path / "deploytui.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


def _app(tmp_path: Path, config: Path, **options: object) -> DeployApp:
    checklist, cfg = resolve(str(config), None)
    return make_app(checklist, cfg, tmp_path / "sessions", operator="alice", **options)


def _assert_inert_screen(app: DeployApp, code_shown: bool = False) -> None:
    """No raw control character on screen; escape payloads gone from output (a fenced command on show
    keeps its bytes, as visible symbols: `code_shown`)."""
    svg = app.export_screenshot()
    payloads = () if code_shown else (CLIPBOARD, "pwned title", "retitled")
    for bad in ("\x1b", "\x9b", "\x9d", "\x07", "\x00", *payloads):
        assert bad not in svg, f"{bad!r} reached the screen"
    for log in app.screen.query(Log):
        for line in log.lines:
            assert "\x1b" not in line and "\x9b" not in line and "\x00" not in line, line[:80]


async def _select(pilot: Pilot[int], node_id: str) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, MainScreen)
    assert screen.query_one(ChecklistTree).select_id(node_id)
    await pilot.pause()


async def _settle(pilot: Pilot[int]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def test_hostile_output_and_checklist_never_reach_the_terminal_raw(tmp_path: Path) -> None:
    config = _project(tmp_path)
    app = _app(tmp_path, config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        sid = app.live.id
        await _select(pilot, ITEM)
        await pilot.press("r")
        await _settle(pilot)
        state = app.live.session.items[ITEM]
        assert state.status is Status.PASSED, state.checks
        run_lines = app.screen.query_one(LogPanes).run_log.lines
        assert "red alert" in run_lines and "progress 100%" in run_lines
        _assert_inert_screen(app)

        # The fenced command of a hostile title: the confirmation shows every byte, none of them live.
        await _select(pilot, "steps/clear-2jthe-screen-and-bold-markup")
        _assert_inert_screen(app, code_shown=True)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        svg = app.export_screenshot()
        assert "␛]52;c;" in svg  # shown, as a symbol
        _assert_inert_screen(app, code_shown=True)
        await pilot.press("escape")
        await pilot.pause()

        # Still responsive: a manual tick goes through and is saved.
        await _select(pilot, "steps/manual-step")
        await pilot.press("space")
        await pilot.pause()
        assert app.live.session.items["steps/manual-step"].status is Status.DONE
        app.exit(0)

    # Reopened, the run's output comes back from the log file on disk (raw bytes there): still inert.
    again = _app(tmp_path, config, session_id=sid)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _select(pilot, ITEM)
        await pilot.pause()
        shown = again.screen.query_one(LogPanes).run_log.lines
        assert "last line" in shown and "clipboard" in shown and "red alert" in shown
        _assert_inert_screen(again)
        again.exit(0)

    # The log keeps the output: escapes, NUL, CR and the whole 10 MB line (invalid UTF-8 as U+FFFD).
    (log_path,) = (tmp_path / "sessions" / sid / "logs").glob("*.log")
    data = log_path.read_bytes()
    assert b"\x1b]52;c;" + CLIPBOARD.encode() + b"\x07clipboard\n" in data
    assert b"progress 10%\rprogress 50%\rprogress 100%\n" in data
    assert b"nul\x00byte bell\x07 backspace\x08 del\x7f\n" in data
    assert b"invalid utf8 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd( end\n" in data
    assert b"\n" + b"L" * (10 * 1024 * 1024) + b"\n\x1b[2J" in data

    # The record: inert text only.
    proc = subprocess.run(
        [sys.executable, "-m", "deploytui", "export", sid, "--sessions-dir", str(tmp_path / "sessions")],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    record = proc.stdout.decode("utf-8")
    for bad in ("\x1b", "\x9b", "\x07", "\x00", "\r", CLIPBOARD):
        assert bad not in record, f"{bad!r} in the record"
    assert "last line" in record and "Print hostile output" in record


SIGNOFF_CHECKLIST = """# Markup [/] in [bold text

## Steps

- [ ] Only step [/]

## Sign-off

- **Deployed by [/]:** ____
- **Result:** [ ] Success [/] [ ] Rollback [bold
"""


async def test_checklist_text_that_looks_like_markup_is_shown_as_text(tmp_path: Path) -> None:
    """`[/]` is text in Markdown; read as Textual markup it raised MarkupError and took the app down."""
    (tmp_path / "markup.md").write_text(SIGNOFF_CHECKLIST, encoding="utf-8")
    checklist, cfg = resolve(str(tmp_path / "markup.md"), None)
    app = make_app(checklist, cfg, tmp_path / "sessions", operator="alice", choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        assert type(app.screen).__name__ == "SignoffScreen"
        assert "Deployed by [/]" in app.export_screenshot().replace("&#160;", " ")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        app.exit(0)
