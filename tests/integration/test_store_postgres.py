"""What only the PostgreSQL store does: its schema, the advisory lock across processes (a race, a
SIGKILL), followers in other processes woken by NOTIFY, the password masked, `store push`/`pull`, and
its selection (--store, $DEPLOYTUI_STORE, [store] url). The contract both stores keep is in
tests/integration/test_store_contract.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from deploytui.core.checklist import Checklist
from deploytui.core.errors import DeployError, LockedError
from deploytui.core.record import render_record
from deploytui.core.session import AddNote, RunFinished, RunStarted, Tick
from deploytui.core.status import Outcome
from deploytui.services.records import record_inputs
from deploytui.storage.fs import SessionStore
from deploytui.storage.postgres import PostgresStore
from deploytui.storage.postgres.schema import VERSION
from deploytui.storage.postgres.transfer import pull, push
from tests.servers.databases import APP_PASSWORD, APP_USER
from tests.support.cli_support import REPO, one_line_error, run_deploytui
from tests.support.clock_support import TickingClock
from tests.support.store_support import ITEMS, fresh_database, make_checklist, pg_store


@pytest.fixture
def checklist(tmp_path: Path) -> Checklist:
    return make_checklist(tmp_path)


@pytest.fixture
def url(postgres_server: Any) -> str:
    return fresh_database(postgres_server)


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


EXPORTED_AT = "2026-01-05T10:00:00Z"
"""The export time the records compared are rendered with (an export records when it was made)."""


def _record(store: Any, session_id: str, checklist: Checklist) -> str:
    session = store.load(session_id)
    return render_record(session, checklist, record_inputs(store, session, exported_at=EXPORTED_AT))


def _poll(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def test_schema_is_created_versioned_and_a_newer_one_is_refused(
    postgres_server: Any, url: str, tmp_path: Path, checklist: Checklist
) -> None:
    store = pg_store(postgres_server, tmp_path, url)
    assert store.list() == []
    name = url.rsplit("/", 1)[1]
    tables = postgres_server.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'deploytui' ORDER BY 1", name
    )
    assert [t[0] for t in tables] == [
        "events",
        "events_aside",
        "logs",
        "schema_version",
        "sessions",
        "writers",
    ]
    assert postgres_server.execute("SELECT max(version) FROM deploytui.schema_version", name) == [(VERSION,)]
    pg_store(postgres_server, tmp_path, url).list()  # a second deploytui: nothing migrated twice
    assert postgres_server.execute("SELECT count(*) FROM deploytui.schema_version", name) == [(VERSION,)]
    postgres_server.execute(f"INSERT INTO deploytui.schema_version VALUES ({VERSION + 1})", name)
    with pytest.raises(DeployError, match=f"schema version {VERSION + 1}, newer than this deploytui"):
        pg_store(postgres_server, tmp_path, url).list()


def test_the_password_is_masked_in_the_location_and_in_errors(postgres_server: Any, tmp_path: Path) -> None:
    name = f"masked_{os.getpid()}"
    postgres_server.execute(f"DROP DATABASE IF EXISTS {name}")
    postgres_server.execute(f"CREATE DATABASE {name} OWNER {APP_USER} TEMPLATE template0")
    good = postgres_server.url_for(name, APP_USER, APP_PASSWORD)
    store = PostgresStore(good, local_dir=tmp_path)
    assert APP_PASSWORD not in store.location and f"{APP_USER}:***@" in store.location
    assert store.list() == []  # the app role creates the schema in its own database
    bad = PostgresStore(postgres_server.url_for(name, APP_USER, "wrong-" + APP_PASSWORD), local_dir=tmp_path)
    with pytest.raises(DeployError) as refused:
        bad.list()
    assert APP_PASSWORD not in str(refused.value) and "***" in str(refused.value)
    proc = run_deploytui("sessions", "--store", good, cwd=tmp_path)
    assert proc.returncode == 0 and APP_PASSWORD not in proc.stdout + proc.stderr
    assert f"no sessions in the store postgresql://{APP_USER}:***@" in proc.stdout


def test_two_writers_racing_for_one_session_exactly_one_wins(
    postgres_server: Any, url: str, tmp_path: Path, checklist: Checklist
) -> None:
    store = pg_store(postgres_server, tmp_path, url)
    store.create(checklist, "alice", session_id="s-1").close()
    script = """
        import sys
        from deploytui.core.errors import LockedError
        from deploytui.storage.postgres import PostgresStore
        store = PostgresStore(sys.argv[1], local_dir=sys.argv[2])
        sys.stdin.readline()  # the start line: both race from here
        try:
            live = store.open("s-1")
        except LockedError as exc:
            print("refused", exc, flush=True)
            raise SystemExit(3)
        print("won", flush=True)
        sys.stdin.readline()  # hold it until told
        live.close()
        """
    for trial in range(5):
        children = [_child(script, url, str(tmp_path / f"c{trial}-{n}")) for n in range(2)]
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        firsts = [child.stdout.readline().strip() for child in children if child.stdout is not None]
        assert sorted(line.split()[0] for line in firsts) == ["refused", "won"], firsts
        refused = next(line for line in firsts if line.startswith("refused"))
        winner = children[[line.startswith("won") for line in firsts].index(True)]
        assert f"(pid {winner.pid}," in refused
        for child in children:
            child.communicate("done\n", timeout=30)


def test_sigkill_of_the_writer_releases_the_lock_at_once(
    postgres_server: Any, url: str, tmp_path: Path, checklist: Checklist
) -> None:
    store = pg_store(postgres_server, tmp_path, url)
    store.create(checklist, "alice", session_id="s-1").close()
    child = _child(
        """
        import sys, time
        from deploytui.core.session import RunStarted
        from deploytui.storage.postgres import PostgresStore
        live = PostgresStore(sys.argv[1], local_dir=sys.argv[2]).open("s-1")
        live.apply(RunStarted("pre/api-up", "pre/api-up#0", "r1", kind="http"))
        print("holding", flush=True)
        time.sleep(600)
        """,
        url,
        str(tmp_path / "child"),
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "holding"
    with pytest.raises(LockedError, match=f"pid {child.pid}"):
        store.open("s-1")
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    started = time.monotonic()

    def taken() -> bool:
        try:
            live = store.open("s-1")
        except LockedError:
            return False
        assert live.session.items["pre/api-up"].status.value == "interrupted"  # the dead run, shown so
        live.close()
        return True

    assert _poll(taken, 5.0)
    assert time.monotonic() - started < 2.0


def test_a_follower_in_another_process_sees_each_change(
    postgres_server: Any, url: str, tmp_path: Path, checklist: Checklist
) -> None:
    store = pg_store(postgres_server, tmp_path, url)
    live = store.create(checklist, "alice", session_id="s-1")
    follower = _child(
        """
        import sys
        from deploytui.storage.postgres import PostgresStore
        live = PostgresStore(sys.argv[1], local_dir=sys.argv[2]).open("s-1", read_only=True)
        print("seq", live.session.seq, flush=True)
        while live.session.seq < 7:
            if live.wait(5.0):
                notes = sum(len(s.notes) for s in live.session.items.values())
                print("seq", live.session.seq, notes, flush=True)
        log = (live.dir / "logs" / "r1.log").read_bytes()
        print("log", len(log), flush=True)
        """,
        url,
        str(tmp_path / "follower"),
    )
    assert follower.stdout is not None
    assert follower.stdout.readline().split() == ["seq", "1"]
    try:
        for n in range(2, 6):
            live.apply(AddNote(ITEMS[n % 3], "alice", f"note {n}"))
            # each change, one at a time: the follower is woken by its NOTIFY and reads it
            assert follower.stdout.readline().split() == ["seq", str(n), str(n - 1)]
        log = live.new_log("r1")
        live.apply(RunStarted(ITEMS[2], f"{ITEMS[2]}#0", "r1"))
        log.write_bytes(b"streamed\n" * 1000)
        live.apply(RunFinished(ITEMS[2], f"{ITEMS[2]}#0", "r1", Outcome.passed("ok"), log=str(log)))
        out, err = follower.communicate(timeout=30)
        lines = out.splitlines()
        assert lines[-2:] == ["seq 7 4", "log 9000"], err  # and the run's log, complete, in its dir
    finally:
        live.close()
        if follower.poll() is None:
            follower.kill()


def test_follower_catches_up_by_seq_after_its_listener_is_lost(
    postgres_server: Any, url: str, tmp_path: Path, checklist: Checklist
) -> None:
    store = pg_store(postgres_server, tmp_path, url)
    with store.create(checklist, "alice", session_id="s-1") as live:
        follower = store.open("s-1", read_only=True)
        assert follower._listen is not None
        follower._listen.close()  # as a dropped connection would: the notifications meanwhile are lost
        live.apply(Tick(ITEMS[0], "alice"))
        live.apply(Tick(ITEMS[1], "alice"))
        assert _poll(lambda: follower.reload() or follower.session.seq == 3)
        assert follower.session.seq == 3 and follower.session.head == live.session.head
        live.apply(Tick(ITEMS[2], "alice"))  # and it listens again
        assert _poll(lambda: follower.reload() or follower.session.seq == 4)
        follower.close()


def test_push_and_pull_keep_the_exported_record_byte_identical(
    postgres_server: Any, url: str, tmp_path: Path, checklist: Checklist
) -> None:
    files = SessionStore(tmp_path / "sessions", clock=TickingClock())
    with files.create(checklist, "alice", host="box1", session_id="s-1") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        log = live.new_log("r1")
        live.apply(RunStarted(ITEMS[2], f"{ITEMS[2]}#0", "r1"))
        log.write_bytes(b"HTTP 200 OK\n" * 50)
        live.apply(RunFinished(ITEMS[2], f"{ITEMS[2]}#0", "r1", Outcome.passed("ok"), log=str(log)))
        live.apply(AddNote(ITEMS[1], "alice", "r\u00e9sum\u00e9 \u2713"))
    record = _record(files, "s-1", checklist)
    database = pg_store(postgres_server, tmp_path, url)
    assert push(files, database, "s-1") == 5
    assert _record(database, "s-1", checklist) == record
    with pytest.raises(DeployError, match="already exists"):
        push(files, database, "s-1")
    back = SessionStore(tmp_path / "back")
    assert pull(database, back, "s-1") == 5
    assert _record(back, "s-1", checklist) == record
    assert (back.session_dir("s-1") / "events.jsonl").read_bytes() == (
        files.session_dir("s-1") / "events.jsonl"
    ).read_bytes()
    exported = run_deploytui("export", "s-1", "--store", url, cwd=tmp_path)  # the command, on the store
    assert exported.returncode == 0, exported.stderr
    got, want = exported.stdout.splitlines(), record.splitlines()
    assert len(got) == len(want)
    differing = [a for a, b in zip(got, want, strict=True) if a != b]
    # only when it was made: the summary's Exported row and the signed data block's exported_at
    assert differing and all("Exported" in a or '"exported_at"' in a for a in differing), differing
    with database.open("s-1") as again:  # and it goes on in the store
        again.apply(Tick(ITEMS[1], "bob"))


def test_push_refuses_a_damaged_or_open_session(
    postgres_server: Any, url: str, tmp_path: Path, checklist: Checklist
) -> None:
    files = SessionStore(tmp_path / "sessions", clock=TickingClock())
    database = pg_store(postgres_server, tmp_path, url)
    with files.create(checklist, "alice", session_id="s-1") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        with pytest.raises(LockedError):
            push(files, database, "s-1")
    path = files.session_dir("s-1") / "events.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"by":"alice"', b'"by":"mallory"'))
    with pytest.raises(DeployError, match="events.jsonl:"):
        push(files, database, "s-1")
    assert not database.exists("s-1")


def test_the_store_is_chosen_by_flag_environment_or_config(
    postgres_server: Any, url: str, tmp_path: Path, checklist: Checklist
) -> None:
    database = pg_store(postgres_server, tmp_path, url)
    database.create(checklist, "alice", session_id="s-1").close()
    by_flag = run_deploytui("sessions", "--store", url, "--format", "json", cwd=tmp_path)
    assert by_flag.returncode == 0 and '"id": "s-1"' in by_flag.stdout
    env = {**os.environ, "PYTHONPATH": str(REPO), "DEPLOYTUI_STORE": url}
    by_env = subprocess.run(
        [sys.executable, "-m", "deploytui", "sessions"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert by_env.returncode == 0 and "s-1" in by_env.stdout
    bad = run_deploytui("sessions", "--store", "mysql://x", cwd=tmp_path)
    assert "must be a PostgreSQL URL" in one_line_error(bad)
    files = run_deploytui("sessions", cwd=tmp_path)
    assert "s-1" not in files.stdout  # no store given: the sessions dir
    pushed = run_deploytui("store", "push", "nope", "--store", url, cwd=tmp_path)
    assert "no session nope" in one_line_error(pushed)
    config = tmp_path / "deploytui.toml"
    config.write_text(
        f'checklist = "{checklist.path}"\n\n[store]\nurl = "{url}"\n\n'
        '[[check]]\nitem = "pre/tests-pass"\nkind = "command"\nrun = "echo fine"\n'
    )
    checked = run_deploytui("check", str(config), cwd=tmp_path)  # [store] url in the config
    assert checked.returncode == 0, checked.stderr
    [new] = [info for info in database.list() if info.id != "s-1"]
    assert new.counts.get("passed") == 1
    assert not (tmp_path / "sessions").exists()


def test_store_url_in_the_config_is_validated(tmp_path: Path, checklist: Checklist) -> None:
    from deploytui.services.project import load_config

    config_path = tmp_path / "deploytui.toml"
    config_path.write_text(
        f'checklist = "{checklist.path}"\n\n[store]\nurl = "postgresql://deploy@db/team"\n'
    )
    assert load_config(config_path).store_url == "postgresql://deploy@db/team"
    config_path.write_text(f'checklist = "{checklist.path}"\n\n[store]\nurl = "/srv/sessions"\n')
    with pytest.raises(DeployError, match=r"deploytui.toml:4: store.url must be a PostgreSQL URL"):
        load_config(config_path)


def _stop_fast(server: Any) -> None:
    """`pg_ctl stop -m fast`: the server ends every session and shuts down cleanly."""
    proc = server._run(str(server.bin_dir / "pg_ctl"), "-D", str(server.data_dir), "-m", "fast", "-w", "stop")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _poll(lambda: not server.running, 10)


def test_the_server_stopped_for_ten_changes_loses_none(
    postgres_restart_guard: Any, tmp_path: Path, checklist: Checklist
) -> None:
    server = postgres_restart_guard
    url = fresh_database(server)
    store = pg_store(server, tmp_path, url)
    live = store.create(checklist, "alice", session_id="s-1")
    try:
        live.apply(Tick(ITEMS[0], "alice"))
        assert live.store_status is None
        _stop_fast(server)
        for n in range(10):  # never blocked: each is acknowledged from the local spool
            live.apply(AddNote(ITEMS[1], "alice", f"offline note {n}"))
            held = "1 change" if n == 0 else f"{n + 1} changes"
            assert live.store_status == f"store offline: {held} held locally"
        spooled = live.spool_path.read_bytes().splitlines()
        assert len(spooled) == 10 and all(b"offline note" in line for line in spooled)
        server.start()
        assert _poll(lambda: live.held == 0, 30), live.store_status
        assert live.store_status is None and not live.spool_path.exists()
        live.apply(Tick(ITEMS[2], "alice"))  # and the store takes changes again, in the same chain
    finally:
        live.close()
    loaded = store.load("s-1")  # the chain verified as on every load
    assert loaded.seq == 13
    assert [n.text for n in loaded.items[ITEMS[1]].notes] == [f"offline note {n}" for n in range(10)]
    assert store.event_chain("s-1").count == 13


def test_held_changes_are_not_merged_when_another_writer_took_the_session(
    postgres_server: Any, url: str, tmp_path: Path, checklist: Checklist
) -> None:
    store = pg_store(postgres_server, tmp_path, url)
    live = store.create(checklist, "alice", session_id="s-1")
    live.offline_backoff = (3600.0,)  # this test reconnects by hand
    try:
        assert live._conn is not None
        pid = live._conn.info.backend_pid
        postgres_server.execute(f"SELECT pg_terminate_backend({pid})", url.rsplit("/", 1)[1])
        live.apply(AddNote(ITEMS[0], "alice", "held 1"))
        live.apply(AddNote(ITEMS[0], "alice", "held 2"))
        assert live.held == 2
        other = pg_store(postgres_server, tmp_path / "b", url)
        with other.open("s-1") as taken:  # the lock went with the dead connection: B takes over
            assert not live.try_reconnect()
            assert (
                live.conflict is not None
                and "was taken by" in live.conflict
                and "not merged" in live.conflict
            )
            taken.apply(Tick(ITEMS[1], "bob"))
        assert not live.try_reconnect()  # B let go, but the session moved on without these changes
        assert live.conflict is not None and "changed in the store while it was unreachable" in live.conflict
        assert live.store_status is not None and live.store_status.startswith("store offline: 2 changes")
        assert len(live.spool_path.read_bytes().splitlines()) == 2  # kept
    finally:
        live.close()
    assert [n.text for n in store.load("s-1").items[ITEMS[0]].notes] == []
    with pytest.raises(DeployError, match="not merged"):
        store.open("s-1")  # the spool is still there: the operator decides


def test_changes_held_by_a_writer_that_died_offline_are_merged_on_the_next_open(
    postgres_server: Any, url: str, tmp_path: Path, checklist: Checklist
) -> None:
    store = pg_store(postgres_server, tmp_path, url)
    live = store.create(checklist, "alice", session_id="s-1")
    live.offline_backoff = (3600.0,)
    assert live._conn is not None
    postgres_server.execute(
        f"SELECT pg_terminate_backend({live._conn.info.backend_pid})", url.rsplit("/", 1)[1]
    )
    live.apply(Tick(ITEMS[0], "alice"))
    live.apply(AddNote(ITEMS[1], "alice", "held"))
    live.close()  # as a kill would leave it: the spool on disk, nothing in the store
    assert store.load("s-1").seq == 1
    with store.open("s-1") as again:
        assert again.session.seq == 3 and again.session.items[ITEMS[1]].notes[0].text == "held"
        assert not again.spool_path.exists()
    assert store.load("s-1").seq == 3


def test_an_edited_checkpoint_is_not_believed_and_recover_rebuilds_it(
    postgres_server: Any, url: str, tmp_path: Path, checklist: Checklist
) -> None:
    store = pg_store(postgres_server, tmp_path, url)
    with store.create(checklist, "alice", session_id="s-1") as live:
        live.apply(Tick(ITEMS[0], "alice"))
    name = url.rsplit("/", 1)[1]
    postgres_server.execute("UPDATE deploytui.sessions SET state = replace(state, 'alice', 'mallory')", name)
    assert store.load("s-1").operator == "alice"  # the state comes from the events, never the checkpoint
    report = store.recover("s-1")  # the checkpoint is the witness there: compared, found edited, rebuilt
    assert not report.intact and report.kept_events == 2 and report.dropped_lines == 0
    assert "checkpoint state disagrees" in report.problem
    assert store.recover("s-1").intact
    postgres_server.execute("UPDATE deploytui.sessions SET checkpoint_head = 'f00'", name)
    with pytest.raises(DeployError, match="the checkpoint names event 2"):
        store.load("s-1")
