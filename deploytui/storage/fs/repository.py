"""The sessions dir: durable session state that survives a dropped SSH session, a kill or a power cut.

Layout (README.md, "Sessions on disk"):

    sessions/<id>.toml               the state: a checkpoint, saved atomically after every change
    sessions/<id>/events.jsonl       append-only, hash-chained log of every change (the truth)
    sessions/<id>/logs/              full output of every run
    sessions/<id>.lock               sidecar held with flock by the process that writes the session

Durability: `LiveSession.apply` appends the event and fsyncs it, then saves the TOML (serialise, re-parse,
temp file in the same dir, fsync, os.replace, fsync the dir), and only then returns. A kill between the two
leaves the TOML one event behind: on load the TOML records how many events it reflects (`seq`) and the hash
of the last one (`head`), and the missing events are replayed from the log. So every acknowledged change
survives, and a log that was cut or edited is refused rather than silently believed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import hashlib
import json
import os
import re
import secrets
import socket
import threading
import time
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import tomli_w

from deploytui.core.errors import DeployError, LockedError
from deploytui.core.redact import Redactor
from deploytui.core.session import (
    ActionRan,
    Change,
    Clock,
    CreatedEvent,
    Event,
    EventFormatError,
    MarkInterrupted,
    Rebase,
    RunFinished,
    Session,
    decode,
    encode,
    iso_time,
    item_specs,
    now_iso,
    utc_now,
)
from deploytui.core.status import Status
from deploytui.storage.base import EventChain
from deploytui.storage.chain import FREE_TEXT_KEYS as FREE_TEXT_KEYS  # re-exported (storage.fs)
from deploytui.storage.chain import DriftReport as DriftReport
from deploytui.storage.chain import describe as _describe
from deploytui.storage.chain import drift as _drift
from deploytui.storage.chain import replay as _replay
from deploytui.storage.chain import sanitize_event as _sanitize_event

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist

GENESIS_HASH = "0" * 64
"""The `prev` of the first event line."""

FILE_MODE = 0o666
"""Mode for session files before the umask: followers (`--read-only`, maybe another user on the jump
box) must be able to read them; secrets are masked before anything is written."""

EVENTS_FILE = "events.jsonl"
LOGS_DIR = "logs"

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TOML_LINE_RE = re.compile(r"at line (\d+)")
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


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


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def line_hash(line: bytes) -> str:
    """sha256 of one event line, without its LF: the next line's `prev`."""
    return hashlib.sha256(line).hexdigest()


def event_line(event: Event, prev: str) -> bytes:
    """The line of events.jsonl that records `event` after the line hashing to `prev` (without its LF):
    the event's JSON object (core.session.codec) with `prev` added, keys sorted, ASCII only."""
    record = encode(event)
    record["prev"] = prev
    return json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode("ascii")


# ------------------------------------------------------------------------------------------ event log


@dataclass
class EventLog:
    """What reading events.jsonl found: the events, how many, and the hash of the last line."""

    events: list[Event]
    head: str
    hashes: list[str]
    """hashes[i] is the hash of line i+1."""

    @property
    def count(self) -> int:
        return len(self.events)


@dataclass
class EventScan:
    """The longest valid prefix of an events.jsonl and the first problem after it (None: all valid)."""

    log: EventLog
    lines: list[bytes]
    """The raw lines of the valid prefix, without their LF."""
    problem: DeployError | None
    partial_tail: bytes
    """Bytes after the last LF (a line whose write was cut: never acknowledged)."""
    total_lines: int


def scan_events(
    path: str | Path, data: bytes, *, prev: str = GENESIS_HASH, first: int = 1
) -> EventScan:
    """Verify the chain line by line, stopping at the first garbled, reordered or unlinked line.

    `prev` and `first`: the hash of the line before and the seq of the first line, when `data` continues
    a chain already verified (a follower reading only the new events)."""
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with LF
    events: list[Event] = []
    hashes: list[str] = []
    start = prev
    problem: DeployError | None = None
    for number, raw in enumerate(lines, start=first):
        try:
            event = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problem = DeployError(f"garbled event (not JSON: {exc})", path=path, line=number)
            break
        if not isinstance(event, dict):
            problem = DeployError("garbled event (not a JSON object)", path=path, line=number)
            break
        if event.get("prev") != prev:
            where = "the first line" if number == 1 else f"line {number - 1} or {number}"
            problem = DeployError(
                f"hash chain broken: prev does not match the line before ({where} was altered or removed)",
                path=path,
                line=number,
            )
            break
        if event.get("seq") != number:
            problem = DeployError(
                f"event sequence {event.get('seq')!r} where {number} was expected", path=path, line=number
            )
            break
        del event["prev"]
        try:
            typed = decode(event)
        except EventFormatError as exc:
            problem = DeployError(f"malformed event: {exc.message}", path=path, line=number)
            break
        prev = line_hash(raw)
        events.append(typed)
        hashes.append(prev)
    log = EventLog(events, prev if events else start, hashes)
    return EventScan(log, lines[: len(events)], problem, tail, len(lines) + bool(tail))


def read_events(path: Path, *, allow_partial_tail: bool = False) -> EventLog:
    """Parse and verify the event chain. DeployError naming the file and line of the first problem.

    `allow_partial_tail` ignores a last line without its LF: one still being written by the owner (for
    read-only followers), or one whose write a kill cut (never acknowledged; `open` sets it aside).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DeployError("event log missing", path=path) from None
    except OSError as exc:
        raise DeployError(f"cannot read the event log: {exc.strerror}", path=path) from None
    scan = scan_events(path, data)
    if scan.problem is not None:
        raise scan.problem
    if scan.partial_tail and not allow_partial_tail:
        raise DeployError(
            "incomplete last event (the process died while writing it; it was never acknowledged)",
            path=path,
            line=scan.total_lines,
        )
    return scan.log


def verify_chain(path: str | Path) -> tuple[int, str]:
    """(number of events, hash of the last line) of an events.jsonl; DeployError naming a break's line."""
    log = read_events(Path(path))
    return log.count, log.head


class Journal:
    """Appends hash-chained events to events.jsonl, each fsynced before `append` returns."""

    def __init__(self, path: Path, count: int, head: str) -> None:
        self.path = path
        self.count = count
        self.head = head
        created = not path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        if created:
            fsync_dir(path.parent)  # the new name itself must survive a power cut

    def append(self, event: Event) -> None:
        """Write the line of one event (`event_line`, chained to the last one). DeployError on I/O failure."""
        line = event_line(event, self.head)
        size = os.fstat(self._fd).st_size
        try:
            view = memoryview(line + b"\n")
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            # Leave no half line behind: the change was not recorded, and the log must stay parseable.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, size)
            raise DeployError(f"could not record the change: {exc.strerror}", path=self.path) from None
        self.count += 1
        self.head = line_hash(line)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


# ------------------------------------------------------------------------------------------ atomic TOML


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_prefix(target: Path) -> str:
    return f".{target.name}."


class TomlTables:
    """Serialises a session's TOML, re-using the verified text of item tables that did not change.

    A save used to serialise and re-parse the whole session (tomli_w and tomllib are pure Python: ~45 ms
    for 300 items with 1,000 events behind them), though one change touches one or two items. The text
    of `[items."<id>"]` is a pure function of that item's data, so each table's text is kept with the
    `repr` of its data (repr, not ==, because True == 1 == 1.0 yet TOML writes them differently) and
    serialised and re-parsed again only when the repr differs. The document is assembled exactly as
    tomli_w lays it out (the header, a blank line, the item tables separated by blank lines): the bytes
    equal `tomli_w.dumps(data)` (tests/test_store_save_cache.py), and every byte written has been through
    tomllib: the header and each item table parse alone, and item tables have distinct names, so the
    whole parses too.
    """

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        """item id -> (repr of its data, its verified TOML text)."""
        self._notes: dict[str, list[tuple[str, str | None, str]]] = {}
        """item id -> for each of its notes: its repr, its verified inline line (None: too long for
        one) and its verified keys as an array-of-tables entry writes them."""

    def dumps(self, data: Mapping[str, Any]) -> str:
        """TOML text of `data` (the Session.to_dict layout); every new part re-parsed before it is used."""
        items = data.get("items")
        if not isinstance(items, Mapping) or not items or list(data)[-1] != "items":
            self._items = {}
            text = tomli_w.dumps(dict(data))
            tomllib.loads(text)
            return text
        head = tomli_w.dumps({k: v for k, v in data.items() if k != "items"})
        tomllib.loads(head)
        parts = [head]
        kept: dict[str, tuple[str, str]] = {}
        kept_notes: dict[str, list[tuple[str, str | None, str]]] = {}
        for item_id, entry in items.items():
            notes = entry.get("notes") if isinstance(entry, Mapping) else None
            if isinstance(notes, list) and notes:
                inline = self._with_notes(item_id, entry, notes, kept, kept_notes)
                if inline is not None:
                    parts.append(inline)
                    continue
            key = repr(entry)
            cached = self._items.get(item_id)
            if cached is None or cached[0] != key:
                table = tomli_w.dumps({"items": {item_id: entry}})
                tomllib.loads(table)
                cached = (key, table)
            kept[item_id] = cached
            parts.append(cached[1])
        self._items = kept
        self._notes = kept_notes
        return "\n".join(parts)

    def _with_notes(
        self,
        item_id: str,
        entry: Mapping[str, Any],
        notes: list[Any],
        kept: dict[str, tuple[str, str]],
        kept_notes: dict[str, list[tuple[str, str | None, str]]],
    ) -> str | None:
        """The table of an item with notes, serialising and re-parsing only the notes not seen before:
        a change used to serialise and re-parse all of an item's notes (~1 s per change at 10,000 notes;
        bench_store.py). None: the caller serialises the item whole, as before.

        tomli_w lays notes out in one of two ways. When every note fits an inline table (a line of at
        most 100 characters), the list is an inline array in the key's place, one `    { … },` line per
        note: the item's text with `notes = []` has that line replaced by the notes' lines. Otherwise
        the list is an array of tables, `[[items."<id>".notes]]` then the note's keys, each after a blank
        line, before the item's other sub-tables (`checks`; the keys before `notes` are never tables):
        the item's text without `notes` has them inserted after its own keys."""
        keys = list(entry)
        before = keys[: keys.index("notes")]
        if any(isinstance(entry[k], Mapping | list) for k in before):
            return None
        old = self._notes.get(item_id, [])
        lines: list[tuple[str, str | None, str]] = []
        for n, note in enumerate(notes):
            note_key = repr(note)
            if n < len(old) and old[n][0] == note_key:
                lines.append(old[n])
                continue
            if not isinstance(note, Mapping) or not all(isinstance(v, str) for v in note.values()):
                return None
            one = tomli_w.dumps({"notes": [note]})
            tomllib.loads(one)
            inline = one[len("notes = [\n") : -len("]\n")] if one.startswith("notes = [\n") else None
            own = tomli_w.dumps(dict(note))
            tomllib.loads(own)
            lines.append((note_key, inline, own))
        all_inline = all(line[1] is not None for line in lines)
        if all_inline:
            rest = {k: ([] if k == "notes" else v) for k, v in entry.items()}
            key = "inline " + repr(rest)
        else:
            rest = {k: v for k, v in entry.items() if k != "notes"}
            key = "tables " + repr(rest)
        cached = self._items.get(item_id)
        if cached is None or cached[0] != key:
            table = tomli_w.dumps({"items": {item_id: rest}})
            tomllib.loads(table)
            cached = (key, table)
        table = cached[1]
        if all_inline:
            if "\nnotes = []\n" not in table:
                return None
            body = "".join(line[1] or "" for line in lines)
            text = table.replace("\nnotes = []\n", f"\nnotes = [\n{body}]\n", 1)
        else:
            header = table[: table.index("\n")]
            if not (header.startswith("[") and header.endswith("]")):
                return None
            name = header[1:-1]
            split = table.find("\n\n[")
            own_keys, tail = (table, "") if split < 0 else (table[: split + 1], table[split + 1 :])
            text = own_keys + "".join(f"\n[[{name}.notes]]\n{line[2]}" for line in lines) + tail
        kept[item_id] = cached
        kept_notes[item_id] = lines
        return text


def atomic_write_toml(target: Path, data: Mapping[str, Any], tables: TomlTables | None = None) -> None:
    """Serialise, re-parse (never write what cannot be read back), temp file, fsync, replace, fsync dir.

    `tables` (one per session file) re-uses the verified text of unchanged item tables (see TomlTables)."""
    if tables is not None:
        text = tables.dumps(data)
    else:
        text = tomli_w.dumps(dict(data))
        tomllib.loads(text)
    payload = text.encode("utf-8")
    tmp = target.with_name(f"{_temp_prefix(target)}{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


def remove_stale_temps(target: Path) -> int:
    """Temp files a killed writer left beside `target` (call only while holding the session's lock)."""
    removed = 0
    prefix = _temp_prefix(target)
    for entry in target.parent.glob(f"{prefix}*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed += 1
    return removed


# -------------------------------------------------------------------------------------------------- lock


class SessionLock:
    """An exclusive flock on sessions/<id>.lock naming its holder (user, host, pid) inside the file."""

    def __init__(self, path: Path, session_id: str) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except PermissionError:
            raise LockedError(
                f"session {session_id} belongs to another user (cannot open its lock file for writing); "
                "open it with --read-only to follow it",
                path=path,
            ) from None
        except OSError as exc:
            raise DeployError(_write_refused(exc, path.parent), path=path) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._fd)
            self._fd = -1
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise DeployError(f"cannot lock the session: {exc.strerror}", path=path) from None
            raise LockedError(
                f"session {session_id} is open by {describe_holder(path)}; "
                "close it there, or open it with --read-only to follow it"
            ) from None
        holder = {
            "user": current_user(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": now_iso(),
        }
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, (json.dumps(holder) + "\n").encode(), 0)
            os.fsync(self._fd)
        except OSError as exc:  # a full disk: nothing could be saved either, so refuse now
            self.release()
            raise DeployError(_write_refused(exc, path.parent), path=path) from None

    def release(self) -> None:
        if self._fd >= 0:
            # Forget the holder, then close (which drops the flock). The file stays: unlinking a lock
            # file races with a process about to lock it.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = -1


def _write_refused(exc: OSError, sessions_dir: Path) -> str:
    """Why the sessions dir cannot take a write, in words the operator can act on."""
    if exc.errno == errno.EROFS:
        return (
            f"the sessions dir {sessions_dir} is on a read-only file system: sessions there can only be "
            "followed (--read-only) or exported; pick a writable --sessions-dir to work"
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write in the sessions dir {sessions_dir}: {exc.strerror} (free some space)"
    return f"cannot write in the sessions dir {sessions_dir}: {exc.strerror or exc}"


def describe_holder(path: Path) -> str:
    """`user@host (pid N, since T)` from a lock file (retried briefly: the holder writes it after locking)."""
    for _ in range(20):
        try:
            holder = json.loads(path.read_text(encoding="utf-8"))
            return f"{holder['user']}@{holder['host']} (pid {holder['pid']}, since {holder['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.005)
    return "another process (holder unknown)"


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
    ) -> LiveSession:
        """A new session of `checklist`, locked by this process, its first event and TOML on disk."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeployError(f"cannot create the sessions dir: {exc.strerror}", path=self.dir) from None
        sid = validate_session_id(session_id) if session_id else new_session_id(self.clock())
        while session_id is None and self.exists(sid):
            sid = new_session_id(self.clock())
        if self.exists(sid):
            raise DeployError(f"session {sid} already exists", path=self.toml_path(sid))
        lock = SessionLock(self.lock_path(sid), sid)
        try:
            sdir = self.session_dir(sid)
            try:
                (sdir / LOGS_DIR).mkdir(parents=True, exist_ok=True)
                fsync_dir(sdir)
                fsync_dir(self.dir)
            except OSError as exc:
                raise DeployError(_write_refused(exc, self.dir), path=sdir) from None
            path = str(checklist.path.resolve()) if checklist.path is not None else ""
            who = operator or current_user()
            event = Session.created_event(
                sid, checklist, who, host or socket.gethostname(), at=self.timestamp(), checklist_path=path
            )
            live = LiveSession(
                self, sid, Session(), EventLog([], GENESIS_HASH, []), lock=lock, redactor=redactor
            )
            live._commit(event)
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
    ) -> LiveSession:
        """Load a session. For write: lock it, replay events the TOML missed, mark dead runs interrupted,
        and adopt a changed checklist (mapped by id; `LiveSession.drift` says what changed)."""
        validate_session_id(session_id)
        if not self.exists(session_id):
            raise DeployError(f"no session {session_id} in {self.dir}")
        lock = None if read_only else SessionLock(self.lock_path(session_id), session_id)
        try:
            try:
                session, log, replayed = self._load(session_id, allow_partial_tail=True)
            except DeployError as exc:
                message = exc.message + recover_hint(session_id)
                raise DeployError(message, path=exc.path, line=exc.line) from None
            if lock is not None:
                # Only once the rest is known good: a refused open changes nothing on disk.
                self._set_aside_partial_tail(session_id)
            live = LiveSession(self, session_id, session, log, lock=lock, redactor=redactor)
            if checklist is not None and checklist.sha256 != session.checklist_sha256:
                live.drift = _drift(session, checklist)
            if read_only:
                return live
            remove_stale_temps(self.toml_path(session_id))
            if replayed or not self.toml_path(session_id).exists():
                live._save()
            if session.finished is None and session.running():
                live.apply(MarkInterrupted())
            if live.drift is not None and session.finished is None and checklist is not None:
                path = str(checklist.path.resolve()) if checklist.path is not None else session.checklist_path
                live.apply(Rebase(path, checklist.sha256, checklist.title, item_specs(checklist)))
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
                aside = _aside_path(events_path, "partial", self.clock())
                _write_new(aside, data[keep:])
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())
        except FileNotFoundError:
            return
        except OSError as exc:
            raise DeployError(_write_refused(exc, self.dir), path=events_path) from None

    def recover(self, session_id: str) -> Recovery:
        """Keep what can be trusted of a damaged session, and a session file rebuilt from it.

        The log is cut at its first bad line (garbled, cut short, out of order, breaking the hash chain,
        or not replayable). The chain cannot vouch for the last line it keeps, because no later line
        carries its hash, so the session file is a witness when it parses: its `head` is the hash of the
        last event it reflects and `seq` their count (see `_trusted_prefix` for what each case keeps).
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
            witness, unusable = _witness(toml_path, session_id)
            cut = _trusted_prefix(scan, data, witness, unusable, events_path)
            session, kept, failure = _replay(scan.log.events[: cut.events], events_path)
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
                aside = _aside_path(events_path, "corrupt", moment)
                tmp = events_path.with_name(f".{EVENTS_FILE}.{secrets.token_hex(4)}.tmp")
                _write_new(tmp, b"".join(line + b"\n" for line in scan.lines[:kept]))
                os.link(events_path, aside)
                os.replace(tmp, events_path)
                fsync_dir(events_path.parent)
                kept_aside.append(aside)
            if toml_path.exists():
                aside = _aside_path(toml_path, "corrupt", moment)
                os.replace(toml_path, aside)
                kept_aside.append(aside)
            session.head = scan.log.hashes[kept - 1]
            atomic_write_toml(toml_path, session.to_dict())
            return Recovery(
                session_id,
                intact=False,
                problem=str(scan.problem or failure or problem),
                kept_events=kept,
                dropped_lines=scan.total_lines - kept,
                kept_aside=kept_aside,
                dropped=_dropped_lines(data, kept),
                reason=reason,
            )
        except OSError as exc:
            raise DeployError(_write_refused(exc, self.dir), path=events_path) from None
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

    def _load(self, session_id: str, *, allow_partial_tail: bool) -> tuple[Session, EventLog, int]:
        """(state, log, how many events the session file had not caught up with).

        The log is the truth: the state is rebuilt by replaying every event (which also restores each
        item's history). The session file is a checkpoint that must agree with the log where it says it
        stands (`seq`, `head`, and every field): a cut log, an edited event or a hand-edited session file
        is refused, naming the file and line, rather than silently believed.
        """
        toml_path = self.toml_path(session_id)
        events_path = self.session_dir(session_id) / EVENTS_FILE
        snapshot: Session | None = None
        text: str | None = None
        # The TOML first, then the log: the writer appends before it saves, so the log is never behind.
        try:
            text = toml_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError) as exc:
            raise DeployError(f"cannot read the session file: {exc}", path=toml_path) from None
        if text is not None:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise DeployError(
                    f"corrupt session file: {exc}", path=toml_path, line=_toml_error_line(exc)
                ) from None
            try:
                snapshot = Session.from_dict(data)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                raise DeployError(f"malformed session file: {_describe(exc)}", path=toml_path) from None
            if snapshot.id != session_id:
                raise DeployError(
                    f"session file holds id {snapshot.id!r}, not {session_id!r}", path=toml_path
                )
        log = read_events(events_path, allow_partial_tail=allow_partial_tail)
        if log.count == 0:
            raise DeployError("the event log is empty", path=events_path)
        checkpoint = 0
        if snapshot is not None:
            checkpoint = snapshot.seq
            if checkpoint > log.count:
                raise DeployError(
                    f"the session file reflects {checkpoint} events but the log has {log.count}:"
                    " the log was cut",
                    path=events_path,
                    line=log.count,
                )
            if checkpoint == 0 or log.hashes[checkpoint - 1] != snapshot.head:
                raise DeployError(
                    f"event {checkpoint} differs from the one the session file recorded: the log was altered",
                    path=events_path,
                    line=checkpoint or None,
                )
        session = Session()
        for number, event in enumerate(log.events, start=1):
            try:
                session.apply_event(event)
            except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
                raise DeployError(
                    f"event cannot be replayed: {_describe(exc)}", path=events_path, line=number
                ) from None
            if snapshot is not None and number == checkpoint:
                session.head = log.hashes[number - 1]
                _check_agrees(snapshot, session, toml_path, text or "")
        session.head = log.head
        return session, log, log.count - checkpoint

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
            elif entry.is_dir() and _size(entry / EVENTS_FILE) > 0:
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


@dataclass
class Recovery:
    """What `SessionStore.recover` did."""

    session_id: str
    intact: bool
    problem: str = ""
    """The first problem found (file:line: message)."""
    kept_events: int = 0
    dropped_lines: int = 0
    kept_aside: list[Path] = field(default_factory=list)
    """The damaged files, renamed and kept."""
    dropped: list[str] = field(default_factory=list)
    """One line per dropped line of the log: its number and what it was (`line 16: note on pre/api-up
    (seq 16)`, `line 3: unreadable`)."""
    reason: str = ""
    """Why the log was kept up to where it was, and what of it the session file could not confirm."""


@dataclass
class _Cut:
    """How many events of a log's valid prefix can be trusted, and why."""

    events: int
    why: str
    confirmed: bool
    """False when the session file's head names no event of the kept log (its tail is unconfirmed)."""


def _witness(toml_path: Path, session_id: str) -> tuple[Session | None, str]:
    """The session file as a witness of the log (its seq, head and state), or None and why it is not."""
    try:
        snapshot = Session.from_dict(tomllib.loads(toml_path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None, "there is no session file"
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return None, f"the session file cannot be read ({exc})"
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        return None, f"the session file is malformed ({_describe(exc)})"
    if snapshot.id != session_id:
        return None, f"the session file holds id {snapshot.id!r}"
    return snapshot, ""


def _trusted_prefix(
    scan: EventScan, data: bytes, witness: Session | None, unusable: str, path: Path
) -> _Cut:
    """How much of the valid prefix of a damaged log `recover` keeps.

    - No usable session file: the log is the record, kept up to its first bad line.
    - The session file's head names an event of the log: the log is confirmed up to it (the session file
      was the damaged one). Events after it that chain onto it are kept, as `open` keeps them: a kill
      between writing an event and saving the session file leaves exactly such a tail, and the chain
      cannot tell a line appended later from it (nothing after the last line carries its hash).
    - The log's event `seq` has another hash than the head: it is not the event the session file
      recorded (an altered last line, say). It and every line after it are dropped, unless replaying the
      log up to it gives exactly the session file's state: then it is kept (the head may be what was
      damaged) and the log's tail is unconfirmed.
    - The head names no event of the valid prefix (the log is cut, or broken before it): the longest
      prefix that verifies is kept, its tail unconfirmed.
    In every case a last kept line whose successor claims to follow it but records another hash for it,
    while that successor is itself vouched for (by the next line's `prev` or by the head), was altered:
    it is dropped too, so that the kept log never ends on an altered event.
    """
    count = scan.log.count
    hashes = scan.log.hashes
    lines = data.split(b"\n")[:-1]
    head = witness.head if witness is not None else ""
    named = hashes.index(head) + 1 if witness is not None and head in hashes else 0
    shown = f"{head[:12]}…" if head else "empty"
    cut = count
    if witness is None:
        why = f"{unusable}: the state is rebuilt from the log"
    elif named:
        why = f"the log holds the session file's recorded head (event {named}): rebuilt from the log"
        if count > named:
            later = (
                f"event {count} chains onto that head but is"
                if count == named + 1
                else f"events {named + 1}-{count} chain onto that head but are"
            )
            why += (
                f"; {later} not in the session file"
                " (as after a kill between writing an event and saving the session file): kept"
            )
    else:
        seq = witness.seq
        if 1 <= seq <= count:
            replayed, replayed_count, _ = _replay(scan.log.events[:seq], path)
            if replayed_count == seq and _same_state(witness, replayed):
                why = (
                    f"event {seq} does not match the session file's recorded head ({shown}), but the"
                    " log's state there is the session file's: kept; the log's tail could not be confirmed"
                )
            else:
                cut = seq - 1
                why = (
                    f"event {seq} does not match the session file's recorded head ({shown}) and the"
                    f" log's state there differs from the session file's: line {seq} on is damaged or"
                    " foreign, dropped"
                )
        else:
            why = (
                f"the session file's recorded head (event {seq}, {shown}) names no event of the"
                f" {count} that verify: kept the longest prefix that verifies; its tail could not be"
                " confirmed"
            )
        elsewhere = [n for n, raw in enumerate(lines, start=1) if line_hash(raw) == head]
        if elsewhere:
            why += f" (the recorded head is line {elsewhere[0]} of the damaged log, after the break)"
    if (witness is None or named) and count < scan.total_lines:
        why += f"; the log does not verify from line {count + 1} on: dropped"
    if cut == count and 0 < count < len(lines) and named != count:
        voucher = _altered_by_successor(lines, count, hashes[count - 1], head)
        if voucher:
            cut = count - 1
            why += (
                f"; line {count} was altered: line {count + 1}, vouched for by {voucher}, records another"
                " hash for it: dropped"
            )
    return _Cut(cut, why, confirmed=witness is None or named > 0)


def _altered_by_successor(lines: list[bytes], count: int, last_hash: str, head: str) -> str:
    """What vouches for line count+1, when it claims to follow line `count` (its seq) but records another
    hash for it; "" when nothing does (then line count+1 may be the damaged one)."""
    successor = _event_of(lines[count])
    if successor is None or successor.get("seq") != count + 1:
        return ""
    prev = successor.get("prev")
    if not isinstance(prev, str) or prev == last_hash:
        return ""
    own = line_hash(lines[count])
    if head and own == head:
        return "the session file's head"
    if count + 1 < len(lines):
        after = _event_of(lines[count + 1])
        if after is not None and after.get("prev") == own:
            return f"line {count + 2}"
    return ""


def _event_of(raw: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def _same_state(snapshot: Session, replayed: Session) -> bool:
    """The session file says what the log says, but for the head."""
    saved, rebuilt = snapshot.to_dict(), replayed.to_dict()
    saved.pop("head", None)
    rebuilt.pop("head", None)
    return _same(saved, rebuilt)


def _dropped_lines(data: bytes, kept: int) -> list[str]:
    """`line N: what it was` for every line of `data` after the first `kept`."""
    lines = data.split(b"\n")
    tail = lines.pop()
    dropped = [f"line {n}: {_what(raw)}" for n, raw in enumerate(lines[kept:], start=kept + 1)]
    if tail:
        dropped.append(f"line {len(lines) + 1}: {_what(tail)}, cut short")
    return dropped


_PLAIN_RE = re.compile(r"[A-Za-z0-9._/:#!-]{1,80}")


def _what(raw: bytes) -> str:
    """An event line as a few safe words: its type, item and seq (quoted and escaped when not plain)."""
    event = _event_of(raw)
    if event is None:
        return "unreadable"
    kind, item, seq = event.get("type"), event.get("item"), event.get("seq")
    what = _plain(kind) if isinstance(kind, str) else "event without a type"
    if isinstance(item, str):
        what += f" on {_plain(item)}"
    if isinstance(seq, int) and not isinstance(seq, bool):
        what += f" (seq {seq})"
    return what


def _plain(text: str) -> str:
    return text if _PLAIN_RE.fullmatch(text) else json.dumps(text[:80], ensure_ascii=True)


def recover_hint(session_id: str) -> str:
    """What to do about a session that cannot be opened (appended to the one-line error)."""
    return f"; `deploytui recover {session_id}` keeps what parses, or --new starts a fresh session"


def _aside_path(path: Path, kind: str, moment: datetime) -> Path:
    """`<name>.<kind>-<time>` beside `path` for a damaged file kept aside: never the name of a file that
    exists (with a fixed clock two recoveries would otherwise get the same name, and one would be lost)."""
    base = f"{path.name}.{kind}-{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
    candidate = path.with_name(base)
    n = 2
    while os.path.lexists(candidate):
        candidate = path.with_name(f"{base}-{n}")
        n += 1
    return candidate


def _write_new(path: Path, payload: bytes) -> None:
    """A new file with `payload`, fsynced (refuses to replace an existing one)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _newest_key(info: SessionInfo) -> tuple[str, str]:
    """Creation time: from the id (ids start with it, and a broken session still has one), else `started`."""
    try:
        moment = datetime.strptime(info.id[:16], "%Y%m%dT%H%M%SZ")
    except ValueError:
        return info.started[:19], info.id
    return moment.strftime("%Y-%m-%dT%H:%M:%S"), info.id


def _check_agrees(snapshot: Session, replayed: Session, path: Path, text: str) -> None:
    """The session file must say what the log says at the point it was saved."""
    saved, expected = snapshot.to_dict(), replayed.to_dict()
    if _same(saved, expected):
        return
    where = _first_difference(saved, expected)
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


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN (a measured value may be NaN in both the log and the file)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


def _first_difference(a: Any, b: Any) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(dict.fromkeys([*a, *b])):
            if key not in a or key not in b or not _same(a[key], b[key]):
                return [str(key), *_first_difference(a.get(key), b.get(key))]
    return []


class LiveSession:
    """An open session. `apply` is thread-safe and durable: when it returns, the change is on disk."""

    def __init__(
        self,
        store: SessionStore,
        session_id: str,
        session: Session,
        log: EventLog,
        *,
        lock: SessionLock | None,
        redactor: Redactor | None = None,
    ) -> None:
        self.store = store
        self.id = session_id
        self.session = session
        self.read_only = lock is None
        self.redactor = redactor or Redactor()
        self.drift: DriftReport | None = None
        self.dir = store.session_dir(session_id)
        self.toml_path = store.toml_path(session_id)
        self.events_path = self.dir / EVENTS_FILE
        self.logs_dir = self.dir / LOGS_DIR
        self._lock = lock
        self._mutex = threading.RLock()
        self._journal: Journal | None = None
        self._tables = TomlTables()
        """The verified TOML text of this session's item tables, re-used by the next save."""
        if lock is not None:
            try:
                self._journal = Journal(self.events_path, log.count, log.head)
            except OSError as exc:
                raise DeployError(_write_refused(exc, store.dir), path=self.events_path) from None
        self._seen_size = _size(self.events_path)

    # ------------------------------------------------------------- changes

    def apply(self, change: Change) -> Event:
        """Validate, log (fsync), apply, save the TOML; returns the event as logged (secrets masked).
        TransitionError when refused."""
        with self._mutex:
            if self._journal is None:
                raise DeployError(f"session {self.id} is open read-only", path=self.toml_path)
            if isinstance(change, RunFinished | ActionRan) and change.log:
                change = replace(change, log=self.relative(change.log))
            event = self.session.event_for(change, self.store.timestamp())
            return self._commit(event)

    def _commit(self, event: Event) -> Event:
        assert self._journal is not None
        event = _sanitize_event(event, self.redactor)
        self._journal.append(event)
        self.session.apply_event(event)
        self.session.head = self._journal.head
        self._save()
        return event

    def _save(self) -> None:
        try:
            atomic_write_toml(self.toml_path, self.session.to_dict(), self._tables)
        except OSError as exc:
            raise DeployError(
                f"the change is in {EVENTS_FILE} but the session file could not be saved: {exc.strerror}",
                path=self.toml_path,
            ) from None
        except (ValueError, TypeError) as exc:  # a value TOML cannot hold: a bug, but never a lost change
            raise DeployError(
                f"the change is in {EVENTS_FILE} but the session file could not be written: {exc}",
                path=self.toml_path,
            ) from None

    # ------------------------------------------------------------- logs

    def new_log(self, run_id: str) -> Path:
        """A fresh log file path for a run, under <id>/logs/ (the file is created empty)."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        stem = _UNSAFE_RE.sub("-", run_id).strip(".-") or "run"
        path = self.logs_dir / f"{stem}.log"
        n = 2
        while path.exists():
            path = self.logs_dir / f"{stem}-{n}.log"
            n += 1
        path.touch(mode=FILE_MODE)
        return path

    def relative(self, path: str | Path) -> str:
        """A log path as stored in the session: relative to the session dir when inside it."""
        return _relative_path(Path(path), self.dir)

    # ------------------------------------------------------------- following (read-only)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Session]:
        """The state, held still while the block runs (no change is applied meanwhile)."""
        with self._mutex:
            yield self.session

    def reload(self) -> bool:
        """Re-read the session if its log grew (read-only followers); True when the state changed."""
        with self._mutex:
            size = _size(self.events_path)
            if size == self._seen_size:
                return False
            session, _log, _ = self.store._load(self.id, allow_partial_tail=True)
            changed = session.seq != self.session.seq
            self.session = session
            self._seen_size = size
            return changed

    def close(self) -> None:
        with self._mutex:
            if self._journal is not None:
                self._journal.close()
                self._journal = None
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def __enter__(self) -> LiveSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def counts(self, checklist: Checklist | None = None) -> dict[Status, int]:
        return self.session.counts(checklist)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _relative_path(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except (ValueError, OSError):
        return str(path)
