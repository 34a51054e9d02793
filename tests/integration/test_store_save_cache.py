"""Saves re-use the verified TOML text of unchanged item tables (store.TomlTables): the bytes written must
be exactly what serialising the whole session gives, and a new part is still re-parsed before it is used."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from deploytui.core.checklist import parse_checklist
from deploytui.core.errors import DeployError
from deploytui.core.session import AddNote, RunFinished, RunStarted, Skip, Tick, Untick
from deploytui.core.status import Outcome, Status
from deploytui.storage.fs import SessionStore, TomlTables

TEXT = """# Deploy

## Pre

- [ ] Tests pass
- [ ] Review "quoted" \\ title
  - [ ] Nested step
- [ ] API up
"""


def test_every_save_writes_the_same_bytes_as_a_whole_serialisation(tmp_path: Path) -> None:
    checklist = parse_checklist(TEXT, tmp_path / "checklist.md")
    store = SessionStore(tmp_path / "sessions")
    ids = [n.id for n in checklist.items()]
    actions = [
        Tick(ids[0], "alice"),
        AddNote(ids[1], "alice", 'line one\nline "two" \\ three \u00e9'),
        RunStarted(ids[3], f"{ids[3]}#0", "r1", label="probe"),
        RunFinished(ids[3], f"{ids[3]}#0", "r1", Outcome(Status.PASSED, "ok", {"flag": True}, "", 3)),
        # The same value as an int: == says unchanged (True == 1), the TOML text does not.
        RunStarted(ids[3], f"{ids[3]}#0", "r2", label="probe"),
        RunFinished(ids[3], f"{ids[3]}#0", "r2", Outcome(Status.PASSED, "ok", {"flag": 1}, "", 3)),
        Untick(ids[0], "alice"),
        Skip(ids[2], "alice", "not this release"),
    ]
    with store.create(checklist, "alice") as live:
        for action in actions:
            live.apply(action)
            live.checkpoint()  # (saved on its own every CHECKPOINT_EVERY events)
            on_disk = live.toml_path.read_text(encoding="utf-8")
            assert on_disk == tomli_w.dumps(live.session.to_dict())
        checks = tomllib.loads(on_disk)["items"][ids[3]]["checks"]
        assert checks[f"{ids[3]}#0"]["values"]["flag"] == 1
        assert checks[f"{ids[3]}#0"]["values"]["flag"] is not True


def test_a_changed_item_is_reparsed_and_an_unwritable_value_refused() -> None:
    tables = TomlTables()
    good = {"schema": 1, "items": {"a": {"status": "pending"}, "b": {"status": "done"}}}
    assert tables.dumps(good) == tomli_w.dumps(good)
    bad = {"schema": 1, "items": {"a": {"status": "pending"}, "b": {"status": None}}}
    with pytest.raises(TypeError):
        tables.dumps(bad)
    # An empty items table and other layouts fall back to the whole serialisation.
    empty = {"schema": 1, "items": {}}
    assert tables.dumps(empty) == tomli_w.dumps(empty)


def test_a_save_that_cannot_serialise_leaves_the_previous_file(tmp_path: Path) -> None:
    checklist = parse_checklist(TEXT, tmp_path / "checklist.md")
    store = SessionStore(tmp_path / "sessions")
    with store.create(checklist, "alice") as live:
        live.apply(Tick(checklist.items()[0].id, "alice"))
        before = live.toml_path.read_bytes()
        live.session.items[checklist.items()[1].id].reason = None  # type: ignore[assignment]
        live.session.items[checklist.items()[1].id].by = object()  # type: ignore[assignment]
        with pytest.raises(DeployError, match="could not be written"):
            live._save()
        assert live.toml_path.read_bytes() == before


def test_notes_are_serialised_once_and_the_bytes_stay_a_whole_serialisation(tmp_path: Path) -> None:
    """An item's notes: only new ones are serialised (a change on an item with 10,000 notes took ~1 s),
    and the text equals tomli_w's of the whole session, for short notes (an inline array) and once a
    long one turns the whole list into an array of tables, before the item's checks."""
    checklist = parse_checklist(TEXT, tmp_path / "checklist.md")
    store = SessionStore(tmp_path / "sessions")
    ids = [n.id for n in checklist.items()]

    def same() -> None:
        live.checkpoint()  # (saved on its own every CHECKPOINT_EVERY events)
        assert live.toml_path.read_text() == tomli_w.dumps(live.session.to_dict())

    with store.create(checklist, "alice") as live:
        live.apply(RunStarted(ids[0], f"{ids[0]}#0", "r1", label="probe"))
        live.apply(RunFinished(ids[0], f"{ids[0]}#0", "r1", Outcome(Status.PASSED, "ok", {"n": 1}, "", 3)))
        texts = ["short", 'quote " and \\ back', "tab\there \u00e9\u2713", "x" * 40]
        for n, text in enumerate(texts * 5):
            live.apply(AddNote(ids[n % 2], "alice", f"{n}: {text}"))
            same()
        assert len(live._tables._notes[ids[0]]) == 10  # each note's text kept for the next save
        live.apply(AddNote(ids[0], "alice", "long " * 30))  # now an array of tables
        same()
        live.apply(AddNote(ids[0], "alice", "and one more"))
        same()
        assert len(live._tables._notes[ids[0]]) == 12
        live.apply(Tick(ids[1], "alice"))  # the other item's notes still inline, its table changed
        same()
        sid = live.id
    assert len(tomllib.loads((store.dir / f"{sid}.toml").read_text())["items"][ids[0]]["notes"]) == 12


def test_a_checkpoint_from_a_thread_naps_between_item_tables_and_writes_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app writes a new session's first checkpoint in a thread; without naps its ~0.8 s of serialising
    on 5,000 items held the GIL for 5 ms at a time, and cursor keys waited 17-37 ms (bench_scale.py)."""
    from deploytui.core import threads

    checklist = parse_checklist(TEXT, tmp_path / "checklist.md")
    store = SessionStore(tmp_path / "sessions")
    live = store.create(checklist, "alice", host="jump-1")
    live.apply(Tick(checklist.items()[0].id, "alice"))
    live.checkpoint()
    plain = live.toml_path.read_bytes()
    naps: list[float] = []
    monkeypatch.setattr(threads.time, "sleep", naps.append)
    live._tables = TomlTables()  # nothing cached: every item table is made again, as on a first save
    live.checkpoint(pause=threads.sharing(every=0.0))
    assert len(naps) == len(checklist.items())  # one after each item table
    assert live.toml_path.read_bytes() == plain
    live.close()

    naps.clear()
    pause = threads.sharing(every=3600.0)  # not an hour of work yet: no nap
    for _ in range(100):
        pause()
    assert naps == []
