"""A record an auditor reads in one minute (issue 17): page one states the result as chosen and as
measured with the acknowledgement, who acted, interruptions and resumes, overrides (discarded ones too)
and the failed and open items; the checklist below shows every run of each check."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from deploytui.cli import main
from deploytui.core.checklist import bundled_checklist_path, load_checklist, parse_checklist
from deploytui.core.record import PAGE_ONE_END, RecordInputs, history_of, render_record
from deploytui.core.session import (
    Event,
    Finish,
    MarkInterrupted,
    Override,
    RunCancelled,
    RunFinished,
    RunStarted,
    Session,
    SignOff,
    Tick,
    Untick,
)
from deploytui.core.status import Outcome, Status
from tests.integration.test_end_to_end import deployment  # noqa: F401  (the full run's fixture)
from tests.unit.test_record import CHECKLIST, titles

PAGE_ONE_LINES = 60
"""What "fits its first page in about 60 lines" allows."""


def _page_one(body: str) -> list[str]:
    return body.split(f"\n{PAGE_ONE_END}\n", 1)[0].split("\n")


def _at(minute: int) -> str:
    return f"2026-11-25T09:{minute:02d}:00.000Z"


def test_page_one_tells_the_story_and_the_checklist_every_run() -> None:
    checklist = parse_checklist(CHECKLIST)
    ids = titles(checklist)
    session = Session.new("s-story", checklist, "alice", "jump-1", at=_at(0))
    events: list[Event] = [Session.created_event("s-story", checklist, "alice", "jump-1", at=_at(0))]
    redis, health = ids["Redis URL set"], ids["Health check passes"]
    failed = Outcome(Status.FAILED, "PING timed out")
    for change, minute in [
        (RunStarted(redis, "k", "r1"), 1),
        (RunFinished(redis, "k", "r1", failed, log="logs/r1.log"), 2),
        (Override(redis, "carol", "proxy speaks http"), 3),
        (Untick(redis, "bob"), 4),
        (RunStarted(redis, "k", "r2"), 5),
        (RunCancelled(redis, "k", "r2", "bob"), 6),
        (RunStarted(health, "h", "r3"), 7),
        (MarkInterrupted(), 8),
        (RunStarted(health, "h", "r4"), 9),
        (RunFinished(health, "h", "r4", Outcome(Status.PASSED, "HTTP 200"), log="logs/r4.log"), 10),
        (RunStarted(redis, "k", "r5"), 11),
        (RunFinished(redis, "k", "r5", failed, log="logs/r5.log"), 12),
        (Override(redis, "carol", "accepted: the cache is optional"), 13),
        (Tick(ids["Tests passing"], "alice"), 14),
        (SignOff({"deployed-by": "alice", "reviewed-by": "bob", "result": "Success"}, "alice",
                 acknowledged_open=4), 15),
        (Finish("Success", "alice"), 16),
    ]:
        events.append(session.apply(change, at=_at(minute)))
    inputs = RecordInputs("9" * 64, session.seq, exported_at="2026-11-25T10:00:00Z",
                          history=history_of(events))
    body = render_record(session, checklist, inputs)
    page = "\n".join(_page_one(body))
    assert "**Result: Success**, signed off with 0 failed and 4 open items acknowledged by alice." in page
    assert "Measured: 3 of 7 items complete" in page
    assert "- bob: 2 changes" in page and "- carol: 2 changes" in page
    assert "- signed off by alice at 2026-11-25T09:15:00.000Z" in page
    assert re.search(r"the process had died while 1 check\(s\) ran .*; resumed by carol at "
                     r"2026-11-25T09:13:00\.000Z", page), page
    assert "proxy speaks http — discarded: undone by bob at 2026-11-25T09:04:00.000Z" in page
    assert "accepted: the cache is optional" in page and page.count("discarded") == 1
    assert "open in Deploy (1): Image pushed" in page

    runs = next(line for line in body.split("\n") if "- runs (3):" in line)
    assert "#1 failed at 2026-11-25T09:02:00.000Z (`logs/r1.log`)" in runs
    assert "#2 cancelled at 2026-11-25T09:06:00.000Z by bob" in runs
    assert "#3 failed at 2026-11-25T09:12:00.000Z (`logs/r5.log`)" in runs
    health_runs = next(line for line in body.split("\n") if "- runs (2):" in line)
    assert "#1 interrupted at 2026-11-25T09:08:00.000Z" in health_runs and "#2 passed" in health_runs


def test_the_seed_checklist_fits_page_one_in_about_60_lines() -> None:
    """The bundled checklist's 94 items with 11 failed checks and 30 items left open: page one still
    fits, because open items are named by section on one line each, failures one per line."""
    checklist = load_checklist(bundled_checklist_path())
    leaves = [n.id for n in checklist.items() if not n.children]
    session = Session.new("s-seed", checklist, "alice", "jump-1", at=_at(0))
    for n, item in enumerate(leaves[:11]):
        session.apply(RunStarted(item, "k", f"r{n}"), at=_at(1))
        session.apply(RunFinished(item, "k", f"r{n}", Outcome(Status.FAILED, "connection refused")),
                      at=_at(2))
    for item in leaves[11:-30]:
        session.apply(Tick(item, "alice"), at=_at(3))
    body = render_record(session, checklist, RecordInputs("9" * 64, session.seq, exported_at=_at(9)))
    page = _page_one(body)
    assert len(page) <= PAGE_ONE_LINES, "\n".join(page)
    assert page[0] == "# Deployment record: Deployment Checklist"
    assert page[2].startswith("**Result: not finished**")


@pytest.mark.slow
def test_the_record_of_a_full_seed_run_opens_with_the_one_page_summary(
    deployment: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path  # noqa: F811
) -> None:
    """Every bound check of the seed run against the real services, the redis ones failing, signed off
    with the open items acknowledged: the exported record opens with page one, within about 60 lines."""
    sessions = str(deployment["sessions"])
    deployment["redis"].stop()
    assert main(["check", "--format", "json", "--sessions-dir", sessions]) == 1
    session_id = re.search(r'"session": "([^"]+)"', capsys.readouterr().out)
    assert session_id is not None
    sid = session_id.group(1)
    assert main(["signoff", sid, "--sessions-dir", sessions, "--operator", "alice", "--set",
                 "Deployed by=alice", "--set", "Reviewed by=bob", "--set", "Result=Success",
                 "--acknowledge-open"]) == 0
    capsys.readouterr()
    record = tmp_path / "record.md"
    assert main(["export", sid, "--sessions-dir", sessions, "-o", str(record)]) == 0
    body = record.read_text()
    page = _page_one(body)
    assert len(page) <= PAGE_ONE_LINES + 5, "\n".join(page)
    assert re.fullmatch(r"\*\*Result: success\*\*, signed off with \d+ failed and \d+ open items "
                        r"acknowledged by alice\.", page[2]), page[2]
    for heading in ("## Summary", "## Who acted", "## Interruptions and resumes", "## Overrides"):
        assert heading in page
    assert any(line.startswith("## Failed and open items (") for line in page)
    assert "redis" in "\n".join(page).lower()

