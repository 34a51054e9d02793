"""`deploytui --read-only` without a session: the picker lists the sessions and follows the one chosen."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from deploytui.core.session.changes import Finish
from deploytui.services.project import resolve
from deploytui.storage.fs import SessionStore
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.screens.picker import SessionPicker
from tests.support.tui_support import CHECKLIST, build_app

SIZE = (140, 30)


@pytest.fixture(autouse=True)
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))


def sessions(tmp: Path) -> None:
    """Three sessions of a checklist in another folder: old (open), newer (open), newest (finished)."""
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "checklist.md").write_text(CHECKLIST.replace("# Release checklist", "# Other checklist"))
    checklist, _ = resolve(str(elsewhere / "checklist.md"), None)
    store = SessionStore(tmp / "sessions")
    store.create(checklist, "alice", host="box", session_id="20261201-080000-old1").close()
    store.create(checklist, "bob", host="box", session_id="20261201-090000-open").close()
    done = store.create(checklist, "carol", host="box", session_id="20261201-100000-done")
    done.apply(Finish("success", by="carol"))
    done.close()


async def test_picker_follows_the_chosen_session_with_its_own_checklist(tmp_path: Path) -> None:
    sessions(tmp_path)
    app = build_app(tmp_path, read_only=True, choice="pick")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SessionPicker)
        table = app.screen.query_one(DataTable)
        keys = [row.key.value for row in table.ordered_rows]
        assert keys == ["20261201-100000-done", "20261201-090000-open", "20261201-080000-old1"]
        assert table.cursor_row == 1  # the newest unfinished
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.live.session.id == "20261201-080000-old1" and app.live.read_only
        # Opened with the checklist the session recorded, not the one the app was started with.
        assert app.checklist.title == "Other checklist"
        assert app.live.drift is None


async def test_picker_quits_without_opening_anything(tmp_path: Path) -> None:
    sessions(tmp_path)
    app = build_app(tmp_path, read_only=True, choice="pick")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0 and app._live is None
