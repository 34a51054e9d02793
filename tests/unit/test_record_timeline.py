"""The record's timeline: a Gantt-like text block (every check's runs, each item's actions, where nothing
ran and where the operator acted), the same bytes from the same events on any day, within 80 columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deploytui.core.checklist import parse_checklist
from deploytui.core.record import history_of
from deploytui.core.record.timeline import timeline_lines
from deploytui.core.session import AddNote, Event, RunFinished, RunStarted, Session, iso_time
from deploytui.core.status import Outcome
from tests.support import session_script as script

EXPECTED = """\
09:00:00 to 09:19:00 UTC (19m00s), one column = 30s

                           09:00:00  09:05:00  09:10:00  09:15:00
health/api-up                        XX
health/cache-warm                          ░ ░░  ██
health/queue-drained                                 ░░
▶ rollback-plan/quick                                    #
operator                   ..^.^.^.^.  ..^. .  ..  ..  .. ...^.^.^

█ check passed · X failed or error · ░ cancelled, interrupted or blocked
# action ran · . nothing ran · ^ operator change

Longest waits (nothing ran):
- 5m00s: 09:00:00 to 09:05:00
- 4m00s: 09:15:00 to 09:19:00
- 2m00s: 09:06:00 to 09:08:00"""


def _scripted() -> tuple[Session, list[Event]]:
    session = Session()
    created = Session.created_event(
        script.SESSION_ID,
        script.checklist(),
        script.OPERATOR,
        script.HOST,
        at=script.CREATED_AT,
        checklist_path=script.CHECKLIST_PATH,
    )
    session.apply_event(created)
    events: list[Event] = [created]
    for change, at in script.script():
        events.append(session.apply(change, at))
    return session, events


def test_timeline_shows_runs_actions_waits_and_operator_changes() -> None:
    session, events = _scripted()
    assert "\n".join(timeline_lines(session, history_of(events))) == EXPECTED


START = datetime(2026, 1, 1, 23, 0, tzinfo=UTC)
"""A session that runs past midnight."""


def test_a_long_session_stays_within_80_columns_and_counts_the_rows_left_out() -> None:
    items = "".join(f"- [ ] A rather long item title number {n} for the width\n" for n in range(60))
    checklist = parse_checklist(f"# Deploy\n\n## Section with a long name\n\n{items}")
    session = Session()
    session.apply_event(Session.created_event("S", checklist, "op", "h", at="2026-01-01T23:00:00.000Z"))
    events: list[Event] = []
    ids = [n.id for n in checklist.items()]
    for n, item in enumerate(ids):
        at = iso_time(START + timedelta(minutes=3 * n))
        events.append(session.apply(RunStarted(item, f"{item}#{n}", f"r{n}"), at))
        outcome = Outcome.passed("ok") if n % 2 else Outcome.failed("no")
        events.append(session.apply(RunFinished(item, f"{item}#{n}", f"r{n}", outcome), at))
    events.append(session.apply(AddNote(ids[1], "op", "looked fine"), iso_time(START + timedelta(hours=3))))
    lines = timeline_lines(session, history_of(events))
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith("… and 20 more") for line in lines)
    assert lines[0].startswith("23:00:00 to 02:00:00 UTC (3h00m)")
    assert lines[-2] == "Longest waits (nothing ran):" or lines[-1].startswith("- ")
