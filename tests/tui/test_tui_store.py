"""The app on the PostgreSQL store: a session in the database, and the header saying so when the store
goes away while the operator keeps working."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploytui.core.session import AddNote
from deploytui.services.project import resolve
from deploytui.tui.app import make_app
from deploytui.tui.widgets.header_bar import HeaderBar
from tests.support.store_support import fresh_database
from tests.support.tui_support import write_project

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


async def test_the_header_says_the_store_is_offline_and_changes_are_held(
    postgres_server: Any, tmp_path: Path
) -> None:
    url = fresh_database(postgres_server)
    checklist, config = resolve(str(write_project(tmp_path)), None)
    app = make_app(checklist, config, url, choice="new", operator="alice")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        live: Any = app.live
        assert live.store.location.startswith("store postgresql://")
        live.offline_backoff = (3600.0,)  # stays offline until the test reconnects it
        postgres_server.execute(
            f"SELECT pg_terminate_backend({live._conn.info.backend_pid})", url.rsplit("/", 1)[1]
        )
        live.apply(AddNote("preflight/tests-pass", "alice", "noted while the store is away"))

        def header() -> str:
            return str(app.screen.query_one(HeaderBar).render())

        for _ in range(50):
            if "store offline: 1 change held locally" in header():
                break
            await pilot.pause(0.1)
        assert "store offline: 1 change held locally" in header()
        assert live.try_reconnect()
        for _ in range(50):
            if "store offline" not in header():
                break
            await pilot.pause(0.1)
        assert "store offline" not in header()
    assert app.store.load(live.id).items["preflight/tests-pass"].notes[0].text.startswith("noted")


async def test_a_read_only_app_on_the_store_shows_the_writers_changes(
    postgres_server: Any, tmp_path: Path
) -> None:
    from deploytui.core.session import Tick
    from deploytui.storage.postgres import PostgresStore

    url = fresh_database(postgres_server)
    checklist, config = resolve(str(write_project(tmp_path)), None)
    writer = PostgresStore(url, local_dir=tmp_path / "writer").create(checklist, "bob", session_id="s-1")
    try:
        app = make_app(checklist, config, url, session_id="s-1", read_only=True, operator="alice")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.live.read_only
            writer.apply(Tick("preflight/tests-pass", "bob"))
            for _ in range(50):
                if app.live.session.seq == 2:
                    break
                await pilot.pause(0.1)
            assert app.live.session.items["preflight/tests-pass"].by == "bob"
    finally:
        writer.close()
