"""`recover` with the session file as a witness of the log (issue 10).

The hash chain cannot vouch for the last line of events.jsonl: nothing after it carries its hash. The
session file records the hash of the last event it reflects (`head`) and their count (`seq`), so when the
last line is altered and still parses, the session file is what shows it. These tests damage a 4-event
session (created, tick, skip, note) the ways the issue names and check that the recovered session never
presents an altered event, that the damaged log is kept aside byte for byte, and that the report names
what was dropped and why.

Built on a fixed clock, ids and host (tests/clock_support.py): the bytes damaged are the same on any day.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from deploytui.core.checklist import parse_checklist
from deploytui.core.errors import DeployError
from deploytui.core.session import AddNote, Session, Skip, Tick
from deploytui.core.status import Status
from deploytui.storage.fs import HEAD_FILE, SessionStore, line_hash, read_head, verify_chain
from tests.support.cli_support import run_deploytui
from tests.support.clock_support import START, TickingClock

TEXT = """# Deploy

## Pre

- [ ] Tests pass
- [ ] Review
- [ ] API up
"""
ITEMS = ["pre/tests-pass", "pre/review", "pre/api-up"]
SESSION_ID = "20260105T090000Z-7e57"
NOTE = "watch the p95"
REASON = "reviewed last week"


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "sessions", clock=TickingClock())


@pytest.fixture
def sid(store: SessionStore) -> str:
    with store.create(parse_checklist(TEXT), "alice", host="jump-1", session_id=SESSION_ID) as live:
        live.apply(Tick(ITEMS[0], "alice"))
        live.apply(Skip(ITEMS[1], "alice", REASON))
        live.apply(AddNote(ITEMS[2], "alice", NOTE))
        return live.id


def _events(store: SessionStore, sid: str) -> Path:
    return store.session_dir(sid) / "events.jsonl"


def _lines(path: Path) -> list[bytes]:
    """The event lines of a log, without their LFs."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def _joined(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _flip(line: bytes, text: bytes, offset: int, bit: int = 0) -> bytes:
    """`line` with one bit flipped in the byte at `offset` inside the first `text` in it."""
    altered = bytearray(line)
    altered[line.index(text) + offset] ^= 1 << bit
    return bytes(altered)


def _asides(store: SessionStore, sid: str) -> tuple[list[Path], list[Path]]:
    return (
        sorted(_events(store, sid).parent.glob("events.jsonl.corrupt-*")),
        sorted(store.dir.glob(f"{sid}.toml.corrupt-*")),
    )


def _statuses(store: SessionStore, sid: str) -> list[Status]:
    session = store.load(sid)
    return [session.items[i].status for i in ITEMS]


def test_a_flipped_bit_in_the_last_notes_text_is_dropped_and_never_presented(
    tmp_path: Path, store: SessionStore, sid: str
) -> None:
    """The issue's case: the last line still parses and replays (`watch the q95`), so the chain holds;
    the session file's head does not match it, so recover drops it and says so."""
    events, toml_path = _events(store, sid), store.toml_path(sid)
    good_toml = toml_path.read_bytes()
    lines = _lines(events)
    lines[3] = _flip(lines[3], b"p95", 0)  # p -> q
    assert json.loads(lines[3])["text"] == "watch the q95"
    damaged = _joined(lines)
    events.write_bytes(damaged)
    with pytest.raises(DeployError, match="differs from the one the session file recorded"):
        store.open(sid)

    proc = run_deploytui("recover", sid, "--sessions-dir", str(store.dir), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "kept 3 events, dropped 1 line(s)" in out
    assert "dropped line 4: note on pre/api-up (seq 4)" in out
    assert "event 4 does not match the session file's recorded head" in out and "damaged or foreign" in out
    (log_aside,), (toml_aside,) = _asides(store, sid)
    assert log_aside.read_bytes() == damaged  # the damaged log, byte for byte
    assert toml_aside.read_bytes() == good_toml  # and the session file that witnessed the original
    assert f"kept as it was: {log_aside}" in out and f"kept as it was: {toml_aside}" in out

    session = store.load(sid)
    assert session.items[ITEMS[2]].notes == []  # the original note is gone with its line, never altered
    assert "q95" not in events.read_text() and "q95" not in toml_path.read_text()
    assert _statuses(store, sid) == [Status.DONE, Status.SKIPPED, Status.PENDING]
    assert verify_chain(events)[0] == 3
    with store.open(sid) as live:  # the session works again
        live.apply(AddNote(ITEMS[2], "alice", NOTE))
    assert store.recover(sid).intact


@pytest.mark.parametrize("keep_lf", [False, True], ids=["no-end-of-line", "line-shortened"])
def test_last_line_cut_short_is_dropped_and_its_tail_unconfirmed(
    store: SessionStore, sid: str, keep_lf: bool
) -> None:
    events = _events(store, sid)
    whole = events.read_bytes()
    cut = whole.rindex(b"watch")
    damaged = whole[:cut] + (b"\n" if keep_lf else b"")
    events.write_bytes(damaged)
    with pytest.raises(DeployError):
        store.open(sid)
    report = store.recover(sid)
    assert report.kept_events == 3 and report.dropped_lines == 1
    assert report.dropped == ["line 4: unreadable" + ("" if keep_lf else ", cut short")]
    assert "names no event of the 3 that verify" in report.reason
    assert "its tail could not be confirmed" in report.reason
    (log_aside,), (_toml_aside,) = _asides(store, sid)
    assert log_aside.read_bytes() == damaged
    assert store.load(sid).items[ITEMS[2]].notes == []
    assert _statuses(store, sid) == [Status.DONE, Status.SKIPPED, Status.PENDING]


def test_last_two_lines_swapped_are_both_dropped(store: SessionStore, sid: str) -> None:
    """The chain breaks at line 3 (its prev is line 3's own hash): lines 3 and 4 go, each named."""
    events = _events(store, sid)
    lines = _lines(events)
    lines[2], lines[3] = lines[3], lines[2]
    damaged = _joined(lines)
    events.write_bytes(damaged)
    report = store.recover(sid)
    assert report.kept_events == 2
    assert report.dropped == ["line 3: note on pre/api-up (seq 4)", "line 4: skip on pre/review (seq 3)"]
    assert "tail could not be confirmed" in report.reason
    assert "the recorded head is line 3 of the damaged log, after the break" in report.reason
    assert "hash chain broken" in report.problem and ":3:" in report.problem
    (log_aside,), _ = _asides(store, sid)
    assert log_aside.read_bytes() == damaged
    session = store.load(sid)
    assert _statuses(store, sid) == [Status.DONE, Status.PENDING, Status.PENDING]
    assert session.items[ITEMS[1]].reason == "" and session.items[ITEMS[2]].notes == []


def _appended(lines: list[bytes], **fields: Any) -> bytes:
    """One more event line that chains correctly onto `lines` (prev = hash of the last, next seq)."""
    event = {
        "seq": len(lines) + 1,
        "type": "note",
        "at": "2026-01-05T09:00:30.000Z",
        "by": "mallory",
        "item": ITEMS[2],
        "text": "appended later",
        "prev": line_hash(lines[-1]),
        **fields,
    }
    return json.dumps(event, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def test_a_line_appended_that_chains_correctly_is_adopted_like_a_kill_before_the_save(
    store: SessionStore, sid: str
) -> None:
    """Chosen behaviour: a line that chains onto the session file's head but is not in the session file
    is kept. Its bytes are exactly what a kill between the event's fsync and the session-file save leaves
    (the writer appends, fsyncs, then saves the session file), and `open` replays such a tail and saves
    the session file again so that no change that reached the log is lost (tests/test_crash.py). The
    chain anchors the line on the witnessed head; nothing can confirm its own bytes, so neither `open`
    nor `recover` can tell it from a line appended later by someone who can write the log (who could
    write the session file as well). So the session is intact for `recover`, and when `recover` runs for
    another reason (here a hand-edited session file) it keeps the line and says it was not confirmed."""
    events, toml_path = _events(store, sid), store.toml_path(sid)
    lines = _lines(events)
    events.write_bytes(_joined([*lines, _appended(lines)]))
    assert tomllib.loads(toml_path.read_text())["seq"] == 4  # the session file does not include it
    assert store.recover(sid).intact
    assert [n.text for n in store.load(sid).items[ITEMS[2]].notes] == [NOTE, "appended later"]

    # The same tail while the session file is also damaged: rebuilt from the log, the tail kept.
    toml_path.write_text(toml_path.read_text().replace('operator = "alice"', 'operator = "eve"'))
    with pytest.raises(DeployError, match="disagrees with the event log"):
        store.open(sid)
    report = store.recover(sid)
    assert report.kept_events == 5 and report.dropped == []
    assert "the log holds the session file's recorded head (event 4)" in report.reason
    assert "event 5 chains onto that head but is not in the session file" in report.reason
    assert _asides(store, sid)[0] == []  # the log is confirmed up to the head: nothing of it set aside
    session = store.load(sid)
    assert session.operator == "alice" and session.seq == 5
    with store.open(sid):
        pass
    assert tomllib.loads(toml_path.read_text())["seq"] == 5


def test_a_log_cut_at_a_line_boundary_keeps_what_verifies_and_says_the_tail_is_unconfirmed(
    store: SessionStore, sid: str
) -> None:
    """The head names no event in the log (its event is gone): keep the longest prefix that verifies,
    say its tail could not be confirmed, and keep the cut log aside although no line of it is dropped."""
    events = _events(store, sid)
    damaged = _joined(_lines(events)[:3])
    events.write_bytes(damaged)
    with pytest.raises(DeployError, match="the log was cut"):
        store.open(sid)
    report = store.recover(sid)
    assert report.kept_events == 3 and report.dropped_lines == 0 and report.dropped == []
    assert "the session file's recorded head (event 4, " in report.reason
    assert "names no event of the 3 that verify" in report.reason
    assert "its tail could not be confirmed" in report.reason
    (log_aside,), (_toml,) = _asides(store, sid)
    assert log_aside.read_bytes() == damaged
    assert _statuses(store, sid) == [Status.DONE, Status.SKIPPED, Status.PENDING]


def test_a_session_file_head_that_names_no_event_keeps_a_log_that_says_the_same(
    store: SessionStore, sid: str
) -> None:
    """When the session file is the damaged file (its head altered), the log's event at its seq has
    another hash, but replaying the log there gives exactly the session file's state: the log is kept
    whole (nothing it says is contradicted), and kept aside too since its tail could not be confirmed."""
    events, toml_path = _events(store, sid), store.toml_path(sid)
    whole = events.read_bytes()
    head = tomllib.loads(toml_path.read_text())["head"]
    toml_path.write_text(toml_path.read_text().replace(head, "f" * 64))
    report = store.recover(sid)
    assert report.kept_events == 4 and report.dropped == []
    assert "event 4 does not match the session file's recorded head (ffffffffffff…)" in report.reason
    assert "the log's state there is the session file's: kept" in report.reason
    assert "could not be confirmed" in report.reason
    (log_aside,), (toml_aside,) = _asides(store, sid)
    assert log_aside.read_bytes() == whole and events.read_bytes() == whole
    assert "f" * 64 in toml_aside.read_text()
    assert [n.text for n in store.load(sid).items[ITEMS[2]].notes] == [NOTE]


def test_a_last_line_reencoded_without_changing_what_it_says_is_kept(store: SessionStore, sid: str) -> None:
    """`p` written as the JSON escape `\\u0070`: other bytes, so not the head the session file recorded,
    but the same event. Nothing presented differs from the session file, so it is kept; the log is kept
    aside as it was, because its last line is not the one that was written."""
    events = _events(store, sid)
    lines = _lines(events)
    lines[3] = lines[3].replace(b"p95", b"\\u007095")
    damaged = _joined(lines)
    events.write_bytes(damaged)
    report = store.recover(sid)
    assert report.kept_events == 4 and report.dropped == []
    assert "the log's state there is the session file's: kept" in report.reason
    (log_aside,), _ = _asides(store, sid)
    assert log_aside.read_bytes() == damaged
    assert [n.text for n in store.load(sid).items[ITEMS[2]].notes] == [NOTE]


def test_an_altered_line_before_the_last_is_dropped_not_left_as_the_new_last(
    store: SessionStore, sid: str
) -> None:
    """A flipped bit in the skip's reason (line 3): the chain breaks at line 4, whose prev is the hash
    of the original line 3. Line 4 is vouched for by the session file's head, so line 3 is the altered
    one: keeping it as the new last line would present the altered reason. It goes with line 4."""
    events = _events(store, sid)
    lines = _lines(events)
    lines[2] = _flip(lines[2], b"week", 3)  # k -> j
    assert json.loads(lines[2])["reason"] == "reviewed last weej"
    damaged = _joined(lines)
    events.write_bytes(damaged)
    report = store.recover(sid)
    assert report.kept_events == 2
    assert report.dropped == ["line 3: skip on pre/review (seq 3)", "line 4: note on pre/api-up (seq 4)"]
    assert "line 3 was altered: line 4, vouched for by the session file's head" in report.reason
    session = store.load(sid)
    assert session.items[ITEMS[1]].status is Status.PENDING and session.items[ITEMS[1]].reason == ""
    (log_aside,), _ = _asides(store, sid)
    assert log_aside.read_bytes() == damaged


def test_without_a_session_file_a_line_its_successor_contradicts_is_dropped(
    store: SessionStore, sid: str
) -> None:
    """No witness at all (the session file and the head record are gone): line 2 altered (`by` alice ->
    alicd), line 3 records the original's hash and is itself vouched for by line 4, so line 2 is dropped
    with what follows."""
    events = _events(store, sid)
    lines = _lines(events)
    lines[1] = _flip(lines[1], b'"alice"', 5)  # e -> d
    events.write_bytes(_joined(lines))
    store.toml_path(sid).unlink()
    (store.session_dir(sid) / HEAD_FILE).unlink()
    report = store.recover(sid)
    assert report.kept_events == 1
    assert "there is no session file" in report.reason
    assert "line 2 was altered: line 3, vouched for by line 4" in report.reason
    assert _statuses(store, sid) == [Status.PENDING] * 3
    assert all(change.by != "alicd" for state in store.load(sid).items.values() for change in state.history)


def test_with_a_clock_that_stands_still_nothing_set_aside_is_overwritten(tmp_path: Path) -> None:
    moment = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    store = SessionStore(tmp_path / "sessions", clock=lambda: moment)
    with store.create(parse_checklist(TEXT), "alice", host="jump-1", session_id=SESSION_ID) as live:
        live.apply(Tick(ITEMS[0], "alice"))
    events = _events(store, SESSION_ID)
    damaged = []
    for n in range(2):
        data = events.read_bytes() + b'{"garbled %d\n' % n
        events.write_bytes(data)
        damaged.append(data)
        assert not store.recover(SESSION_ID).intact
    logs, tomls = _asides(store, SESSION_ID)
    assert [p.read_bytes() for p in logs] == damaged
    assert len(tomls) == 2


def test_the_store_clock_gives_every_time_and_id(tmp_path: Path) -> None:
    """Event times, the session's start and update times and a new session's id come from the store's
    clock: nothing of today's date or time reaches the files a test builds."""
    store = SessionStore(tmp_path / "sessions", clock=TickingClock())
    with store.create(parse_checklist(TEXT), "alice", host="jump-1") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        sid = live.id
    assert sid.startswith(START.strftime("%Y%m%dT%H%M%SZ-"))
    times = [json.loads(line)["at"] for line in _lines(_events(store, sid))]
    assert times == ["2026-01-05T09:00:01.000Z", "2026-01-05T09:00:02.000Z"]
    saved = tomllib.loads(store.toml_path(sid).read_text())
    assert (saved["started"], saved["updated"], saved["host"]) == (times[0], times[1], "jump-1")


@pytest.fixture
def killed_between_checkpoints(store: SessionStore, sid: str) -> str:
    """The 4-event session as a kill between checkpoints leaves it: the session file a checkpoint of
    the creation (seq 1), the head record naming event 4."""
    toml_path = store.toml_path(sid)
    first = Session.from_events(json.loads(line) for line in _lines(_events(store, sid))[:1])
    first.head = line_hash(_lines(_events(store, sid))[0])
    toml_path.write_text(tomli_w.dumps(first.to_dict()))
    record = read_head(store.session_dir(sid) / HEAD_FILE)
    assert record is not None and record.seq == 4 and tomllib.loads(toml_path.read_text())["seq"] == 1
    assert [s.status for s in store.load(sid).items.values()][:2] == [Status.DONE, Status.SKIPPED]
    return sid


def test_the_head_record_witnesses_the_last_event_between_checkpoints(
    tmp_path: Path, store: SessionStore, killed_between_checkpoints: str
) -> None:
    """The last line altered while the session file is a checkpoint of an earlier event: the head
    record's head does not match it, and the state there cannot be compared, so it is dropped."""
    sid = killed_between_checkpoints
    events = _events(store, sid)
    lines = _lines(events)
    lines[3] = _flip(lines[3], b"p95", 0)
    events.write_bytes(_joined(lines))
    with pytest.raises(DeployError, match=r"differs from the one the head record \(head.json\) recorded"):
        store.open(sid)
    report = store.recover(sid)
    assert report.kept_events == 3 and report.dropped == ["line 4: note on pre/api-up (seq 4)"]
    assert "event 4 does not match the head record's recorded head" in report.reason
    assert "cannot be compared" in report.reason
    assert _statuses(store, sid) == [Status.DONE, Status.SKIPPED, Status.PENDING]
    record = read_head(store.session_dir(sid) / HEAD_FILE)
    assert record is not None and record.seq == 3 == tomllib.loads(store.toml_path(sid).read_text())["seq"]
    assert store.recover(sid).intact


def test_a_damaged_head_record_is_refused_then_kept_aside_by_recover(
    store: SessionStore, killed_between_checkpoints: str
) -> None:
    sid = killed_between_checkpoints
    head_path = store.session_dir(sid) / HEAD_FILE
    damaged = bytearray(head_path.read_bytes())
    damaged[damaged.index(b'"seq":') + 6] ^= 1  # 4 -> 5: its checksum no longer matches
    head_path.write_bytes(bytes(damaged))
    with pytest.raises(DeployError, match="corrupt head record"):
        store.open(sid)
    report = store.recover(sid)
    assert not report.intact and report.kept_events == 4 and report.dropped == []
    (aside,) = head_path.parent.glob(f"{HEAD_FILE}.corrupt-*")
    assert aside.read_bytes() == bytes(damaged)
    assert _statuses(store, sid) == [Status.DONE, Status.SKIPPED, Status.PENDING]
    assert store.load(sid).items[ITEMS[2]].notes[0].text == NOTE
    assert store.recover(sid).intact
