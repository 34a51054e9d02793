"""Session state rules: who may change what, derived statuses, and replay from events."""

from __future__ import annotations

import pytest

from deploytui.core.checklist import Checklist, parse_checklist
from deploytui.core.session import (
    EVIDENCE_MAX_CHARS,
    ActionRan,
    AddNote,
    Finish,
    MarkInterrupted,
    Override,
    Rebase,
    RunCancelled,
    RunFinished,
    RunStarted,
    Session,
    SignOff,
    Skip,
    Tick,
    TransitionError,
    Untick,
    aggregate,
    encode,
    item_specs,
)
from deploytui.core.status import Outcome, Status

TEXT = """# Deploy

## Pre

- [ ] Tests pass
- [ ] Review
  - [ ] Security
  - [ ] Perf

## Health

- [ ] API up

## Rollback Plan

1. **Quick**
   ```bash
   echo back
   ```
"""

TESTS = "pre/tests-pass"
REVIEW = "pre/review"
SEC = "pre/review/security"
PERF = "pre/review/perf"
API = "health/api-up"
QUICK = "rollback-plan/quick"


@pytest.fixture
def checklist() -> Checklist:
    return parse_checklist(TEXT)


@pytest.fixture
def session(checklist: Checklist) -> Session:
    return Session.new("s1", checklist, "alice", "jump1")


def _fail(session: Session, item: str, run_id: str = "r1", key: str | None = None) -> None:
    key = key or f"{item}#0"
    session.apply(RunStarted(item, key, run_id, kind="http"))
    session.apply(RunFinished(item, key, run_id, Outcome.failed("HTTP 500")))


def test_new_session_has_every_item_pending_including_rollback(
    session: Session, checklist: Checklist
) -> None:
    assert list(session.items) == [TESTS, REVIEW, SEC, PERF, API, QUICK]
    assert session.items[QUICK].rollback and not session.items[TESTS].rollback
    assert session.items[SEC].parent == REVIEW and session.items[TESTS].parent is None
    counts = session.counts(checklist)
    assert counts[Status.PENDING] == 5  # rollback steps are outside progress
    assert session.counts() == counts  # the session alone knows the same


def test_tick_records_who_when_why(session: Session) -> None:
    event = session.apply(Tick(TESTS, "alice"), at="2026-11-25T09:00:00.000Z")
    state = session.items[TESTS]
    assert event.type == "tick" and event.seq == 2
    assert (state.status, state.by, state.at) == (Status.DONE, "alice", "2026-11-25T09:00:00.000Z")
    assert state.history[-1].previous is Status.PENDING and state.history[-1].why == "ticked"


def test_tick_refused_on_failed_item_but_override_with_note_accepts(session: Session) -> None:
    _fail(session, API)
    with pytest.raises(TransitionError, match="override"):
        session.apply(Tick(API, "alice"))
    with pytest.raises(TransitionError, match="note"):
        session.apply(Override(API, "alice", "   "))
    session.apply(Override(API, "alice", "known 500 on canary, tracked in OPS-12"))
    assert session.items[API].status is Status.OVERRIDDEN
    assert "OPS-12" in session.items[API].note
    # Undoing the override shows the failure again.
    session.apply(Untick(API, "alice"))
    assert session.items[API].status is Status.FAILED


def test_override_refused_unless_failed(session: Session) -> None:
    with pytest.raises(TransitionError, match="only failed"):
        session.apply(Override(TESTS, "alice", "why not"))


def test_skip_needs_a_reason(session: Session) -> None:
    with pytest.raises(TransitionError, match="reason"):
        session.apply(Skip(TESTS, "alice", ""))
    session.apply(Skip(TESTS, "alice", "no test suite for this service"))
    state = session.items[TESTS]
    assert state.status is Status.SKIPPED and state.reason == "no test suite for this service"
    with pytest.raises(TransitionError, match="already skipped"):
        session.apply(Skip(TESTS, "alice", "again"))
    session.apply(Tick(TESTS, "bob"))  # changed their mind: ticking replaces the skip
    assert session.items[TESTS].status is Status.DONE and session.items[TESTS].reason == ""


def test_untick_only_undoes_manual_statuses(session: Session) -> None:
    with pytest.raises(TransitionError, match="untick"):
        session.apply(Untick(TESTS, "alice"))
    session.apply(Tick(TESTS, "alice"))
    session.apply(Untick(TESTS, "alice"))
    assert session.items[TESTS].status is Status.PENDING


def test_tick_refused_while_running_and_when_passed(session: Session) -> None:
    session.apply(RunStarted(API, f"{API}#0", "r1"))
    with pytest.raises(TransitionError, match="running"):
        session.apply(Tick(API, "alice"))
    with pytest.raises(TransitionError, match="running"):
        session.apply(Skip(API, "alice", "later"))
    session.apply(RunFinished(API, f"{API}#0", "r1", Outcome.passed("200 in 12ms", status=200)))
    with pytest.raises(TransitionError, match="already passed"):
        session.apply(Tick(API, "alice"))


def test_unknown_item_and_missing_who_are_refused(session: Session) -> None:
    with pytest.raises(TransitionError, match="no item"):
        session.apply(Tick("pre", "alice"))  # a section is not tickable
    with pytest.raises(TransitionError, match="who"):
        session.apply(Tick(TESTS, "  "))


def test_notes_append_without_changing_status(session: Session) -> None:
    session.apply(AddNote(TESTS, "alice", "first"))
    session.apply(AddNote(TESTS, "bob", "second"))
    state = session.items[TESTS]
    assert [(n.by, n.text) for n in state.notes] == [("alice", "first"), ("bob", "second")]
    assert state.status is Status.PENDING and state.note == "first\nsecond"
    with pytest.raises(TransitionError):
        session.apply(AddNote(TESTS, "alice", ""))


def test_all_bound_checks_must_pass(session: Session) -> None:
    session.apply(RunStarted(API, f"{API}#0", "r1"))
    session.apply(RunStarted(API, f"{API}#1", "r2"))
    session.apply(RunFinished(API, f"{API}#0", "r1", Outcome.passed("ok")))
    assert session.items[API].status is Status.RUNNING  # one still running
    session.apply(RunFinished(API, f"{API}#1", "r2", Outcome.failed("slow", duration_ms=2500)))
    assert session.items[API].status is Status.FAILED
    assert session.items[API].reason == "slow"
    session.apply(RunStarted(API, f"{API}#1", "r3"))
    session.apply(RunFinished(API, f"{API}#1", "r3", Outcome.passed("fast")))
    assert session.items[API].status is Status.PASSED


def test_stale_and_duplicate_run_results_refused(session: Session) -> None:
    key = f"{API}#0"
    session.apply(RunStarted(API, key, "r1"))
    with pytest.raises(TransitionError, match="already running"):
        session.apply(RunStarted(API, key, "r2"))
    with pytest.raises(TransitionError, match="stale"):
        session.apply(RunFinished(API, key, "r0", Outcome.passed("ok")))
    session.apply(RunFinished(API, key, "r1", Outcome.passed("ok")))
    with pytest.raises(TransitionError, match="already ended"):
        session.apply(RunFinished(API, key, "r1", Outcome.failed("late")))


def test_cancel_returns_check_to_pending_and_queued_cancel_changes_nothing(session: Session) -> None:
    key = f"{API}#0"
    session.apply(RunCancelled(API, key, "queued", "alice"))
    assert session.items[API].status is Status.PENDING and key not in session.items[API].checks
    session.apply(RunStarted(API, key, "r1"))
    session.apply(RunCancelled(API, key, "r1", "alice"))
    assert session.items[API].status is Status.PENDING
    assert session.items[API].checks[key].reason == "cancelled by alice"


def test_long_evidence_is_clipped_in_the_session(session: Session) -> None:
    key = f"{API}#0"
    session.apply(RunStarted(API, key, "r1"))
    session.apply(RunFinished(API, key, "r1", Outcome.failed("boom", evidence="x" * 50_000 + "TAIL")))
    evidence = session.items[API].checks[key].evidence
    assert len(evidence) < EVIDENCE_MAX_CHARS + 200 and evidence.endswith("TAIL") and "omitted" in evidence


def test_parent_status_derives_from_children(session: Session, checklist: Checklist) -> None:
    assert session.status_of(REVIEW, checklist) is Status.PENDING
    session.apply(Tick(SEC, "alice"))
    assert session.status_of(REVIEW, checklist) is Status.PENDING  # perf still pending
    session.apply(Skip(PERF, "alice", "no load test env"))
    assert session.status_of(REVIEW, checklist) is Status.DONE  # done + skipped: complete
    session.apply(Tick(TESTS, "alice"))
    assert session.status_of("pre", checklist) is Status.DONE
    _fail(session, PERF)
    assert session.status_of(REVIEW, checklist) is Status.FAILED
    assert session.status_of("pre", checklist) is Status.FAILED
    # The rollback section is outside the document's progress but has its own derived status.
    assert session.status_of("rollback-plan", checklist) is Status.PENDING


def test_aggregate_rules() -> None:
    assert aggregate([]) is Status.PENDING
    assert aggregate([Status.PASSED, Status.RUNNING, Status.FAILED]) is Status.RUNNING
    assert aggregate([Status.PASSED, Status.PENDING]) is Status.PENDING
    assert aggregate([Status.PASSED, Status.PASSED]) is Status.PASSED
    assert aggregate([Status.PASSED, Status.OVERRIDDEN]) is Status.OVERRIDDEN
    assert aggregate([Status.ERROR, Status.INTERRUPTED]) is Status.ERROR


def test_interrupted_marks_running_checks(session: Session) -> None:
    session.apply(RunStarted(API, f"{API}#0", "r1"))
    with pytest.raises(TransitionError):
        Session.new("s2", parse_checklist(TEXT), "a", "h").apply(MarkInterrupted())
    event = session.apply(MarkInterrupted())
    assert encode(event)["checks"] == [[API, f"{API}#0"]]
    assert session.items[API].status is Status.INTERRUPTED
    session.apply(Override(API, "alice", "the health check was verified by hand"))
    assert session.items[API].status is Status.OVERRIDDEN


def test_signoff_and_finish(session: Session) -> None:
    session.apply(RunStarted(API, f"{API}#0", "r1"))
    with pytest.raises(TransitionError, match="still running"):
        session.apply(Finish("success", "alice"))
    session.apply(RunFinished(API, f"{API}#0", "r1", Outcome.passed("ok")))
    session.apply(SignOff({"deployed-by": "Alice", "result": "Success"}, "alice"))
    session.apply(ActionRan(QUICK, 0, "a1", 0, "logs/a1.log", "alice"))
    with pytest.raises(TransitionError, match="result"):
        session.apply(Finish(" ", "alice"))
    session.apply(Finish("success", "alice"))
    assert session.finished and session.result == "success"
    assert session.signoff == {"deployed-by": "Alice", "result": "Success"}
    assert session.items[QUICK].actions[0].exit_code == 0
    with pytest.raises(TransitionError, match="finished"):
        session.apply(Tick(TESTS, "alice"))


def test_replaying_events_rebuilds_the_same_state(session: Session, checklist: Checklist) -> None:
    events = [Session.created_event("s1", checklist, "alice", "jump1", at=session.started)]
    events.append(session.apply(Tick(TESTS, "alice")))
    events.append(session.apply(RunStarted(API, f"{API}#0", "r1", kind="http", label="health")))
    events.append(session.apply(RunFinished(API, f"{API}#0", "r1", Outcome.failed("500", status=500))))
    events.append(session.apply(Override(API, "bob", "accepted")))
    events.append(session.apply(AddNote(SEC, "bob", "done by security team")))
    events.append(session.apply(SignOff({"notes": "fine"}, "bob")))
    rebuilt = Session.from_events(events)
    assert rebuilt.to_dict() == session.to_dict()
    # And the TOML shape round-trips too.
    assert Session.from_dict(session.to_dict()).to_dict() == session.to_dict()


def test_rebase_keeps_items_by_id_and_orphans_removed_ones(session: Session) -> None:
    session.apply(Tick(TESTS, "alice"))
    session.apply(Tick(API, "alice"))
    changed = parse_checklist(TEXT.replace("- [ ] API up", "- [ ] API answers"))
    event = session.apply(Rebase("x.md", changed.sha256, changed.title, item_specs(changed)))
    assert encode(event)["added"] == ["health/api-answers"] and encode(event)["removed"] == [API]
    assert session.items[TESTS].status is Status.DONE  # kept by id
    assert session.items[API].orphan and API not in session.counted_ids()
    assert session.items["health/api-answers"].status is Status.PENDING
    assert session.checklist_sha256 == changed.sha256


def test_measured_values_are_kept_toml_safe(session: Session) -> None:
    key = f"{API}#0"
    session.apply(RunStarted(API, key, "r1"))
    outcome = Outcome.passed("ok", status=200, huge=2**80, ratio=0.5, up=True)
    outcome.values["odd"] = None  # type: ignore[assignment]
    session.apply(RunFinished(API, key, "r1", outcome))
    values = session.items[API].checks[key].values
    assert values == {"status": 200, "huge": str(2**80), "ratio": 0.5, "up": True, "odd": "None"}


def test_anything_running_follows_every_event_and_asks_once_between_them(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app's heartbeat asks every second; on 5,000 items each answer scanned every item.
    assert not session.anything_running()
    session.apply(RunStarted(API, f"{API}#0", "r1", "alice"))
    assert session.anything_running()
    scans: list[int] = []
    running = session.running
    monkeypatch.setattr(session, "running", lambda: scans.append(1) or running())
    for _ in range(100):
        assert session.anything_running()
    assert scans == []
    session.apply(RunFinished(API, f"{API}#0", "r1", Outcome(Status.PASSED, "ok")))
    assert not session.anything_running()
    assert scans == [1]
