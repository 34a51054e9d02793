"""Session state: pure data and the rules of every change. No I/O here (the store persists it).

Every change is an *action* (an operator's tick, an engine's run result...). `Session.event_for(action)`
checks the action against the rules and returns the event that records it (who, when, why) without
touching the state; `Session.apply_event(event)` changes the state from that event. The store writes the
event to the append-only log between the two, and replaying the log through `apply_event` rebuilds the
same state: a session is reconstructable from its events alone.

Rules for items (who may change what):
- `Tick` marks an item done by hand. Refused while a check of it runs, and when its checks failed, errored
  or were interrupted: a machine said no, so accepting it takes an `Override` with a note (or a re-run).
  An item whose checks passed is already complete; ticking it again is refused as a no-op.
- `Untick` undoes a tick, a skip or an override: the status falls back to what the checks say.
- `Skip` needs a non-empty reason; `Override` applies only to failed/error/interrupted items and needs a note.
- A finished check run replaces any manual status: the newest evidence wins, and the history keeps the rest.
- Notes append; they never change a status.
- A finished session (`Finish`) refuses every further change; `Finish` waits until no check runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from deploytui.core.errors import DeployError
from deploytui.core.status import Attempt, Outcome, Scalar, Status

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist

SCHEMA_VERSION = 1
"""Version of the session TOML and event formats; bumped on an incompatible change."""

SYSTEM = "deploytui"
"""The `by` of changes made by the program itself (check results, interruption, checklist drift)."""

EVIDENCE_MAX_CHARS = 4000
"""Evidence kept in the session and its events per check result; the full output stays in the run's log."""

TEXT_MAX_CHARS = 10_000
"""Longest note, reason or sign-off value accepted: a pasted screenful is fine, a pasted log is not."""

ATTEMPTS_MAX = 100
"""Attempts of one run kept in the session (a `within = "1h"` poll every 2 s tries 1,800 times: the
first and the last ones tell the story; the engine keeps the count in the run's values)."""

ATTEMPT_REASON_MAX_CHARS = 500
"""Longest reason kept per attempt."""

RUN_ENDINGS = frozenset(
    {Status.PASSED, Status.FLAKY, Status.FAILED, Status.ERROR, Status.BLOCKED, Status.INTERRUPTED}
)
"""The statuses a check run can end with."""


class TransitionError(DeployError):
    """An action refused by the rules (the message says why and what to do instead)."""


def now_iso() -> str:
    """The current time as an ISO-8601 UTC string with milliseconds, e.g. 2026-11-25T09:15:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Tick:
    item: str
    by: str


@dataclass(frozen=True)
class Untick:
    item: str
    by: str


@dataclass(frozen=True)
class Skip:
    item: str
    by: str
    reason: str


@dataclass(frozen=True)
class Override:
    item: str
    by: str
    note: str


@dataclass(frozen=True)
class AddNote:
    item: str
    by: str
    text: str


@dataclass(frozen=True)
class RunStarted:
    item: str
    check_key: str
    run_id: str
    by: str = SYSTEM
    kind: str = ""
    label: str = ""


@dataclass(frozen=True)
class RunFinished:
    item: str
    check_key: str
    run_id: str
    outcome: Outcome
    log: str = ""
    """Path of the run's log, relative to the session dir (LiveSession.new_log gives one)."""
    by: str = SYSTEM
    kind: str = ""


@dataclass(frozen=True)
class RunCancelled:
    item: str
    check_key: str
    run_id: str
    by: str


@dataclass(frozen=True)
class ActionRan:
    item: str
    action_index: int
    run_id: str
    exit_code: int
    log: str
    by: str


@dataclass(frozen=True)
class SignOff:
    fields: Mapping[str, str]
    by: str


@dataclass(frozen=True)
class Finish:
    result: str
    by: str


@dataclass(frozen=True)
class MarkInterrupted:
    """Every check still `running` in a reopened session died with its process."""

    by: str = SYSTEM


@dataclass(frozen=True)
class ItemSpec:
    """What the session keeps about a checklist item: enough to derive statuses without the checklist."""

    id: str
    title: str = ""
    parent: str | None = None
    """The parent *item* (a nested task item's owner), None under a section."""
    rollback: bool = False


@dataclass(frozen=True)
class Rebase:
    """The checklist changed since the session started: adopt its new sha256 and items (mapped by id)."""

    checklist_path: str
    checklist_sha256: str
    checklist_title: str
    items: tuple[ItemSpec, ...]
    by: str = SYSTEM


Change = (
    Tick
    | Untick
    | Skip
    | Override
    | AddNote
    | RunStarted
    | RunFinished
    | RunCancelled
    | ActionRan
    | SignOff
    | Finish
    | MarkInterrupted
    | Rebase
)


def item_specs(checklist: Checklist) -> tuple[ItemSpec, ...]:
    """The tickable nodes of a checklist (rollback steps included), in document order."""
    specs: list[ItemSpec] = []
    for node in checklist.nodes.values():
        if node.kind != "item":
            continue
        parent = node.parent
        parent_item = parent if parent is not None and checklist.nodes[parent].kind == "item" else None
        specs.append(ItemSpec(node.id, node.title, parent_item, bool(node.rollback)))
    return tuple(specs)


# ------------------------------------------------------------------------------------------------ state


@dataclass
class Note:
    at: str
    by: str
    text: str


@dataclass
class StatusChange:
    """One status change of an item: who, when, from what to what, and why."""

    at: str
    by: str
    status: Status
    previous: Status
    why: str


@dataclass
class CheckResult:
    """The latest run of one bound check (`key` is CheckSpec.key)."""

    key: str
    kind: str = ""
    label: str = ""
    status: Status = Status.PENDING
    reason: str = ""
    values: dict[str, Scalar] = field(default_factory=dict)
    duration_ms: int = 0
    at: str = ""
    log: str = ""
    evidence: str = ""
    run_id: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    """Every attempt of the run when it tried more than once (retry, within, a wait after a 429)."""


@dataclass
class ActionRun:
    """One run of a fenced action (a shell block) of an item, after the operator confirmed it."""

    index: int
    run_id: str
    exit_code: int
    log: str
    at: str
    by: str


@dataclass
class ItemState:
    id: str
    title: str = ""
    parent: str | None = None
    rollback: bool = False
    orphan: bool = False
    """No longer in the checklist (it changed after the session started): kept as history, not counted."""
    status: Status = Status.PENDING
    by: str = ""
    at: str = ""
    duration_ms: int = 0
    reason: str = ""
    """Why it was skipped (or the failing check's reason)."""
    notes: list[Note] = field(default_factory=list)
    checks: dict[str, CheckResult] = field(default_factory=dict)
    actions: list[ActionRun] = field(default_factory=list)
    history: list[StatusChange] = field(default_factory=list)

    @property
    def note(self) -> str:
        """Every note, oldest first, one per line."""
        return "\n".join(n.text for n in self.notes)

    def status_from_checks(self) -> Status:
        """What the item's check results say (pending when it has none)."""
        return aggregate_checks(c.status for c in self.checks.values())


ATTENTION_ORDER = (
    Status.RUNNING,
    Status.FAILED,
    Status.ERROR,
    Status.BLOCKED,
    Status.INTERRUPTED,
    Status.PENDING,
)
"""Statuses that win an aggregate, first wins: work in progress, then what needs attention (a failure
before the checks it blocked), then what is left to do."""


def aggregate_checks(statuses: Iterable[Status]) -> Status:
    """All checks must pass; any running → running; the worst failure wins; passed with any flaky is
    flaky (it counts as passing, shown apart)."""
    found = set(statuses)
    if not found:
        return Status.PENDING
    for status in ATTENTION_ORDER:
        if status in found:
            return status
    return Status.FLAKY if Status.FLAKY in found else Status.PASSED


def aggregate(statuses: Iterable[Status]) -> Status:
    """A parent's status from its children's.

    Running beats everything (work in progress); then failed, error, blocked, interrupted (attention
    needed); then pending while anything is left; when all are complete: the common status if they
    agree, `overridden` if any was accepted despite a failure, `flaky` if any passed only on a retry,
    else `done`.
    """
    found = list(statuses)
    if not found:
        return Status.PENDING
    kinds = set(found)
    for status in ATTENTION_ORDER:
        if status in kinds:
            return status
    if len(kinds) == 1:
        return found[0]
    if Status.OVERRIDDEN in kinds:
        return Status.OVERRIDDEN
    if Status.FLAKY in kinds:
        return Status.FLAKY
    return Status.DONE


@dataclass
class Session:
    id: str = ""
    schema: int = SCHEMA_VERSION
    checklist_path: str = ""
    checklist_sha256: str = ""
    checklist_title: str = ""
    operator: str = ""
    host: str = ""
    started: str = ""
    updated: str = ""
    finished: str | None = None
    result: str | None = None
    items: dict[str, ItemState] = field(default_factory=dict)
    signoff: dict[str, str] = field(default_factory=dict)
    signoff_by: str = ""
    seq: int = 0
    """Number of events applied (the last event's `seq`)."""
    head: str = ""
    """sha256 of the last event line applied (set by the store; empty for a purely in-memory session)."""
    _children: dict[str | None, list[str]] | None = field(default=None, init=False, repr=False, compare=False)
    """parent item id -> ids of the items directly under it (orphans excluded), in item order; rebuilt
    when the items change shape (created and rebase events, or the items dict replaced or resized).
    status_of used to scan every item for the children of each node it visits: opening a 5,000-item
    checklist took 9 s (benchmarks/bench_scale.py)."""
    _children_key: tuple[int, int] = field(default=(0, -1), init=False, repr=False, compare=False)
    _statuses: dict[tuple[str, int], Status] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """(node id, id of the checklist) -> status_of's answer, valid while `_statuses_key` holds: a redraw
    asks for every node and every leaf under it, which recomputed each subtree again and again."""
    _statuses_key: tuple[int, int, int] = field(default=(-1, 0, -1), init=False, repr=False, compare=False)
    _statuses_refs: dict[int, object] = field(default_factory=dict, init=False, repr=False, compare=False)
    """The checklists named in `_statuses` by id, held so that no other object can take their id."""

    # ---------------------------------------------------------------- creation

    @staticmethod
    def created_event(
        session_id: str,
        checklist: Checklist,
        operator: str,
        host: str,
        at: str | None = None,
        checklist_path: str | None = None,
    ) -> dict[str, Any]:
        """The first event of every session: everything needed to rebuild it from the log alone."""
        return {
            "seq": 1,
            "type": "created",
            "at": at or now_iso(),
            "by": operator,
            "schema": SCHEMA_VERSION,
            "id": session_id,
            "checklist_path": checklist_path if checklist_path is not None else str(checklist.path or ""),
            "checklist_sha256": checklist.sha256,
            "checklist_title": checklist.title,
            "operator": operator,
            "host": host,
            "items": [_spec_dict(s) for s in item_specs(checklist)],
        }

    @classmethod
    def new(
        cls, session_id: str, checklist: Checklist, operator: str, host: str, at: str | None = None
    ) -> Session:
        """A fresh in-memory session (the store uses created_event + apply_event to also log it)."""
        session = cls()
        session.apply_event(cls.created_event(session_id, checklist, operator, host, at))
        return session

    @classmethod
    def from_events(cls, events: Iterable[Mapping[str, Any]]) -> Session:
        session = cls()
        for event in events:
            session.apply_event(event)
        return session

    # ---------------------------------------------------------------- queries

    def item(self, item_id: str) -> ItemState:
        state = self.items.get(item_id)
        if state is None:
            raise TransitionError(f"no item {item_id!r} in session {self.id}")
        return state

    def children_of(self, item_id: str) -> list[str]:
        """Item ids nested directly under an item (orphans excluded)."""
        key = (id(self.items), len(self.items))
        if self._children is None or self._children_key != key:
            index: dict[str | None, list[str]] = {}
            for i, s in self.items.items():
                if not s.orphan:
                    index.setdefault(s.parent, []).append(i)
            self._children = index
            self._children_key = key
        return list(self._children.get(item_id, ()))

    def status_of(self, node_id: str, checklist: Checklist | None = None) -> Status:
        """An item's status, or a parent's derived from its children (sections need the checklist).

        Answers are remembered until the next event (every change of state is an event: `seq` moves)."""
        key = (self.seq, id(self.items), len(self.items))
        if self._statuses_key != key:
            self._statuses = {}
            self._statuses_refs = {}
            self._statuses_key = key
        memo = (node_id, id(checklist))
        self._statuses_refs[id(checklist)] = checklist
        found = self._statuses.get(memo)
        if found is None:
            found = self._status_of(node_id, checklist)
            self._statuses[memo] = found
        return found

    def _status_of(self, node_id: str, checklist: Checklist | None) -> Status:
        state = self.items.get(node_id)
        if state is not None:
            children = self.children_of(node_id)
            if not children:
                return state.status
            statuses = [
                self.status_of(c, checklist) for c in children if state.rollback or not self.items[c].rollback
            ]
            # The parent item's own state counts when something happened to it (a check, a tick).
            if state.status is not Status.PENDING or state.checks:
                statuses.append(state.status)
            return aggregate(statuses)
        if checklist is None or node_id not in checklist.nodes:
            raise TransitionError(f"no node {node_id!r} in the checklist of session {self.id}")
        node = checklist.nodes[node_id]
        statuses = []
        for child_id in node.children:
            child = checklist.nodes.get(child_id)
            if child is None or (child.rollback and not node.rollback):
                continue
            if child.kind == "item" and child_id not in self.items:
                continue
            statuses.append(self.status_of(child_id, checklist))
        return aggregate(statuses)

    def counted_ids(self, checklist: Checklist | None = None) -> list[str]:
        """Items that count for progress: the checklist's items(), or (without it) the non-rollback ones."""
        if checklist is not None:
            return [n.id for n in checklist.items() if n.id in self.items]
        return [i for i, s in self.items.items() if not s.rollback and not s.orphan]

    def counts(self, checklist: Checklist | None = None) -> dict[Status, int]:
        """How many counted items are in each status (every status present, zeros included)."""
        result = {status: 0 for status in Status}
        for item_id in self.counted_ids(checklist):
            result[self.status_of(item_id, checklist)] += 1
        return result

    def running(self) -> list[tuple[str, str]]:
        """(item, check_key) of every check currently running."""
        return [
            (item_id, key)
            for item_id, state in self.items.items()
            for key, check in state.checks.items()
            if check.status is Status.RUNNING
        ]

    # ---------------------------------------------------------------- actions → events

    def apply(self, change: Change, at: str | None = None) -> dict[str, Any]:
        """Validate and apply a change in memory; returns its event. (The store uses the two halves.)"""
        event = self.event_for(change, at)
        self.apply_event(event)
        return event

    def event_for(self, change: Change, at: str | None = None) -> dict[str, Any]:
        """The event recording `change`, or TransitionError saying why it is refused. Changes nothing."""
        if not self.id:
            raise TransitionError("the session has not been created")
        if self.finished is not None:
            raise TransitionError(f"session {self.id} is finished ({self.result}): it takes no more changes")
        base: dict[str, Any] = {"seq": self.seq + 1, "at": at or now_iso(), "by": _who(change.by)}

        if isinstance(change, Tick):
            state = self.item(change.item)
            refusal = {
                Status.RUNNING: "a check of it is running: wait for it or cancel it",
                Status.FAILED: "its check failed: run it again, or override with a note",
                Status.ERROR: "its check could not run: fix and run it again, or override with a note",
                Status.INTERRUPTED: "its check was interrupted: run it again, or override with a note",
                Status.BLOCKED: "a check it waits for did not pass: fix that and run again,"
                " or override with a note",
                Status.PASSED: "its checks already passed",
                Status.FLAKY: "its checks already passed (flaky: after a retry)",
                Status.DONE: "it is already done",
                Status.OVERRIDDEN: "it is already accepted (overridden)",
            }.get(state.status)
            if refusal:
                raise TransitionError(f"cannot tick {change.item}: {refusal}")
            return base | {"type": "tick", "item": change.item}

        if isinstance(change, Untick):
            state = self.item(change.item)
            if state.status not in (Status.DONE, Status.SKIPPED, Status.OVERRIDDEN):
                raise TransitionError(
                    f"cannot untick {change.item}: it is {state.status}"
                    " (only a tick, skip or override can be undone)"
                )
            return base | {"type": "untick", "item": change.item}

        if isinstance(change, Skip):
            state = self.item(change.item)
            reason = _text(change.reason, "a skip needs a reason")
            if state.status is Status.RUNNING:
                raise TransitionError(
                    f"cannot skip {change.item}: a check of it is running: wait for it or cancel it"
                )
            if state.status in (Status.SKIPPED, Status.PASSED, Status.FLAKY, Status.OVERRIDDEN):
                raise TransitionError(f"cannot skip {change.item}: it is already {state.status}")
            return base | {"type": "skip", "item": change.item, "reason": reason}

        if isinstance(change, Override):
            state = self.item(change.item)
            note = _text(change.note, "an override needs a note saying why the failure is acceptable")
            if state.status not in (Status.FAILED, Status.ERROR, Status.INTERRUPTED, Status.BLOCKED):
                raise TransitionError(
                    f"cannot override {change.item}: it is {state.status}"
                    " (only failed, error, blocked or interrupted items)"
                )
            return base | {"type": "override", "item": change.item, "note": note}

        if isinstance(change, AddNote):
            self.item(change.item)
            return base | {
                "type": "note",
                "item": change.item,
                "text": _text(change.text, "a note cannot be empty"),
            }

        if isinstance(change, RunStarted):
            state = self.item(change.item)
            _need(change.check_key, "a run needs a check key")
            _need(change.run_id, "a run needs a run id")
            current = state.checks.get(change.check_key)
            if current is not None and current.status is Status.RUNNING:
                raise TransitionError(f"check {change.check_key} is already running (run {current.run_id})")
            return base | {
                "type": "run_started",
                "item": change.item,
                "check": change.check_key,
                "run_id": change.run_id,
                "kind": change.kind,
                "label": change.label,
            }

        if isinstance(change, RunFinished):
            state = self.item(change.item)
            _need(change.run_id, "a run needs a run id")
            current = state.checks.get(change.check_key)
            if (
                current is not None
                and current.run_id == change.run_id
                and current.status is not Status.RUNNING
            ):
                raise TransitionError(
                    f"run {change.run_id} of {change.check_key} already ended ({current.status})"
                )
            if current is not None and current.status is Status.RUNNING and current.run_id != change.run_id:
                raise TransitionError(
                    f"run {change.run_id} of {change.check_key} is stale:"
                    f" run {current.run_id} is the current one"
                )
            outcome = change.outcome
            if outcome.status not in RUN_ENDINGS:
                raise TransitionError(
                    "a check run ends passed, flaky, failed, error, blocked or interrupted,"
                    f" not {outcome.status}"
                )
            attempts = (
                {"attempts": [_attempt_dict(a) for a in outcome.attempts[:ATTEMPTS_MAX]]}
                if outcome.attempts
                else {}
            )
            return base | {
                "type": "run_finished",
                "item": change.item,
                "check": change.check_key,
                "run_id": change.run_id,
                "kind": change.kind or (current.kind if current else ""),
                "status": str(outcome.status),
                "reason": _clip(outcome.reason, TEXT_MAX_CHARS),
                "values": _scalars(outcome.values),
                "evidence": _clip(outcome.evidence, EVIDENCE_MAX_CHARS),
                "duration_ms": int(outcome.duration_ms),
                "log": _refuse_bad_log(change.log),
            } | attempts

        if isinstance(change, RunCancelled):
            state = self.item(change.item)
            current = state.checks.get(change.check_key)
            # A run cancelled while still queued never started: the event records the cancellation only.
            started = (
                current is not None and current.status is Status.RUNNING and current.run_id == change.run_id
            )
            return base | {
                "type": "run_cancelled",
                "item": change.item,
                "check": change.check_key,
                "run_id": change.run_id,
                "started": started,
            }

        if isinstance(change, ActionRan):
            state = self.item(change.item)
            return base | {
                "type": "action_ran",
                "item": change.item,
                "index": int(change.action_index),
                "run_id": change.run_id,
                "exit_code": int(change.exit_code),
                "log": _refuse_bad_log(change.log),
            }

        if isinstance(change, SignOff):
            fields: dict[str, str] = {}
            for key, value in change.fields.items():
                if not isinstance(key, str) or not key or not isinstance(value, str):
                    raise TransitionError(f"sign-off field {key!r} must be text")
                if len(value) > TEXT_MAX_CHARS:
                    raise TransitionError(
                        f"sign-off field {key!r} is longer than {TEXT_MAX_CHARS} characters"
                    )
                fields[key] = value
            return base | {"type": "signoff", "fields": fields}

        if isinstance(change, Finish):
            result = _text(change.result, "finishing needs a result (e.g. success or rollback)")
            running = self.running()
            if running:
                raise TransitionError(
                    f"cannot finish: {len(running)} check(s) still running"
                    f" ({running[0][1]}): wait or cancel them"
                )
            return base | {"type": "finish", "result": result}

        if isinstance(change, MarkInterrupted):
            running = self.running()
            if not running:
                raise TransitionError("no check is running")
            return base | {"type": "interrupted", "checks": [[i, k] for i, k in running]}

        if isinstance(change, Rebase):
            old = {i for i, s in self.items.items() if not s.orphan}
            new = {s.id for s in change.items}
            return base | {
                "type": "rebase",
                "checklist_path": change.checklist_path,
                "checklist_sha256": change.checklist_sha256,
                "checklist_title": change.checklist_title,
                "previous_sha256": self.checklist_sha256,
                "items": [_spec_dict(s) for s in change.items],
                "added": [s.id for s in change.items if s.id not in old],
                "removed": sorted(old - new),
            }

        raise TransitionError(f"unknown change {type(change).__name__}")

    # ---------------------------------------------------------------- events → state

    def apply_event(self, event: Mapping[str, Any]) -> None:
        """Change the state as `event` says (live, or replaying the log). KeyError/ValueError if malformed."""
        kind = event["type"]
        at = str(event["at"])
        by = str(event.get("by", SYSTEM))
        seq = int(event["seq"])
        if seq != self.seq + 1:
            raise ValueError(f"event {seq} out of order (expected {self.seq + 1})")
        if kind == "created":
            self.id = str(event["id"])
            self.schema = int(event["schema"])
            self.checklist_path = str(event["checklist_path"])
            self.checklist_sha256 = str(event["checklist_sha256"])
            self.checklist_title = str(event["checklist_title"])
            self.operator = str(event["operator"])
            self.host = str(event["host"])
            self.started = at
            self.items = {}
            for spec in event["items"]:
                self.items[spec["id"]] = ItemState(
                    id=spec["id"],
                    title=spec.get("title", ""),
                    parent=spec.get("parent"),
                    rollback=bool(spec.get("rollback", False)),
                )
        elif kind == "tick":
            self.items[event["item"]].reason = ""
            self._set(event["item"], Status.DONE, at, by, "ticked")
        elif kind == "untick":
            state = self.items[event["item"]]
            state.reason = ""
            self._set(state.id, state.status_from_checks(), at, by, f"{state.status} undone")
        elif kind == "skip":
            self.items[event["item"]].reason = str(event["reason"])
            self._set(event["item"], Status.SKIPPED, at, by, str(event["reason"]))
        elif kind == "override":
            state = self.items[event["item"]]
            state.notes.append(Note(at, by, str(event["note"])))
            self._set(state.id, Status.OVERRIDDEN, at, by, str(event["note"]))
        elif kind == "note":
            self.items[event["item"]].notes.append(Note(at, by, str(event["text"])))
        elif kind == "run_started":
            state = self.items[event["item"]]
            previous = state.checks.get(event["check"])
            state.checks[event["check"]] = CheckResult(
                key=event["check"],
                kind=str(event.get("kind") or (previous.kind if previous else "")),
                label=str(event.get("label") or (previous.label if previous else "")),
                status=Status.RUNNING,
                at=at,
                run_id=str(event["run_id"]),
            )
            self._set(state.id, Status.RUNNING, at, by, f"check {event['check']} started")
        elif kind == "run_finished":
            state = self.items[event["item"]]
            previous = state.checks.get(event["check"])
            result = CheckResult(
                key=event["check"],
                kind=str(event.get("kind", "")),
                label=previous.label if previous else "",
                status=Status(event["status"]),
                reason=str(event.get("reason", "")),
                values=dict(event.get("values", {})),
                duration_ms=int(event.get("duration_ms", 0)),
                at=at,
                log=log_path(str(event.get("log", ""))),
                evidence=str(event.get("evidence", "")),
                run_id=str(event["run_id"]),
                attempts=[Attempt.from_dict(a) for a in event.get("attempts", ())],
            )
            state.checks[result.key] = result
            state.duration_ms = sum(c.duration_ms for c in state.checks.values())
            status = state.status_from_checks()
            why = f"check {result.key} {result.status}" + (f": {result.reason}" if result.reason else "")
            state.reason = result.reason if result.status is not Status.PASSED else ""
            self._set(state.id, status, at, by, why)
        elif kind == "run_cancelled":
            state = self.items[event["item"]]
            if not event.get("started", True):
                self.seq = seq
                self.updated = at
                return
            check = state.checks[event["check"]]
            check.status = Status.PENDING
            check.reason = f"cancelled by {by}"
            check.at = at
            self._set(state.id, state.status_from_checks(), at, by, f"check {check.key} cancelled")
        elif kind == "interrupted":
            touched: list[str] = []
            for item_id, key in event["checks"]:
                check = self.items[item_id].checks[key]
                check.status = Status.INTERRUPTED
                check.reason = "the process died while it ran"
                check.at = at
                if item_id not in touched:
                    touched.append(item_id)
            for item_id in touched:
                state = self.items[item_id]
                self._set(
                    item_id,
                    state.status_from_checks(),
                    at,
                    by,
                    "interrupted: the process died while a check ran",
                )
        elif kind == "action_ran":
            state = self.items[event["item"]]
            state.actions.append(
                ActionRun(
                    int(event["index"]),
                    str(event["run_id"]),
                    int(event["exit_code"]),
                    log_path(str(event["log"])),
                    at,
                    by,
                )
            )
        elif kind == "signoff":
            self.signoff.update({str(k): str(v) for k, v in event["fields"].items()})
            self.signoff_by = by
        elif kind == "finish":
            self.finished = at
            self.result = str(event["result"])
        elif kind == "rebase":
            self.checklist_path = str(event["checklist_path"])
            self.checklist_sha256 = str(event["checklist_sha256"])
            self.checklist_title = str(event["checklist_title"])
            specs = {s["id"]: s for s in event["items"]}
            merged: dict[str, ItemState] = {}
            for spec in event["items"]:  # new document order first
                state = self.items.get(spec["id"]) or ItemState(id=spec["id"])
                state.title = spec.get("title", "")
                state.parent = spec.get("parent")
                state.rollback = bool(spec.get("rollback", False))
                state.orphan = False
                merged[state.id] = state
            for item_id, state in self.items.items():
                if item_id not in specs:
                    state.orphan = True
                    merged[item_id] = state
            self.items = merged
        else:
            raise ValueError(f"unknown event type {kind!r}")
        if kind in ("created", "rebase"):
            self._children = None  # parents and orphans may have changed in place
        self.seq = seq
        self.updated = at

    def _set(self, item_id: str, status: Status, at: str, by: str, why: str) -> None:
        state = self.items[item_id]
        if status is not state.status:
            state.history.append(StatusChange(at, by, status, state.status, why))
        state.status = status
        state.by = by
        state.at = at

    # ---------------------------------------------------------------- TOML shape

    def to_dict(self, history: bool = False) -> dict[str, Any]:
        """The session as TOML-ready data (no None anywhere: absent keys are omitted).

        The session file leaves out each item's change history: it is in the event log, which loading
        replays anyway, and rewriting it on every save would make saves grow with the session's age.
        """
        data: dict[str, Any] = {
            "schema": self.schema,
            "id": self.id,
            "checklist": {
                "path": self.checklist_path,
                "sha256": self.checklist_sha256,
                "title": self.checklist_title,
            },
            "operator": self.operator,
            "host": self.host,
            "started": self.started,
            "updated": self.updated,
            "seq": self.seq,
        }
        if self.head:
            data["head"] = self.head
        if self.finished is not None:
            data["finished"] = self.finished
        if self.result is not None:
            data["result"] = self.result
        if self.signoff:
            data["signoff"] = dict(self.signoff)
        if self.signoff_by:
            data["signoff_by"] = self.signoff_by
        items: dict[str, Any] = {}
        for item_id, s in self.items.items():
            entry: dict[str, Any] = {"status": str(s.status)}
            for key, value in (
                ("title", s.title),
                ("parent", s.parent),
                ("by", s.by),
                ("at", s.at),
                ("reason", s.reason),
            ):
                if value:
                    entry[key] = value
            if s.duration_ms:
                entry["duration_ms"] = s.duration_ms
            if s.rollback:
                entry["rollback"] = True
            if s.orphan:
                entry["orphan"] = True
            if s.notes:
                entry["notes"] = [{"at": n.at, "by": n.by, "text": n.text} for n in s.notes]
            if s.checks:
                entry["checks"] = {k: _check_dict(c) for k, c in s.checks.items()}
            if s.actions:
                entry["actions"] = [
                    {
                        "index": a.index,
                        "run_id": a.run_id,
                        "exit_code": a.exit_code,
                        "log": a.log,
                        "at": a.at,
                        "by": a.by,
                    }
                    for a in s.actions
                ]
            if history and s.history:
                entry["history"] = [
                    {
                        "at": h.at,
                        "by": h.by,
                        "status": str(h.status),
                        "previous": str(h.previous),
                        "why": h.why,
                    }
                    for h in s.history
                ]
            items[item_id] = entry
        data["items"] = items
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Session:
        """Inverse of to_dict. KeyError/ValueError/TypeError on a malformed document."""
        schema = int(data["schema"])
        if schema != SCHEMA_VERSION:
            raise ValueError(
                f"session schema {schema} is not supported (this deploytui reads {SCHEMA_VERSION})"
            )
        checklist = data["checklist"]
        session = cls(
            id=str(data["id"]),
            schema=schema,
            checklist_path=str(checklist["path"]),
            checklist_sha256=str(checklist["sha256"]),
            checklist_title=str(checklist.get("title", "")),
            operator=str(data["operator"]),
            host=str(data["host"]),
            started=str(data["started"]),
            updated=str(data["updated"]),
            finished=_opt(data.get("finished")),
            result=_opt(data.get("result")),
            signoff={str(k): str(v) for k, v in data.get("signoff", {}).items()},
            signoff_by=str(data.get("signoff_by", "")),
            seq=int(data["seq"]),
            head=str(data.get("head", "")),
        )
        for item_id, e in data.get("items", {}).items():
            session.items[item_id] = ItemState(
                id=item_id,
                title=str(e.get("title", "")),
                parent=_opt(e.get("parent")),
                rollback=bool(e.get("rollback", False)),
                orphan=bool(e.get("orphan", False)),
                status=Status(e["status"]),
                by=str(e.get("by", "")),
                at=str(e.get("at", "")),
                duration_ms=int(e.get("duration_ms", 0)),
                reason=str(e.get("reason", "")),
                notes=[Note(str(n["at"]), str(n["by"]), str(n["text"])) for n in e.get("notes", [])],
                checks={k: _check_from(k, c) for k, c in e.get("checks", {}).items()},
                actions=[
                    ActionRun(
                        int(a["index"]),
                        str(a["run_id"]),
                        int(a["exit_code"]),
                        log_path(str(a["log"])),
                        str(a["at"]),
                        str(a["by"]),
                    )
                    for a in e.get("actions", [])
                ],
                history=[
                    StatusChange(
                        str(h["at"]), str(h["by"]), Status(h["status"]), Status(h["previous"]), str(h["why"])
                    )
                    for h in e.get("history", [])
                ],
            )
        return session


# ---------------------------------------------------------------------------------------------- helpers


def _spec_dict(spec: ItemSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"id": spec.id, "title": spec.title}
    if spec.parent is not None:
        data["parent"] = spec.parent
    if spec.rollback:
        data["rollback"] = True
    return data


def _check_dict(c: CheckResult) -> dict[str, Any]:
    data: dict[str, Any] = {"status": str(c.status)}
    for key, value in (
        ("kind", c.kind),
        ("label", c.label),
        ("reason", c.reason),
        ("at", c.at),
        ("log", c.log),
        ("evidence", c.evidence),
        ("run_id", c.run_id),
    ):
        if value:
            data[key] = value
    if c.duration_ms:
        data["duration_ms"] = c.duration_ms
    if c.values:
        data["values"] = dict(c.values)
    if c.attempts:
        data["attempts"] = [_attempt_dict(a) for a in c.attempts]
    return data


def _attempt_dict(attempt: Attempt) -> dict[str, Any]:
    data = attempt.to_dict()
    data["reason"] = _clip(str(data["reason"]), ATTEMPT_REASON_MAX_CHARS)
    return data


def _check_from(key: str, c: Mapping[str, Any]) -> CheckResult:
    return CheckResult(
        key=key,
        kind=str(c.get("kind", "")),
        label=str(c.get("label", "")),
        status=Status(c["status"]),
        reason=str(c.get("reason", "")),
        values=dict(c.get("values", {})),
        duration_ms=int(c.get("duration_ms", 0)),
        at=str(c.get("at", "")),
        log=log_path(str(c.get("log", ""))),
        evidence=str(c.get("evidence", "")),
        run_id=str(c.get("run_id", "")),
        attempts=[Attempt.from_dict(a) for a in c.get("attempts", ())],
    )


INT_RANGE = (-(2**63), 2**63 - 1)
"""Integers TOML can hold; a measured value outside it is kept as text."""


def _scalars(values: Mapping[str, Any]) -> dict[str, Scalar]:
    """Measured values as TOML/JSON-safe scalars: huge ints and anything else become text."""
    out: dict[str, Scalar] = {}
    for key, value in values.items():
        if isinstance(value, bool | float | str):
            out[str(key)] = value
        elif isinstance(value, int):
            out[str(key)] = value if INT_RANGE[0] <= value <= INT_RANGE[1] else str(value)
        else:
            out[str(key)] = str(value)
    return out


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


_SPACE_RE = re.compile(r"\s+")


def _who(by: str) -> str:
    who = _SPACE_RE.sub(" ", str(by)).strip()
    if not who:
        raise TransitionError("every change needs a who (by)")
    return who


def log_path(value: str) -> str:
    """A run's log path as a session may hold it: relative to the session dir and inside it. ValueError
    otherwise, so a crafted session cannot make a viewer read (and show) a file elsewhere."""
    if not value:
        return value
    parts = PurePosixPath(value.replace("\\", "/")).parts
    if value.startswith(("/", "~")) or ".." in parts or "\x00" in value:
        raise ValueError(f"log path {value!r} is outside the session directory")
    return value


def _refuse_bad_log(value: str) -> str:
    try:
        return log_path(value)
    except ValueError as exc:
        raise TransitionError(f"{exc} (logs live under the session's logs/ dir)") from None


def _need(value: str, message: str) -> None:
    if not str(value).strip():
        raise TransitionError(message)


def _text(value: str, message: str) -> str:
    text = str(value).strip()
    if not text:
        raise TransitionError(message)
    if len(text) > TEXT_MAX_CHARS:
        raise TransitionError(f"text longer than {TEXT_MAX_CHARS} characters: put long output in a file")
    return text


def _clip(text: str, limit: int) -> str:
    """Keep the head and the (usually more telling) tail of a long text."""
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    omitted = len(text) - head - tail
    marker = f"… [{omitted} characters omitted; the full output is in the run's log] …"
    return f"{text[:head]}\n{marker}\n{text[-tail:]}"
