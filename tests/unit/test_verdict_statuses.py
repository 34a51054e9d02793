"""The `flaky` and `blocked` statuses in the session, the record and re-run-by-failure; attempts kept."""

from __future__ import annotations

import tomllib

import pytest
import tomli_w

from deploytui.core.checklist import Checklist, parse_checklist
from deploytui.core.record import RecordInputs, render_record
from deploytui.core.session import (
    Override,
    RunFinished,
    RunStarted,
    Session,
    Skip,
    Tick,
    TransitionError,
    aggregate,
    aggregate_checks,
    encode,
    latest_statuses,
    rerun_keys,
)
from deploytui.core.status import Attempt, Outcome, Status

TEXT = """# Deploy

## Health

- [ ] API up
- [ ] Cache warm

## Smoke

- [ ] Query works
- [ ] Limit works
"""
API, CACHE, QUERY, LIMIT = "health/api-up", "health/cache-warm", "smoke/query-works", "smoke/limit-works"
AT = "2030-01-02T03:04:05.000Z"


@pytest.fixture
def checklist() -> Checklist:
    return parse_checklist(TEXT, "deploy.md")


def finish(session: Session, item: str, outcome: Outcome, run: str, started: bool = True) -> None:
    key = f"{item}#0"
    if started:
        session.apply(RunStarted(item, key, run, kind="http"), at=AT)
    session.apply(RunFinished(item, key, run, outcome, kind="http"), at=AT)


FLAKY = Outcome(
    Status.FLAKY,
    "200 in 3 ms (flaky: passed on attempt 2 of 3; attempt 1: status 503, expected 200)",
    {"attempts": 2},
    attempts=[
        Attempt(Status.FAILED, "status 503, expected 200", 4, 0, 1),
        Attempt(Status.PASSED, "200 in 3 ms", 3, 2004, 2),
    ],
)
BLOCKED = Outcome(Status.BLOCKED, "not run: dependency health/api-up failed", {"blocked_by": f"{API}#0"})


def test_flaky_counts_as_complete_and_blocked_needs_attention(checklist: Checklist) -> None:
    assert Status.FLAKY.is_complete and Status.FLAKY.is_passing and not Status.FLAKY.is_bad
    assert Status.BLOCKED.is_bad and not Status.BLOCKED.is_complete and not Status.BLOCKED.is_passing
    assert aggregate_checks([Status.PASSED, Status.FLAKY]) is Status.FLAKY
    assert aggregate_checks([Status.FAILED, Status.BLOCKED]) is Status.FAILED
    assert aggregate_checks([Status.BLOCKED, Status.PASSED]) is Status.BLOCKED
    assert aggregate([Status.PASSED, Status.FLAKY]) is Status.FLAKY
    assert aggregate([Status.FLAKY, Status.OVERRIDDEN]) is Status.OVERRIDDEN
    assert aggregate([Status.BLOCKED, Status.INTERRUPTED]) is Status.BLOCKED

    session = Session.new("s1", checklist, "ana", "box", at=AT)
    finish(session, API, Outcome(Status.FAILED, "status 500, expected 200"), "r1")
    finish(session, CACHE, FLAKY, "r2")
    finish(session, QUERY, BLOCKED, "r3", started=False)  # a blocked check never started
    assert session.status_of(CACHE) is Status.FLAKY and session.items[CACHE].reason.startswith("200 in 3 ms")
    assert session.status_of(QUERY) is Status.BLOCKED
    assert session.status_of("smoke", checklist) is Status.BLOCKED
    assert session.status_of("health", checklist) is Status.FAILED
    counts = session.counts(checklist)
    assert (counts[Status.FLAKY], counts[Status.BLOCKED], counts[Status.PENDING]) == (1, 1, 1)
    assert sum(n for s, n in counts.items() if s.is_complete) == 1

    # a blocked item is ticked only through an override; a flaky one is already complete
    with pytest.raises(TransitionError, match="a check it waits for did not pass"):
        session.apply(Tick(QUERY, "ana"), at=AT)
    with pytest.raises(TransitionError, match="already passed"):
        session.apply(Tick(CACHE, "ana"), at=AT)
    with pytest.raises(TransitionError, match="already flaky"):
        session.apply(Skip(CACHE, "ana", "why not"), at=AT)
    session.apply(Override(QUERY, "ana", "the API is known down; checked by hand"), at=AT)
    assert session.status_of(QUERY) is Status.OVERRIDDEN


def test_attempts_survive_the_event_log_and_the_session_file(checklist: Checklist) -> None:
    session = Session.new("s1", checklist, "ana", "box", at=AT)
    events = [session.created_event("s1", checklist, "ana", "box", at=AT)]
    for change in (RunStarted(CACHE, f"{CACHE}#0", "r2", kind="http"),
                   RunFinished(CACHE, f"{CACHE}#0", "r2", FLAKY, kind="http")):
        events.append(session.apply(change, at=AT))
    assert encode(events[-1])["attempts"][0] == {
        "number": 1,
        "status": "failed",
        "reason": "status 503, expected 200",
        "duration_ms": 4,
        "started_ms": 0,
    }
    replayed = Session.from_events(events)
    assert replayed.items[CACHE].checks[f"{CACHE}#0"].attempts == FLAKY.attempts
    text = tomli_w.dumps(session.to_dict())
    loaded = Session.from_dict(tomllib.loads(text))
    assert loaded.items[CACHE].checks[f"{CACHE}#0"].attempts == FLAKY.attempts
    assert loaded.status_of(CACHE) is Status.FLAKY


def test_a_session_written_before_attempts_and_the_new_statuses_still_loads(checklist: Checklist) -> None:
    old_event = {
        "seq": 2, "type": "run_finished", "at": AT, "by": "deploytui", "item": API, "check": f"{API}#0",
        "run_id": "r1", "kind": "http", "status": "passed", "reason": "200 in 3 ms", "values": {},
        "evidence": "", "duration_ms": 3, "log": "",
    }
    created = Session.created_event("s1", checklist, "ana", "box", at=AT)
    session = Session.from_events([created, old_event])
    assert session.items[API].checks[f"{API}#0"].attempts == []
    data = session.to_dict()
    assert "attempts" not in data["items"][API]["checks"][f"{API}#0"]
    assert Session.from_dict(tomllib.loads(tomli_w.dumps(data))).status_of(API) is Status.PASSED


def test_rerun_keys_list_every_check_that_did_not_cleanly_pass(checklist: Checklist) -> None:
    session = Session.new("s1", checklist, "ana", "box", at=AT)
    finish(session, API, Outcome(Status.FAILED, "status 500"), "r1")
    finish(session, CACHE, FLAKY, "r2")
    finish(session, QUERY, BLOCKED, "r3", started=False)
    finish(session, LIMIT, Outcome(Status.PASSED, "rate limited"), "r4")
    assert rerun_keys(session) == [f"{API}#0", f"{CACHE}#0", f"{QUERY}#0"]
    assert rerun_keys(session, under=["smoke"], checklist=checklist) == [f"{QUERY}#0"]
    assert rerun_keys(session, under=[API]) == [f"{API}#0"]
    assert latest_statuses(session) == {
        f"{API}#0": Status.FAILED,
        f"{CACHE}#0": Status.FLAKY,
        f"{QUERY}#0": Status.BLOCKED,
        f"{LIMIT}#0": Status.PASSED,
    }


def test_the_record_shows_flaky_and_blocked_apart_with_every_attempt(checklist: Checklist) -> None:
    inputs = RecordInputs(events_head="0" * 64, events_count=3, exported_at=AT)
    session = Session.new("s1", checklist, "ana", "box", at=AT)
    finish(session, API, Outcome(Status.PASSED, "200 in 3 ms"), "r1")
    plain = render_record(session, checklist, inputs)
    # a session without the new statuses renders its legend as before (re-rendered records verify)
    assert "Marks: ✅ passed · ☑️ done · ❌ failed · ⛔ error · ⏭️ skipped · ⚠️ overridden · ⏸️ interrupted" \
        " · ⏳ running · ⬜ pending\n" in plain
    finish(session, CACHE, FLAKY, "r2")
    finish(session, QUERY, BLOCKED, "r3", started=False)
    body = render_record(session, checklist, inputs)
    assert "· ⬜ pending · 🔁 flaky · 🚫 blocked\n" in body
    assert "- [x] 🔁 **flaky** — Cache warm" in body
    assert "- [ ] 🚫 **blocked** — Query works" in body
    assert "🚫 blocked — not run: dependency health/api-up failed" in body
    assert "  - attempt 1: ❌ failed — status 503, expected 200 · 4ms\n" in body
    assert "  - attempt 2: ✅ passed — 200 in 3 ms · 3ms · at +2s\n" in body
