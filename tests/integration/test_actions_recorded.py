"""Issue 13, the session's rules: a world-changing step is recorded before it starts and interrupted on
resume; resumes and operators are events; an override stands while re-runs fail; a cancelled re-run gives
back the result it would have replaced; a cancelled action says who cancelled it and when."""

from __future__ import annotations

import socket
from pathlib import Path

from deploytui.core.checklist import parse_checklist
from deploytui.core.session import (
    ActionRan,
    ActionStarted,
    ActionStartedEvent,
    Heartbeat,
    HeartbeatEvent,
    Override,
    Resume,
    ResumedEvent,
    RunCancelled,
    RunFinished,
    RunStarted,
    Session,
    TransitionError,
    decode,
    encode,
)
from deploytui.core.status import Outcome, Status
from deploytui.storage.fs import SessionStore
from tests.support.clock_support import TickingClock

TEXT = """# T

## S

- [ ] Migrate
  ```bash
  echo migrate
  ```
- [ ] Probe
"""
MIGRATE, PROBE = "s/migrate", "s/probe"
KEY = f"{PROBE}#0"


def _store(tmp_path: Path) -> tuple[SessionStore, str]:
    path = tmp_path / "c.md"
    path.write_text(TEXT)
    store = SessionStore(tmp_path / "sessions", clock=TickingClock())
    with store.create(parse_checklist(TEXT, path), "carol", host="h1") as live:
        return store, live.id


def _started(run_id: str = "a1") -> ActionStarted:
    return ActionStarted(
        MIGRATE, f"{MIGRATE}!action0", run_id, "bash: echo migrate", "/srv/app", "h1", 4242, "carol",
        label="action 1", log=f"logs/{run_id}.log",
    )


def test_new_event_types_round_trip_through_the_codec(tmp_path: Path) -> None:
    store, sid = _store(tmp_path)
    with store.open(sid) as live:
        started = live.apply(_started())
        beat = live.apply(Heartbeat())
        assert isinstance(started, ActionStartedEvent) and isinstance(beat, HeartbeatEvent)
        assert len(started.command_sha256) == 64 and started.cwd == "/srv/app" and started.pid == 4242
    with store.open(sid, resume_as="dave") as live:
        assert live.session.resumes[-1].by == "dave" and live.session.resumes[-1].host
        assert live.session.current_operator == "dave"
    for event in store.event_chain(sid).events:
        assert decode(encode(event)) == event
    assert any(isinstance(e, ResumedEvent) for e in store.event_chain(sid).events)


def test_an_action_running_at_a_crash_is_interrupted_on_resume_with_the_last_moment_seen(
    tmp_path: Path,
) -> None:
    store, sid = _store(tmp_path)
    live = store.open(sid)
    live.apply(_started())
    live.apply(Heartbeat())
    last_seen = live.session.updated
    live._journal.close()  # type: ignore[union-attr]  # the process dies: no end, lock left behind
    live._lock.release()  # type: ignore[union-attr]
    with store.open(sid) as resumed:
        [(item, run)] = resumed.session.interrupted_actions()
        assert item == MIGRATE and run.state == "interrupted"
        assert run.reason == (
            f"interrupted (last seen running at {last_seen}): it may have partly run: check before running"
            " it again"
        )
        assert run.at == last_seen and run.command == "bash: echo migrate" and run.by == "carol"
        assert resumed.session.running_actions() == []
        assert any("interrupted" in h.why for h in resumed.session.items[MIGRATE].history)
    rebuilt = Session.from_events(store.event_chain(sid).events)
    rebuilt.head = store.load(sid).head
    assert rebuilt.to_dict() == store.load(sid).to_dict()


def test_a_heartbeat_needs_something_running() -> None:
    session = Session.new("s1", parse_checklist(TEXT), "carol", "h1")
    try:
        session.apply(Heartbeat())
    except TransitionError as exc:
        assert "nothing is running" in str(exc)
    else:
        raise AssertionError("a heartbeat with nothing running was accepted")


def test_an_override_stands_while_reruns_fail_and_a_pass_replaces_it() -> None:
    session = Session.new("s1", parse_checklist(TEXT), "carol", "h1")
    session.apply(RunStarted(PROBE, KEY, "r1", "carol"))
    session.apply(RunFinished(PROBE, KEY, "r1", Outcome.failed("503"), by="carol"))
    session.apply(Override(PROBE, "carol", "known flaky upstream"))
    session.apply(RunStarted(PROBE, KEY, "r2", "carol"))
    session.apply(RunFinished(PROBE, KEY, "r2", Outcome.failed("503 again"), by="carol"), at="T2")
    state = session.items[PROBE]
    assert state.status is Status.OVERRIDDEN
    assert state.reason == "overridden; failed again at T2: 503 again"
    assert state.history[-1].why.startswith("overridden; failed again at T2")
    # The session file holds it the same way.
    assert Session.from_dict(session.to_dict()).items[PROBE].status is Status.OVERRIDDEN
    session.apply(RunStarted(PROBE, KEY, "r3", "carol"))
    assert Session.from_dict(session.to_dict()).items[PROBE].overridden
    session.apply(RunFinished(PROBE, KEY, "r3", Outcome.passed("200"), by="carol"))
    assert session.items[PROBE].status is Status.PASSED and not session.items[PROBE].overridden
    session.apply(RunStarted(PROBE, KEY, "r4", "carol"))
    session.apply(RunFinished(PROBE, KEY, "r4", Outcome.failed("503"), by="carol"))
    assert session.items[PROBE].status is Status.FAILED  # the pass ended the override


def test_cancelling_a_rerun_restores_the_previous_result_marked() -> None:
    session = Session.new("s1", parse_checklist(TEXT), "carol", "h1")
    session.apply(RunStarted(PROBE, KEY, "r1", "carol"))
    session.apply(RunFinished(PROBE, KEY, "r1", Outcome.passed("200"), by="carol"))
    session.apply(RunStarted(PROBE, KEY, "r2", "carol"))
    session.apply(RunCancelled(PROBE, KEY, "r2", "dave"), at="T3")
    check = session.items[PROBE].checks[KEY]
    assert session.items[PROBE].status is Status.PASSED and check.status is Status.PASSED
    assert check.reason == "200 (re-run cancelled by dave at T3)" and check.run_id == "r1"
    assert session.items[PROBE].history[-1].why == f"check {KEY} re-run cancelled: back to passed"
    # An overridden item stays overridden when its re-run is cancelled.
    session.apply(RunStarted(PROBE, KEY, "r3", "carol"))
    session.apply(RunFinished(PROBE, KEY, "r3", Outcome.failed("503"), by="carol"))
    session.apply(Override(PROBE, "carol", "accepted"))
    session.apply(RunStarted(PROBE, KEY, "r4", "carol"))
    session.apply(RunCancelled(PROBE, KEY, "r4", "carol"))
    assert session.items[PROBE].status is Status.OVERRIDDEN


def test_a_cancelled_action_says_who_cancelled_it_and_when() -> None:
    session = Session.new("s1", parse_checklist(TEXT), "carol", "h1")
    session.apply(_started())
    session.apply(ActionRan(MIGRATE, 0, "a1", -1, "logs/a1.log", "dave", cancelled=True), at="T4")
    [run] = session.items[MIGRATE].actions
    assert run.state == "cancelled" and run.summary() == "cancelled by dave at T4"


def test_every_person_who_acted_and_every_resume_are_kept(tmp_path: Path) -> None:
    store, sid = _store(tmp_path)
    with store.open(sid, resume_as="dave") as live:
        live.apply(_started())
    with store.open(sid, resume_as="erin"):
        pass
    session = store.load(sid)
    assert [r.by for r in session.resumes] == ["dave", "erin"]
    assert session.people() == ["carol", "dave", "erin"]
    assert [r.host for r in session.resumes] == [socket.gethostname()] * 2  # where each resume ran


def test_a_resume_is_refused_without_a_host() -> None:
    session = Session.new("s1", parse_checklist(TEXT), "carol", "h1")
    try:
        session.apply(Resume("dave", " "))
    except TransitionError:
        return
    raise AssertionError("a resume without a host was accepted")


def test_heartbeats_only_while_something_runs_and_at_most_one_per_period(tmp_path: Path) -> None:
    from deploytui.services.runs import RunRecorder

    store, sid = _store(tmp_path)
    with store.open(sid) as live:
        recorder = RunRecorder(live, "carol")
        assert not recorder.beat(every=0.0)  # nothing runs: no heartbeat
        live.apply(_started())
        assert recorder.beat(every=0.0)
        assert not recorder.beat(every=3600.0)  # the last one is too recent
        types = [e.type for e in store.event_chain(sid).events]
        assert types.count("heartbeat") == 1


def test_a_secret_in_the_command_is_masked_before_it_is_hashed(tmp_path: Path) -> None:
    import hashlib

    from deploytui.core.redact import Redactor

    path = tmp_path / "c.md"
    path.write_text(TEXT)
    store = SessionStore(tmp_path / "sessions", clock=TickingClock())
    redactor = Redactor({"DB_PASSWORD": "hunter2-very-secret"})
    with store.create(parse_checklist(TEXT, path), "carol", host="h1", redactor=redactor) as live:
        event = live.apply(
            ActionStarted(MIGRATE, f"{MIGRATE}!action0", "a1", "psql -W hunter2-very-secret", "/", "h1", 1,
                          "carol")
        )
    assert isinstance(event, ActionStartedEvent)
    assert "hunter2" not in event.command
    assert "hunter2" not in (store.dir / live.id / "events.jsonl").read_text()
    assert event.command_sha256 == hashlib.sha256(event.command.encode()).hexdigest()
