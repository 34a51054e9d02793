"""The PostgreSQL store: sessions of a team in one database, followed live from any machine.

Tables (schema `deploytui`, see schema.py): `sessions` (what `deploytui sessions` lists, the head, and a
checkpoint of the state), `events` (one row per event: `seq`, `prev_hash`, `hash` and the event line
exactly as the file store writes it in events.jsonl, so chains and records are byte-identical), `logs`
(run output in chunks), `writers` (who holds each session).

Guarantees, as the file store's (storage/base.py):
- A change is acknowledged when its transaction has committed: the event row, the session row's head
  and metadata, the log bytes it names, and a NOTIFY carrying its seq commit together.
- The writer is single: a session-level advisory lock, taken on the writer's own connection, which
  PostgreSQL releases when that connection ends (a killed process, a closed socket). A second writer is
  refused with the holder's user@host and pid from `writers`.
- The chain is checked on every load: the lines are verified as the file store verifies events.jsonl
  (storage.fs `scan_events`), the rows' `seq`, `prev_hash` and `hash` must agree with the lines, and the
  checkpoint must agree with the replayed state where it says it stands.

Run logs: the engine writes each run's output to the local file `new_log` returns (under the store's
local dir); a pump thread copies what was appended to `logs` every LOG_PUMP_SECONDS, and the change
that ends the run (RunFinished, ActionRan) copies the rest in its own transaction, so a finished run's
log is complete in the database when its end is acknowledged. Followers fetch new chunks into their own
local dir, where the app reads them like the file store's logs.

Followers: a dedicated autocommit connection LISTENs on the session's channel; NOTIFY carries only the
new seq. `reload` drains the notifications without waiting, and only when one came (or every
RESYNC_SECONDS, since a notification can be missed while reconnecting) reads the events after the last
one it has: followers catch up by seq, never by replaying notifications.

Why one module (~1,250 lines): the store and its live session share one connection's life (its
advisory lock, its LISTEN channel, the offline spool that replaces it): split, each half would reach
into the other's connection state. The schema and push/pull are modules of their own.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import json
import os
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

import psycopg

from deploytui.core.errors import DeployError, LockedError
from deploytui.core.redact import Redactor, mask_url_password
from deploytui.core.session import (
    Change,
    Clock,
    Event,
    ExportedRecord,
    MarkInterrupted,
    Rebase,
    Resume,
    Session,
    iso_time,
    item_specs,
    now_iso,
    utc_now,
)
from deploytui.core.session.events import ActionStartedEvent, RunStartedEvent
from deploytui.core.text import plural
from deploytui.storage.base import EventChain
from deploytui.storage.chain import (
    DriftReport,
    describe,
    drift,
    prepare,
    relative_log_path,
    replay_all,
    sanitize_event,
)
from deploytui.storage.fs import (
    GENESIS_HASH,
    LOGS_DIR,
    EventLog,
    Journal,
    Recovery,
    SessionInfo,
    current_user,
    event_line,
    fsync_dir,
    line_hash,
    new_session_id,
    recover_hint,
    scan_events,
    validate_session_id,
)
from deploytui.storage.postgres.schema import ensure_schema

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist

CHECKPOINT_EVERY = 1000
"""Events between two saves of the checkpoint state (also saved at creation, at finish and on close):
the state is rebuilt from the events on every load anyway, so a change costs the same however long the
session is (serialising a whole session on every change made a long one slow quadratically)."""

LOG_PUMP_SECONDS = 0.2
"""How often a writer copies what its runs appended to their logs into the database."""

LOG_CHUNK = 256 * 1024
"""At most this many bytes per `logs` row."""

RESYNC_SECONDS = 5.0
"""A follower reads the session's seq at least this often, notified or not."""

CONNECT_TIMEOUT = 5

SPOOL_FILE = "spool.jsonl"
"""In a session's local dir: the changes made while the store was unreachable."""

OFFLINE_BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Seconds between reconnection attempts while offline (the last repeats)."""

_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")
_LOG_NAME_RE = re.compile(r"^logs/[A-Za-z0-9._-]+$")


def is_store_url(text: str) -> bool:
    """A PostgreSQL URL (`postgresql://…` or `postgres://…`), as `--store` takes."""
    return text.startswith(("postgresql://", "postgres://"))


def lock_key(session_id: str) -> int:
    """The advisory lock key of a session: 64 bits of sha256 (signed, as PostgreSQL's bigint)."""
    digest = hashlib.sha256(f"deploytui:{session_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def channel(session_id: str) -> str:
    """The NOTIFY channel of a session (identifiers stop at 63 bytes; ids may be longer)."""
    return "deploytui_" + hashlib.sha256(session_id.encode()).hexdigest()[:40]


def default_local_dir() -> Path:
    """Where run logs are written before they reach the database, and followers keep the logs they read."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deploytui" / "store"


@dataclass
class _Loaded:
    session: Session
    log: EventLog
    lines: list[bytes]


class PostgresStore:
    """Sessions in a PostgreSQL database (schema `deploytui`, created on first use).

    `local_dir` holds, per session, the local files of run logs (default: ~/.cache/deploytui/store/<db>).
    `clock` gives the time of every event and new session ids."""

    def __init__(self, url: str, *, clock: Clock = utc_now, local_dir: str | Path | None = None) -> None:
        self.url = url
        self.clock = clock
        self.shown_url = mask_url_password(url)
        key = hashlib.sha256(self.shown_url.encode()).hexdigest()[:16]
        self.local_dir = Path(local_dir) if local_dir is not None else default_local_dir() / key
        self._password: str | None = None
        with contextlib.suppress(ValueError):
            self._password = urlsplit(url).password
        self._secrets = Redactor({"store password": self._password} if self._password else None)
        self._reader: psycopg.Connection | None = None
        self._mutex = threading.RLock()
        self._schema_ready = False

    # ------------------------------------------------------------- connections

    @property
    def location(self) -> str:
        return f"store {self.shown_url}"

    def session_location(self, session_id: str) -> str:
        """The session in the store (its run logs are named relative to it, as in the file store)."""
        return f"{self.shown_url} session {session_id}"

    def timestamp(self) -> str:
        return iso_time(self.clock())

    def _with_password(self, redactor: Redactor | None) -> Redactor:
        """The session's redactor, masking the store's password too (it is a secret like any other)."""
        redactor = redactor or Redactor()
        redactor.add("store password", self._password)
        return redactor

    def events_where(self, session_id: str) -> str:
        """How messages name a session's events (as a file store message names events.jsonl)."""
        return f"{self.shown_url} deploytui.events {session_id}"

    def unreachable(self, exc: BaseException, doing: str = "cannot reach the store") -> DeployError:
        """A one-line error naming the store (password masked) and PostgreSQL's first line."""
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return DeployError(f"{doing} {self.shown_url}: {self._secrets.redact(text)}")

    def connect(self) -> psycopg.Connection:
        """A new autocommit connection, the schema created or migrated first if needed."""
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                application_name="deploytui",
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
                tcp_user_timeout=10_000,
            )
        except psycopg.Error as exc:
            raise self.unreachable(exc) from None
        try:
            if not self._schema_ready:
                ensure_schema(conn, self.shown_url)
                self._schema_ready = True
        except psycopg.Error as exc:
            conn.close()
            raise self.unreachable(exc, "cannot set up the deploytui schema in") from None
        except BaseException:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def reading(self) -> Iterator[psycopg.Connection]:
        """The store's shared connection for reads (reconnected when it broke)."""
        with self._mutex:
            if self._reader is None or self._reader.closed or self._reader.broken:
                self._reader = self.connect()
            try:
                yield self._reader
            except psycopg.Error as exc:
                if self._reader.broken or isinstance(exc, psycopg.OperationalError):
                    with contextlib.suppress(psycopg.Error):
                        self._reader.close()
                    self._reader = None
                raise self.unreachable(exc, "store error at") from None

    def close(self) -> None:
        with self._mutex:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    # ------------------------------------------------------------- sessions

    def exists(self, session_id: str) -> bool:
        validate_session_id(session_id)
        with self.reading() as conn:
            return (
                conn.execute("SELECT 1 FROM deploytui.sessions WHERE id = %s", (session_id,)).fetchone()
                is not None
            )

    def create(
        self,
        checklist: Checklist,
        operator: str | None = None,
        *,
        host: str | None = None,
        redactor: Redactor | None = None,
        session_id: str | None = None,
    ) -> PgLiveSession:
        """A new session of `checklist`, locked by this process; acknowledged once its first event commits."""
        sid = validate_session_id(session_id) if session_id else new_session_id(self.clock())
        while session_id is None and self.exists(sid):
            sid = new_session_id(self.clock())
        conn = self.connect()
        try:
            self._lock(conn, sid)
            if conn.execute("SELECT 1 FROM deploytui.sessions WHERE id = %s", (sid,)).fetchone():
                raise DeployError(f"session {sid} already exists in {self.location}")
            path = str(checklist.path.resolve()) if checklist.path is not None else ""
            who = operator or current_user()
            event = Session.created_event(
                sid, checklist, who, host or socket.gethostname(), at=self.timestamp(), checklist_path=path
            )
            live = PgLiveSession(
                self, sid, Session(), GENESIS_HASH, conn=conn, redactor=self._with_password(redactor)
            )
            live._commit(event, create=True)
            return live
        except psycopg.Error as exc:
            conn.close()
            raise self.unreachable(exc, "cannot create the session in") from None
        except BaseException:
            conn.close()
            raise

    def open(
        self,
        session_id: str,
        read_only: bool = False,
        *,
        checklist: Checklist | None = None,
        redactor: Redactor | None = None,
        resume_as: str | None = None,
    ) -> PgLiveSession:
        """Load a session. For write: lock it, mark dead runs (and actions that started and never ended)
        interrupted, adopt a changed checklist (mapped by id; `drift` says what changed), and with
        `resume_as` record who resumes it from this host. Read-only: a follower, LISTENing for changes."""
        validate_session_id(session_id)
        conn = self.connect()
        try:
            if not self._exists_on(conn, session_id):
                raise DeployError(f"no session {session_id} in {self.location}")
            if not read_only:
                self._lock(conn, session_id)
            try:
                loaded = self._load(conn, session_id)
            except DeployError as exc:
                if not self._exists_on(conn, session_id):
                    raise DeployError(f"no session {session_id} in {self.location}") from None
                raise DeployError(
                    exc.message + recover_hint(session_id), path=exc.path, line=exc.line
                ) from None
            session = loaded.session
            live = PgLiveSession(
                self,
                session_id,
                session,
                loaded.log.head,
                conn=conn,
                redactor=self._with_password(redactor),
                read_only=read_only,
            )
            if not read_only and live.spool_path.exists():
                live._merge_spool(conn)  # changes a writer held while the store was away, then died
            if checklist is not None and checklist.sha256 != session.checklist_sha256:
                live.drift = drift(session, checklist)
            if read_only:
                return live
            if session.finished is None and session.anything_running():
                live.apply(MarkInterrupted(last_seen=session.updated))
            if live.drift is not None and session.finished is None and checklist is not None:
                path = str(checklist.path.resolve()) if checklist.path is not None else session.checklist_path
                live.apply(Rebase(path, checklist.sha256, checklist.title, item_specs(checklist)))
            if resume_as and session.finished is None:
                live.apply(Resume(resume_as, socket.gethostname(), os.getpid()))
            return live
        except psycopg.Error as exc:
            conn.close()
            raise self.unreachable(exc, "cannot open the session in") from None
        except BaseException:
            conn.close()
            raise

    def _exists_on(self, conn: psycopg.Connection, session_id: str) -> bool:
        return (
            conn.execute("SELECT 1 FROM deploytui.sessions WHERE id = %s", (session_id,)).fetchone()
            is not None
        )

    def _lock(self, conn: psycopg.Connection, session_id: str) -> None:
        """Take the session's advisory lock on `conn` and record this process as its holder, or
        LockedError naming the holder."""
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(session_id),)).fetchone()
        if not got or not got[0]:
            raise LockedError(
                f"session {session_id} is open by {self.describe_holder(conn, session_id)}; "
                "close it there, or open it with --read-only to follow it"
            )
        self._lock_record(conn, session_id)

    def _lock_record(self, conn: psycopg.Connection, session_id: str) -> None:
        """Record this process as the holder of the session's lock (taken on `conn`)."""
        conn.execute(
            "INSERT INTO deploytui.writers (session_id, username, host, pid, since, backend_pid)"
            " VALUES (%s, %s, %s, %s, %s, pg_backend_pid())"
            " ON CONFLICT (session_id) DO UPDATE SET username = EXCLUDED.username, host = EXCLUDED.host,"
            " pid = EXCLUDED.pid, since = EXCLUDED.since, backend_pid = EXCLUDED.backend_pid",
            (session_id, current_user(), socket.gethostname(), os.getpid(), now_iso()),
        )

    def describe_holder(self, conn: psycopg.Connection, session_id: str) -> str:
        """`user@host (pid N, since T)` of the lock's holder (retried briefly: it records itself after
        locking)."""
        for _ in range(20):
            row = conn.execute(
                "SELECT w.username, w.host, w.pid, w.since FROM deploytui.writers w"
                " JOIN pg_stat_activity a ON a.pid = w.backend_pid WHERE w.session_id = %s",
                (session_id,),
            ).fetchone()
            if row:
                return f"{row[0]}@{row[1]} (pid {row[2]}, since {row[3]})"
            time.sleep(0.005)
        return "another process (holder unknown)"

    def load(self, session_id: str) -> Session:
        """The state, read-only, without the lock."""
        validate_session_id(session_id)
        with self.reading() as conn:
            return self._load(conn, session_id).session

    def _load(self, conn: psycopg.Connection, session_id: str, *, check_state: bool = False) -> _Loaded:
        """Read and verify a session: the chain, the rows against their lines, the head, and that the
        checkpoint names an event of the chain. The state is rebuilt from the events (the checkpoint's
        state is not used by a load); `check_state` also compares it with the replayed state where it
        stands (recover does: it is the witness there; a load skips it, ~0.5 s on 100,000 events).
        The session row is read first: the events are never behind it."""
        where = self.events_where(session_id)
        row = conn.execute(
            "SELECT seq, head, checkpoint_seq, checkpoint_head, state FROM deploytui.sessions WHERE id = %s",
            (session_id,),
        ).fetchone()
        if row is None:
            raise DeployError(f"no session {session_id} in {self.location}")
        seq, head, checkpoint, checkpoint_head, state = row
        rows = conn.execute(
            "SELECT seq, prev_hash, hash, line FROM deploytui.events WHERE session_id = %s AND seq <= %s"
            " ORDER BY seq",
            (session_id, seq),
        ).fetchall()
        loaded = _verify_rows(where, rows, GENESIS_HASH, 1)
        log = loaded.log
        if log.count == 0:
            raise DeployError("the event log is empty", path=where)
        if log.count < seq or log.head != head:
            raise DeployError(
                f"the session row records {seq} events ending in {head[:12]}… but the events verify up to"
                f" {log.count}: the events were altered or removed",
                path=where,
                line=min(log.count + 1, seq),
            )
        if state is not None and (
            not 1 <= checkpoint <= log.count or log.hashes[checkpoint - 1] != checkpoint_head
        ):
            raise DeployError(
                f"the checkpoint names event {checkpoint} ({checkpoint_head[:12]}…), which is not there",
                path=where,
                line=checkpoint or None,
            )
        def agrees(replayed: Session) -> None:
            if state_text(replayed) != state:
                raise DeployError(
                    f"the checkpoint state disagrees with the events at event {checkpoint} (edited?);"
                    " the events are the record",
                    path=where,
                    line=checkpoint,
                )

        session = replay_all(
            log.events,
            log.hashes,
            where,
            checkpoint=checkpoint,
            at_checkpoint=agrees if check_state and state is not None else None,
        )
        session.head = log.head
        loaded.session = session
        return loaded

    def list(self) -> list[SessionInfo]:
        """Every session's summary from the session rows alone (no event is read), newest first."""
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT id, checklist_path, checklist_title, checklist_sha256, operator, host, started,"
                " updated, finished, result, counts, record FROM deploytui.sessions"
            ).fetchall()
        infos = [
            SessionInfo(
                id=r[0],
                checklist=r[1],
                checklist_title=r[2],
                checklist_sha256=r[3],
                operator=r[4],
                host=r[5],
                started=r[6],
                updated=r[7],
                finished=r[8],
                result=r[9],
                counts={str(k): int(v) for k, v in (r[10] or {}).items()},
                record=_record_of(r[11]),
            )
            for r in rows
        ]
        infos.sort(key=lambda info: (info.started[:19], info.id), reverse=True)
        return infos

    def latest_unfinished(self, checklist: Checklist) -> str | None:
        """The newest unfinished session of this checklist (same file, or same sha256) that loads."""
        path = str(checklist.path.resolve()) if checklist.path is not None else None
        for info in self.list():
            same = (path is not None and info.checklist == path) or info.checklist_sha256 == checklist.sha256
            if info.finished is None and same:
                try:
                    self.load(info.id)
                except DeployError as exc:
                    raise DeployError(
                        f"cannot resume: the latest session of this checklist is unreadable: {exc}"
                        + recover_hint(info.id)
                    ) from None
                return info.id
        return None

    def recover(self, session_id: str) -> Recovery:
        """Keep the longest prefix of the events that verifies and replays; the rows after it are moved
        to `events_aside` (kept, with why), and the session row and checkpoint rebuilt. Takes the lock."""
        validate_session_id(session_id)
        conn = self.connect()
        try:
            self._lock(conn, session_id)
            if not self._exists_on(conn, session_id):
                raise DeployError(f"no session {session_id} in {self.location}")
            try:
                self._load(conn, session_id, check_state=True)
                return Recovery(session_id, intact=True)
            except DeployError as exc:
                problem = exc
            where = self.events_where(session_id)
            rows = conn.execute(
                "SELECT seq, prev_hash, hash, line FROM deploytui.events WHERE session_id = %s ORDER BY seq",
                (session_id,),
            ).fetchall()
            data = b"".join(str(r[3]).encode("utf-8") + b"\n" for r in rows)
            scan = scan_events(where, data)
            from deploytui.storage.chain import replay

            # A row whose line no longer hashes to its recorded `hash` was altered (the next row's
            # prev_hash vouches for the recorded one): the prefix ends before it.
            trusted = next(
                (n for n, (row, h) in enumerate(zip(rows, scan.log.hashes, strict=False)) if row[2] != h),
                scan.log.count,
            )
            session, kept, failure = replay(scan.log.events[:trusted], where)
            if kept == 0:
                raise DeployError(
                    "nothing to recover: the first event (the session's creation) is unreadable",
                    path=where,
                    line=1,
                )
            reason = f"kept the {kept} events that verify and replay"
            dropped = [f"line {r[0]}: {_what(str(r[3]))}" for r in rows[kept:]]
            session.head = scan.log.hashes[kept - 1]
            moment = self.timestamp()
            why = str(scan.problem or failure or problem)
            with conn.transaction():
                conn.execute(
                    "INSERT INTO deploytui.events_aside (session_id, seq, line, set_aside, why)"
                    " SELECT session_id, seq, line, %s, %s FROM deploytui.events"
                    " WHERE session_id = %s AND seq > %s",
                    (moment, why, session_id, kept),
                )
                conn.execute(
                    "DELETE FROM deploytui.events WHERE session_id = %s AND seq > %s", (session_id, kept)
                )
                conn.execute(
                    "UPDATE deploytui.events SET prev_hash = %s, hash = %s WHERE session_id = %s AND seq = 1",
                    (GENESIS_HASH, scan.log.hashes[0], session_id),
                )
                for number in range(2, kept + 1):
                    conn.execute(
                        "UPDATE deploytui.events SET prev_hash = %s, hash = %s"
                        " WHERE session_id = %s AND seq = %s AND (prev_hash <> %s OR hash <> %s)",
                        (
                            scan.log.hashes[number - 2],
                            scan.log.hashes[number - 1],
                            session_id,
                            number,
                            scan.log.hashes[number - 2],
                            scan.log.hashes[number - 1],
                        ),
                    )
                _write_session_row(conn, session, checkpoint=True)
            aside = [Path(f"{self.shown_url} deploytui.events_aside {session_id} (set aside {moment})")]
            return Recovery(
                session_id,
                intact=False,
                problem=why,
                kept_events=kept,
                dropped_lines=len(rows) - kept,
                kept_aside=aside if len(rows) > kept else [],
                dropped=dropped,
                reason=reason,
            )
        except psycopg.Error as exc:
            raise self.unreachable(exc, "cannot recover the session in") from None
        finally:
            conn.close()

    # ------------------------------------------------------------- reading (records, verification)

    def event_chain(self, session_id: str) -> EventChain:
        validate_session_id(session_id)
        with self.reading() as conn:
            loaded = self._load(conn, session_id)
        return EventChain(loaded.log.events, loaded.log.hashes)

    def event_lines(self, session_id: str) -> builtins.list[bytes]:
        """The verified event lines, byte for byte as events.jsonl holds them (without their LF)."""
        validate_session_id(session_id)
        with self.reading() as conn:
            return self._load(conn, session_id).lines

    def log_names(self, session_id: str) -> builtins.list[str]:
        validate_session_id(session_id)
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT DISTINCT name FROM deploytui.logs WHERE session_id = %s", (session_id,)
            ).fetchall()
        return sorted(str(r[0]) for r in rows)

    @contextlib.contextmanager
    def open_log(self, session_id: str, name: str) -> Iterator[BinaryIO]:
        validate_session_id(session_id)
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT data FROM deploytui.logs WHERE session_id = %s AND name = %s ORDER BY chunk",
                (session_id, name),
            ).fetchall()
        if not rows:
            raise DeployError(f"log {name}: missing", path=f"{self.shown_url} deploytui.logs {session_id}")
        yield io.BytesIO(b"".join(bytes(r[0]) for r in rows))

    def session_local_dir(self, session_id: str) -> Path:
        return self.local_dir / validate_session_id(session_id)


def state_text(session: Session) -> str:
    """The checkpoint's serialisation of a state (compared byte for byte on load)."""
    return json.dumps(session.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _record_of(value: Any) -> ExportedRecord | None:
    """The `record` column (jsonb, as Session.to_dict writes it) as an ExportedRecord."""
    if not isinstance(value, dict):
        return None
    return ExportedRecord(
        str(value.get("path", "")), str(value.get("body_sha256", "")), bool(value.get("signed", False)),
        str(value.get("at", "")), str(value.get("by", "")),
    )


def _write_session_row(conn: psycopg.Connection, session: Session, *, checkpoint: bool) -> None:
    """Insert or update the session's row: what `sessions` lists, its head, and (when `checkpoint`) the
    state."""
    counts = json.dumps({str(status): n for status, n in session.counts().items()})
    params: dict[str, Any] = {
        "id": session.id,
        "path": session.checklist_path,
        "sha": session.checklist_sha256,
        "title": session.checklist_title,
        "operator": session.operator,
        "host": session.host,
        "started": session.started,
        "updated": session.updated,
        "finished": session.finished,
        "result": session.result,
        "counts": counts,
        "seq": session.seq,
        "head": session.head,
        "record": json.dumps(session.to_dict()["record"]) if session.record is not None else None,
    }
    if checkpoint:
        params["state"] = state_text(session)
        conn.execute(
            "INSERT INTO deploytui.sessions (id, checklist_path, checklist_sha256, checklist_title, operator,"
            " host, started, updated, finished, result, counts, seq, head, checkpoint_seq, checkpoint_head,"
            " state, record) VALUES (%(id)s, %(path)s, %(sha)s, %(title)s, %(operator)s, %(host)s,"
            " %(started)s, %(updated)s, %(finished)s, %(result)s, %(counts)s, %(seq)s, %(head)s, %(seq)s,"
            " %(head)s, %(state)s, %(record)s)"
            " ON CONFLICT (id) DO UPDATE SET checklist_path = EXCLUDED.checklist_path,"
            " checklist_sha256 = EXCLUDED.checklist_sha256, checklist_title = EXCLUDED.checklist_title,"
            " operator = EXCLUDED.operator, host = EXCLUDED.host, started = EXCLUDED.started,"
            " updated = EXCLUDED.updated, finished = EXCLUDED.finished, result = EXCLUDED.result,"
            " counts = EXCLUDED.counts, seq = EXCLUDED.seq, head = EXCLUDED.head,"
            " checkpoint_seq = EXCLUDED.checkpoint_seq, checkpoint_head = EXCLUDED.checkpoint_head,"
            " state = EXCLUDED.state, record = EXCLUDED.record",
            params,
        )
    else:
        conn.execute(
            "UPDATE deploytui.sessions SET checklist_path = %(path)s, checklist_sha256 = %(sha)s,"
            " checklist_title = %(title)s, updated = %(updated)s, finished = %(finished)s,"
            " result = %(result)s, counts = %(counts)s, seq = %(seq)s, head = %(head)s, record = %(record)s"
            " WHERE id = %(id)s",
            params,
        )


def _pause(stop: threading.Event, seconds: float) -> bool:
    """Wait `seconds` unless `stop` is set first (True then). Short relative sleeps, not
    `Event.wait(timeout)`: that waits for an absolute time, which a shifted clock (faketime in the
    tests, a clock step on the box) can put a year away."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(0.05, remaining))
    return True


def _connection_lost(conn: psycopg.Connection, exc: psycopg.Error) -> bool:
    """The error means the store is unreachable (not that it refused the change)."""
    return conn.broken or conn.closed or isinstance(exc, psycopg.OperationalError)


def _first_seq(data: bytes) -> int | None:
    """The seq of a spool's first whole line (None: it has none)."""
    end = data.find(b"\n")
    if end <= 0:
        return None
    try:
        seq = json.loads(data[:end]).get("seq")
    except (ValueError, AttributeError):
        return None
    return seq if isinstance(seq, int) and seq > 1 else None


def _verify_rows(where: str, rows: list[Any], prev: str, first: int) -> _Loaded:
    """Verify event rows continuing a chain at (`prev`, seq `first`): the lines as the file store
    verifies events.jsonl, and each row's seq, prev_hash and hash against its line."""
    lines = [str(r[3]).encode("utf-8") for r in rows]
    scan = scan_events(where, b"".join(line + b"\n" for line in lines), prev=prev, first=first)
    if scan.problem is not None:
        raise scan.problem
    before = prev
    for (seq, prev_hash, hash_, _line), computed, number in zip(
        rows, scan.log.hashes, range(first, first + len(rows)), strict=True
    ):
        if seq != number or prev_hash != before or hash_ != computed:
            raise DeployError(
                "the event row's seq, prev_hash or hash disagree with its line (the row was edited)",
                path=where,
                line=number,
            )
        before = computed
    return _Loaded(Session(), scan.log, scan.lines)


def _what(line: str) -> str:
    try:
        event = json.loads(line)
    except ValueError:
        return "unreadable"
    if not isinstance(event, dict):
        return "unreadable"
    what = str(event.get("type", "event without a type"))[:40]
    if isinstance(event.get("item"), str):
        what += f" on {event['item'][:80]}"
    return what + f" (seq {event.get('seq')})"


class _LogPump:
    """Copies what runs append to their local log files into `logs`, chunk by chunk."""

    def __init__(self, live: PgLiveSession) -> None:
        self.live = live
        self.files: dict[str, list[Any]] = {}
        """name -> [local path, bytes copied, next chunk number]."""
        self.problem: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, path: Path) -> None:
        """Start copying a new log (its chunk 0, empty, names it in the store at the next copy)."""
        self.files[name] = [path, 0, 0]
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"log-pump-{self.live.id}", daemon=True)
            self._thread.start()

    def copy(self, conn: psycopg.Connection, names: list[str] | None = None) -> list[tuple[str, int, int]]:
        """Insert the new bytes of `names` (default: every log being written); call inside a transaction,
        then `done` with what it returns once the transaction committed."""
        copied: list[tuple[str, int, int]] = []
        for name in list(self.files) if names is None else names:
            entry = self.files.get(name)
            if entry is None:
                continue
            path, done, chunk = entry
            if chunk == 0:
                conn.execute(
                    "INSERT INTO deploytui.logs (session_id, name, chunk, data) VALUES (%s, %s, 0, '')",
                    (self.live.id, name),
                )
                chunk = 1
            try:
                with open(path, "rb") as f:
                    f.seek(done)
                    while data := f.read(LOG_CHUNK):
                        conn.execute(
                            "INSERT INTO deploytui.logs (session_id, name, chunk, data)"
                            " VALUES (%s, %s, %s, %s)",
                            (self.live.id, name, chunk, data),
                        )
                        done += len(data)
                        chunk += 1
            except FileNotFoundError:
                continue
            copied.append((name, done, chunk))
        return copied

    def done(self, copied: list[tuple[str, int, int]]) -> None:
        for name, done, chunk in copied:
            entry = self.files.get(name)
            if entry is not None:
                entry[1], entry[2] = done, chunk

    def finish(self, name: str) -> None:
        self.files.pop(name, None)

    def _run(self) -> None:
        while not _pause(self._stop, LOG_PUMP_SECONDS):
            if not self.files:
                continue
            try:
                with self.live._mutex:
                    conn = self.live._conn
                    if conn is None or conn.closed:  # offline: the held changes' merge copies them
                        continue
                    with conn.transaction():
                        copied = self.copy(conn)
                    self.done(copied)
                    self.problem = None
            except psycopg.Error as exc:  # the next change (or the next tick) tries again
                self.problem = self.live.store.unreachable(exc, "cannot copy run logs to").message

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


class PgLiveSession:
    """An open session in the PostgreSQL store: the writer's (holding the advisory lock on its
    connection) or a follower's (LISTENing). `apply` is thread-safe and returns once committed."""

    def __init__(
        self,
        store: PostgresStore,
        session_id: str,
        session: Session,
        head: str,
        *,
        conn: psycopg.Connection,
        redactor: Redactor | None = None,
        read_only: bool = False,
    ) -> None:
        self._store = store
        self.id = session_id
        self.session = session
        self.head = head
        self.read_only = read_only
        self.redactor = redactor or Redactor()
        self.drift: DriftReport | None = None
        self.dir = store.session_local_dir(session_id)
        self.logs_dir = self.dir / LOGS_DIR
        self._conn: psycopg.Connection | None = conn
        self._mutex = threading.RLock()
        self._pump = _LogPump(self)
        self._since_checkpoint = 0
        self._listen: psycopg.Connection | None = None
        self._last_sync = time.monotonic()
        self._log_seen = 0
        """Followers: the `logs.id` of the last chunk fetched."""
        self._log_sizes: dict[str, int] = {}
        self._spool: Journal | None = None
        self._spool_base: tuple[int, str] = (0, "")
        self.conflict: str | None = None
        """Why held changes were not merged into the store (another writer took the session)."""
        self.offline_backoff: tuple[float, ...] = OFFLINE_BACKOFF
        self._closing = threading.Event()
        self._listen_tried = float("-inf")
        self._reconnector: threading.Thread | None = None
        if read_only:
            self._listen_start()
            self._fetch_logs()

    @property
    def store(self) -> PostgresStore:
        return self._store

    # ------------------------------------------------------------- changes

    def apply(self, change: Change) -> Event:
        """Validate, commit, apply; returns the event as recorded (secrets masked). TransitionError when
        refused; DeployError when the store could not take it (nothing was recorded then)."""
        with self._mutex:
            if self.read_only:
                raise DeployError(
                    f"session {self.id} is open read-only", path=self.store.events_where(self.id)
                )
            if self._conn is None and self._spool is None:
                raise DeployError(f"session {self.id} is closed", path=self.store.events_where(self.id))
            change = prepare(change, self.relative, self.redactor)
            event = self.session.event_for(change, self.store.timestamp())
            return self._commit(event)

    def _commit(self, event: Event, *, create: bool = False) -> Event:
        event = sanitize_event(event, self.redactor)
        if self._spool is not None:
            return self._hold(event)
        assert self._conn is not None
        line = event_line(event, self.head)
        hash_ = line_hash(line)
        self.session.apply_event(event)
        self.session.head = hash_
        log = getattr(event, "log", "") or ""
        checkpoint = (
            create or self.session.finished is not None or self._since_checkpoint + 1 >= CHECKPOINT_EVERY
        )
        try:
            with self._conn.transaction():
                if create:
                    _write_session_row(self._conn, self.session, checkpoint=True)
                copied = self._pump.copy(self._conn)
                self._conn.execute(
                    "INSERT INTO deploytui.events (session_id, seq, prev_hash, hash, line)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (self.id, self.session.seq, self.head, hash_, line.decode("ascii")),
                )
                if not create:
                    _write_session_row(self._conn, self.session, checkpoint=checkpoint)
                self._conn.execute("SELECT pg_notify(%s, %s)", (channel(self.id), str(self.session.seq)))
        except psycopg.Error as exc:
            if not create and _connection_lost(self._conn, exc):
                # The store went away: the change is held in the local spool (same line, same chain,
                # fsynced) and sent when the store is back. The state in memory already has it.
                self._go_offline(self.session.seq - 1, self.head)
                assert self._spool is not None
                self._spool.append(event)
                self.head = hash_
                return event
            # Not recorded: the state in memory went one change ahead, so it is rebuilt from the store.
            self._resync()
            raise self.store.unreachable(exc, "the change was not recorded: store error at") from None
        self._pump.done(copied)
        self.head = hash_
        self._since_checkpoint = 0 if checkpoint else self._since_checkpoint + 1
        if log and not isinstance(event, (RunStartedEvent, ActionStartedEvent)):
            # The run's end: its last bytes went in with this transaction. (Its start names the log
            # that is only beginning: it is copied on, chunk by chunk, until the run ends.)
            self._pump.finish(log)
        return event

    # ------------------------------------------------------------- the store going away

    @property
    def spool_path(self) -> Path:
        """Changes made while the store is unreachable: event lines as events.jsonl holds them."""
        return self.dir / SPOOL_FILE

    @property
    def held(self) -> int:
        """Changes acknowledged locally (in the spool) and not yet in the store."""
        return self._spool.count - self._spool_base[0] if self._spool is not None else 0

    @property
    def store_status(self) -> str | None:
        """What the app's header says about the store: None while it takes every change."""
        if self._spool is None:
            return None
        text = f"store offline: {plural(self.held, 'change')} held locally"
        return f"{text}; {self.conflict}" if self.conflict else text

    def _hold(self, event: Event) -> Event:
        """Offline: the event appended (fsynced) to the spool, then applied."""
        assert self._spool is not None
        self._spool.append(event)
        self.session.apply_event(event)
        self.head = self._spool.head
        self.session.head = self.head
        return event

    def _go_offline(self, seq: int, head: str) -> None:
        """Start holding changes locally after event `seq` (hash `head`), the last the store has."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._spool = Journal(self.spool_path, seq, head)
        except OSError as exc:
            raise DeployError(
                f"the store is unreachable and the local spool cannot be written: {exc.strerror}",
                path=self.spool_path,
            ) from None
        self._spool_base = (seq, head)
        self.conflict = None
        self._reconnector = threading.Thread(
            target=self._reconnect_loop, name=f"reconnect-{self.id}", daemon=True
        )
        self._reconnector.start()

    def _reconnect_loop(self) -> None:
        delays = list(self.offline_backoff)
        attempt = 0
        while not _pause(self._closing, delays[min(attempt, len(delays) - 1)]):
            attempt += 1
            with contextlib.suppress(Exception):  # a failed attempt is retried; the operator goes on
                if self.try_reconnect() or self.conflict:
                    return

    def try_reconnect(self) -> bool:
        """Reconnect, retake the lock, and send the held changes in order, in one transaction; True when
        the session is back in the store. Refuses to merge (and keeps the spool, saying why in `conflict`)
        when another writer holds the session or changed it meanwhile."""
        with self._mutex:
            if self._spool is None:
                return True
            try:
                conn = self.store.connect()
            except DeployError:
                return False
            try:
                got = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(self.id),)).fetchone()
                if not got or not got[0]:
                    holder = self.store.describe_holder(conn, self.id)
                    self.conflict = (
                        f"session {self.id} was taken by {holder} meanwhile: {self.held} changes kept in"
                        f" {self.spool_path}, not merged"
                    )
                    conn.close()
                    return False
                self.store._lock_record(conn, self.id)
                self._merge_spool(conn)
            except DeployError as exc:
                self.conflict = exc.message
                conn.close()
                return False
            except psycopg.Error:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
                return False
            self._spool.close()
            self._spool = None
            self.conflict = None
            self._conn = conn
            return True

    def _merge_spool(self, conn: psycopg.Connection) -> int:
        """Send the spool's events to the store (one transaction), then remove the spool; how many were
        sent. DeployError (the spool kept) when they do not follow the store's head."""
        try:
            data = self.spool_path.read_bytes()
        except FileNotFoundError:
            return 0
        row = conn.execute("SELECT seq, head FROM deploytui.sessions WHERE id = %s", (self.id,)).fetchone()
        if row is None:
            raise DeployError(f"session {self.id} is no longer in {self.store.location}")
        db_seq, db_head = int(row[0]), str(row[1])
        first = _first_seq(data)
        if first is None:  # an empty spool, or only a line a kill cut: nothing was acknowledged
            self.spool_path.unlink()
            return 0
        known = conn.execute(
            "SELECT hash FROM deploytui.events WHERE session_id = %s AND seq = %s", (self.id, first - 1)
        ).fetchone()
        prev = str(known[0]) if known else GENESIS_HASH
        scan = scan_events(self.spool_path, data, prev=prev, first=first)
        lines, hashes = scan.lines, scan.log.hashes
        if scan.problem is not None or not lines:
            raise DeployError(
                f"the {len(lines)} changes held locally do not follow the store's events (another writer"
                f" changed session {self.id} meanwhile): kept in {self.spool_path}, not merged",
            )
        # A commit whose answer was lost may be in the store already: skip what it has, byte for byte.
        done = conn.execute(
            "SELECT seq, hash FROM deploytui.events WHERE session_id = %s AND seq >= %s ORDER BY seq",
            (self.id, first),
        ).fetchall()
        have = [str(h) for _seq, h in done]
        if have != hashes[: len(have)] or (db_seq, db_head) != (
            (first - 1 + len(have)),
            (have[-1] if have else prev),
        ):
            raise DeployError(
                f"session {self.id} changed in the store while it was unreachable (another writer):"
                f" {len(lines) - len(have)} changes kept in {self.spool_path}, not merged"
            )
        with conn.transaction():
            copied = self._pump.copy(conn)
            rows = []
            before = have[-1] if have else prev
            for n in range(len(have), len(lines)):
                rows.append((self.id, first + n, before, hashes[n], lines[n].decode("ascii")))
                before = hashes[n]
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO deploytui.events (session_id, seq, prev_hash, hash, line)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )
            if self.session.seq < first - 1 + len(lines):  # opening: the state is the store's, without them
                for event in scan.log.events[self.session.seq - (first - 1) :]:
                    self.session.apply_event(event)
                self.head = self.session.head = hashes[-1]
            _write_session_row(conn, self.session, checkpoint=True)
            conn.execute("SELECT pg_notify(%s, %s)", (channel(self.id), str(first - 1 + len(lines))))
        self._pump.done(copied)
        self.spool_path.unlink()
        fsync_dir(self.dir)
        return len(rows)

    def _resync(self) -> None:
        """After a failed commit: the state as committed, or (the connection gone, and the lock with it)
        a session that refuses further changes."""
        conn = self._conn
        if conn is not None and not conn.broken and not conn.closed:
            with contextlib.suppress(psycopg.Error, DeployError):
                loaded = self.store._load(conn, self.id)
                self.session, self.head = loaded.session, loaded.log.head
                return
        self._pump.stop()
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()
        self._conn = None

    # ------------------------------------------------------------- logs

    def new_log(self, run_id: str) -> Path:
        """A fresh local log file for a run (its bytes reach the store as they are written)."""
        with self._mutex:
            if self.read_only:
                raise DeployError(
                    f"session {self.id} is open read-only", path=self.store.events_where(self.id)
                )
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            stem = _UNSAFE_RE.sub("-", run_id).strip(".-") or "run"
            taken = set(self._pump.files)
            if self._conn is not None:  # offline: the names this box made are all it can know
                with contextlib.suppress(psycopg.Error):
                    rows = self._conn.execute(
                        "SELECT DISTINCT name FROM deploytui.logs WHERE session_id = %s", (self.id,)
                    ).fetchall()
                    taken |= {str(r[0]) for r in rows}
            name, n = f"{stem}.log", 2
            while f"{LOGS_DIR}/{name}" in taken or (self.logs_dir / name).exists():
                name = f"{stem}-{n}.log"
                n += 1
            path = self.logs_dir / name
            path.touch(mode=0o666)
            self._pump.add(f"{LOGS_DIR}/{name}", path)
            return path

    def relative(self, path: str | Path) -> str:
        return relative_log_path(path, self.dir)

    # ------------------------------------------------------------- following (read-only)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Session]:
        with self._mutex:
            yield self.session

    def _listen_start(self) -> None:
        with contextlib.suppress(DeployError, psycopg.Error):
            listen = self.store.connect()
            listen.execute(f'LISTEN "{channel(self.id)}"')  # a hex name
            self._listen = listen

    def _notified(self, timeout: float) -> bool:
        """Drain the notifications (waiting up to `timeout` for the first); True when one came, or the
        listening connection was lost (then it is reopened, and the caller must catch up by seq)."""
        listen = self._listen
        if listen is None or listen.closed or listen.broken:
            self._listen = None
            now = time.monotonic()
            if now - self._listen_tried < RESYNC_SECONDS:  # the store is away: try again later
                return False
            self._listen_tried = now
            self._listen_start()
            return True
        got = False
        try:
            if timeout > 0:
                select.select([listen.fileno()], [], [], timeout)
            for _ in listen.notifies(timeout=0):
                got = True
        except psycopg.Error:
            with contextlib.suppress(psycopg.Error):
                listen.close()
            self._listen = None
            return True
        return got

    def reload(self) -> bool:
        """Followers: read the events after the last one seen, when notified (or every RESYNC_SECONDS);
        True when the state changed. Cheap when nothing happened: no query at all."""
        return self.wait(0.0)

    def wait(self, timeout: float) -> bool:
        """Followers: like `reload`, first waiting up to `timeout` seconds for a notification."""
        with self._mutex:
            due = time.monotonic() - self._last_sync >= RESYNC_SECONDS
            if not self._notified(timeout) and not due and not self.session.anything_running():
                return False
            self._last_sync = time.monotonic()
            changed = self._catch_up()
            with contextlib.suppress(DeployError):
                self._fetch_logs()
            return changed

    def _catch_up(self) -> bool:
        """Apply the events after the last one seen (verified as continuing its chain)."""
        where = self.store.events_where(self.id)
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT seq, prev_hash, hash, line FROM deploytui.events WHERE session_id = %s AND seq > %s"
                " ORDER BY seq",
                (self.id, self.session.seq),
            ).fetchall()
        if not rows:
            return False
        loaded = _verify_rows(where, rows, self.head, self.session.seq + 1)
        for number, event in enumerate(loaded.log.events, start=self.session.seq + 1):
            try:
                self.session.apply_event(event)
            except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
                raise DeployError(
                    f"event cannot be replayed: {describe(exc)}", path=where, line=number
                ) from None
        self.head = loaded.log.head
        self.session.head = self.head
        return True

    def _fetch_logs(self) -> None:
        """Followers: the new chunks of every log, appended to the local copies under `dir`."""
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT id, name, chunk, data FROM deploytui.logs"
                " WHERE session_id = %s AND id > %s ORDER BY id",
                (self.id, self._log_seen),
            ).fetchall()
        for row_id, name, chunk, data in rows:
            self._log_seen = row_id
            if not _LOG_NAME_RE.match(str(name)):
                continue
            path = self.dir / str(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb" if chunk == 0 else "ab") as f:
                f.write(bytes(data))

    def close(self) -> None:
        """Release the session. Changes still held locally stay in the spool: the next open of the
        session merges them (or refuses, keeping them, when another writer changed it)."""
        self._closing.set()
        if self._reconnector is not None:
            self._reconnector.join(timeout=CONNECT_TIMEOUT + 5)
        with self._mutex:
            self._pump.stop()
            if self._spool is not None:
                self._spool.close()
            conn, self._conn = self._conn, None
            if conn is not None and not conn.closed:
                with contextlib.suppress(psycopg.Error):
                    if not self.read_only:
                        with conn.transaction():
                            self._pump.done(self._pump.copy(conn))
                            if self._since_checkpoint:
                                _write_session_row(conn, self.session, checkpoint=True)
                        conn.execute(
                            "DELETE FROM deploytui.writers WHERE session_id = %s"
                            " AND backend_pid = pg_backend_pid()",
                            (self.id,),
                        )
                        conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(self.id),))
                with contextlib.suppress(psycopg.Error):
                    conn.close()
            listen, self._listen = self._listen, None
            if listen is not None:
                with contextlib.suppress(psycopg.Error):
                    listen.close()

    def __enter__(self) -> PgLiveSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def log_problem(self) -> str | None:
        """Why the last copy of run logs to the store failed (None: it did not)."""
        return self._pump.problem
