"""The screen's pure parts: the filter language and the bookkeeping of runs in progress."""

from __future__ import annotations

from deploytui.core.checklist import parse_checklist
from deploytui.core.events import RunBegan, RunEnded, RunOutput
from deploytui.core.session import RunFinished, RunStarted, Session
from deploytui.core.status import Outcome, Status
from deploytui.tui.presenters.filter import Matcher, matching_ids
from deploytui.tui.presenters.runs import RunBoard

TEXT = """# Deploy

## Pre

- [ ] Tests pass
- [ ] Redis reachable

## Ship

- [ ] Push image
"""


def _session() -> tuple[object, Session]:
    checklist = parse_checklist(TEXT)
    session = Session()
    session.apply_event(Session.created_event("s1", checklist, "alice", "box"))
    session.apply(RunStarted("pre/redis-reachable", "pre/redis-reachable#0", "r1", "alice"))
    session.apply(
        RunFinished("pre/redis-reachable", "pre/redis-reachable#0", "r1", Outcome(Status.FAILED, "refused"))
    )
    return checklist, session


def test_words_match_titles_and_ids_and_keep_ancestors() -> None:
    checklist, session = _session()
    assert matching_ids(checklist, session, "push") == {"ship", "ship/push-image"}  # type: ignore[arg-type]
    assert matching_ids(checklist, session, "pre tests") == {"pre", "pre/tests-pass"}  # type: ignore[arg-type]


def test_status_words_select_by_status() -> None:
    checklist, session = _session()
    for query in ("is:failed", "status:failed", "failed"):
        assert matching_ids(checklist, session, query) == {"pre", "pre/redis-reachable"}  # type: ignore[arg-type]
    assert matching_ids(checklist, session, "is:passed") == set()  # type: ignore[arg-type]


NESTED = """# Release

## Prepare

- [ ] Step 1: build
  - [ ] Step 12: tag
    - [ ] Step 120: push tag
- [ ] Step 2: failed probe
- [ ] Pending review

## Roll back

- [ ] Step 13: revert
"""


def test_typing_a_query_key_by_key_matches_what_the_whole_query_matches() -> None:
    """The Matcher narrows the previous matches while typing on; its answers are matching_ids's for every
    prefix, including status words (no narrowing there), backspacing and a word that becomes a status."""
    checklist = parse_checklist(NESTED)
    session = Session()
    session.apply_event(Session.created_event("s1", checklist, "alice", "box"))
    failing = "prepare/step-2-failed-probe"
    session.apply(RunStarted(failing, f"{failing}#0", "r1", "alice"))
    session.apply(RunFinished(failing, f"{failing}#0", "r1", Outcome(Status.FAILED, "refused")))
    matcher = Matcher(checklist)
    typed = ["step 12", "step 1", "step 12 tag", "fail", "failed", "failed x", "is:f", "is:failed", "pending"]
    for query in typed:
        for end in range(1, len(query) + 1):
            prefix = query[:end]
            assert matcher.matching_ids(session, prefix) == matching_ids(checklist, session, prefix), prefix
    assert matcher.matching_ids(session, "step 12") == {
        "prepare",
        "prepare/step-1-build",
        "prepare/step-1-build/step-12-tag",
        "prepare/step-1-build/step-12-tag/step-120-push-tag",
    }
    assert matcher.matching_ids(session, "failed") == {"prepare", failing}
    # Queries that narrow with an earlier word changed, the same query again, a word added in front of
    # the end: only the changed words are looked for in the previous matches.
    for query in ["st 12", "ste 12", "step 12", "step 12", "step 12 t", "step 120 t", "step 120 tag", "s"]:
        assert matcher.matching_ids(session, query) == matching_ids(checklist, session, query), query


def test_a_second_run_of_an_item_appends_under_a_header_and_ending_closes_it() -> None:
    board = RunBoard()
    board.submitted("r1", "pre/tests-pass")
    board.submitted("r2", "pre/tests-pass")
    title, appended = board.began(RunBegan("r1", "pre/tests-pass", "pre/tests-pass#0", "unit", "/l1"))
    assert (title, appended) == ("unit", False)
    assert board.output(RunOutput("r1", ["ok"])) == "pre/tests-pass"
    title, appended = board.began(
        RunBegan("r2", "pre/tests-pass", "pre/tests-pass#1", "lint", "/l2", "ruff .")
    )
    assert (title, appended) == ("lint: ruff .", True)
    assert list(board.buffers["pre/tests-pass"].lines) == ["ok", "── lint: ruff . ──"]
    assert board.descriptions == {"pre/tests-pass#1": "ruff ."}
    board.ended(
        RunEnded("r1", "pre/tests-pass", "pre/tests-pass#0", Outcome(Status.PASSED, "ok"), "/l1"), "end"
    )
    assert board.pending_under({"pre/tests-pass"}) == ["r2"]
    assert board.output(RunOutput("r-unknown", ["x"])) is None


def test_runs_cancelled_while_queued_leave_nothing_pending() -> None:
    board = RunBoard()
    board.submitted("r1", "a")
    board.submitted("r2", "a")
    board.began(RunBegan("r1", "a", "a#0", "x", "/l"))
    board.never_began(["r1", "r2"])
    assert board.pending_runs == {"r1": "a"}
