"""Corrupt session state: a truncated or garbled session TOML or events.jsonl gives a one-line error naming
the file and line, the damaged file is kept (never silently overwritten), and there is a way on:
`deploytui recover SESSION` keeps what parses, `--new` starts fresh, a cut last write is set aside.

The store here runs on a fixed clock with fixed ids and host (tests/clock_support.py): the bytes these tests
damage are the same on any day, on any machine."""

from __future__ import annotations

import copy
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploytui.core.checklist import Checklist, parse_checklist
from deploytui.core.errors import DeployError
from deploytui.core.session import AddNote, Session, Skip, Tick, decode
from deploytui.core.status import Status
from deploytui.storage.fs import SessionStore, verify_chain
from tests.support.cli_support import one_line_error, run_deploytui
from tests.support.clock_support import TickingClock

TEXT = """# Deploy

## Pre

- [ ] Tests pass
- [ ] Review
- [ ] API up
"""
ITEMS = ["pre/tests-pass", "pre/review", "pre/api-up"]
SESSION_ID = "20260105T090000Z-0c0f"
HOST = "jump-1"
BINDINGS = """\
checklist = "deploy.md"

[[check]]
item = "pre/api-up"
kind = "command"
run = "echo up"
"""


@pytest.fixture
def checklist(tmp_path: Path) -> Checklist:
    path = tmp_path / "deploy.md"
    path.write_text(TEXT)
    (tmp_path / "deploytui.toml").write_text(BINDINGS)
    return parse_checklist(TEXT, path)


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "sessions", clock=TickingClock())


def _session(store: SessionStore, checklist: Checklist, session_id: str = SESSION_ID) -> str:
    with store.create(checklist, "alice", host=HOST, session_id=session_id) as live:
        live.apply(Tick(ITEMS[0], "alice"))
        live.apply(Skip(ITEMS[1], "alice", "reviewed last week"))
        live.apply(AddNote(ITEMS[2], "alice", "watch the p95"))
        return live.id


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_deploytui(*args, "--sessions-dir", str(tmp_path / "sessions"), cwd=tmp_path)


def test_garbled_event_line_is_named_kept_and_recovered_up_to_it(
    tmp_path: Path, store: SessionStore, checklist: Checklist
) -> None:
    sid = _session(store, checklist)
    events = store.session_dir(sid) / "events.jsonl"
    lines = events.read_bytes().split(b"\n")
    lines[2] = lines[2][:30] + b"\xff garbage"
    damaged = b"\n".join(lines)
    events.write_bytes(damaged)

    line = one_line_error(_cli(tmp_path, "check", "--session", sid))
    assert line.startswith(f"deploytui: {events}:3: garbled event")
    assert f"deploytui recover {sid}" in line and "--new" in line
    assert events.read_bytes() == damaged  # kept as it was

    recovered = _cli(tmp_path, "recover", sid)
    assert recovered.returncode == 0, recovered.stderr
    assert "kept 2 events" in recovered.stdout and f"{events}:3" in recovered.stdout
    aside = sorted(events.parent.glob("events.jsonl.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged
    assert len(sorted(store.dir.glob(f"{sid}.toml.corrupt-*"))) == 1
    assert verify_chain(events)[0] == 2
    session = store.load(sid)
    assert session.items[ITEMS[0]].status is Status.DONE  # what parsed is kept
    assert session.items[ITEMS[1]].status is Status.PENDING  # the garbled skip is not invented
    # The session works again, and a second recover finds nothing to do.
    assert _cli(tmp_path, "check", "--session", sid).returncode == 0
    again = _cli(tmp_path, "recover", sid)
    assert again.returncode == 0 and "intact" in again.stdout


def test_truncated_session_file_is_named_kept_and_rebuilt_from_the_log(
    tmp_path: Path, store: SessionStore, checklist: Checklist
) -> None:
    sid = _session(store, checklist)
    toml_path = store.toml_path(sid)
    text = toml_path.read_text()
    truncated = text[: len(text) // 2]
    toml_path.write_text(truncated)
    line = one_line_error(_cli(tmp_path, "check", "--session", sid))
    assert line.startswith(f"deploytui: {toml_path}:") and "corrupt session file" in line
    assert toml_path.read_text() == truncated
    assert _cli(tmp_path, "recover", sid).returncode == 0
    (aside,) = store.dir.glob(f"{sid}.toml.corrupt-*")
    assert aside.read_text() == truncated
    session = store.load(sid)  # every event survived: the log was whole
    assert [session.items[i].status for i in ITEMS] == [Status.DONE, Status.SKIPPED, Status.PENDING]
    assert session.seq == 4


def test_cut_last_write_is_set_aside_and_the_session_opens(store: SessionStore, checklist: Checklist) -> None:
    """A kill inside the write of an event leaves a line without its LF: never acknowledged, so opening
    for write keeps its bytes aside and goes on, instead of refusing the resume."""
    sid = _session(store, checklist)
    events = store.session_dir(sid) / "events.jsonl"
    whole = events.read_bytes()
    events.write_bytes(whole + b'{"seq":5,"type":"tick","it')
    assert store.load(sid).seq == 4  # followers ignore it too
    with store.open(sid) as live:
        assert live.session.seq == 4
        live.apply(Tick(ITEMS[2], "alice"))
    (aside,) = events.parent.glob("events.jsonl.partial-*")
    assert aside.read_bytes() == b'{"seq":5,"type":"tick","it'
    assert verify_chain(events)[0] == 5


def test_resume_refuses_to_skip_past_an_unreadable_latest_session(
    tmp_path: Path, store: SessionStore, checklist: Checklist
) -> None:
    older = _session(store, checklist, "20260101T090000Z-0001")
    newest = _session(store, checklist, "20260101T090500Z-0002")
    assert store.latest_unfinished(checklist) == newest
    store.toml_path(newest).write_text("schema = \n")
    with pytest.raises(DeployError) as info:
        store.latest_unfinished(checklist)
    message = str(info.value)
    assert f"{newest}.toml:1" in message and f"deploytui recover {newest}" in message and "--new" in message
    # Another checklist's sessions are not blocked by it; after recovery the newest one resumes again.
    other = parse_checklist(TEXT + "- [ ] Other\n")
    assert store.latest_unfinished(other) is None
    store.recover(newest)
    assert store.latest_unfinished(checklist) == newest
    assert older != newest


async def test_app_resume_of_an_unreadable_session_exits_with_the_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.tui_support import build_app, write_project

    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.chdir(tmp_path)
    config = write_project(tmp_path)
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        sid = app.live.id
        app.exit(0)
    store = SessionStore(tmp_path / "sessions")
    with store.open(sid) as live:
        live.apply(Tick("preflight/tests-pass", "alice"))
    events = store.session_dir(sid) / "events.jsonl"
    events.write_bytes(events.read_bytes()[:-20] + b"\n")  # the last event garbled
    resumed = build_app(tmp_path, config=config, choice="resume")
    async with resumed.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
    assert resumed.return_value == 2  # the CLI exits 2 with the one-line message
    # Starting fresh still works, and leaves the damaged session as it was.
    damaged = events.read_bytes()
    fresh = build_app(tmp_path, config=config, choice="new")
    async with fresh.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert fresh.live.id != sid
        fresh.exit(0)
    assert events.read_bytes() == damaged


def test_nothing_recoverable_is_one_line(tmp_path: Path, store: SessionStore, checklist: Checklist) -> None:
    sid = _session(store, checklist)
    events = store.session_dir(sid) / "events.jsonl"
    events.write_bytes(b"\x00\x00not json\n" + events.read_bytes())
    line = one_line_error(_cli(tmp_path, "recover", sid))
    assert f"{events}:1" in line and "nothing to recover" in line
    assert events.read_bytes().startswith(b"\x00\x00not json\n")


def test_random_damage_never_escapes_as_anything_but_a_one_line_error(tmp_path: Path) -> None:
    """Truncate, flip or splice bytes of either file at 300 random places: opening gives the session or
    a one-line DeployError naming the damaged file; the damage is never written over; recover then
    yields a session that opens (or says nothing can be recovered), keeps the damaged file byte for byte,
    and presents exactly what some prefix of the undamaged log says: never an altered event.

    The files are built from a fixed clock, ids, host and checklist path, so the seeded positions land on
    the same bytes on any day; the assertions hold whatever bytes they land on."""
    outcomes = damage_at_random(tmp_path, random.Random(7), rounds=300)
    assert outcomes["refused"] > 100 and outcomes["recovered"] > 100, outcomes
    json.dumps(outcomes)


def damage_at_random(tmp_path: Path, rng: random.Random, rounds: int) -> dict[str, int]:
    """The body of the random-damage test, for any seed: `rounds` single damages of a 16-event session."""
    store = SessionStore(tmp_path / "sessions", clock=TickingClock())
    sid = _session(store, parse_checklist(TEXT))  # no path: the checklist's path is not in the bytes
    with store.open(sid) as live:
        for n in range(12):
            live.apply(AddNote(ITEMS[n % 3], "alice", f"note {n} " + "é" * n))
    toml_path = store.toml_path(sid)
    events = store.session_dir(sid) / "events.jsonl"
    originals = {toml_path: toml_path.read_bytes(), events: events.read_bytes()}
    prefixes = _prefix_states(originals[events])
    outcomes = {"opened": 0, "refused": 0, "recovered": 0, "nothing": 0}
    for _ in range(rounds):
        for path, data in originals.items():
            path.write_bytes(data)
        for leftover in [*events.parent.glob("events.jsonl.*"), *store.dir.glob(f"{sid}.toml.*")]:
            leftover.unlink()
        target = rng.choice(list(originals))
        data = bytearray(originals[target])
        where = rng.randrange(len(data))
        how = rng.choice(["truncate", "flip", "splice"])
        if how == "truncate":
            del data[where:]
        elif how == "flip":
            data[where] ^= 1 << rng.randrange(8)
        else:
            data[where:where] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        damaged = bytes(data)
        target.write_bytes(damaged)
        context = (target.name, how, where)
        try:
            store.open(sid).close()
            assert _state(store.load(sid)) == prefixes[-1], context
            outcomes["opened"] += 1
            continue
        except DeployError as exc:
            message = str(exc)
            assert "\n" not in message and (str(toml_path) in message or str(events) in message), message
            assert target.read_bytes() == damaged
            outcomes["refused"] += 1
        try:
            report = store.recover(sid)
        except DeployError as exc:
            assert "nothing to recover" in str(exc) and target is events, (context, str(exc))
            assert target.read_bytes() == damaged
            outcomes["nothing"] += 1
            continue
        assert not report.intact
        store.open(sid).close()
        kept = [p.read_bytes() for p in report.kept_aside]
        assert damaged in kept, context  # the damaged file is kept byte for byte
        session = store.load(sid)
        assert session.seq == report.kept_events and len(report.dropped) == report.dropped_lines, context
        # What the recovered session presents is what the undamaged log said after its first N events.
        assert _state(session) == prefixes[report.kept_events], (context, report)
        assert store.recover(sid).intact, context
        outcomes["recovered"] += 1
    return outcomes


def _state(session: Session) -> dict[str, Any]:
    """What a session presents (its session-file data), without the head."""
    data = session.to_dict()
    data.pop("head", None)
    return data


def _prefix_states(log: bytes) -> list[dict[str, Any]]:
    """The state after each prefix of a log: [k] is the state after its first k events."""
    session = Session()
    states: list[dict[str, Any]] = [{}]
    for line in log.splitlines():
        session.apply_event(decode(json.loads(line)))
        states.append(copy.deepcopy(_state(session)))
    return states
