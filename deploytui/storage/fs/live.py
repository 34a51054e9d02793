"""An open session of the file store: `apply` makes a change durable before it returns (its event line
appended to events.jsonl and fsynced, then the head record rewritten); the TOML checkpoint is saved every
CHECKPOINT_EVERY events, at creation, at finish and on close. A read-only follower `reload`s what the
writer appended."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from deploytui.core.errors import DeployError
from deploytui.core.redact import Redactor
from deploytui.core.session import (
    Change,
    Event,
    Session,
)
from deploytui.core.status import Status
from deploytui.storage.chain import prepare, relative_log_path, sanitize_event
from deploytui.storage.fs.atomic import (
    FILE_MODE,
    TomlTables,
    atomic_write_toml,
    fsync_dir,
)
from deploytui.storage.fs.head import HeadRecord, HeadWriter
from deploytui.storage.fs.journal import EventLog, Journal
from deploytui.storage.fs.lock import SessionLock, write_refused
from deploytui.storage.fs.paths import EVENTS_FILE, HEAD_FILE, LOGS_DIR, UNSAFE_RE

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist

if TYPE_CHECKING:
    from deploytui.storage.chain import DriftReport
    from deploytui.storage.fs.repository import SessionStore


CHECKPOINT_EVERY = 1000
"""Events between two saves of the TOML checkpoint (also saved at creation, at finish and on close), as
the PostgreSQL store does. Saving the whole session on every change made a change cost grow with the
session (~1 MB of TOML at 10,000 notes, ~25 MB at 100,000 events): a change is acknowledged once its
event line is fsynced and the head record names it; a load replays the log anyway."""


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
        checkpoint: tuple[int, str] = (0, ""),
        owe_sync: bool = False,
    ) -> None:
        """`owe_sync`: a session being created whose files and names are not fsynced yet (`sync`)."""
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
        self._head: HeadWriter | None = None
        self._tables = TomlTables()
        """The verified TOML text of this session's item tables, re-used by the next save."""
        self._checkpoint = checkpoint
        """(seq, sha256 of its bytes) of the TOML checkpoint on disk; (0, "") before the first."""
        if lock is not None:
            try:
                self._journal = Journal(self.events_path, log.count, log.head, sync_dir=not owe_sync)
                self._head = HeadWriter(self.dir / HEAD_FILE, sync_dir=not owe_sync)
            except OSError as exc:
                raise DeployError(write_refused(exc, store.dir), path=self.events_path) from None
        self._seen_size = file_size(self.events_path)
        self._owed_sync = owe_sync and lock is not None
        """Created with `sync=False` (`SessionStore.create`): the fsyncs that make it durable are owed."""

    # ------------------------------------------------------------- changes

    def apply(self, change: Change) -> Event:
        """Validate, log (fsync), apply, save the TOML; returns the event as logged (secrets masked).
        TransitionError when refused."""
        with self._mutex:
            if self._journal is None:
                raise DeployError(f"session {self.id} is open read-only", path=self.toml_path)
            change = prepare(change, self.relative, self.redactor)
            event = self.session.event_for(change, self.store.timestamp())
            return self._commit(event)

    def sync(self) -> None:
        """Make a session created with `sync=False` durable: its lock's holder, its event log and head
        record fsynced, then every name made for it (its directory, `logs/`, the files) fsynced in its
        directory and the sessions dir. A change, a checkpoint and `close` do this first; the TUI does
        it from a thread once its first frame is up. DeployError when the disk refuses."""
        with self._mutex:
            self._sync_owed()

    def _sync_owed(self) -> None:
        if not self._owed_sync:
            return
        try:
            if self._lock is not None:
                self._lock.sync()
            if self._journal is not None:
                self._journal.sync()
            if self._head is not None:
                self._head.sync()
            fsync_dir(self.dir)
            fsync_dir(self.store.dir)
        except OSError as exc:
            raise DeployError(write_refused(exc, self.store.dir), path=self.dir) from None
        self._owed_sync = False

    def _commit(self, event: Event, save: bool = True, sync: bool = True) -> Event:
        """Log the event (fsynced unless `sync` is False: a new session's first, `SessionStore.create`),
        apply it, save the checkpoint when due, else rewrite the head record."""
        assert self._journal is not None
        if sync:
            self._sync_owed()  # a change is acknowledged only once its session is durable too
        event = sanitize_event(event, self.redactor)
        self._journal.append(event, sync)
        self.session.apply_event(event)
        self.session.head = self._journal.head
        seq = self._checkpoint[0]
        due = not seq or self.session.finished is not None or self._journal.count - seq >= CHECKPOINT_EVERY
        if save and due:
            try:
                self._save()
            except DeployError:
                if seq:
                    with contextlib.suppress(DeployError):
                        self._write_head()  # the change is in the log: its witness still names it
                raise
        else:
            self._write_head(sync)
        return event

    def _write_head(self, sync: bool = True) -> None:
        """The head record names the log's last event (and the checkpoint last saved)."""
        assert self._journal is not None and self._head is not None
        seq, sha256 = self._checkpoint
        self._head.write(HeadRecord(self._journal.count, self._journal.head, seq, sha256), sync)

    @property
    def behind(self) -> int:
        """Events the TOML checkpoint does not reflect yet."""
        return self.session.seq - self._checkpoint[0]

    def checkpoint(self, pause: Callable[[], None] | None = None) -> None:
        """Save the TOML checkpoint now (it is saved on its own every CHECKPOINT_EVERY events). From a
        thread beside the app's, `pause` (core.threads.sharing) lets the app's thread run between item
        tables."""
        with self._mutex:
            if self._journal is None:
                raise DeployError(f"session {self.id} is open read-only", path=self.toml_path)
            self._sync_owed()
            self._save(pause)

    def _save(self, pause: Callable[[], None] | None = None) -> None:
        """Save the TOML checkpoint of the state, then the head record naming it."""
        try:
            sha256 = atomic_write_toml(self.toml_path, self.session.to_dict(), self._tables, pause)
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
        self._checkpoint = (self.session.seq, sha256)
        if self._journal is not None:
            self._write_head()

    # ------------------------------------------------------------- logs

    def new_log(self, run_id: str) -> Path:
        """A fresh log file path for a run, under <id>/logs/ (the file is created empty)."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        stem = UNSAFE_RE.sub("-", run_id).strip(".-") or "run"
        path = self.logs_dir / f"{stem}.log"
        n = 2
        while path.exists():
            path = self.logs_dir / f"{stem}-{n}.log"
            n += 1
        path.touch(mode=FILE_MODE)
        return path

    def relative(self, path: str | Path) -> str:
        """A log path as stored in the session: relative to the session dir when inside it."""
        return relative_log_path(path, self.dir)

    # ------------------------------------------------------------- following (read-only)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Session]:
        """The state, held still while the block runs (no change is applied meanwhile)."""
        with self._mutex:
            yield self.session

    def reload(self) -> bool:
        """Re-read the session if its log grew (read-only followers); True when the state changed."""
        with self._mutex:
            size = file_size(self.events_path)
            if size == self._seen_size:
                return False
            session, _log, _, _ = self.store._load(self.id, allow_partial_tail=True)
            changed = session.seq != self.session.seq
            self.session = session
            self._seen_size = size
            return changed

    def close(self) -> None:
        """Release the session, saving the checkpoint first when events came after it (a failure to save
        it loses nothing: the log and the head record hold every change, and the next open replays them)."""
        with self._mutex:
            with contextlib.suppress(DeployError):
                self._sync_owed()
            if self._journal is not None and self.behind > 0:
                with contextlib.suppress(DeployError):
                    self._save()
            if self._head is not None:
                self._head.close()
                self._head = None
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


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1

