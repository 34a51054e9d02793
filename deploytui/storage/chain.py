"""What every store does the same way with a session's events, whatever holds them: replaying them,
masking what an event carries, and comparing a session with a changed checklist.

Shared by the file store (`storage/fs`) and the PostgreSQL store (`storage/postgres`), so both record the
same bytes and reach the same state. The line format and its hash (`event_line`, `line_hash`,
`scan_events`) stay in `storage/fs/journal.py`, where the format is defined; the database store
imports them from `storage.fs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploytui.core.errors import DeployError
from deploytui.core.redact import Redactor
from deploytui.core.session import (
    ActionRan,
    ActionStarted,
    Change,
    Event,
    RunFinished,
    RunStarted,
    Session,
    decode,
    encode,
    item_specs,
)

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist


@dataclass
class DriftReport:
    """The checklist changed since the session started: items are mapped by id."""

    old_sha256: str
    new_sha256: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"the checklist changed since this session started (sha256 {self.old_sha256[:12]} → "
            f"{self.new_sha256[:12]}): items kept by id; {len(self.added)} added, {len(self.removed)} removed"
        )


def replay_all(
    events: list[Event],
    hashes: list[str],
    where: str | Path,
    *,
    checkpoint: int = 0,
    at_checkpoint: Callable[[Session], None] | None = None,
) -> Session:
    """The state every event rebuilds, as a load needs it: DeployError naming the first event that cannot
    be replayed. At the `checkpoint`-th event, `at_checkpoint` is handed the state then (its head set), so
    the store can hold it against its own checkpoint. The state's head is the last event's hash."""
    session = Session()
    for number, event in enumerate(events, start=1):
        try:
            session.apply_event(event)
        except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise DeployError(f"event cannot be replayed: {describe(exc)}", path=where, line=number) from None
        if at_checkpoint is not None and number == checkpoint:
            session.head = hashes[number - 1]
            at_checkpoint(session)
    session.head = hashes[-1] if hashes else session.head
    return session


def replay(events: list[Event], path: str | Path) -> tuple[Session, int, DeployError | None]:
    """The state after `events`, how many replayed, and the first that did not (None: all did)."""
    session = Session()
    for number, event in enumerate(events, start=1):
        try:
            session.apply_event(event)
        except (KeyError, ValueError, TypeError, AttributeError, IndexError, DeployError) as exc:
            # The failed event may have changed part of the state: the state is that of the ones before.
            problem = DeployError(f"event cannot be replayed: {describe(exc)}", path=path, line=number)
            return Session.from_events(events[: number - 1]), number - 1, problem
    return session, len(events), None


def describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}"
    return str(exc) or type(exc).__name__


def drift(session: Session, checklist: Checklist) -> DriftReport:
    old = {i for i, s in session.items.items() if not s.orphan}
    new_specs = item_specs(checklist)
    new = {s.id for s in new_specs}
    return DriftReport(
        old_sha256=session.checklist_sha256,
        new_sha256=checklist.sha256,
        added=[s.id for s in new_specs if s.id not in old],
        removed=sorted(old - new),
    )


FREE_TEXT_KEYS = frozenset(
    {"reason", "evidence", "note", "text", "label", "values", "fields", "result", "title", "checklist_title"}
)
"""Event keys holding free text (where a secret could appear), at any depth (an item's title inside
`items`); ids, types, hashes and times are left alone."""


def sanitize_event(event: Event, redactor: Redactor) -> Event:
    """Secrets masked in free text (each text whole: a multi-line value across its lines); every string
    made encodable (lone surrogates replaced)."""
    record = encode(event)
    return decode({k: _sanitize(v, redactor, k in FREE_TEXT_KEYS) for k, v in record.items()})


def _sanitize(value: Any, redactor: Redactor, free_text: bool) -> Any:
    if isinstance(value, str):
        text = value.encode("utf-8", "replace").decode("utf-8")
        return redactor.redact(text) if free_text else text
    if isinstance(value, list):
        return [_sanitize(v, redactor, free_text) for v in value]
    if isinstance(value, dict):
        return {k: _sanitize(v, redactor, free_text or k in FREE_TEXT_KEYS) for k, v in value.items()}
    return value


def prepare(change: Change, relative: Callable[[str], str], redactor: Redactor) -> Change:
    """A change as every store records it: run log paths relative to the session, and a world-changing
    step's command masked before its sha256 is taken (the hash never depends on a secret's value)."""
    if isinstance(change, RunFinished | ActionRan | RunStarted | ActionStarted) and change.log:
        change = replace(change, log=relative(change.log))
    if isinstance(change, ActionStarted):
        change = replace(change, command=redactor.redact(change.command))
    return change


def relative_log_path(path: str | Path, session_dir: Path) -> str:
    """A run's log path as a session records it: relative to the session's directory when inside it,
    else as given. A path named under that directory (the logs `new_log` hands out) is cut as written,
    without touching the disk; any other is compared resolved (symlinks, `..`). Resolving both for every
    event cost ~65 us here, ~18 ms of a 56-check `deploytui check`."""
    p = Path(path)
    try:
        rel = p.relative_to(session_dir)
    except ValueError:
        rel = None
    if rel is not None and ".." not in rel.parts and rel.parts:
        return rel.as_posix()
    try:
        return p.resolve().relative_to(session_dir.resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)
