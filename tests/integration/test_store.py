"""The sessions dir on disk: atomic saves, the lock, the hash-chained log, corruption and recovery."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deploytui.core.checklist import Checklist, parse_checklist
from deploytui.core.errors import DeployError, LockedError
from deploytui.core.redact import Redactor
from deploytui.core.session import ActionRan, AddNote, RunFinished, RunStarted, Skip, Tick, TransitionError
from deploytui.core.status import Outcome, Status
from deploytui.storage.fs import (
    GENESIS_HASH,
    HEAD_FILE,
    SessionStore,
    new_session_id,
    read_head,
    validate_session_id,
    verify_chain,
)

TEXT = """# Deploy

## Pre

- [ ] Tests pass
- [ ] Review
- [ ] API up
"""
ITEMS = ["pre/tests-pass", "pre/review", "pre/api-up"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def checklist(tmp_path: Path) -> Checklist:
    path = tmp_path / "checklist.md"
    path.write_text(TEXT)
    return parse_checklist(TEXT, path)


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "sessions")


def _stray(store: SessionStore) -> list[str]:
    return [p.name for p in store.dir.iterdir() if p.name.endswith(".tmp")]


def test_create_writes_toml_events_logs_and_lock(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live:
        sid = live.id
        validate_session_id(sid)
        assert (store.dir / f"{sid}.toml").is_file() and (store.dir / f"{sid}.lock").is_file()
        assert (store.dir / sid / "logs").is_dir()
        first = json.loads((store.dir / sid / "events.jsonl").read_text().splitlines()[0])
        assert first["type"] == "created" and first["prev"] == GENESIS_HASH
        data = tomllib.loads((store.dir / f"{sid}.toml").read_text())
        assert data["checklist"]["sha256"] == checklist.sha256 and data["operator"] == "alice"
        assert data["checklist"]["path"] == str(checklist.path)
        assert "finished" not in data  # TOML has no null: absent keys are omitted


def test_a_create_may_owe_its_checkpoint_the_log_has_the_session(
    store: SessionStore, checklist: Checklist
) -> None:
    """checkpoint=False (the TUI, to show its first frame sooner): the created event is on disk, the TOML
    follows from checkpoint(), the next change, or close(); a session without it opens from the log."""
    live = store.create(checklist, "alice", checkpoint=False)
    toml = store.dir / f"{live.id}.toml"
    assert not toml.exists() and (store.dir / live.id / "events.jsonl").stat().st_size > 0
    assert store.load(live.id).operator == "alice"  # a reader replays the log meanwhile
    assert live.behind == 1
    live.checkpoint()
    assert tomllib.loads(toml.read_text())["seq"] == 1
    live.close()

    owed = store.create(checklist, "bob", checkpoint=False)  # a change writes the owed checkpoint too
    owed.apply(Tick(ITEMS[0], "bob"))
    assert tomllib.loads((store.dir / f"{owed.id}.toml").read_text())["items"][ITEMS[0]]["status"] == "done"
    owed.close()

    closed = store.create(checklist, "carol", checkpoint=False)  # quit before it was written: close writes it
    closed.close()
    assert (store.dir / f"{closed.id}.toml").is_file()

    killed = store.create(checklist, "dave", checkpoint=False)  # killed before it was written: open writes it
    killed._lock.release()  # type: ignore[union-attr]  # what the kernel does when the process dies
    with store.open(killed.id) as again:
        assert again.session.operator == "dave" and (store.dir / f"{killed.id}.toml").is_file()


def test_every_apply_is_saved_atomically_and_reloads(store: SessionStore, checklist: Checklist) -> None:
    """A change is on disk when apply returns: its event line, and the head record naming it; the TOML
    is a checkpoint (saved at creation, every CHECKPOINT_EVERY events, at finish and on close)."""
    with store.create(checklist, "alice") as live:
        for item in ITEMS:
            live.apply(Tick(item, "alice"))
            record = read_head(live.dir / HEAD_FILE)
            assert record is not None and (record.seq, record.head) == (live.session.seq, live.session.head)
            assert verify_chain(live.events_path) == (live.session.seq, live.session.head)
            assert store.load(live.id).items[item].status is Status.DONE  # what another reader sees
            assert tomllib.loads(live.toml_path.read_text())["seq"] == 1  # the checkpoint of the creation
            assert _stray(store) == []  # no temp file left behind by a save
        sid = live.id
    on_disk = tomllib.loads(store.toml_path(sid).read_text())
    assert all(on_disk["items"][item]["status"] == "done" for item in ITEMS)  # saved on close
    with store.open(sid) as again:
        assert all(again.session.items[i].status is Status.DONE for i in ITEMS)
        assert verify_chain(again.events_path) == (again.session.seq, again.session.head)


def test_refused_action_writes_nothing(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live:
        before = live.events_path.read_bytes()
        with pytest.raises(TransitionError):
            live.apply(Skip(ITEMS[0], "alice", ""))
        assert live.events_path.read_bytes() == before


def test_second_process_is_refused_naming_user_host_pid(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live:
        script = textwrap.dedent(
            f"""
            from deploytui.storage.fs import SessionStore
            from deploytui.core.errors import LockedError
            try:
                SessionStore({str(store.dir)!r}).open({live.id!r})
            except LockedError as exc:
                print(exc)
                raise SystemExit(3)
            """
        )
        proc = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=30
        )
        assert proc.returncode == 3, proc.stderr
        message = proc.stdout.strip()
        assert "\n" not in message
        assert f"{getpass.getuser()}@{socket.gethostname()}" in message and f"pid {os.getpid()}" in message
        # Read-only opens work while it is held.
        follower = store.open(live.id, read_only=True)
        live.apply(Tick(ITEMS[0], "alice"))
        assert follower.reload() and follower.session.items[ITEMS[0]].status is Status.DONE
        with pytest.raises(DeployError, match="read-only"):
            follower.apply(Tick(ITEMS[1], "bob"))
    # Released on close: the next writer gets it.
    store.open(live.id).close()


def test_same_process_second_open_is_refused(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live, pytest.raises(LockedError):
        store.open(live.id)


def test_corrupt_toml_names_file_and_line_and_is_not_overwritten(
    store: SessionStore, checklist: Checklist
) -> None:
    with store.create(checklist, "alice") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        sid, toml_path = live.id, live.toml_path
    lines = toml_path.read_text().splitlines()
    lines[3] = 'operator = "unterminated'
    garbled = "\n".join(lines) + "\n"
    toml_path.write_text(garbled)
    with pytest.raises(DeployError) as info:
        store.open(sid)
    assert str(info.value).startswith(f"{toml_path}:4: corrupt session file")
    assert "\n" not in str(info.value)
    assert toml_path.read_text() == garbled  # never overwritten
    truncated = garbled[: len(garbled) // 2]
    toml_path.write_text(truncated)
    with pytest.raises(DeployError, match=rf"{toml_path}:\d+: corrupt session file"):
        store.open(sid)


def test_garbled_event_line_names_file_and_line(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live:
        for item in ITEMS:
            live.apply(Tick(item, "alice"))
        sid, events = live.id, live.events_path
    lines = events.read_bytes().split(b"\n")
    lines[2] = lines[2][:20]
    events.write_bytes(b"\n".join(lines))
    with pytest.raises(DeployError, match=rf"^{events}:3: garbled event"):
        store.open(sid)


def test_tampered_middle_event_breaks_the_chain(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live:
        for item in ITEMS:
            live.apply(Tick(item, "alice"))
        sid, events = live.id, live.events_path
    lines = events.read_text().splitlines(keepends=True)
    event = json.loads(lines[1])
    event["by"] = "mallory"  # rewrite who ticked it, keeping valid JSON
    lines[1] = json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n"
    events.write_text("".join(lines))
    with pytest.raises(DeployError, match=rf"^{events}:3: hash chain broken"):
        verify_chain(events)
    with pytest.raises(DeployError, match="hash chain broken"):
        store.open(sid)


def test_tampered_last_event_is_caught_by_the_toml_head(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        sid, events = live.id, live.events_path
    lines = events.read_text().splitlines(keepends=True)
    lines[-1] = lines[-1].replace('"alice"', '"mallory"')
    events.write_text("".join(lines))
    verify_chain(events)  # the chain alone cannot see a changed last line...
    with pytest.raises(DeployError, match=rf"^{events}:2: .*altered"):
        store.open(sid)  # ...but the session file recorded its hash


def test_cut_log_is_refused(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        live.apply(Tick(ITEMS[1], "alice"))
        sid, events = live.id, live.events_path
    events.write_text("".join(events.read_text().splitlines(keepends=True)[:2]))
    with pytest.raises(DeployError, match="the log was cut"):
        store.open(sid)


def test_toml_behind_the_log_is_caught_up_by_replay(store: SessionStore, checklist: Checklist) -> None:
    """A kill between checkpoints: the acknowledged changes after the TOML's come from the log."""
    with store.create(checklist, "alice") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        live.checkpoint()
        old_toml = live.toml_path.read_bytes()
        live.apply(AddNote(ITEMS[1], "alice", "replayed note"))
        live.apply(Skip(ITEMS[2], "alice", "not this release"))
        sid, toml_path = live.id, live.toml_path
    toml_path.write_bytes(old_toml)
    with store.open(sid) as again:
        assert again.session.items[ITEMS[1]].note == "replayed note"
        assert again.session.items[ITEMS[2]].status is Status.SKIPPED
        assert tomllib.loads(toml_path.read_text())["seq"] == 2  # a resume does not rewrite the checkpoint
    assert tomllib.loads(toml_path.read_text())["seq"] == 4  # its close does


def test_head_record_behind_the_log_is_caught_up_on_open(store: SessionStore, checklist: Checklist) -> None:
    """A kill between an event's fsync and the head record's write: the event chains onto the head the
    record names, is kept, and the record names it once the session is opened again."""
    with store.create(checklist, "alice") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        old_head = (live.dir / HEAD_FILE).read_bytes()
        live.apply(AddNote(ITEMS[1], "alice", "after the record"))
        sid, head_path = live.id, live.dir / HEAD_FILE
    head_path.write_bytes(old_head)
    assert store.load(sid).items[ITEMS[1]].note == "after the record"
    with store.open(sid) as again:
        record = read_head(head_path)
        assert record is not None and record.seq == again.session.seq == 3


def test_missing_toml_is_rebuilt_from_the_log(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        sid, toml_path = live.id, live.toml_path
    toml_path.unlink()
    assert sid in [info.id for info in store.list()]
    with store.open(sid) as again:
        assert again.session.items[ITEMS[0]].status is Status.DONE and toml_path.exists()


def test_running_checks_become_interrupted_on_reopen(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live:
        live.apply(RunStarted(ITEMS[2], f"{ITEMS[2]}#0", "r1", kind="http"))
        sid = live.id
    assert store.open(sid, read_only=True).session.items[ITEMS[2]].status is Status.RUNNING
    with store.open(sid) as again:
        state = again.session.items[ITEMS[2]]
        assert state.status is Status.INTERRUPTED
        assert state.history[-1].by == "deploytui" and "died" in state.history[-1].why
        last = json.loads(again.events_path.read_text().splitlines()[-1])
        assert last["type"] == "interrupted"


def test_drift_maps_items_by_id(store: SessionStore, checklist: Checklist, tmp_path: Path) -> None:
    with store.create(checklist, "alice") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        sid = live.id
    assert checklist.path is not None
    new_text = TEXT.replace("- [ ] Review\n", "- [ ] Smoke test\n")
    checklist.path.write_text(new_text)
    changed = parse_checklist(new_text, checklist.path)
    with store.open(sid, checklist=changed) as again:
        assert again.drift is not None
        assert again.drift.added == ["pre/smoke-test"] and again.drift.removed == ["pre/review"]
        assert again.session.items[ITEMS[0]].status is Status.DONE
        assert again.session.checklist_sha256 == changed.sha256
    with store.open(sid, checklist=changed) as third:
        assert third.drift is None


def test_path_traversal_ids_are_rejected(store: SessionStore) -> None:
    for bad in ["../x", "a/b", "..", ".hidden", "", "a\\b", "x" * 200]:
        with pytest.raises(DeployError, match="invalid session id"):
            store.open(bad)


def test_secrets_never_reach_events_or_toml(store: SessionStore, checklist: Checklist) -> None:
    secret = "hunter2-very-secret"
    with store.create(checklist, "alice", redactor=Redactor({"DB_PASSWORD": secret})) as live:
        key = f"{ITEMS[2]}#0"
        live.apply(RunStarted(ITEMS[2], key, "r1"))
        live.apply(
            RunFinished(ITEMS[2], key, "r1", Outcome.failed(f"auth failed for {secret}", evidence=secret))
        )
        live.apply(AddNote(ITEMS[0], "alice", f"pasted {secret} by mistake"))
        live.checkpoint()
        for path in (live.toml_path, live.events_path):
            text = path.read_text()
            assert secret not in text and "[secret:DB_PASSWORD]" in text


def test_run_log_paths_are_stored_relative(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live:
        log = live.new_log("run/../../evil")
        assert log.parent == live.logs_dir and log.exists()
        key = f"{ITEMS[2]}#0"
        live.apply(RunStarted(ITEMS[2], key, "r1"))
        live.apply(RunFinished(ITEMS[2], key, "r1", Outcome.passed("ok"), log=str(log)))
        assert live.session.items[ITEMS[2]].checks[key].log == f"logs/{log.name}"
        action_log = live.new_log("a1")
        live.apply(ActionRan(ITEMS[0], 0, "a1", 0, str(action_log), "alice"))
        assert live.session.items[ITEMS[0]].actions[0].log == "logs/a1.log"


def test_list_newest_first_with_corrupt_entry_and_latest_unfinished(
    store: SessionStore, checklist: Checklist
) -> None:
    ids = []
    for n in range(3):
        sid = new_session_id(datetime.now(UTC) + timedelta(seconds=n))
        with store.create(checklist, f"op{n}", session_id=sid) as live:
            ids.append(live.id)
            live.apply(Tick(ITEMS[0], live.session.operator))
    (store.dir / f"{ids[1]}.toml").write_text("schema = \n")
    infos = store.list()
    assert [i.id for i in infos] == list(reversed(ids))
    broken = infos[1]
    assert broken.error is not None and f"{ids[1]}.toml:1" in broken.error
    assert infos[0].counts["done"] == 1 and infos[0].counts["pending"] == 2
    assert store.latest_unfinished(checklist) == ids[2]
    edited = parse_checklist(TEXT + "- [ ] More\n", checklist.path)
    assert store.latest_unfinished(edited) == ids[2]  # same file, edited since
    assert store.latest_unfinished(parse_checklist(TEXT)) == ids[2]  # same content, no path
    assert store.latest_unfinished(parse_checklist(TEXT + "- [ ] Other\n")) is None


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every file or directory fsynced (os.fsync, os.fdatasync), in order."""
    done: list[str] = []
    for name in ("fsync", "fdatasync"):
        real = getattr(os, name)

        def sync(fd: int, real=real) -> None:  # type: ignore[no-untyped-def]
            done.append(os.readlink(f"/proc/self/fd/{fd}"))
            real(fd)

        monkeypatch.setattr(os, name, sync)
    return done


def test_a_create_may_owe_its_fsyncs_until_its_first_change(
    store: SessionStore, checklist: Checklist, fsyncs: list[str]
) -> None:
    """sync=False (the TUI, whose first frame waited for 7 fsyncs): the new session is written, not
    fsynced; its first change, a checkpoint or close fsyncs every file and every name made for it (its
    directory and logs/ in the sessions dir, the log and the head record in its directory) before that
    change is acknowledged. With sync=True (the default) create itself does."""
    live = store.create(checklist, "alice", checkpoint=False, sync=False)
    sdir = store.dir / live.id
    assert fsyncs == []
    assert store.load(live.id).operator == "alice"  # written: a reader (a follower, `sessions`) sees it
    owed = {str(store.dir / f"{live.id}.lock"), str(sdir / "events.jsonl"), str(sdir / HEAD_FILE)}
    owed |= {str(sdir), str(store.dir)}
    live.apply(Tick(ITEMS[0], "alice"))
    before_the_change = fsyncs[: len(owed)]
    assert set(before_the_change) == owed
    assert fsyncs[len(owed)] == str(sdir / "events.jsonl")  # then the change's own line (and the TOML)
    fsyncs.clear()
    live.apply(Tick(ITEMS[1], "alice"))
    assert fsyncs == [str(sdir / "events.jsonl"), str(sdir / HEAD_FILE)]  # owed once
    live.close()

    for finish in ("checkpoint", "close"):
        other = store.create(checklist, "bob", checkpoint=False, sync=False)
        fsyncs.clear()
        getattr(other, finish)()
        assert owed_paths(store, other.id) <= set(fsyncs), finish
        other.close()

    fsyncs.clear()
    with store.create(checklist, "carol") as durable:  # the default: durable when create returns
        assert owed_paths(store, durable.id) <= set(fsyncs)


def owed_paths(store: SessionStore, sid: str) -> set[str]:
    sdir = store.dir / sid
    names = [store.dir / f"{sid}.lock", sdir / "events.jsonl", sdir / HEAD_FILE, sdir, store.dir]
    return {str(p) for p in names}


def test_create_and_list_with_missing_dir(tmp_path: Path, checklist: Checklist) -> None:
    store = SessionStore(tmp_path / "nested" / "sessions")
    assert store.list() == []
    store.create(checklist, "alice").close()
    assert len(store.list()) == 1


def test_stale_temp_files_are_removed_on_open(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live:
        sid = live.id
    stale = store.dir / f".{sid}.toml.deadbeef.tmp"
    stale.write_text("half a save")
    store.open(sid, read_only=True)
    assert stale.exists()  # a follower never touches the writer's files
    store.open(sid).close()
    assert not stale.exists()


def test_copied_sessions_dir_still_loads(store: SessionStore, checklist: Checklist, tmp_path: Path) -> None:
    with store.create(checklist, "alice") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        sid = live.id
    copy = tmp_path / "copy"
    shutil.copytree(store.dir, copy)
    assert SessionStore(copy).load(sid).items[ITEMS[0]].status is Status.DONE


def test_hand_edited_session_file_is_refused_naming_the_item(
    store: SessionStore, checklist: Checklist
) -> None:
    with store.create(checklist, "alice") as live:
        key = f"{ITEMS[2]}#0"
        live.apply(RunStarted(ITEMS[2], key, "r1"))
        live.apply(RunFinished(ITEMS[2], key, "r1", Outcome.failed("HTTP 500")))
        sid, toml_path = live.id, live.toml_path
    text = toml_path.read_text()
    lines = text.splitlines()
    header = lines.index(f'[items."{ITEMS[2]}"]') + 1
    toml_path.write_text(text.replace('status = "failed"', 'status = "passed"', 1))
    with pytest.raises(DeployError) as info:
        store.open(sid)
    assert str(info.value).startswith(f"{toml_path}:{header}: the session file disagrees with the event log")
    assert ITEMS[2] in str(info.value)


def test_history_comes_back_from_the_log(store: SessionStore, checklist: Checklist) -> None:
    with store.create(checklist, "alice") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        live.apply(Skip(ITEMS[1], "bob", "n/a"))
        sid = live.id
        saved = tomllib.loads(live.toml_path.read_text())
        assert "history" not in saved["items"][ITEMS[0]]  # kept in the log, not rewritten on each save
    loaded = store.load(sid)
    assert [(h.by, h.status) for h in loaded.items[ITEMS[0]].history] == [("alice", Status.DONE)]
    assert loaded.items[ITEMS[1]].history[-1].why == "n/a"


def test_apply_from_many_threads_keeps_every_change_in_order(
    store: SessionStore, checklist: Checklist
) -> None:
    import threading

    with store.create(checklist, "alice") as live:

        def writer(n: int) -> None:
            for k in range(20):
                live.apply(AddNote(ITEMS[n % 3], f"t{n}", f"note {n}-{k}"))

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sid = live.id
    count, _ = verify_chain(store.session_dir(sid) / "events.jsonl")
    assert count == 1 + 6 * 20
    loaded = store.load(sid)
    assert sum(len(s.notes) for s in loaded.items.values()) == 120
