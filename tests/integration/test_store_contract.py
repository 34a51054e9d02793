"""The storage contract (storage/base.py), one suite run against every backend: the file store and the
PostgreSQL store (on the suite's throwaway cluster, one database per test).

What is specific to one backend's layout (TOML files, lock files, tables) is tested beside it
(tests/integration/test_store.py, tests/integration/test_store_postgres.py); here only what services may
rely on."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from deploytui.core.checklist import Checklist, parse_checklist
from deploytui.core.errors import DeployError, LockedError
from deploytui.core.redact import Redactor
from deploytui.core.session import (
    ActionRan,
    ActionStarted,
    AddNote,
    Finish,
    RunFinished,
    RunStarted,
    Skip,
    Tick,
    TransitionError,
)
from deploytui.core.status import Outcome, Status
from deploytui.storage.fs import SessionStore, event_line, line_hash, new_session_id
from tests.support.store_support import ITEMS, TEXT, backend, damage_event, make_checklist

__all__ = ["backend"]  # the fixture, imported for pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def checklist(tmp_path: Path) -> Checklist:
    return make_checklist(tmp_path)


def _poll(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _fresh_view(store: Any) -> Any:
    """Another store object on the same place: what another process would see."""
    if isinstance(store, SessionStore):
        return SessionStore(store.dir)
    from deploytui.storage.postgres import PostgresStore

    return PostgresStore(store.url, local_dir=store.local_dir / "other")


def test_create_apply_is_durable_when_apply_returns_and_reopens(backend: Any, checklist: Checklist) -> None:
    other = _fresh_view(backend)
    with backend.create(checklist, "alice", host="box1", session_id="s-1") as live:
        assert live.id == "s-1" and backend.exists("s-1") and not backend.exists("s-2")
        for item in ITEMS:
            live.apply(Tick(item, "alice"))
            assert other.load("s-1").items[item].status is Status.DONE  # committed before apply returned
        head = live.session.head
    with backend.open("s-1") as again:
        assert all(again.session.items[i].status is Status.DONE for i in ITEMS)
        assert again.session.seq == 4 and again.session.head == head
        assert again.session.operator == "alice" and again.session.host == "box1"


def test_event_chain_is_the_lines_hashes(backend: Any, checklist: Checklist) -> None:
    with backend.create(checklist, "alice", session_id="s-1") as live:
        live.apply(AddNote(ITEMS[0], "alice", "a note"))
    chain = backend.event_chain("s-1")
    assert chain.count == 2
    prev = "0" * 64
    for event, hash_ in zip(chain.events, chain.hashes, strict=True):
        assert line_hash(event_line(event, prev)) == hash_
        prev = hash_
    assert backend.load("s-1").head == chain.hashes[-1]


def test_refused_change_records_nothing(backend: Any, checklist: Checklist) -> None:
    with backend.create(checklist, "alice", session_id="s-1") as live:
        with pytest.raises(TransitionError):
            live.apply(Skip(ITEMS[0], "alice", ""))
        assert backend.event_chain("s-1").count == 1 and live.session.seq == 1


def test_second_writer_in_another_process_is_refused_naming_the_holder(
    backend: Any, checklist: Checklist
) -> None:
    with backend.create(checklist, "alice", session_id="s-1"):
        if isinstance(backend, SessionStore):
            make = (
                f"from deploytui.storage.fs import SessionStore; store = SessionStore({str(backend.dir)!r})"
            )
        else:
            make = (
                "from deploytui.storage.postgres import PostgresStore;"
                f" store = PostgresStore({backend.url!r}, local_dir={str(backend.local_dir)!r})"
            )
        script = textwrap.dedent(
            f"""
            {make}
            from deploytui.core.errors import LockedError
            try:
                store.open("s-1")
            except LockedError as exc:
                print(exc)
                raise SystemExit(3)
            """
        )
        proc = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 3, proc.stdout + proc.stderr
        message = proc.stdout.strip()
        assert f"{getpass.getuser()}@{socket.gethostname()}" in message and f"pid {os.getpid()}" in message
        with pytest.raises(LockedError):  # and in this process, through another open
            backend.open("s-1")
    backend.open("s-1").close()  # released on close


def test_follower_reads_each_change_and_cannot_write(backend: Any, checklist: Checklist) -> None:
    with backend.create(checklist, "alice", session_id="s-1") as live:
        with backend.open("s-1", read_only=True) as follower:
            assert follower.read_only and not live.read_only
            for n, item in enumerate(ITEMS, start=2):
                live.apply(Tick(item, "alice"))
                assert _poll(lambda n=n: follower.reload() or follower.session.seq == n)
                assert follower.session.seq == n and follower.session.items[item].status is Status.DONE
                assert follower.session.head == live.session.head
            assert not follower.reload()  # nothing new: nothing changed
            with pytest.raises(DeployError, match="read-only"):
                follower.apply(Tick(ITEMS[0], "bob"))
            with follower.snapshot() as state:
                assert state.seq == 4


def test_running_checks_are_interrupted_on_reopen(backend: Any, checklist: Checklist) -> None:
    with backend.create(checklist, "alice", session_id="s-1") as live:
        live.apply(RunStarted(ITEMS[2], f"{ITEMS[2]}#0", "r1", kind="http"))
    assert backend.load("s-1").items[ITEMS[2]].status is Status.RUNNING
    with backend.open("s-1") as again:
        assert again.session.items[ITEMS[2]].status is Status.INTERRUPTED
        assert backend.event_chain("s-1").events[-1].type == "interrupted"


def test_drift_rebases_items_by_id(backend: Any, checklist: Checklist) -> None:
    with backend.create(checklist, "alice", session_id="s-1") as live:
        live.apply(Tick(ITEMS[0], "alice"))
    assert checklist.path is not None
    new_text = TEXT.replace("- [ ] Review\n", "- [ ] Smoke test\n")
    checklist.path.write_text(new_text)
    changed = parse_checklist(new_text, checklist.path)
    with backend.open("s-1", checklist=changed) as again:
        assert again.drift is not None
        assert again.drift.added == ["pre/smoke-test"] and again.drift.removed == ["pre/review"]
        assert again.session.checklist_sha256 == changed.sha256
    with backend.open("s-1", checklist=changed) as third:
        assert third.drift is None


def test_damaged_event_is_refused_then_recovered(backend: Any, checklist: Checklist) -> None:
    with backend.create(checklist, "alice", session_id="s-1") as live:
        for item in ITEMS:
            live.apply(Tick(item, "alice"))
    assert backend.recover("s-1").intact
    damage_event(backend, "s-1", 3)
    with pytest.raises(DeployError, match=r":[34]: .*recover s-1") as refused:
        backend.open("s-1")
    assert "\n" not in str(refused.value)
    with pytest.raises(DeployError):
        backend.load("s-1")
    report = backend.recover("s-1")
    assert not report.intact and report.kept_events == 2 and report.dropped_lines == 2
    assert report.kept_aside  # the dropped events are kept, not deleted
    with backend.open("s-1") as again:
        assert again.session.seq == 2 and again.session.items[ITEMS[0]].status is Status.DONE
        again.apply(Tick(ITEMS[2], "alice"))
    assert backend.event_chain("s-1").count == 3


def test_run_logs_are_kept_as_written(backend: Any, checklist: Checklist) -> None:
    payload = b"line one\nline two \xe2\x9c\x93\n" + b"x" * 300_000 + b"\n"
    with backend.create(checklist, "alice", session_id="s-1") as live:
        log = live.new_log("run/../../evil")
        assert log.exists() and live.relative(log) == f"logs/{log.name}"
        second = live.new_log("run/../../evil")
        assert second != log  # never the name of a log that exists
        key = f"{ITEMS[2]}#0"
        live.apply(RunStarted(ITEMS[2], key, "r1"))
        log.write_bytes(payload)
        live.apply(RunFinished(ITEMS[2], key, "r1", Outcome.passed("ok"), log=str(log)))
        assert live.session.items[ITEMS[2]].checks[key].log == f"logs/{log.name}"
        action = live.new_log("a1")
        action.write_bytes(b"deployed\n")
        live.apply(ActionRan(ITEMS[0], 0, "a1", 0, str(action), "alice"))
        second.write_bytes(b"")
    names = backend.log_names("s-1")
    assert names == sorted([f"logs/{log.name}", f"logs/{second.name}", "logs/a1.log"])
    with backend.open_log("s-1", f"logs/{log.name}") as stream:
        assert stream.read() == payload
    with backend.open_log("s-1", "logs/a1.log") as stream:
        assert stream.read() == b"deployed\n"
    with pytest.raises(DeployError, match="missing|outside"):
        with backend.open_log("s-1", "logs/nope.log"):
            pass


def test_a_run_log_reaches_the_store_while_the_run_runs(backend: Any, checklist: Checklist) -> None:
    """Output written before a change is acknowledged is in the store with it, though the run goes on:
    a writer killed mid-run loses none of it (the file store's log is the file itself)."""

    def kept(name: str) -> bytes:
        with backend.open_log("s-1", name) as stream:
            return bytes(stream.read())

    with backend.create(checklist, "alice", session_id="s-1") as live:
        check_log, step_log = live.new_log("r1"), live.new_log("a1")
        key = f"{ITEMS[2]}#0"
        live.apply(RunStarted(ITEMS[2], key, "r1", log=str(check_log)))
        step = f"{ITEMS[0]}!action0"
        live.apply(ActionStarted(ITEMS[0], step, "a1", "deploy", "/srv", "box", 1, "bob", log=str(step_log)))
        with check_log.open("ab") as c, step_log.open("ab") as a:
            c.write(b"probing\n")
            a.write(b"step 1\n")
        live.apply(AddNote(ITEMS[1], "alice", "watching"))
        assert kept(f"logs/{check_log.name}") == b"probing\n"
        assert kept(f"logs/{step_log.name}") == b"step 1\n"
        with step_log.open("ab") as a:
            a.write(b"step 2\n")
        live.apply(RunFinished(ITEMS[2], key, "r1", Outcome.passed("ok"), log=str(check_log)))
        assert kept(f"logs/{step_log.name}") == b"step 1\nstep 2\n"


def test_list_newest_first_and_latest_unfinished(backend: Any, checklist: Checklist) -> None:
    base = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    ids = [new_session_id(base + timedelta(minutes=n)) for n in range(3)]
    for n, sid in enumerate(ids):
        with backend.create(checklist, f"op{n}", session_id=sid) as live:
            live.apply(Tick(ITEMS[0], f"op{n}"))
            if n == 2:
                for item in ITEMS[1:]:
                    live.apply(Tick(item, "op2"))
                live.apply(Finish("success", "op2"))
    infos = backend.list()
    assert [i.id for i in infos] == list(reversed(ids))
    assert infos[1].counts.get("done") == 1 and infos[1].counts.get("pending") == 2
    assert infos[0].finished is not None and infos[0].result == "success"
    assert infos[1].operator == "op1" and infos[1].checklist == str(checklist.path.resolve())  # type: ignore[union-attr]
    assert backend.latest_unfinished(checklist) == ids[1]
    other = parse_checklist("# Other\n\n- [ ] x\n", None)
    assert backend.latest_unfinished(other) is None


def test_secrets_never_reach_the_events(backend: Any, checklist: Checklist) -> None:
    secret = "hunter2-very-secret"
    with backend.create(
        checklist, "alice", redactor=Redactor({"DB_PASSWORD": secret}), session_id="s-1"
    ) as live:
        live.apply(AddNote(ITEMS[0], "alice", f"pasted {secret} by mistake"))
    lines = [event_line(e, "") for e in backend.event_chain("s-1").events]
    assert all(secret.encode() not in line for line in lines)
    assert b"[secret:DB_PASSWORD]" in lines[-1]


def test_missing_and_unsafe_ids_are_refused(backend: Any) -> None:
    with pytest.raises(DeployError, match="no session"):
        backend.open("nope")
    for bad in ["../x", "a/b", "..", ""]:
        with pytest.raises(DeployError, match="invalid session id"):
            backend.open(bad)


def test_apply_from_many_threads_keeps_every_change_in_order(backend: Any, checklist: Checklist) -> None:
    with backend.create(checklist, "alice", session_id="s-1") as live:

        def writer(n: int) -> None:
            for k in range(10):
                live.apply(AddNote(ITEMS[n % 3], f"t{n}", f"note {n}-{k}"))

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert backend.event_chain("s-1").count == 1 + 40
    assert sum(len(s.notes) for s in backend.load("s-1").items.values()) == 40


def test_a_log_path_is_recorded_relative_to_its_session(tmp_path: Path) -> None:
    from deploytui.storage.chain import relative_log_path

    session = tmp_path / "sessions" / "s1"
    (session / "logs").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "sessions")
    assert relative_log_path(session / "logs" / "r1.log", session) == "logs/r1.log"
    assert relative_log_path(str(session / "logs" / "r1.log"), session) == "logs/r1.log"
    # The same file named through a symlink, or with `..` in it: compared resolved.
    assert relative_log_path(link / "s1" / "logs" / "r1.log", session) == "logs/r1.log"
    assert relative_log_path(session / "logs" / ".." / "logs" / "r1.log", session) == "logs/r1.log"
    # Outside the session (a `..` that leaves it, another directory): kept as given.
    outside = session / ".." / "other" / "r1.log"
    assert relative_log_path(outside, session) == str(outside)
    assert relative_log_path(tmp_path / "elsewhere.log", session) == str(tmp_path / "elsewhere.log")
