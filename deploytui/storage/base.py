"""The storage seam: what every session store offers (the file store in `fs/`; a database store is the
next backend). Services talk to these protocols only, never to a store's layout: no file names, no
directories walked, no private locks.

A store keeps, per session: its event log (hash-chained, the truth), a checkpoint of the state, and the
full output of every run. Guarantees every backend gives (the contract tests run against each):
- `LiveSession.apply` returns only when the change is durable;
- one writer per session (a second is refused with the holder named); followers read;
- the chain is checked on every load; a damaged session is refused with a one-line error, and
  `recover` keeps what verifies, setting the rest aside.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist
    from deploytui.core.redact import Redactor
    from deploytui.core.session import Change, Event, Session


@dataclass(frozen=True)
class EventChain:
    """A session's event log as read: its events, and the hash of each line (hashes[i] is event i+1's)."""

    events: list[Event]
    hashes: list[str]

    @property
    def count(self) -> int:
        return len(self.events)


class LiveSession(Protocol):
    """An open session: the writer's (locked) or a follower's (read-only)."""

    id: str
    session: Session
    read_only: bool
    redactor: Redactor
    @property
    def store(self) -> SessionRepository:
        """The store the session lives in."""
        ...

    drift: Any
    """What changed in the checklist since the session started (None: nothing), when opened for write."""

    def apply(self, change: Change) -> Any:
        """Validate, make durable and apply one change; returns its event. TransitionError if refused."""
        ...

    def new_log(self, run_id: str) -> Path:
        """A local file the run's output is written to (the store keeps it as the run's log)."""
        ...

    def relative(self, path: str | Path) -> str:
        """A log path as the session records it."""
        ...

    def reload(self) -> bool:
        """Followers: take in the writer's new changes; True when the state changed."""
        ...

    def snapshot(self) -> AbstractContextManager[Session]:
        """The state, held still (no change applied meanwhile) while the block runs."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> LiveSession: ...

    def __exit__(self, *exc: object) -> None: ...


class SessionRepository(Protocol):
    """Where sessions live."""

    @property
    def location(self) -> str:
        """Where this store is, for messages ("sessions dir /srv/deploy/sessions")."""
        ...

    def session_location(self, session_id: str) -> str:
        """Where one session is (the file store: its absolute directory; run logs are relative to it)."""
        ...

    def exists(self, session_id: str) -> bool: ...

    def create(
        self,
        checklist: Checklist,
        operator: str | None = None,
        *,
        host: str | None = None,
        redactor: Redactor | None = None,
        session_id: str | None = None,
    ) -> LiveSession: ...

    def open(
        self,
        session_id: str,
        read_only: bool = False,
        *,
        checklist: Checklist | None = None,
        redactor: Redactor | None = None,
        resume_as: str | None = None,
    ) -> LiveSession: ...

    def load(self, session_id: str) -> Session:
        """The state, read-only, without the lock."""
        ...

    def list(self) -> builtins.list[Any]:
        """Every session's summary (`SessionInfo`), newest first."""
        ...

    def latest_unfinished(self, checklist: Checklist) -> str | None: ...

    def recover(self, session_id: str) -> Any: ...

    def event_chain(self, session_id: str) -> EventChain:
        """The session's events and line hashes (a cut last line, never acknowledged, is left out)."""
        ...

    def log_names(self, session_id: str) -> builtins.list[str]:
        """Every run log of the session, as the session records their paths, sorted."""
        ...

    def open_log(self, session_id: str, name: str) -> AbstractContextManager[BinaryIO]:
        """A run log's bytes, from its start. DeployError naming it when it cannot be read."""
        ...


def iter_chunks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """`stream`'s bytes in chunks of at most `size`."""
    while chunk := stream.read(size):
        yield chunk
