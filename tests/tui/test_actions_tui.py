"""`x` in the app runs any world-changing step of the selected node: a bound pg_dump (through a chooser,
since the item also has a fenced block) whose dump the backup-verify check then passes, a webhook POSTed to
a loopback receiver. The confirm dialog shows exactly what runs, where and on which host; a resumed session
keeps its operator unless the resume dialog changes it."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot

from deploytui.core.status import Status
from deploytui.tui.app import DeployApp
from deploytui.tui.screens.dialogs import ChoiceDialog, ConfirmDialog, ResumeDialog, TextDialog
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from deploytui.tui.widgets.detail_pane import DetailPane
from tests.servers.databases import APP_PASSWORD, APP_USER, PostgresServer
from tests.servers.target_app import WEBHOOK_TOKEN, TargetServer
from tests.support.tui_support import build_app

SIZE = (120, 40)

CHECKLIST = """# Release

## Pre-deployment

- [ ] Create backup of production database
  ```bash
  echo "a hand-made dump would go here"
  ```
- [ ] Notify team
- [ ] Validate backups work
- [ ] Look around
  ```bash
  ls
  ```
"""

BACKUP, NOTIFY, VALIDATE, LOOK = (
    "pre-deployment/create-backup-of-production-database",
    "pre-deployment/notify-team",
    "pre-deployment/validate-backups-work",
    "pre-deployment/look-around",
)


def _config(tmp_path: Path, db_url: str, hook_url: str) -> Path:
    """The project; the webhook's URL (its path holds the token) is a secret, from the environment."""
    import os

    os.environ["HOOK_URL"] = hook_url  # restored by _isolated's monkeypatch.setenv
    (tmp_path / "release.md").write_text(CHECKLIST)
    (tmp_path / "backups").mkdir(exist_ok=True)
    config = tmp_path / "deploytui.toml"
    config.write_text(
        f"""checklist = "release.md"

[vars]
DATABASE_URL = "{db_url}"

[secrets]
env = ["HOOK_URL"]

[[check]]
name = "pg_dump backup"
item = "{BACKUP}"
kind = "backup"
url = "${{DATABASE_URL}}"
output = "backups/production.dump"
timeout = "120s"

[[check]]
name = "notify the team"
item = "{NOTIFY}"
kind = "webhook"
url = "${{HOOK_URL}}"
text = "deploying (test)"

[[check]]
name = "backup"
item = "{VALIDATE}"
kind = "backup"
verify_only = true
path = "backups/*.dump"
timeout = "60s"

[[check]]
name = "listing"
item = "{LOOK}"
kind = "command"
run = "true"
read_only = true
"""
    )
    return config


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.setenv("HOOK_URL", "")
    monkeypatch.chdir(tmp_path)


def _text(renderable: object) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def _select(pilot: Pilot[int], node_id: str) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, MainScreen)
    assert screen.query_one(ChecklistTree).select_id(node_id)
    await pilot.pause()


async def _until(pilot: Pilot[int], predicate, what: str, rounds: int = 3000) -> None:  # type: ignore[no-untyped-def]
    for _ in range(rounds):
        if predicate():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"never happened: {what}")


def _status(app: DeployApp, node_id: str) -> Status:
    return app.live.session.status_of(node_id, app.checklist)


@pytest.mark.services
async def test_x_runs_the_bound_dump_the_verify_check_passes_and_x_notifies_the_team(
    tmp_path: Path, postgres_server: PostgresServer, target_app: TargetServer
) -> None:
    postgres_server.create_database("x_backup_src", owner=APP_USER)
    postgres_server.execute(
        f"SET ROLE {APP_USER}; CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);",
        database="x_backup_src",
    )
    db_url = postgres_server.url_for("x_backup_src", user=APP_USER, password=APP_PASSWORD)
    config = _config(tmp_path, db_url, f"{target_app.url}/hooks/{WEBHOOK_TOKEN}")
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await _select(pilot, BACKUP)
        await pilot.press("x")
        await _until(pilot, lambda: isinstance(app.screen, ChoiceDialog), "the chooser")
        chooser = app.screen
        assert isinstance(chooser, ChoiceDialog) and len(chooser.entries) == 2
        assert chooser.entries[1].startswith("pg_dump backup")
        await pilot.press("down", "enter")
        await _until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirm dialog")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        body = _text(dialog.body)
        assert "This changes the world. It runs exactly:" in body and "pg_dump" in body
        assert APP_PASSWORD not in body and APP_PASSWORD not in (dialog.copy_text or "")
        assert f"in {tmp_path.resolve()}  on {socket.gethostname()}" in body
        await pilot.click("#confirm")
        await _until(
            pilot,
            lambda: [a.state for a in app.live.session.items[BACKUP].actions] == ["ended"],
            "the dump to end",
        )
        await pilot.pause()
        state = app.live.session.items[BACKUP]
        assert state.checks[state.actions[0].check].status is Status.PASSED, state
        # The dump passed, but a step is not a check: the item waits for the operator's tick.
        assert _status(app, BACKUP) is Status.PENDING, state
        assert (tmp_path / "backups" / "production.dump").stat().st_size > 0
        [run] = app.live.session.items[BACKUP].actions
        assert run.state == "ended" and run.by == "alice" and "pg_dump" in run.command
        await pilot.press("space")
        await _until(pilot, lambda: _status(app, BACKUP) is Status.DONE, "the tick")

        await _select(pilot, VALIDATE)
        await pilot.press("r")
        await _until(pilot, lambda: _status(app, VALIDATE) is Status.PASSED, "the backup-verify check")

        before = len(target_app.app.hook_messages)
        await _select(pilot, NOTIFY)
        await pilot.press("x")  # one step: no chooser
        await _until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the webhook's dialog")
        body = _text(app.screen.body)  # type: ignore[attr-defined]
        assert "POST [secret:HOOK_URL]" in body and '"text": "deploying (test)"' in body
        assert WEBHOOK_TOKEN not in body
        await pilot.click("#confirm")
        await _until(
            pilot,
            lambda: [a.state for a in app.live.session.items[NOTIFY].actions] == ["ended"],
            "the webhook",
        )
        assert _status(app, NOTIFY) is Status.PENDING  # sent: the operator ticks the item
        assert target_app.app.hook_messages[before:] == [{"text": "deploying (test)"}]
        events = [e.type for e in app.store.event_chain(app.live.id).events]
        assert events.count("action_started") == 2


async def test_a_read_only_block_does_not_say_it_changes_the_world(tmp_path: Path) -> None:
    config = _config(tmp_path, "postgresql://u@127.0.0.1:1/x", "http://127.0.0.1:1/h")
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await _select(pilot, LOOK)
        await pilot.press("x")
        await _until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirm dialog")
        body = _text(app.screen.body)  # type: ignore[attr-defined]
        assert "It runs exactly:" in body and "changes the world" not in body
        await pilot.press("escape")


async def test_resume_keeps_the_sessions_operator_and_one_key_changes_it(tmp_path: Path) -> None:
    config = _config(tmp_path, "postgresql://u@127.0.0.1:1/x", "http://127.0.0.1:1/h")
    first = build_app(tmp_path, config=config, choice="new", operator="Carol Ops")
    async with first.run_test(size=SIZE) as pilot:
        await pilot.pause()
    # Resumed without --operator: Carol, not $USER.
    again = build_app(tmp_path, config=config, choice="resume", operator=None)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.operator == "Carol Ops"
        await _select(pilot, LOOK)
        await pilot.press("space")
        await pilot.pause()
    session = again.store.load(again.live.id)
    assert session.items[LOOK].by == "Carol Ops"
    assert [r.by for r in session.resumes] == ["Carol Ops"]
    # The resume dialog shows who resumes it; `o` changes it.
    third = build_app(tmp_path, config=config, choice="ask", operator=None)
    async with third.run_test(size=SIZE) as pilot:
        await _until(pilot, lambda: isinstance(third.screen, ResumeDialog), "the resume dialog")
        dialog = third.screen
        assert isinstance(dialog, ResumeDialog) and dialog.operator == "Carol Ops"
        await pilot.press("o")
        await _until(pilot, lambda: isinstance(third.screen, TextDialog), "the operator dialog")
        field = third.screen.query_one("#text-input")
        field.value = "Dave"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(third.screen, ResumeDialog), "back to the resume dialog")
        await pilot.click("#resume")
        await _until(pilot, lambda: isinstance(third.screen, MainScreen), "the main screen")
        assert third.operator == "Dave"
    session = third.store.load(third.live.id)
    assert [r.by for r in session.resumes] == ["Carol Ops", "Dave"]
    assert session.people() == ["Carol Ops", "Dave"]


async def test_after_a_crash_mid_action_the_app_shows_it_interrupted_with_its_partial_log(
    tmp_path: Path,
) -> None:
    from deploytui.core.session import ActionStarted
    from deploytui.storage.fs import SessionStore
    from deploytui.tui.widgets.header_bar import HeaderBar
    from deploytui.tui.widgets.log_panes import LogPanes

    config = _config(tmp_path, "postgresql://u@127.0.0.1:1/x", "http://127.0.0.1:1/h")
    first = build_app(tmp_path, config=config, choice="new", operator="Carol Ops")
    async with first.run_test(size=SIZE) as pilot:
        await pilot.pause()
    store = SessionStore(tmp_path / "sessions")
    live = store.open(first.live.id)
    log = live.new_log("r-crash")
    log.write_text("# header\nstep 1 of 3 done\nstep 2 of 3 done\n")
    live.apply(
        ActionStarted(LOOK, f"{LOOK}!action0", "r-crash", "bash: ls", str(tmp_path), "h1", 1, "Carol Ops",
                      label="action 1", log=str(log))
    )
    live._journal.close()  # type: ignore[union-attr]  # the process dies here: no end is recorded
    live._lock.release()  # type: ignore[union-attr]

    app = build_app(tmp_path, config=config, choice="ask", operator=None)
    async with app.run_test(size=SIZE) as pilot:
        await _until(pilot, lambda: isinstance(app.screen, ResumeDialog), "the resume dialog")
        summary = _text(app.screen.summary)  # type: ignore[attr-defined]
        assert "Interrupted world-changing steps" in summary and f"{LOOK}: action 1 started" in summary
        await pilot.click("#resume")
        await _until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        header = str(app.screen.query_one(HeaderBar).render())
        assert "1 action(s) may have partly run" in header, header
        await _select(pilot, LOOK)
        panes = app.screen.query_one(LogPanes)
        await _until(pilot, lambda: "step 2 of 3 done" in list(panes.run_log.lines), "the partial log")
        detail = _text(app.screen.query_one(DetailPane).shown[1])
        assert "interrupted at" in detail and "it may have partly run" in detail, detail


async def test_cancelling_a_rerun_keeps_the_earlier_pass_and_the_progress(tmp_path: Path) -> None:
    """R then C used to turn passed items back to pending (progress fell); now the re-run's cancel gives
    each check back its previous result, marked."""
    (tmp_path / "release.md").write_text(CHECKLIST)
    config = tmp_path / "deploytui.toml"
    config.write_text(
        f"""checklist = "release.md"

[[check]]
name = "second run hangs"
item = "{LOOK}"
kind = "command"
run = "if [ -f ran ]; then sleep 30; fi; touch ran; echo ok"
timeout = "60s"
"""
    )
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("R")
        await _until(pilot, lambda: _status(app, LOOK) is Status.PASSED, "the first run to pass")
        done_before = sum(n for s, n in app.live.session.counts(app.checklist).items() if s.is_complete)
        await pilot.press("R")
        await _until(pilot, lambda: _status(app, LOOK) is Status.RUNNING, "the re-run to start")
        await pilot.press("C")
        await _until(pilot, lambda: _status(app, LOOK) is not Status.RUNNING, "the cancel")
        check = app.live.session.items[LOOK].checks[f"{LOOK}#0"]
        assert _status(app, LOOK) is Status.PASSED and check.status is Status.PASSED
        assert "re-run cancelled by alice" in check.reason
        done_after = sum(n for s, n in app.live.session.counts(app.checklist).items() if s.is_complete)
        assert done_after == done_before
