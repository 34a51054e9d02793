"""Cursor keys move the tree's cursor at once; the detail and run panes follow when the cursor rests
(SELECTION_SETTLE_SECONDS): a run of keys shows its last node, never one it passed, and keys typed meanwhile
act on the cursor's node."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploytui.core.status import Status
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from deploytui.tui.widgets.detail_pane import DetailPane
from deploytui.tui.widgets.log_panes import LogPanes
from tests.support.pilot_support import main_screen as main
from tests.support.pilot_support import rendered_text, until
from tests.support.tui_support import build_app

pytestmark = pytest.mark.usefixtures("tui_home")


def _detail(app: object) -> str:
    pane = main(app).query_one(DetailPane)  # type: ignore[arg-type]
    return "".join(rendered_text(part) for part in pane.shown)


async def test_a_run_of_cursor_keys_shows_the_last_node_once_it_rests(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = main(app)
        tree = screen.query_one(ChecklistTree)
        assert tree.select_id("preflight/tests-pass")
        await pilot.pause()
        assert "Tests pass" in _detail(app)
        await pilot.press("down", "down")  # Config valid, then Notify team
        assert tree.selected_id == "preflight/notify-team" and screen.selected_id == "preflight/notify-team"
        await until(pilot, lambda: "Notify team" in _detail(app), "the detail follows the cursor")
        assert "Config valid" not in _detail(app)
        assert any("Press x" in line for line in main(app).query_one(LogPanes).run_log.lines)
        # A key right behind the cursor keys acts on the cursor's node and brings the panes up to it.
        await pilot.press("up", "space")
        assert app.live.session.items["preflight/config-valid"].status is Status.DONE
        assert "Config valid" in _detail(app)
