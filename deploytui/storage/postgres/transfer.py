"""Moving a session between the file store and a PostgreSQL store, byte for byte.

Both directions copy the event lines as they are (never re-encoded: a line's bytes are its hash), the
run logs as they are, and rebuild the other side's session row or session file from the verified
events; both verify the source before writing and the copy after. Each holds the session's lock on
both sides while it copies: a session being written is refused, naming its writer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg

from deploytui.core.errors import DeployError
from deploytui.storage.base import iter_chunks
from deploytui.storage.fs import (
    EVENTS_FILE,
    FILE_MODE,
    LOGS_DIR,
    SessionLock,
    SessionStore,
    atomic_write_toml,
    fsync_dir,
    scan_events,
    validate_session_id,
)
from deploytui.storage.postgres.repository import LOG_CHUNK, PostgresStore, _write_session_row, state_text


@contextlib.contextmanager
def _pg_locked(store: PostgresStore, session_id: str) -> Iterator[psycopg.Connection]:
    conn = store.connect()
    try:
        store._lock(conn, session_id)
        yield conn
    finally:
        conn.close()


def push(source: SessionStore, target: PostgresStore, session_id: str) -> int:
    """Copy a session of a sessions dir into the store; the number of events copied. DeployError when
    the session does not verify, is open for writing, or already exists in the store."""
    validate_session_id(session_id)
    if not source.exists(session_id):
        raise DeployError(f"no session {session_id} in {source.dir}")
    lock = SessionLock(source.lock_path(session_id), session_id)
    try:
        session = source.load(session_id)  # the chain, the session file against it
        path = source.session_dir(session_id) / EVENTS_FILE
        scan = scan_events(path, path.read_bytes())
        if scan.problem is not None:
            raise scan.problem
        if scan.log.count != session.seq:
            raise DeployError(f"the log holds {scan.log.count} events, the session {session.seq}", path=path)
        names = source.log_names(session_id)
        with _pg_locked(target, session_id) as conn:
            if target._exists_on(conn, session_id):
                raise DeployError(f"session {session_id} already exists in {target.location}")
            try:
                with conn.transaction():
                    _write_session_row(conn, session, checkpoint=True)
                    with conn.cursor() as cur:
                        prev = "0" * 64
                        rows = []
                        for number, (line, hash_) in enumerate(
                            zip(scan.lines, scan.log.hashes, strict=True), 1
                        ):
                            rows.append((session_id, number, prev, hash_, line.decode("ascii")))
                            prev = hash_
                        cur.executemany(
                            "INSERT INTO deploytui.events (session_id, seq, prev_hash, hash, line)"
                            " VALUES (%s, %s, %s, %s, %s)",
                            rows,
                        )
                        for name in names:
                            with source.open_log(session_id, name) as stream:
                                chunks = [b"", *iter_chunks(stream, LOG_CHUNK)]
                            cur.executemany(
                                "INSERT INTO deploytui.logs (session_id, name, chunk, data)"
                                " VALUES (%s, %s, %s, %s)",
                                [(session_id, name, n, data) for n, data in enumerate(chunks)],
                            )
                    copied = target._load(conn, session_id, check_state=True)  # verified before commit
                    if state_text(copied.session) != state_text(session) or copied.lines != scan.lines:
                        raise DeployError(
                            f"session {session_id}: the copy in the store differs from the source"
                        )
            except psycopg.Error as exc:
                raise target.unreachable(exc, "cannot copy the session into") from None
        return scan.log.count
    finally:
        lock.release()


def pull(source: PostgresStore, target: SessionStore, session_id: str) -> int:
    """Copy a session of the store into a sessions dir; the number of events copied."""
    validate_session_id(session_id)
    if target.exists(session_id):
        raise DeployError(f"session {session_id} already exists in {target.dir}")
    try:
        target.dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeployError(f"cannot create the sessions dir: {exc.strerror}", path=target.dir) from None
    lock = SessionLock(target.lock_path(session_id), session_id)
    try:
        with _pg_locked(source, session_id) as conn:
            if not source._exists_on(conn, session_id):
                raise DeployError(f"no session {session_id} in {source.location}")
            loaded = source._load(conn, session_id)
            names = source.log_names(session_id)
            sdir = target.session_dir(session_id)
            (sdir / LOGS_DIR).mkdir(parents=True, exist_ok=True)
            for name in names:
                dest = (sdir / name).resolve()
                if not dest.is_relative_to((sdir / LOGS_DIR).resolve()):
                    raise DeployError(f"log {name}: outside the session directory")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with source.open_log(session_id, name) as stream:
                    _write_file(dest, stream.read())
            _write_file(sdir / EVENTS_FILE, b"".join(line + b"\n" for line in loaded.lines))
            fsync_dir(sdir)
            atomic_write_toml(target.toml_path(session_id), loaded.session.to_dict())
        copied = target.load(session_id)
        if state_text(copied) != state_text(loaded.session):
            raise DeployError(f"session {session_id}: the copy in {target.dir} differs from the store's")
        return loaded.log.count
    except OSError as exc:
        raise DeployError(f"cannot write the session: {exc.strerror}", path=target.dir) from None
    finally:
        lock.release()


def _write_file(path: Path, payload: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
