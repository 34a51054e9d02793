"""The `exported` event: a finished session still takes it (where its record went changes no status),
only with an absolute, printable path and a sha256; it survives the TOML checkpoint and a replay."""

from __future__ import annotations

import pytest

from deploytui.core.checklist import parse_checklist
from deploytui.core.session import Finish, RecordExported, Session, TransitionError

SHA = "ab" * 32


def _finished() -> Session:
    checklist = parse_checklist("# D\n\n- [ ] One\n")
    session = Session()
    events = [Session.created_event("S1", checklist, "alice", "host", at="2026-01-01T00:00:00.000Z")]
    session.apply_event(events[0])
    events.append(session.apply(Finish("success", "alice"), at="2026-01-01T00:01:00.000Z"))
    return session


def test_a_finished_session_takes_the_export_and_keeps_it_through_toml_and_replay() -> None:
    session = _finished()
    event = session.apply(
        RecordExported("/srv/rec.md", SHA, "alice", signed=True), at="2026-01-01T00:02:00.000Z"
    )
    assert event.type == "exported"
    assert session.record is not None and (session.record.path, session.record.signed) == (
        "/srv/rec.md",
        True,
    )
    assert Session.from_dict(session.to_dict()).record == session.record
    with pytest.raises(TransitionError, match="finished"):
        session.apply(Finish("success", "alice"))


@pytest.mark.parametrize(
    ("path", "sha", "why"),
    [("rec.md", SHA, "absolute"), ("/srv/a\nb.md", SHA, "printable"), ("/srv/rec.md", "x" * 64, "sha256")],
)
def test_an_export_needs_an_absolute_printable_path_and_a_sha256(path: str, sha: str, why: str) -> None:
    with pytest.raises(TransitionError, match=why):
        _finished().apply(RecordExported(path, sha, "alice"))
