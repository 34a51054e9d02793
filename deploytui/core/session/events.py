"""Session events: what the append-only log records, one frozen dataclass per kind of event.

A change (changes.py) is a request; its event is the fact that it happened: who, when, in what order
(`seq`), and what exactly changed. `Session.apply_event` moves the state from events alone, so a session
is rebuilt by replaying its log. The fields mirror the JSON keys of an `events.jsonl` line one for one
(codec.py turns an event into that object and back; the store adds the `prev` hash of the chain).

Adding a kind of event: a dataclass here with its `type`, added to `Event` (the registry the codec reads),
and its case in `Session.apply_event` (mypy reports the missing case). A field takes a type the codec
knows (codec.py says which); a field with a default may be absent from a line, for logs written before it.
A field added later carries `metadata={"omit_default": True}`: its line leaves it out while it has its
default, so a session that does not use it writes the bytes it always wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, get_args

from deploytui.core.session.changes import SYSTEM, ItemSpec
from deploytui.core.status import Attempt, Scalar, Status

NEW = {"omit_default": True}
"""Metadata of a field added after lines were written: left out of a line while it holds its default."""

SCHEMA_VERSION = 1
"""Version of the session TOML and event formats; bumped on an incompatible change."""


@dataclass(frozen=True, kw_only=True)
class SessionEvent:
    """What every event has: its place in the log, its time and its author."""

    type: ClassVar[str]
    """The `type` key of the event's line."""
    seq: int
    """1 for the creation, then one more per event: the event's line number in the log."""
    at: str
    """ISO-8601 UTC time with milliseconds."""
    by: str = SYSTEM
    """Who made the change (the operator, or `deploytui` for the program itself)."""


@dataclass(frozen=True, kw_only=True)
class CreatedEvent(SessionEvent):
    """The first event of every session: everything needed to rebuild it from the log alone."""

    type: ClassVar[str] = "created"
    schema: int
    id: str
    checklist_path: str
    checklist_sha256: str
    checklist_title: str
    operator: str
    host: str
    items: tuple[ItemSpec, ...]


@dataclass(frozen=True, kw_only=True)
class TickEvent(SessionEvent):
    """An item marked done by hand."""

    type: ClassVar[str] = "tick"
    item: str


@dataclass(frozen=True, kw_only=True)
class UntickEvent(SessionEvent):
    """A tick, skip or override undone: the item falls back to what its checks say."""

    type: ClassVar[str] = "untick"
    item: str


@dataclass(frozen=True, kw_only=True)
class SkipEvent(SessionEvent):
    type: ClassVar[str] = "skip"
    item: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class OverrideEvent(SessionEvent):
    """A failed, errored or interrupted item accepted, with a note saying why."""

    type: ClassVar[str] = "override"
    item: str
    note: str


@dataclass(frozen=True, kw_only=True)
class NoteEvent(SessionEvent):
    type: ClassVar[str] = "note"
    item: str
    text: str


@dataclass(frozen=True, kw_only=True)
class RunStartedEvent(SessionEvent):
    type: ClassVar[str] = "run_started"
    item: str
    check: str
    """The check's key (CheckSpec.key)."""
    run_id: str
    kind: str = ""
    label: str = ""
    log: str = field(default="", metadata=NEW)
    """The run's log as it is being written (so an interrupted run keeps its partial log)."""


@dataclass(frozen=True, kw_only=True)
class RunFinishedEvent(SessionEvent):
    type: ClassVar[str] = "run_finished"
    item: str
    check: str
    run_id: str
    kind: str = ""
    status: Status
    reason: str = ""
    values: Mapping[str, Scalar] = field(default_factory=dict)
    evidence: str = ""
    duration_ms: int = 0
    log: str = ""
    """The run's log, relative to the session dir."""
    attempts: tuple[Attempt, ...] = field(default=(), metadata=NEW)
    """Every attempt when the run tried more than once (retry, within); written only when there are."""


@dataclass(frozen=True, kw_only=True)
class RunCancelledEvent(SessionEvent):
    type: ClassVar[str] = "run_cancelled"
    item: str
    check: str
    run_id: str
    started: bool = True
    """False: the run was cancelled while still queued (the event records the cancellation only)."""


@dataclass(frozen=True, kw_only=True)
class InterruptedEvent(SessionEvent):
    """The checks and actions that were running when the process died (found when the session is
    reopened)."""

    type: ClassVar[str] = "interrupted"
    checks: tuple[tuple[str, str], ...]
    """(item, check key) of each."""
    actions: tuple[str, ...] = field(default=(), metadata=NEW)
    """Run ids of the world-changing steps that had started (ActionStarted) and never ended."""
    last_seen: str = field(default="", metadata=NEW)
    """The last moment the session knew they were running (its last event before this one, a heartbeat
    at most HEARTBEAT_SECONDS old while anything ran); empty in logs written before it."""


@dataclass(frozen=True, kw_only=True)
class ActionStartedEvent(SessionEvent):
    """A world-changing step is about to start: logged and fsynced before its process is spawned (or its
    request sent), so a crash in the middle of it still leaves a trace. Its end is the ActionRan (a fenced
    block) or the RunFinished / RunCancelled (a bound action) with the same run id."""

    type: ClassVar[str] = "action_started"
    item: str
    check: str
    """`<item>!action<index>` for a fenced block, the binding's key for a bound action."""
    run_id: str
    label: str = ""
    command: str
    """Exactly what runs (the command after substitution, or the HTTP method, URL and body), secrets
    masked."""
    command_sha256: str
    """sha256 of `command` as recorded (masked: the hash never depends on a secret's value)."""
    cwd: str
    """Absolute working directory."""
    host: str
    pid: int
    """deploytui's own process id (the child's is not known before it is spawned)."""
    log: str = ""


@dataclass(frozen=True, kw_only=True)
class ActionRanEvent(SessionEvent):
    """A fenced action of an item ran, after the operator confirmed it."""

    type: ClassVar[str] = "action_ran"
    item: str
    index: int
    run_id: str
    exit_code: int
    log: str
    cancelled: bool = field(default=False, metadata=NEW)
    """Cancelled by the operator (`by`) while it ran: `exit_code` is meaningless then."""


@dataclass(frozen=True, kw_only=True)
class HeartbeatEvent(SessionEvent):
    """The session is alive and something runs: at most one every HEARTBEAT_SECONDS, so that a crash's
    "interrupted at" is at most that far from the moment the process died."""

    type: ClassVar[str] = "heartbeat"


@dataclass(frozen=True, kw_only=True)
class ResumedEvent(SessionEvent):
    """The session was opened for write again: by whom (`operator`, also `by`), from which host."""

    type: ClassVar[str] = "resumed"
    operator: str
    host: str
    pid: int = 0


@dataclass(frozen=True, kw_only=True)
class SignOffEvent(SessionEvent):
    type: ClassVar[str] = "signoff"
    fields: Mapping[str, str]
    """Sign-off field -> value, merged into what earlier sign-off events set."""
    acknowledged_open: int = field(default=0, metadata={"omit_default": True})
    """Open items the operator acknowledged when signing off (0: none were open, or only saved)."""
    reviewers: int = field(default=1, metadata={"omit_default": True})
    """Reviewer signatures the record needs: 1, or 0 when `[signoff] reviewers = 0` declares none."""


@dataclass(frozen=True, kw_only=True)
class FinishEvent(SessionEvent):
    type: ClassVar[str] = "finish"
    result: str


@dataclass(frozen=True, kw_only=True)
class RebaseEvent(SessionEvent):
    """The checklist changed since the session started: its new sha256 and items, mapped by id."""

    type: ClassVar[str] = "rebase"
    checklist_path: str
    checklist_sha256: str
    checklist_title: str
    previous_sha256: str = ""
    items: tuple[ItemSpec, ...]
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ExportedEvent(SessionEvent):
    """The record was written to `path` (absolute); `body_sha256` is the sha256 of its signed body."""

    type: ClassVar[str] = "exported"
    path: str
    body_sha256: str
    signed: bool = False


Event = (
    CreatedEvent
    | TickEvent
    | UntickEvent
    | SkipEvent
    | OverrideEvent
    | NoteEvent
    | RunStartedEvent
    | RunFinishedEvent
    | RunCancelledEvent
    | InterruptedEvent
    | ActionStartedEvent
    | ActionRanEvent
    | HeartbeatEvent
    | ResumedEvent
    | SignOffEvent
    | FinishEvent
    | RebaseEvent
    | ExportedEvent
)
"""Every kind of session event: the registry of event types."""

EVENT_TYPES: Mapping[str, type[Event]] = {cls.type: cls for cls in get_args(Event)}
"""The `type` key of a line -> its event class."""
