"""What every store does the same way with a session's events, whatever holds them: replaying them,
masking what an event carries, and comparing a session with a changed checklist.

Shared by the file store (`storage/fs`) and the PostgreSQL store (`storage/postgres`), so both record the
same bytes and reach the same state. The line format and its hash (`event_line`, `line_hash`,
`scan_events`) stay in `storage/fs/repository.py`, where the format is defined; the database store
imports them from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploytui.core.errors import DeployError
from deploytui.core.redact import Redactor
from deploytui.core.session import Event, Session, decode, encode, item_specs

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


FREE_TEXT_KEYS = frozenset({"reason", "evidence", "note", "text", "label", "values", "fields", "result"})
"""Event keys holding free text (where a secret could appear); ids, types and times are left alone."""


def sanitize_event(event: Event, redactor: Redactor) -> Event:
    """Secrets masked in free text; every string made encodable (lone surrogates replaced)."""
    record = encode(event)
    return decode({k: _sanitize(v, redactor if k in FREE_TEXT_KEYS else None) for k, v in record.items()})


def _sanitize(value: Any, redactor: Redactor | None) -> Any:
    if isinstance(value, str):
        text = value.encode("utf-8", "replace").decode("utf-8")
        return redactor.redact(text) if redactor else text
    if isinstance(value, list):
        return [_sanitize(v, redactor) for v in value]
    if isinstance(value, dict):
        return {k: _sanitize(v, redactor) for k, v in value.items()}
    return value
