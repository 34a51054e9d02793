"""The two faces record the same session: one scenario run through `deploytui check` and through the
app's run-all gives the same events, event by event, apart from times, run ids and log names.

This is what the services layer is for: the CLI and the TUI used to map engine events each in their own
way, and the copies drifted (the TUI recorded runs without their kind, the two named a different actor,
and a cancellation of a run that never began was recorded by one of them only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploytui.core.events import RunBegan, RunEnded
from deploytui.core.record import is_rollback
from deploytui.core.session import RunStarted
from deploytui.core.status import Outcome, Status
from deploytui.services import signoff
from deploytui.services.project import resolve
from deploytui.services.runs import RunRecorder
from deploytui.storage.fs import SessionStore
from tests.support.cli_support import run_deploytui
from tests.support.tui_support import build_app, write_project

VOLATILE = {"at", "run_id", "log", "duration_ms", "seq", "prev"}
"""Fields that differ between any two runs (times, ids, the log file's name)."""


def _run_events(events_path: Path) -> list[dict[str, Any]]:
    """The run events of a session, volatile fields dropped, in a stable order (checks run in parallel,
    so the order they end in differs from run to run)."""
    kept = []
    for line in events_path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if not event["type"].startswith("run"):
            continue
        for key in VOLATILE:
            event.pop(key, None)
        for key in ("outcome",):
            if isinstance(event.get(key), dict):
                event[key] = {k: v for k, v in event[key].items() if k not in VOLATILE}
        kept.append(event)
    return sorted(kept, key=lambda e: (e["type"], e.get("check", e.get("check_key", "")), json.dumps(e)))


async def test_check_and_run_all_record_the_same_events(tmp_path: Path) -> None:
    cli_dir, tui_dir = tmp_path / "cli", tmp_path / "tui"
    for project in (cli_dir, tui_dir):
        project.mkdir()
        write_project(project, quick=True, flood=3)

    done = run_deploytui("check", "--operator", "alice", "--sessions-dir", "sessions", cwd=cli_dir)
    assert done.returncode == 1, done.stderr  # config-valid fails on purpose
    (cli_session,) = SessionStore(cli_dir / "sessions").ids()

    app = build_app(tui_dir, config=tui_dir / "deploytui.toml", choice="new", operator="alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("R")
        await pilot.app.workers.wait_for_complete()
        for _ in range(50):
            await pilot.pause()
            if not app.live.session.running():
                break
        tui_session = app.live.id
        app.exit(0)

    cli_events = _run_events(cli_dir / "sessions" / cli_session / "events.jsonl")
    tui_events = _run_events(tui_dir / "sessions" / tui_session / "events.jsonl")
    assert cli_events == tui_events
    assert cli_events, "the scenario ran no checks"
    started = [e for e in cli_events if e["type"] == "run_started"]
    assert started and all(e.get("kind") == "command" for e in started)  # the record's "(command)" tag
    assert all(e["by"] == "alice" for e in cli_events)  # every change names the operator


def _recorder(tmp_path: Path) -> tuple[RunRecorder, Any]:
    checklist, config = resolve(str(write_project(tmp_path, quick=True)), None)
    live = SessionStore(tmp_path / "sessions").create(checklist, "alice")
    return RunRecorder.for_config(live, config, "alice"), live


def test_a_run_cancelled_while_queued_records_nothing(tmp_path: Path) -> None:
    recorder, live = _recorder(tmp_path)
    with live:
        before = live.session.seq
        cancelled = Outcome(Status.INTERRUPTED, "cancelled")
        ended = RunEnded(
            "r1", "preflight/tests-pass", "preflight/tests-pass#0", cancelled, "", cancelled=True
        )
        assert recorder.record(ended) is None
        assert live.session.seq == before


def test_a_cancelled_run_that_began_is_recorded_as_cancelled_by_the_operator(tmp_path: Path) -> None:
    recorder, live = _recorder(tmp_path)
    with live:
        log = str(live.new_log("r1"))
        began = RunBegan("r1", "preflight/tests-pass", "preflight/tests-pass#0", "unit tests", log)
        assert isinstance(recorder.record(began), RunStarted)
        cancelled = Outcome(Status.INTERRUPTED, "cancelled")
        ended = RunEnded(
            "r1", "preflight/tests-pass", "preflight/tests-pass#0", cancelled, log, cancelled=True
        )
        change = recorder.record(ended)
        assert change is not None and type(change).__name__ == "RunCancelled"
        assert live.session.items["preflight/tests-pass"].status is Status.PENDING
        assert live.session.items["preflight/tests-pass"].history[-1].by == "alice"


def test_roll_back_is_a_rollback_on_the_form_as_in_the_record() -> None:
    for value in ("Rollback", "Roll back", "roll-back", "ROLLBACK"):
        assert signoff.is_rollback(value) and is_rollback(value)
    assert not signoff.is_rollback("Success")
