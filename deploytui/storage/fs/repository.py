"""The sessions dir: durable session state that survives a dropped SSH session, a kill or a power cut.

Layout (README.md, "Sessions on disk"):

    sessions/<id>.toml               the state: a checkpoint, saved atomically every 1,000 events, at
                                     creation, at finish and on close
    sessions/<id>/events.jsonl       append-only, hash-chained log of every change (the truth)
    sessions/<id>/head.json          the head record: count and hash of the last event (every change)
    sessions/<id>/logs/              full output of every run
    sessions/<id>.lock               sidecar held with flock by the process that writes the session

Durability: `LiveSession.apply` appends the event and fsyncs it, then rewrites the head record in place
(fdatasync), and only then returns; every CHECKPOINT_EVERY events it also saves the TOML (serialise,
re-parse, temp file in the same dir, fsync, os.replace, fsync the dir). A load replays the whole log (it
restores each item's history, which the TOML leaves out). The TOML records how many events it reflects
(`seq`) and the hash of the last one (`head`), the head record the same of the log's last event: each
must name an event of the log, so a log that was cut or edited is refused rather than silently believed.
A kill between an event's fsync and the head record's write leaves the head record one event behind:
the event chains onto the one it names and is kept, as every acknowledged change is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from deploytui.core.errors import DeployError
from deploytui.core.redact import Redactor
from deploytui.core.session import (
    Clock,
    CreatedEvent,
    ExportedRecord,
    MarkInterrupted,
    Rebase,
    Resume,
    Session,
    decode,
    iso_time,
    item_specs,
    utc_now,
)
from deploytui.storage.base import EventChain
from deploytui.storage.chain import describe, drift, replay, replay_all
from deploytui.storage.fs.atomic import (
    atomic_write_toml,
    fsync_dir,
    remove_stale_temps,
    write_new,
)
from deploytui.storage.fs.head import HeadRecord, HeadWriter, read_head
from deploytui.storage.fs.journal import GENESIS_HASH, EventLog, read_events, scan_events
from deploytui.storage.fs.live import LiveSession, file_size
from deploytui.storage.fs.lock import SessionLock, current_user, write_refused
from deploytui.storage.fs.paths import EVENTS_FILE, HEAD_FILE, LOGS_DIR
from deploytui.storage.fs.recovery import (
    Recovery,
    aside_path,
    choose_witness,
    dropped_lines,
    first_difference,
    read_head_witness,
    read_witness,
    same_values,
    trusted_prefix,
)

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist


_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TOML_LINE_RE = re.compile(r"at line (\d+)")


def new_session_id(when: datetime | None = None) -> str:
    """Sortable by start time, safe as a file name: 20261125T091500Z-3fa2."""
    moment = when or datetime.now(UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(2)}"


def validate_session_id(session_id: str) -> str:
    """The id itself, or DeployError: ids are file names, never paths (no separators, no `..`)."""
    if not isinstance(session_id, str) or not _ID_RE.match(session_id) or ".." in session_id:
        raise DeployError(
            f"invalid session id {session_id!r}: letters, digits, '.', '_' and '-' only (no paths)"
        )
    return session_id


# ---------------------------------------------------------------------------------------------- sessions


@dataclass
class SessionInfo:
    """One row of `deploytui sessions`. A session that cannot be read has `error` set."""

    id: str
    checklist: str = ""
    checklist_title: str = ""
    checklist_sha256: str = ""
    operator: str = ""
    host: str = ""
    started: str = ""
    updated: str = ""
    finished: str | None = None
    result: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    record: ExportedRecord | None = None
    """The record file last exported from the session, as its ExportedEvent said."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "checklist": self.checklist,
            "operator": self.operator,
            "started": self.started,
            "updated": self.updated,
            "finished": self.finished,
            "counts": dict(self.counts),
        }
        if self.result is not None:
            data["result"] = self.result
        if self.error is not None:
            data["error"] = self.error
        return data


def _toml_error_line(exc: tomllib.TOMLDecodeError) -> int | None:
    m = _TOML_LINE_RE.search(str(exc))
    return int(m.group(1)) if m else None


class SessionStore:
    """A sessions dir. Creating and opening for write take the session's lock; read-only opens do not.

    `clock` gives the time of every event, new session ids and the names of files set aside (tests pass
    a fixed one, so that what they write is byte for byte the same on any day)."""

    def __init__(self, sessions_dir: str | Path, *, clock: Clock = utc_now) -> None:
        self.dir = Path(sessions_dir)
        self.clock = clock

    def timestamp(self) -> str:
        """The clock's time as events record it (`at`)."""
        return iso_time(self.clock())

    @property
    def location(self) -> str:
        return f"sessions dir {self.dir.resolve()}"

    def session_location(self, session_id: str) -> str:
        return str(self.session_dir(session_id).resolve())

    # ------------------------------------------------------------- paths

    def toml_path(self, session_id: str) -> Path:
        return self.dir / f"{validate_session_id(session_id)}.toml"

    def session_dir(self, session_id: str) -> Path:
        return self.dir / validate_session_id(session_id)

    def lock_path(self, session_id: str) -> Path:
        return self.dir / f"{validate_session_id(session_id)}.lock"

    def exists(self, session_id: str) -> bool:
        return self.toml_path(session_id).exists() or (self.session_dir(session_id) / EVENTS_FILE).exists()

    # ------------------------------------------------------------- create / open

    def create(
        self,
        checklist: Checklist,
        operator: str | None = None,
        *,
        host: str | None = None,
        redactor: Redactor | None = None,
        session_id: str | None = None,
        checkpoint: bool = True,
        sync: bool = True,
    ) -> LiveSession:
        """A new session of `checklist`, locked by this process, its first event and TOML on disk.

        `checkpoint=False`: the first event only (fsynced; the log is the truth and a session without
        its TOML opens, replayed); the TOML checkpoint is owed, written by `checkpoint()` or the next
        change. The TUI shows its first frame before that save (~0.5 s of TOML on 5,000 items).
        `sync=False`: written but not fsynced (7 fsyncs, 8-14 ms of a ~80 ms first frame on this
        machine's disk); `LiveSession.sync()`, the first change, a checkpoint or `close` makes it durable.
        Nothing the operator did is at stake meanwhile: a power cut then loses an empty session."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeployError(f"cannot create the sessions dir: {exc.strerror}", path=self.dir) from None
        sid = validate_session_id(session_id) if session_id else new_session_id(self.clock())
        while session_id is None and self.exists(sid):
            sid = new_session_id(self.clock())
        if self.exists(sid):
            raise DeployError(f"session {sid} already exists", path=self.toml_path(sid))
        lock = SessionLock(self.lock_path(sid), sid, sync=sync)
        try:
            sdir = self.session_dir(sid)
            try:
                (sdir / LOGS_DIR).mkdir(parents=True, exist_ok=True)
                if sync:
                    fsync_dir(sdir)
                    fsync_dir(self.dir)
            except OSError as exc:
                raise DeployError(write_refused(exc, self.dir), path=sdir) from None
            path = str(checklist.path.resolve()) if checklist.path is not None else ""
            who = operator or current_user()
            event = Session.created_event(
                sid, checklist, who, host or socket.gethostname(), at=self.timestamp(), checklist_path=path
            )
            live = LiveSession(
                self,
                sid,
                Session(),
                EventLog([], GENESIS_HASH, []),
                lock=lock,
                redactor=redactor,
                owe_sync=not sync,
            )
            live._commit(event, save=checkpoint, sync=sync)
            return live
        except BaseException:
            lock.release()
            raise

    def open(
        self,
        session_id: str,
        read_only: bool = False,
        *,
        checklist: Checklist | None = None,
        redactor: Redactor | None = None,
        resume_as: str | None = None,
    ) -> LiveSession:
        """Load a session. For write: lock it, replay events the TOML missed, mark dead runs (and actions
        that started and never ended) interrupted, and adopt a changed checklist (mapped by id;
        `LiveSession.drift` says what changed). `resume_as`: who resumes it (a `resumed` event names them
        and this host), for the faces that resume a session to work in it."""
        validate_session_id(session_id)
        if not self.exists(session_id):
            raise DeployError(f"no session {session_id} in {self.dir}")
        lock = None if read_only else SessionLock(self.lock_path(session_id), session_id)
        try:
            try:
                session, log, behind, checkpoint = self._load(session_id, allow_partial_tail=True)
            except DeployError as exc:
                message = exc.message + recover_hint(session_id)
                raise DeployError(message, path=exc.path, line=exc.line) from None
            if lock is not None:
                # Only once the rest is known good: a refused open changes nothing on disk.
                self._set_aside_partial_tail(session_id)
            live = LiveSession(
                self, session_id, session, log, lock=lock, redactor=redactor, checkpoint=checkpoint
            )
            if checklist is not None and checklist.sha256 != session.checklist_sha256:
                live.drift = drift(session, checklist)
            if read_only:
                return live
            remove_stale_temps(self.toml_path(session_id))
            if not self.toml_path(session_id).exists():
                live._save()
            elif behind:
                live._write_head()  # the events after the head record (a kill before its write) are named
            if session.finished is None and session.anything_running():
                live.apply(MarkInterrupted(last_seen=session.updated))
            if live.drift is not None and session.finished is None and checklist is not None:
                path = str(checklist.path.resolve()) if checklist.path is not None else session.checklist_path
                live.apply(Rebase(path, checklist.sha256, checklist.title, item_specs(checklist)))
            if resume_as and session.finished is None:
                live.apply(Resume(resume_as, socket.gethostname(), os.getpid()))
            return live
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    def _set_aside_partial_tail(self, session_id: str) -> None:
        """A last event line without its LF is a write a kill cut: it was never acknowledged (the writer
        acknowledges after the fsync of the whole line). Keep its bytes beside the log, and cut it off so
        the session opens. Call only while holding the lock."""
        events_path = self.session_dir(session_id) / EVENTS_FILE
        try:
            with open(events_path, "r+b") as f:
                data = f.read()
                if not data or data.endswith(b"\n"):
                    return
                keep = data.rfind(b"\n") + 1
                aside = aside_path(events_path, "partial", self.clock())
                write_new(aside, data[keep:])
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())
        except FileNotFoundError:
            return
        except OSError as exc:
            raise DeployError(write_refused(exc, self.dir), path=events_path) from None

    def recover(self, session_id: str) -> Recovery:
        """Keep what can be trusted of a damaged session, and a session file rebuilt from it.

        The log is cut at its first bad line (garbled, cut short, out of order, breaking the hash chain,
        or not replayable). The chain cannot vouch for the last line it keeps, because no later line
        carries its hash, so the session file is a witness when it parses: its `head` is the hash of the
        last event it reflects and `seq` their count (see `trusted_prefix` for what each case keeps).
        A log the witness does not confirm is kept aside byte for byte (`events.jsonl.corrupt-<time>`)
        even when every line is kept; the replaced session file is kept as `<id>.toml.corrupt-<time>`.
        Nothing is overwritten. The report names each dropped line and says why. Takes the lock;
        DeployError when nothing can be recovered."""
        validate_session_id(session_id)
        if not self.exists(session_id):
            raise DeployError(f"no session {session_id} in {self.dir}")
        toml_path = self.toml_path(session_id)
        events_path = self.session_dir(session_id) / EVENTS_FILE
        lock = SessionLock(self.lock_path(session_id), session_id)
        try:
            try:
                self._load(session_id, allow_partial_tail=False)
                return Recovery(session_id, intact=True)
            except DeployError as exc:
                problem = exc
            try:
                data = events_path.read_bytes()
            except OSError as exc:
                raise DeployError(
                    f"nothing to recover: cannot read the event log ({exc.strerror})", path=events_path
                ) from None
            scan = scan_events(events_path, data)
            head_path = self.session_dir(session_id) / HEAD_FILE
            checkpoint, unusable = read_witness(toml_path, session_id)
            record, record_problem = read_head_witness(head_path)
            witness, unusable, name = choose_witness(checkpoint, unusable, record, record_problem)
            cut = trusted_prefix(scan, data, witness, unusable, events_path, name)
            session, kept, failure = replay(scan.log.events[: cut.events], events_path)
            reason = cut.why
            if failure is not None:
                reason += f"; line {failure.line}: {failure.message}: kept the events before it"
            if kept == 0:
                if cut.events == 0:
                    raise DeployError(f"nothing to recover: {cut.why}", path=events_path, line=1)
                raise DeployError(
                    "nothing to recover: the first event (the session's creation) is unreadable",
                    path=events_path,
                    line=1,
                )
            moment = self.clock()
            kept_aside: list[Path] = []
            if kept < scan.total_lines or not cut.confirmed:
                # The new log is written beside, the old one linked aside, then the new one swapped in:
                # events.jsonl is whole at every moment.
                aside = aside_path(events_path, "corrupt", moment)
                tmp = events_path.with_name(f".{EVENTS_FILE}.{secrets.token_hex(4)}.tmp")
                write_new(tmp, b"".join(line + b"\n" for line in scan.lines[:kept]))
                os.link(events_path, aside)
                os.replace(tmp, events_path)
                fsync_dir(events_path.parent)
                kept_aside.append(aside)
            if toml_path.exists():
                aside = aside_path(toml_path, "corrupt", moment)
                os.replace(toml_path, aside)
                kept_aside.append(aside)
            session.head = scan.log.hashes[kept - 1]
            if record_problem or (
                record is not None
                and (record.seq > kept or scan.log.hashes[record.seq - 1] != record.head)
            ):
                # A head record that is damaged or names an event not kept is evidence: kept aside.
                aside = aside_path(head_path, "corrupt", moment)
                os.replace(head_path, aside)
                kept_aside.append(aside)
            sha256 = atomic_write_toml(toml_path, session.to_dict())
            writer = HeadWriter(head_path)
            try:
                writer.write(HeadRecord(kept, session.head, kept, sha256))
            finally:
                writer.close()
            return Recovery(
                session_id,
                intact=False,
                problem=str(scan.problem or failure or problem),
                kept_events=kept,
                dropped_lines=scan.total_lines - kept,
                kept_aside=kept_aside,
                dropped=dropped_lines(data, kept),
                reason=reason,
            )
        except OSError as exc:
            raise DeployError(write_refused(exc, self.dir), path=events_path) from None
        finally:
            lock.release()

    # ------------------------------------------------------------- reading (records, verification)

    def event_chain(self, session_id: str) -> EventChain:
        """The session's events and line hashes (a cut last line, never acknowledged, is left out)."""
        log = read_events(self.session_dir(session_id) / EVENTS_FILE, allow_partial_tail=True)
        return EventChain(log.events, log.hashes)

    def log_names(self, session_id: str) -> list[str]:
        """Every regular file under the session's logs/, relative to the session dir, sorted."""
        sdir = self.session_dir(session_id)
        root = sdir / LOGS_DIR
        if not root.is_dir():
            return []
        return sorted(
            p.relative_to(sdir).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink()
        )

    @contextlib.contextmanager
    def open_log(self, session_id: str, name: str) -> Iterator[BinaryIO]:
        """A run log's bytes. Only files under the session's logs/ (a name that leads elsewhere is
        refused: records name logs, and a record is input)."""
        sdir = self.session_dir(session_id)
        path = (sdir / name).resolve()
        if not path.is_relative_to((sdir / LOGS_DIR).resolve()):
            raise DeployError(f"log {name}: outside the session directory")
        try:
            stream = path.open("rb")
        except FileNotFoundError:
            raise DeployError(f"log {name}: missing", path=path) from None
        except OSError as exc:
            raise DeployError(f"cannot read log: {exc.strerror}", path=path) from None
        with stream:
            yield stream

    def load(self, session_id: str) -> Session:
        """The session's state, read-only, without the lock (for export and listing)."""
        return self._load(validate_session_id(session_id), allow_partial_tail=True)[0]

    def _load(
        self, session_id: str, *, allow_partial_tail: bool
    ) -> tuple[Session, EventLog, int, tuple[int, str]]:
        """(state, log, how many events the head record does not name yet (all without one), and the
        checkpoint: the seq the session file reflects and the sha256 of its bytes).

        The log is the truth: the state is rebuilt by replaying every event (which also restores each
        item's history). The session file is a checkpoint that must agree with the log where it says it
        stands (`seq`, `head`, and every field), and the head record must name an event of the log: a cut
        log, an edited event or a hand-edited session file is refused, naming the file and line, rather
        than silently believed. A session file with the bytes the head record names (`checkpoint_sha256`)
        is the one the writer saved from the log's state: only its header is parsed (parsing ~25 MB of
        TOML took ~4 s at 100,000 events); any other is parsed whole and compared field by field.
        """
        toml_path = self.toml_path(session_id)
        events_path = self.session_dir(session_id) / EVENTS_FILE
        snapshot: Session | None = None
        text: str | None = None
        digest = ""
        # The TOML first, then the head record, then the log: the writer appends, then saves the TOML (at
        # a checkpoint), then the head record, so what is read later is never behind what was read before.
        try:
            raw = toml_path.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            text = raw.decode("utf-8")
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError) as exc:
            raise DeployError(f"cannot read the session file: {exc}", path=toml_path) from None
        record = read_head(self.session_dir(session_id) / HEAD_FILE)
        marks: tuple[str, int, str] | None = None
        """(id, seq, head) of the session file."""
        if text is not None and record is not None and record.checkpoint_sha256 == digest:
            marks = _header_marks(text)
        if text is not None and marks is None:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise DeployError(
                    f"corrupt session file: {exc}", path=toml_path, line=_toml_error_line(exc)
                ) from None
            try:
                snapshot = Session.from_dict(data)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                raise DeployError(f"malformed session file: {describe(exc)}", path=toml_path) from None
            marks = (snapshot.id, snapshot.seq, snapshot.head)
        if marks is not None and marks[0] != session_id:
            raise DeployError(f"session file holds id {marks[0]!r}, not {session_id!r}", path=toml_path)
        log = read_events(events_path, allow_partial_tail=allow_partial_tail)
        if log.count == 0:
            raise DeployError("the event log is empty", path=events_path)
        checkpoint = 0
        if marks is not None:
            checkpoint = marks[1]
            if checkpoint > log.count:
                raise DeployError(
                    f"the session file reflects {checkpoint} events but the log has {log.count}:"
                    " the log was cut",
                    path=events_path,
                    line=log.count,
                )
            if checkpoint == 0 or log.hashes[checkpoint - 1] != marks[2]:
                raise DeployError(
                    f"event {checkpoint} differs from the one the session file recorded: the log was altered",
                    path=events_path,
                    line=checkpoint or None,
                )
        if record is not None:
            if record.seq > log.count:
                raise DeployError(
                    f"the head record ({HEAD_FILE}) names event {record.seq} but the log has {log.count}:"
                    " the log was cut",
                    path=events_path,
                    line=log.count,
                )
            if record.seq == 0 or log.hashes[record.seq - 1] != record.head:
                raise DeployError(
                    f"event {record.seq} differs from the one the head record ({HEAD_FILE}) recorded:"
                    " the log was altered",
                    path=events_path,
                    line=record.seq or None,
                )
        agrees = (
            None if snapshot is None else lambda state: _check_agrees(snapshot, state, toml_path, text or "")
        )
        session = replay_all(log.events, log.hashes, events_path, checkpoint=checkpoint, at_checkpoint=agrees)
        session.head = log.head
        behind = log.count - (record.seq if record is not None else 0)
        return session, log, behind, (checkpoint, digest if marks is not None else "")

    # ------------------------------------------------------------- queries

    def ids(self) -> list[str]:
        """Every session id in the dir (from TOML files and event logs), unordered."""
        if not self.dir.is_dir():
            return []
        found: set[str] = set()
        for entry in self.dir.iterdir():
            name = entry.name
            if name.startswith("."):
                continue
            if name.endswith(".toml") and entry.is_file():
                candidate = name[: -len(".toml")]
            elif entry.is_dir() and file_size(entry / EVENTS_FILE) > 0:
                # (an empty log without a session file: a create killed before its first event)
                candidate = name
            else:
                continue
            if _ID_RE.match(candidate) and ".." not in candidate:
                found.add(candidate)
        return list(found)

    def list(self) -> list[SessionInfo]:
        """Every session, newest first; one that cannot be read is listed with its error."""
        infos: list[SessionInfo] = []
        for sid in self.ids():
            try:
                session = self.load(sid)
            except DeployError as exc:
                infos.append(SessionInfo(id=sid, error=str(exc)))
                continue
            counts = {str(status): n for status, n in session.counts().items()}
            infos.append(
                SessionInfo(
                    id=sid,
                    checklist=session.checklist_path,
                    checklist_title=session.checklist_title,
                    checklist_sha256=session.checklist_sha256,
                    operator=session.operator,
                    host=session.host,
                    started=session.started,
                    updated=session.updated,
                    finished=session.finished,
                    result=session.result,
                    counts=counts,
                    record=session.record,
                )
            )
        infos.sort(key=_newest_key, reverse=True)
        return infos

    def latest_unfinished(self, checklist: Checklist) -> str | None:
        """The newest unfinished, readable session of this checklist (same file, or same sha256)."""
        path = str(checklist.path.resolve()) if checklist.path is not None else None

        def same(checklist_path: str, sha256: str) -> bool:
            return (path is not None and checklist_path == path) or sha256 == checklist.sha256

        for info in self.list():
            if info.error is not None:
                # Newer than any readable one and of this checklist: resuming past it would silently
                # leave the operator's latest work behind.
                created = self._created_event(info.id)
                if created is not None and same(created.checklist_path, created.checklist_sha256):
                    raise DeployError(
                        f"cannot resume: the latest session of this checklist is unreadable: {info.error}"
                        + recover_hint(info.id)
                    )
            elif info.finished is None and same(info.checklist, info.checklist_sha256):
                return info.id
        return None

    def _created_event(self, session_id: str) -> CreatedEvent | None:
        """The first event of a session's log (its creation: checklist path and sha256), if it parses."""
        try:
            with open(self.session_dir(session_id) / EVENTS_FILE, "rb") as f:
                first = json.loads(f.readline(1 << 20))
            if not isinstance(first, dict):
                return None
            first.pop("prev", None)
            event = decode(first)
        except (OSError, ValueError):  # EventFormatError is a ValueError
            return None
        return event if isinstance(event, CreatedEvent) else None


def recover_hint(session_id: str) -> str:
    """What to do about a session that cannot be opened (appended to the one-line error)."""
    return f"; `deploytui recover {session_id}` keeps what parses, or --new starts a fresh session"


def _newest_key(info: SessionInfo) -> tuple[str, str]:
    """Creation time: from the id (ids start with it, and a broken session still has one), else `started`."""
    try:
        moment = datetime.strptime(info.id[:16], "%Y%m%dT%H%M%SZ")
    except ValueError:
        return info.started[:19], info.id
    return moment.strftime("%Y-%m-%dT%H:%M:%S"), info.id


_ITEMS_TABLE = "\n[items."


def _header_marks(text: str) -> tuple[str, int, str] | None:
    """(id, seq, head) from the keys before the item tables of a session file this store wrote (the
    item tables come last, and a basic string never holds a line break); None when they do not parse."""
    end = text.find(_ITEMS_TABLE)
    try:
        data = tomllib.loads(text if end < 0 else text[: end + 1])
        sid, seq, head = data["id"], data["seq"], data.get("head", "")
    except (tomllib.TOMLDecodeError, KeyError):
        return None
    if not (isinstance(sid, str) and isinstance(head, str)) or type(seq) is not int:
        return None
    return sid, seq, head


def _check_agrees(snapshot: Session, replayed: Session, path: Path, text: str) -> None:
    """The session file must say what the log says at the point it was saved."""
    saved, expected = snapshot.to_dict(), replayed.to_dict()
    if same_values(saved, expected):
        return
    where = first_difference(saved, expected)
    line = None
    if where and where[0] == "items" and len(where) > 1:
        for number, source_line in enumerate(text.splitlines(), start=1):
            if source_line.startswith("[items.") and json.dumps(where[1]) in source_line:
                line = number
                break
    raise DeployError(
        f"the session file disagrees with the event log at {'.'.join(where) or 'the top level'} "
        f"(edited by hand?); the log is the record: move the session file away to rebuild it from the log",
        path=path,
        line=line,
    )
