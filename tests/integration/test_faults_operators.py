"""Two operators on one session: the second is refused naming the holder (user, host, pid), or opens it
with --read-only and follows the writer's changes live in the app."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from textual.pilot import Pilot

from deploytui.core.session import AddNote, RunFinished, RunStarted, Tick
from deploytui.core.status import Outcome, Status
from deploytui.storage.fs import SessionStore
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.widgets.header_bar import HeaderBar
from tests.support.tui_support import build_app, write_project

REPO = Path(__file__).resolve().parents[2]
SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.chdir(tmp_path)


async def _until(pilot: Pilot[int], predicate, what: str, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"never happened: {what}")


def _writer(tmp_path: Path) -> tuple[SessionStore, str]:
    from deploytui.services.project import resolve

    checklist, _ = resolve(str(write_project(tmp_path)), None)
    store = SessionStore(tmp_path / "sessions")
    with store.create(checklist, "alice") as live:
        return store, live.id


async def test_read_only_app_follows_the_writer_live(tmp_path: Path) -> None:
    store, sid = _writer(tmp_path)
    writer = store.open(sid)
    try:
        viewer = build_app(tmp_path, session_id=sid, read_only=True, operator="bob")
        async with viewer.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = viewer.screen
            assert isinstance(screen, MainScreen)
            header = screen.query_one(HeaderBar)
            assert header.info is not None and header.info.read_only and header.info.done == 0

            writer.apply(Tick("preflight/notify-team", "alice"))
            writer.apply(AddNote("preflight/tests-pass", "alice", "green on main"))
            writer.apply(RunStarted("preflight/tests-pass", "preflight/tests-pass#0", "r1", kind="command"))
            await _until(
                pilot,
                lambda: viewer.live.session.status_of("preflight/notify-team") is Status.DONE,
                "the tick reached the follower",
            )
            assert header.info.done == 1
            assert viewer.live.session.status_of("preflight/tests-pass") is Status.RUNNING
            writer.apply(
                RunFinished("preflight/tests-pass", "preflight/tests-pass#0", "r1", Outcome.passed("ok"))
            )
            await _until(pilot, lambda: header.info is not None and header.info.done == 2, "the run result")
            # The follower still changes nothing.
            await pilot.press("space")
            assert writer.session.seq == viewer.live.session.seq == 5
    finally:
        writer.close()


def test_second_writer_is_refused_naming_the_holder_and_read_only_export_works(tmp_path: Path) -> None:
    store, sid = _writer(tmp_path)
    with store.open(sid) as writer:
        writer.apply(Tick("preflight/notify-team", "alice"))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        base = [sys.executable, "-m", "deploytui"]
        proc = subprocess.run(
            [*base, "check", "--session", sid, "--sessions-dir", str(store.dir)],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env,
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert f"{getpass.getuser()}@{socket.gethostname()} (pid {os.getpid()}" in line
        assert "--read-only" in line
        # Reading while it is held: listing and exporting never need the lock.
        exported = subprocess.run(
            [*base, "export", sid, "--sessions-dir", str(store.dir)],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env,
        )
        assert exported.returncode == 0, exported.stderr
        assert "Notify team" in exported.stdout


async def test_second_app_on_a_held_session_exits_with_the_holder(tmp_path: Path) -> None:
    store, sid = _writer(tmp_path)
    with store.open(sid):
        second = build_app(tmp_path, session_id=sid, operator="bob")
        async with second.run_test(size=SIZE) as pilot:
            await pilot.pause()
        assert second.return_value == 2
