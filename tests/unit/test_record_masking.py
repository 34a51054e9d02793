"""A session recorded under an older config (its secrets unknown then) is masked once more before its
record is rendered: every free-text field (notes, reasons, evidence, values, the sign-off, titles, the
history's whys) and every log excerpt, a multi-line value across its lines; ids, statuses and times are
kept, and the session itself is not changed."""

from __future__ import annotations

from deploytui.core.checklist import parse_checklist
from deploytui.core.record import LogExcerpt, RecordInputs, render_record
from deploytui.core.record.masking import mask_inputs, mask_session
from deploytui.core.redact import Redactor
from deploytui.core.session import AddNote, Finish, RunFinished, RunStarted, Session, SignOff, Skip
from deploytui.core.status import Outcome, Status

TOKEN = "tok-Env-7f3a9c2e1b"
KEY = "ab12cd\nef34gh\nij56kl"

CHECKLIST = """\
# Release

## Checks

- [ ] Token works
- [ ] Key loaded
- [ ] Backups verified

## Sign-off

- **Deployed by:** ____
- **Result:** [ ] Success [ ] Rollback
"""


def recorded_without_the_secrets() -> tuple[Session, RecordInputs]:
    checklist = parse_checklist(CHECKLIST)
    ids = {n.title: n.id for n in checklist.nodes.values()}
    session = Session.new("s-old", checklist, "alice", "jump-1", at="2026-11-25T09:00:00.000Z")
    token, key, backups = ids["Token works"], ids["Key loaded"], ids["Backups verified"]
    at = "2026-11-25T09:0{}:00Z".format
    session.apply(RunStarted(token, "k", "r1", kind="http", label=f"probe {TOKEN}"), at=at(1))
    failed = Outcome(Status.FAILED, f"401 for token {TOKEN}", {"token": TOKEN}, f"key:\n{KEY}\nend")
    session.apply(RunFinished(token, "k", "r1", failed, log="logs/r1.log", kind="http"), at=at(2))
    session.apply(AddNote(key, "alice", f"rotated to {TOKEN}"), at=at(3))
    session.apply(Skip(backups, "bob", f"restored with {KEY}"), at=at(4))
    session.apply(SignOff({"deployed-by": "alice", "notes": f"token {TOKEN}"}, "alice"), at=at(5))
    session.apply(Finish("Success", "alice"), at=at(6))
    inputs = RecordInputs(
        events_head="9" * 64,
        events_count=session.seq,
        logs={"logs/r1.log": "1" * 64},
        excerpts={"logs/r1.log": LogExcerpt(f"GET ?token={TOKEN}\n{KEY}\ndone", 0)},
        exported_at="2026-11-25T10:00:00Z",
    )
    return session, inputs


def test_mask_session_and_inputs_leave_no_secret_in_the_record() -> None:
    session, inputs = recorded_without_the_secrets()
    redactor = Redactor({"TOKEN": TOKEN, "KEY": KEY})
    leaky = render_record(session, None, inputs)
    assert TOKEN in leaky and "ef34gh" in leaky  # what an export without the config's secrets shows

    record = render_record(mask_session(session, redactor), None, mask_inputs(inputs, redactor))
    assert TOKEN not in record
    for line in KEY.split("\n"):
        assert line not in record
    assert "[secret:TOKEN]" in record and "[secret:KEY]" in record


def test_masking_keeps_ids_statuses_and_times_and_copies() -> None:
    session, _ = recorded_without_the_secrets()
    before = session.to_dict(history=True)
    masked = mask_session(session, Redactor({"TOKEN": TOKEN, "KEY": KEY}))
    assert session.to_dict(history=True) == before  # the original is untouched
    after = masked.to_dict(history=True)
    assert after["items"].keys() == before["items"].keys()
    for item_id, entry in after["items"].items():
        assert entry["status"] == before["items"][item_id]["status"]
        assert [h["at"] for h in entry.get("history", [])] == [
            h["at"] for h in before["items"][item_id].get("history", [])
        ]
    assert TOKEN not in repr(after) and "ef34gh" not in repr(after)
    check = next(iter(masked.items["checks/token-works"].checks.values()))
    assert check.values == {"token": "[secret:TOKEN]"} and check.run_id == "r1"
