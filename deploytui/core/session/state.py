"""Session state: pure data, moved by events only. No I/O here (the store persists it).

Every change is a `Change` (changes.py: an operator's tick, an engine's run result...).
`Session.event_for(change)` checks it against the rules (rules.py) and returns the typed event that
records it (events.py) without touching the state; `Session.apply_event(event)` changes the state from
that event. The store writes the event to the append-only log between the two (codec.py gives its line),
and replaying the log through `apply_event` rebuilds the same state: a session is reconstructable from its
events alone.

Why ~740 lines: `apply_event` is one exhaustive `match` over every event type (mypy checks that none
is missing), and the TOML checkpoint's to/from dict sits beside it; the rules, changes, events, codec
and item types are their own modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, assert_never

from deploytui.core.session.changes import Change, TransitionError, item_specs, now_iso
from deploytui.core.session.codec import decode
from deploytui.core.session.events import (
    SCHEMA_VERSION,
    ActionRanEvent,
    ActionStartedEvent,
    CreatedEvent,
    Event,
    ExportedEvent,
    FinishEvent,
    HeartbeatEvent,
    InterruptedEvent,
    NoteEvent,
    OverrideEvent,
    RebaseEvent,
    ResumedEvent,
    RunCancelledEvent,
    RunFinishedEvent,
    RunStartedEvent,
    SessionEvent,
    SignOffEvent,
    SkipEvent,
    TickEvent,
    UntickEvent,
)
from deploytui.core.session.items import (
    ACTION_CANCELLED,
    ACTION_ENDED,
    ACTION_INTERRUPTED,
    ACTION_INTERRUPTED_WHY,
    ACTION_RUNNING,
    RUN_VERDICTS,
    STEP_CANCELLED,
    STEP_FAILED,
    STEP_PASSED,
    STEP_STARTED,
    ActionRun,
    CheckResult,
    ItemState,
    Note,
    Resumed,
    StatusChange,
    aggregate,
    log_path,
)
from deploytui.core.session.rules import event_for
from deploytui.core.status import Attempt, Status

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist


@dataclass(frozen=True)
class ExportedRecord:
    """Where the session's record was last written (an ExportedEvent): the file's absolute path, the
    sha256 of its body (the signed bytes), signed as deployer when written or not, when and by whom."""

    path: str
    body_sha256: str
    signed: bool = False
    at: str = ""
    by: str = ""


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
    signoff_acknowledged: int = 0
    """Open items acknowledged at the last sign-off (see SignOffEvent)."""
    signoff_reviewers: int = 1
    """Reviewer signatures the record needs, as the last sign-off recorded it."""
    resumes: list[Resumed] = field(default_factory=list)
    """Every time the session was opened for write again: who, when, from which host."""
    record: ExportedRecord | None = None
    """The record file last exported from the session (None: never exported to a file)."""
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
    _running_key: tuple[int, int, int] = field(default=(-1, 0, -1), init=False, repr=False, compare=False)
    _running: bool = field(default=False, init=False, repr=False, compare=False)
    """anything_running's answer while `_running_key` holds: the app's heartbeat asks every second, and a
    scan of 5,000 items landed on a cursor move now and then."""

    # ---------------------------------------------------------------- creation

    @staticmethod
    def created_event(
        session_id: str,
        checklist: Checklist,
        operator: str,
        host: str,
        at: str | None = None,
        checklist_path: str | None = None,
    ) -> CreatedEvent:
        """The first event of every session: everything needed to rebuild it from the log alone."""
        return CreatedEvent(
            seq=1,
            at=at or now_iso(),
            by=operator,
            schema=SCHEMA_VERSION,
            id=session_id,
            checklist_path=checklist_path if checklist_path is not None else str(checklist.path or ""),
            checklist_sha256=checklist.sha256,
            checklist_title=checklist.title,
            operator=operator,
            host=host,
            items=item_specs(checklist),
        )

    @classmethod
    def new(
        cls, session_id: str, checklist: Checklist, operator: str, host: str, at: str | None = None
    ) -> Session:
        """A fresh in-memory session (the store uses created_event + apply_event to also log it)."""
        session = cls()
        session.apply_event(cls.created_event(session_id, checklist, operator, host, at))
        return session

    @classmethod
    def from_events(cls, events: Iterable[Event | Mapping[str, Any]]) -> Session:
        """The session the events rebuild: typed events, or the objects of log lines (decoded here;
        EventFormatError, a ValueError, when one is malformed)."""
        session = cls()
        for event in events:
            session.apply_event(event if isinstance(event, SessionEvent) else decode(event))
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

    @property
    def current_operator(self) -> str:
        """Who the session is run by now: the last resume's operator, else the creator."""
        return self.resumes[-1].by if self.resumes else self.operator

    def running_actions(self) -> list[tuple[str, ActionRun]]:
        """(item, run) of every world-changing step that started and has not ended."""
        return [(i, a) for i, s in self.items.items() for a in s.actions if a.state == ACTION_RUNNING]

    def interrupted_actions(self) -> list[tuple[str, ActionRun]]:
        """(item, run) of every world-changing step the death of a process cut: it may have partly run."""
        return [(i, a) for i, s in self.items.items() for a in s.actions if a.state == ACTION_INTERRUPTED]

    def people(self) -> list[str]:
        """Everyone who acted in the session (created, resumed, changed, ran, signed), first act first."""
        seen: dict[str, None] = {}
        from deploytui.core.session.changes import SYSTEM

        for who in [self.operator, *(r.by for r in self.resumes)]:
            seen.setdefault(who, None)
        for state in self.items.values():
            for who in [*(h.by for h in state.history), *(n.by for n in state.notes)]:
                seen.setdefault(who, None)
            for run in state.actions:
                seen.setdefault(run.by, None)
        if self.signoff_by:
            seen.setdefault(self.signoff_by, None)
        return [w for w in seen if w and w != SYSTEM]

    def anything_running(self) -> bool:
        """A check or a world-changing step has started and not ended (remembered until the next event)."""
        key = (self.seq, id(self.items), len(self.items))
        if self._running_key != key:
            self._running = bool(self.running() or self.running_actions())
            self._running_key = key
        return self._running

    def runs_under_way(self) -> int:
        """How many runs have started and not ended: checks and world-changing steps (a bound action is
        one run, though it is both a running check and a running step). What `▶ N running` counts for a
        face that did not start them (a follower)."""
        ids = {self.items[i].checks[k].run_id or f"{i}#{k}" for i, k in self.running()}
        ids |= {run.run_id or f"{i}!{run.index}" for i, run in self.running_actions()}
        return len(ids)

    def running(self) -> list[tuple[str, str]]:
        """(item, check_key) of every check currently running."""
        return [
            (item_id, key)
            for item_id, state in self.items.items()
            for key, check in state.checks.items()
            if check.status is Status.RUNNING
        ]

    # ---------------------------------------------------------------- changes → events

    def apply(self, change: Change, at: str | None = None) -> Event:
        """Validate and apply a change in memory; returns its event. (The store uses the two halves.)"""
        event = self.event_for(change, at)
        self.apply_event(event)
        return event

    def event_for(self, change: Change, at: str | None = None) -> Event:
        """The event recording `change`, or TransitionError saying why it is refused (the rules are in
        rules.py). Changes nothing."""
        return event_for(self, change, at)

    # ---------------------------------------------------------------- events → state

    def apply_event(self, event: Event) -> None:
        """Change the state as `event` says (live, or replaying the log). KeyError/ValueError when it does not
        fit the state (an item or check it names is unknown, its seq is out of order)."""
        at, by = event.at, event.by
        if event.seq != self.seq + 1:
            raise ValueError(f"event {event.seq} out of order (expected {self.seq + 1})")
        match event:
            case CreatedEvent():
                self.id = event.id
                self.schema = event.schema
                self.checklist_path = event.checklist_path
                self.checklist_sha256 = event.checklist_sha256
                self.checklist_title = event.checklist_title
                self.operator = event.operator
                self.host = event.host
                self.started = at
                self.items = {}
                for spec in event.items:
                    self.items[spec.id] = ItemState(
                        id=spec.id, title=spec.title, parent=spec.parent, rollback=spec.rollback
                    )
                self._children = None  # parents and orphans may have changed in place
            case TickEvent():
                self.items[event.item].reason = ""
                self.items[event.item].overridden = False
                self._set(event.item, Status.DONE, at, by, "ticked")
            case UntickEvent():
                state = self.items[event.item]
                state.reason = ""
                state.overridden = False
                self._set(state.id, state.status_from_checks(), at, by, f"{state.status} undone")
            case SkipEvent():
                self.items[event.item].reason = event.reason
                self._set(event.item, Status.SKIPPED, at, by, event.reason)
            case OverrideEvent():
                state = self.items[event.item]
                state.notes.append(Note(at, by, event.note))
                state.overridden = True
                self._set(state.id, Status.OVERRIDDEN, at, by, event.note)
            case NoteEvent():
                self.items[event.item].notes.append(Note(at, by, event.text))
            case RunStartedEvent():
                state = self.items[event.item]
                previous = state.checks.get(event.check)
                state.checks[event.check] = CheckResult(
                    key=event.check,
                    kind=event.kind or (previous.kind if previous else ""),
                    label=event.label or (previous.label if previous else ""),
                    status=Status.RUNNING,
                    at=at,
                    run_id=event.run_id,
                    log=log_path(event.log),
                    previous=replace(previous, previous=None) if previous is not None else None,
                )
                self._set(state.id, Status.RUNNING, at, by, f"check {event.check} started")
            case RunFinishedEvent():
                state = self.items[event.item]
                previous = state.checks.get(event.check)
                result = CheckResult(
                    key=event.check,
                    kind=event.kind,
                    label=previous.label if previous else "",
                    status=event.status,
                    reason=event.reason,
                    values=dict(event.values),
                    duration_ms=event.duration_ms,
                    at=at,
                    log=log_path(event.log),
                    evidence=event.evidence,
                    run_id=event.run_id,
                    attempts=list(event.attempts),
                )
                state.checks[result.key] = result
                state.duration_ms = sum(c.duration_ms for c in state.checks.values())
                if result.status in RUN_VERDICTS and result.run_id:
                    state.run_durations.setdefault(result.key, {})[result.run_id] = result.duration_ms
                is_step = result.key in state.step_keys()
                status = state.status_from_checks()
                why = f"check {result.key} {result.status}" + (f": {result.reason}" if result.reason else "")
                state.reason = result.reason if result.status is not Status.PASSED else ""
                self._end_action(state, event.run_id, at, by, result.reason or str(result.status))
                step = ""
                if is_step:  # its end is told as such in the history: "✔ passed in 8.0 s"
                    step = STEP_PASSED if result.status in (Status.PASSED, Status.FLAKY) else STEP_FAILED
                took = result.duration_ms if is_step else 0
                if step == STEP_PASSED:
                    # A step's pass completes nothing by itself (status_from_checks): the item keeps the
                    # status it had before the step ran (a tick stands), and a pass ends an override.
                    state.overridden = False
                    if status is Status.PENDING:
                        status = self._status_before_run(state, result.key)
                    self._set(state.id, status, at, by, why, always=True, step=step, took_ms=took)
                elif state.overridden and status in (Status.FAILED, Status.ERROR, Status.INTERRUPTED):
                    # The override stands: a failing re-run does not silently erase an accepted failure.
                    why = f"overridden; failed again at {at}: {why}"
                    state.reason = f"overridden; failed again at {at}" + (
                        f": {result.reason}" if result.reason else ""
                    )
                    self._set(state.id, Status.OVERRIDDEN, at, by, why, always=True, step=step, took_ms=took)
                else:
                    if status is Status.PASSED:
                        state.overridden = False  # a pass replaces the override
                    self._set(state.id, status, at, by, why, always=is_step, step=step, took_ms=took)
            case RunCancelledEvent():
                state = self.items[event.item]
                if event.started:
                    check = state.checks[event.check]
                    if check.previous is not None:
                        # A cancelled re-run gives back the result it would have replaced.
                        before = check.previous
                        marker = f"re-run cancelled by {by} at {at}"
                        restored = replace(
                            before, reason=f"{before.reason} ({marker})" if before.reason else marker
                        )
                        state.checks[event.check] = restored
                        why = f"check {check.key} re-run cancelled: back to {restored.status}"
                    else:
                        check.status = Status.PENDING
                        check.reason = f"cancelled by {by}"
                        check.at = at
                        why = f"check {check.key} cancelled"
                    cancelled = f"cancelled by {by} at {at}"
                    self._end_action(state, event.run_id, at, by, cancelled, cancelled=True)
                    status = state.status_from_checks()
                    if state.overridden and status in (Status.FAILED, Status.ERROR, Status.INTERRUPTED):
                        status = Status.OVERRIDDEN
                    step = STEP_CANCELLED if event.check in state.step_keys() else ""
                    if step and status is Status.PENDING:
                        status = self._status_before_run(state, event.check)
                    self._set(state.id, status, at, by, why, always=True, step=step)
            case InterruptedEvent():
                touched: list[str] = []
                seen = event.last_seen or at
                for item_id, key in event.checks:
                    check = self.items[item_id].checks[key]
                    check.status = Status.INTERRUPTED
                    check.reason = "the process died while it ran"
                    if event.last_seen:
                        check.reason += f" (last seen running at {seen})"
                    check.at = seen
                    check.previous = None
                    if item_id not in touched:
                        touched.append(item_id)
                wanted = set(event.actions)
                for item_id, state in self.items.items():
                    for run in state.actions:
                        if run.run_id in wanted and run.state == ACTION_RUNNING:
                            run.state = ACTION_INTERRUPTED
                            run.at = seen
                            run.reason = (
                                f"interrupted (last seen running at {seen}): {ACTION_INTERRUPTED_WHY}"
                            )
                            why = f"{run.label or 'action'} interrupted: {ACTION_INTERRUPTED_WHY}"
                            self._set(item_id, state.status, at, by, why, always=True)
                for item_id in touched:
                    state = self.items[item_id]
                    why = "interrupted: the process died while a check ran"
                    status = state.status_from_checks()
                    if state.overridden and status in (Status.FAILED, Status.ERROR, Status.INTERRUPTED):
                        status = Status.OVERRIDDEN
                    self._set(item_id, status, at, by, why)
            case ActionStartedEvent():
                state = self.items[event.item]
                index = int(event.check.rsplit("!action", 1)[-1]) if "!action" in event.check else -1
                state.actions.append(
                    ActionRun(
                        index,
                        event.run_id,
                        0,
                        log_path(event.log),
                        at,
                        by,
                        state=ACTION_RUNNING,
                        check=event.check,
                        label=event.label,
                        command=event.command,
                        command_sha256=event.command_sha256,
                        cwd=event.cwd,
                        host=event.host,
                        pid=event.pid,
                        started=at,
                    )
                )
                first = event.command.splitlines()[0] if event.command else ""
                why = f"{event.label or 'action'} started: {first}"
                self._set(state.id, state.status, at, by, why, always=True, step=STEP_STARTED)
            case ActionRanEvent():
                state = self.items[event.item]
                found = next((a for a in state.actions if a.run_id == event.run_id), None)
                if found is None:  # a log written before ActionStarted existed
                    found = ActionRun(event.index, event.run_id, event.exit_code, log_path(event.log), at, by)
                    state.actions.append(found)
                run = found
                run.exit_code = event.exit_code
                run.log = log_path(event.log) or run.log
                run.at = at
                run.by = by
                if event.cancelled:
                    run.state = ACTION_CANCELLED
                    run.reason = f"cancelled by {by} at {at}"
                else:
                    run.state = ACTION_ENDED
                    run.reason = ""
                if run.started:
                    why = f"{run.label or 'action'} ended: {run.summary()}"
                    step = STEP_PASSED if event.exit_code == 0 else STEP_FAILED
                    if event.cancelled:
                        step = STEP_CANCELLED
                    took = _ms_between(run.started, at)
                    self._set(state.id, state.status, at, by, why, always=True, step=step, took_ms=took)
            case HeartbeatEvent():
                pass
            case ResumedEvent():
                self.resumes.append(Resumed(at, event.operator, event.host))
            case SignOffEvent():
                self.signoff.update(event.fields)
                self.signoff_by = by
                self.signoff_acknowledged = event.acknowledged_open
                self.signoff_reviewers = event.reviewers
            case FinishEvent():
                self.finished = at
                self.result = event.result
            case ExportedEvent():
                self.record = ExportedRecord(event.path, event.body_sha256, event.signed, at, by)
            case RebaseEvent():
                self.checklist_path = event.checklist_path
                self.checklist_sha256 = event.checklist_sha256
                self.checklist_title = event.checklist_title
                specs = {s.id for s in event.items}
                merged: dict[str, ItemState] = {}
                for spec in event.items:  # new document order first
                    state = self.items.get(spec.id) or ItemState(id=spec.id)
                    state.title = spec.title
                    state.parent = spec.parent
                    state.rollback = spec.rollback
                    state.orphan = False
                    merged[state.id] = state
                for item_id, state in self.items.items():
                    if item_id not in specs:
                        state.orphan = True
                        merged[item_id] = state
                self.items = merged
                self._children = None  # parents and orphans may have changed in place
            case _:
                assert_never(event)
        self.seq = event.seq
        self.updated = at

    def _end_action(
        self, state: ItemState, run_id: str, at: str, by: str, reason: str, cancelled: bool = False
    ) -> None:
        """A bound world-changing step ends with its check run (RunFinished / RunCancelled)."""
        for run in state.actions:
            if run.run_id == run_id and run.state == ACTION_RUNNING:
                run.state = ACTION_CANCELLED if cancelled else ACTION_ENDED
                run.reason = reason
                run.at = at
                run.by = by

    @staticmethod
    def _status_before_run(state: ItemState, key: str) -> Status:
        """The item's status before the latest run of `key` started: a tick or a skip that a step's pass
        must not undo (pending when it had none of those)."""
        started = f"check {key} started"
        for change in reversed(state.history):
            if change.why == started:
                return change.previous if change.previous in (Status.DONE, Status.SKIPPED) else Status.PENDING
        return Status.PENDING

    def _set(
        self,
        item_id: str,
        status: Status,
        at: str,
        by: str,
        why: str,
        always: bool = False,
        step: str = "",
        took_ms: int = 0,
    ) -> None:
        state = self.items[item_id]
        if always or status is not state.status:
            state.history.append(StatusChange(at, by, status, state.status, why, step, took_ms))
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
        if self.signoff_acknowledged:
            data["signoff_acknowledged"] = self.signoff_acknowledged
        if self.signoff_reviewers != 1:
            data["signoff_reviewers"] = self.signoff_reviewers
        if self.resumes:
            data["resumes"] = [{"at": r.at, "by": r.by, "host": r.host} for r in self.resumes]
        if self.record is not None:
            data["record"] = {
                "path": self.record.path,
                "body_sha256": self.record.body_sha256,
                "signed": self.record.signed,
                "at": self.record.at,
                "by": self.record.by,
            }
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
            if s.overridden and s.status is not Status.OVERRIDDEN:
                entry["overridden"] = True  # a re-run of an overridden item runs (else: the status says it)
            if s.orphan:
                entry["orphan"] = True
            if s.notes:
                entry["notes"] = [{"at": n.at, "by": n.by, "text": n.text} for n in s.notes]
            if s.checks:
                entry["checks"] = {k: _check_dict(c) for k, c in s.checks.items()}
            if s.actions:
                entry["actions"] = [_action_dict(a) for a in s.actions]
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
            signoff_acknowledged=int(data.get("signoff_acknowledged", 0)),
            signoff_reviewers=int(data.get("signoff_reviewers", 1)),
            seq=int(data["seq"]),
            head=str(data.get("head", "")),
            resumes=[Resumed(str(r["at"]), str(r["by"]), str(r["host"])) for r in data.get("resumes", [])],
            record=_record_from(data.get("record")),
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
                overridden=bool(e.get("overridden", False)) or e["status"] == Status.OVERRIDDEN.value,
                notes=[Note(str(n["at"]), str(n["by"]), str(n["text"])) for n in e.get("notes", [])],
                checks={k: _check_from(k, c) for k, c in e.get("checks", {}).items()},
                actions=[_action_from(a) for a in e.get("actions", [])],
                history=[
                    StatusChange(
                        str(h["at"]), str(h["by"]), Status(h["status"]), Status(h["previous"]), str(h["why"])
                    )
                    for h in e.get("history", [])
                ],
            )
        return session


def _ms_between(start: str, end: str) -> int:
    """Milliseconds from one event's time to another's (0 when either does not parse)."""
    try:
        a = datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return 0
    return max(0, round((b - a).total_seconds() * 1000))


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
        data["attempts"] = [a.to_dict() for a in c.attempts]
    if c.previous is not None:
        data["previous"] = _check_dict(c.previous)
    return data


_ACTION_TEXT = ("state", "check", "label", "command", "command_sha256", "cwd", "host", "started", "reason")


def _action_dict(a: ActionRun) -> dict[str, Any]:
    data: dict[str, Any] = {
        "index": a.index,
        "run_id": a.run_id,
        "exit_code": a.exit_code,
        "log": a.log,
        "at": a.at,
        "by": a.by,
    }
    for key in _ACTION_TEXT:
        value = getattr(a, key)
        if value and not (key == "state" and value == ACTION_ENDED):
            data[key] = value
    if a.pid:
        data["pid"] = a.pid
    return data


def _action_from(a: Mapping[str, Any]) -> ActionRun:
    run = ActionRun(
        int(a["index"]),
        str(a["run_id"]),
        int(a["exit_code"]),
        log_path(str(a["log"])),
        str(a["at"]),
        str(a["by"]),
        pid=int(a.get("pid", 0)),
    )
    for key in _ACTION_TEXT:
        if key in a:
            setattr(run, key, str(a[key]))
    return run


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
        previous=_check_from(key, c["previous"]) if isinstance(c.get("previous"), Mapping) else None,
    )


def _record_from(data: Any) -> ExportedRecord | None:
    if data is None:
        return None
    return ExportedRecord(
        str(data["path"]),
        str(data["body_sha256"]),
        bool(data.get("signed", False)),
        str(data.get("at", "")),
        str(data.get("by", "")),
    )


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
