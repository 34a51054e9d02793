"""An open session of the file store: `apply` makes a change durable (event fsynced, then the TOML
checkpoint saved) before it returns; a read-only follower `reload`s what the writer appended."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
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
from deploytui.storage.chain import prepare, sanitize_event
from deploytui.storage.fs.atomic import (
    FILE_MODE,
    TomlTables,
    atomic_write_toml,
)
from deploytui.storage.fs.journal import EventLog, Journal
from deploytui.storage.fs.lock import SessionLock, write_refused
from deploytui.storage.fs.paths import EVENTS_FILE, LOGS_DIR, UNSAFE_RE

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist

if TYPE_CHECKING:
    from deploytui.storage.chain import DriftReport
    from deploytui.storage.fs.repository import SessionStore


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
        self._checkpoint_owed = False
        """The log has events the TOML does not (see SessionStore.create(checkpoint=False))."""
        """The verified TOML text of this session's item tables, re-used by the next save."""
        if lock is not None:
            try:
                self._journal = Journal(self.events_path, log.count, log.head)
            except OSError as exc:
                raise DeployError(write_refused(exc, store.dir), path=self.events_path) from None
        self._seen_size = file_size(self.events_path)

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

    def _commit(self, event: Event, save: bool = True) -> Event:
        assert self._journal is not None
        event = sanitize_event(event, self.redactor)
        self._journal.append(event)
        self.session.apply_event(event)
        self.session.head = self._journal.head
        if save:
            self._save()
        else:
            self._checkpoint_owed = True
        return event

    def save_checkpoint(self) -> None:
        """Write the TOML checkpoint a `create(checkpoint=False)` left owed (nothing if none is)."""
        with self._mutex:
            if self._checkpoint_owed and self._journal is not None:
                self._save()

    def _save(self) -> None:
        try:
            atomic_write_toml(self.toml_path, self.session.to_dict(), self._tables)
            self._checkpoint_owed = False
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
            size = file_size(self.events_path)
            if size == self._seen_size:
                return False
            session, _log, _ = self.store._load(self.id, allow_partial_tail=True)
            changed = session.seq != self.session.seq
            self.session = session
            self._seen_size = size
            return changed

    def close(self) -> None:
        with self._mutex:
            if self._checkpoint_owed and self._journal is not None:
                with contextlib.suppress(DeployError):  # the log has it: the next open writes the TOML
                    self._save()
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


def _relative_path(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except (ValueError, OSError):
        return str(path)
