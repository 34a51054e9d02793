"""Typed session events: one codec between a log line and an event, the same bytes as before, and a clear
one-line error for a line that is not an event.

tests/fixtures/sessions/ was written by the store before events were typed
(tests/support/session_script.py, every kind of event); it must still open to the same state, and
today's code must write the same bytes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deploytui.core.checklist import parse_checklist
from deploytui.core.errors import DeployError
from deploytui.core.session import (
    EVENT_TYPES,
    AddNote,
    CreatedEvent,
    Event,
    EventFormatError,
    NoteEvent,
    Session,
    TickEvent,
    decode,
    encode,
)
from deploytui.core.status import Status
from deploytui.storage.fs import (
    GENESIS_HASH,
    Journal,
    SessionStore,
    atomic_write_toml,
    event_line,
    line_hash,
    verify_chain,
)
from tests.support import session_script as script
from tests.support.cli_support import one_line_error, run_deploytui

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sessions"
OLD_EVENTS = FIXTURES / script.SESSION_ID / "events.jsonl"


def _play_script() -> tuple[Session, list[Event]]:
    """The fixture's session, built again in memory by today's code (same changes, same times)."""
    session = Session()
    created = Session.created_event(
        script.SESSION_ID, script.checklist(), script.OPERATOR, script.HOST,
        at=script.CREATED_AT, checklist_path=script.CHECKLIST_PATH,
    )
    session.apply_event(created)
    events: list[Event] = [created]
    for change, at in script.script():
        events.append(session.apply(change, at))
    return session, events


def _old_lines() -> list[bytes]:
    return OLD_EVENTS.read_bytes().splitlines()


@pytest.fixture
def old_sessions(tmp_path: Path) -> Path:
    """A copy of the fixture sessions dir (opening for write may change files)."""
    target = tmp_path / "sessions"
    shutil.copytree(FIXTURES, target)
    return target


def test_every_event_type_round_trips_through_the_codec() -> None:
    """encode(decode(obj)) == obj for every line, and the line itself comes back byte for byte."""
    seen = set()
    prev = GENESIS_HASH
    for raw in _old_lines():
        data = json.loads(raw)
        assert data.pop("prev") == prev
        event = decode(data)
        assert type(event) is EVENT_TYPES[data["type"]]
        assert encode(event) == data
        assert event_line(event, prev) == raw
        seen.add(event.type)
        prev = line_hash(raw)
    assert seen == set(EVENT_TYPES) - NEWER_TYPES, "the script should make every kind of event"


NEWER_TYPES = {"action_started", "heartbeat", "resumed", "exported"}
"""Event types added after the fixture was written (tests/test_actions_recorded.py round-trips them)."""


def test_todays_code_writes_the_bytes_the_old_code_wrote(tmp_path: Path) -> None:
    """Same changes at the same times: the same events.jsonl (hash chain included) and session file."""
    session, events = _play_script()
    path = tmp_path / "events.jsonl"
    journal = Journal(path, 0, GENESIS_HASH)
    for event in events:
        journal.append(event)
    journal.close()
    assert path.read_bytes() == OLD_EVENTS.read_bytes()
    session.head = journal.head
    toml = tmp_path / "s.toml"
    atomic_write_toml(toml, session.to_dict())
    assert toml.read_bytes() == (FIXTURES / f"{script.SESSION_ID}.toml").read_bytes()


def test_the_store_logs_every_kind_of_change_in_the_old_shape(tmp_path: Path) -> None:
    """Through LiveSession (sanitising, journal, save): each line is the fixture's, but for times and the
    absolute checklist path the store records at creation."""
    checklist_path = tmp_path / script.CHECKLIST_PATH
    checklist_path.write_text(script.TEXT)
    store = SessionStore(tmp_path / "sessions")
    with store.create(
        parse_checklist(script.TEXT, checklist_path), script.OPERATOR, host=script.HOST,
        session_id=script.SESSION_ID,
    ) as live:
        returned = [live.apply(change) for change, _at in script.script()]
        assert returned[0] == TickEvent(seq=2, at=returned[0].at, by="alice", item=script.TESTS)
        events_path = live.events_path

    def shape(raw: bytes) -> dict[str, object]:
        data = json.loads(raw)
        for key in ("at", "prev", "checklist_path"):
            data.pop(key, None)
        return data

    new_lines = events_path.read_bytes().splitlines()
    assert [shape(raw) for raw in new_lines] == [shape(raw) for raw in _old_lines()]
    assert [encode(e) for e in returned] == [
        {k: v for k, v in json.loads(raw).items() if k != "prev"} for raw in new_lines[1:]
    ]


def test_old_session_fixture_opens_to_the_state_it_had(old_sessions: Path) -> None:
    store = SessionStore(old_sessions)
    session = store.load(script.SESSION_ID)  # also checks the old session file agrees with the replay
    expected = json.loads((old_sessions / f"{script.SESSION_ID}.state.json").read_text())
    assert json.loads(json.dumps(session.to_dict(history=True))) == expected
    assert session.result == "success" and session.items[script.API].status is Status.OVERRIDDEN
    assert session.items[script.QUEUE].orphan  # the rebase dropped it
    with store.open(script.SESSION_ID, read_only=True) as follower:
        assert follower.session.seq == 20
    [info] = store.list()
    assert info.error is None and info.finished == "2026-11-25T09:19:00.000Z"


def test_old_session_takes_new_events_on_its_chain(old_sessions: Path) -> None:
    """An unfinished old session (the fixture without its sign-off and finish) resumes; the new event
    chains onto the old lines and the whole replays."""
    store = SessionStore(old_sessions)
    events = old_sessions / script.SESSION_ID / "events.jsonl"
    lines = _old_lines()[:-2]
    events.write_bytes(b"".join(line + b"\n" for line in lines))
    (old_sessions / f"{script.SESSION_ID}.toml").unlink()  # rebuilt from the log
    with store.open(script.SESSION_ID) as live:
        event = live.apply(AddNote(script.CACHE, "dave", "warmed by hand too"))
        assert isinstance(event, NoteEvent) and event.seq == 19
    assert verify_chain(events)[0] == 19
    assert events.read_bytes().startswith(b"".join(line + b"\n" for line in lines))
    assert store.load(script.SESSION_ID).items[script.CACHE].note == "warmed by hand too"


def test_created_event_is_typed_and_new_sessions_replay_from_objects() -> None:
    session, events = _play_script()
    assert isinstance(events[0], CreatedEvent) and events[0].items[0].id == script.TESTS
    objects = [json.loads(raw) for raw in _old_lines()]  # with their `prev`: ignored
    assert Session.from_events(objects).to_dict(history=True) == session.to_dict(history=True)
    assert Session.from_events(events).to_dict(history=True) == session.to_dict(history=True)


MALFORMED = [
    (5, lambda d: d.update(type="teleport"), "malformed event: unknown event type 'teleport'"),
    (5, lambda d: d.pop("type"), "malformed event: no type"),
    (2, lambda d: d.pop("item"), "malformed event: tick without 'item'"),
    (4, lambda d: d.update(reason=5), "malformed event: skip.reason must be text, not an integer"),
    (
        1,
        lambda d: d["items"][1].update(id=None),
        "malformed event: created.items[1].id must be text, not null",
    ),
    (
        7,
        lambda d: d.update(status="great"),
        "malformed event: run_finished.status must be a status (pending",
    ),
    (
        7,
        lambda d: d["values"].update(status=[500]),
        "run_finished.values['status'] must be text, a number or true/false, not a list",
    ),
    (15, lambda d: d.update(checks=[["a"]]), "interrupted.checks[0] must be a list of two, not a list"),
    (9, lambda d: d.update(started="no"), "run_cancelled.started must be true or false, not text"),
]


@pytest.mark.parametrize(("line", "damage", "message"), MALFORMED, ids=[m[2][:40] for m in MALFORMED])
def test_malformed_event_is_one_line_error_naming_file_and_line(
    old_sessions: Path, line: int, damage: object, message: str
) -> None:
    events = old_sessions / script.SESSION_ID / "events.jsonl"
    lines = _old_lines()
    data = json.loads(lines[line - 1])
    damage(data)  # type: ignore[operator]
    lines[line - 1] = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    events.write_bytes(b"".join(raw + b"\n" for raw in lines))
    with pytest.raises(DeployError) as info:
        SessionStore(old_sessions).load(script.SESSION_ID)
    text = str(info.value)
    assert text.startswith(f"{events}:{line}: ") and message in text and "\n" not in text


def test_malformed_event_through_the_cli_is_one_line_not_a_traceback(
    old_sessions: Path, tmp_path: Path
) -> None:
    events = old_sessions / script.SESSION_ID / "events.jsonl"
    lines = _old_lines()
    data = json.loads(lines[3])
    data["reason"] = {"nested": True}
    lines[3] = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    events.write_bytes(b"".join(raw + b"\n" for raw in lines))
    proc = run_deploytui(
        "export", script.SESSION_ID, "-o", str(tmp_path / "r.md"), "--sessions-dir", str(old_sessions),
        cwd=tmp_path,
    )
    line = one_line_error(proc)
    assert f"{events}:4: malformed event: skip.reason must be text, not an object" in line


def test_decode_refuses_what_is_not_an_event() -> None:
    with pytest.raises(EventFormatError, match="not a list"):
        decode([1, 2])  # type: ignore[arg-type]
    with pytest.raises(EventFormatError, match="unknown event type 3"):
        decode({"type": 3, "seq": 1, "at": "x"})
    with pytest.raises(EventFormatError, match="tick without 'at'"):
        decode({"type": "tick", "seq": 2, "item": "x"})
    with pytest.raises(EventFormatError, match="tick.seq must be an integer, not true/false"):
        decode({"type": "tick", "seq": True, "at": "x", "item": "x"})
    # `by` may be absent (the program's own changes), and keys beyond the fields are ignored, as replay
    # always allowed.
    assert decode({"type": "tick", "seq": 2, "at": "x", "item": "i", "later": 1}) == TickEvent(
        seq=2, at="x", by="deploytui", item="i"
    )
    assert isinstance(EventFormatError("x"), ValueError)
