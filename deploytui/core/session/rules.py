"""The rules of every change: `event_for(session, change)` checks a change against the session's state and
returns the event that records it (who, when, why), or a TransitionError saying why it is refused. It
changes nothing: `Session.apply_event` does, once the store has logged the event.

Rules for items (who may change what):
- `Tick` marks an item done by hand. Refused while a check of it runs, and when its checks failed, errored
  or were interrupted: a machine said no, so accepting it takes an `Override` with a note (or a re-run).
  An item whose checks passed is already complete; ticking it again is refused as a no-op.
- `Untick` undoes a tick, a skip or an override: the status falls back to what the checks say.
- `Skip` needs a non-empty reason; `Override` applies only to failed/error/interrupted items and needs a note.
- A finished check run replaces any manual status: the newest evidence wins, and the history keeps the rest.
- A finished check run replaces any manual status, but an override stands while re-runs keep failing
  ("overridden; failed again at …"): only a pass (or an untick) ends it. A cancelled re-run gives the
  check back the result it had before, marked "re-run cancelled".
- A world-changing step is recorded when it starts (ActionStarted, before its process is spawned) and when
  it ends; one still running when the process died is `interrupted` on resume: it may have partly run.
- Notes append; they never change a status.
- A finished session (`Finish`) refuses every further change but `RecordExported` (where its record was
  written: a fact about the record, not a change to the deployment); `Finish` waits until no check runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, assert_never

from deploytui.core.session.changes import (
    ActionRan,
    ActionStarted,
    AddNote,
    Change,
    Finish,
    Heartbeat,
    MarkInterrupted,
    Override,
    Rebase,
    RecordExported,
    Resume,
    RunCancelled,
    RunFinished,
    RunStarted,
    SignOff,
    Skip,
    Tick,
    TransitionError,
    Untick,
    now_iso,
)
from deploytui.core.session.events import (
    ActionRanEvent,
    ActionStartedEvent,
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
    SignOffEvent,
    SkipEvent,
    TickEvent,
    UntickEvent,
)
from deploytui.core.session.items import log_path
from deploytui.core.status import Scalar, Status

if TYPE_CHECKING:
    from deploytui.core.session.state import Session

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

INT_RANGE = (-(2**63), 2**63 - 1)
"""Integers TOML can hold; a measured value outside it is kept as text."""

_TICK_REFUSALS = {
    Status.RUNNING: "a check of it is running: wait for it or cancel it",
    Status.FAILED: "its check failed: run it again, or override with a note",
    Status.ERROR: "its check could not run: fix and run it again, or override with a note",
    Status.INTERRUPTED: "its check was interrupted: run it again, or override with a note",
    Status.BLOCKED: "a check it waits for did not pass: fix that and run again, or override with a note",
    Status.PASSED: "its checks already passed",
    Status.FLAKY: "its checks already passed (flaky: after a retry)",
    Status.DONE: "it is already done",
    Status.OVERRIDDEN: "it is already accepted (overridden)",
}
"""Why an item in this status cannot be ticked."""


def event_for(session: Session, change: Change, at: str | None = None) -> Event:
    """The event recording `change`, or TransitionError saying why it is refused. Changes nothing."""
    if not session.id:
        raise TransitionError("the session has not been created")
    if session.finished is not None and not isinstance(change, RecordExported):
        raise TransitionError(
            f"session {session.id} is finished ({session.result}): it takes no more changes"
        )
    seq, when, by = session.seq + 1, at or now_iso(), _who(change.by)

    match change:
        case Tick():
            state = session.item(change.item)
            refusal = _TICK_REFUSALS.get(state.status)
            if refusal:
                raise TransitionError(f"cannot tick {change.item}: {refusal}")
            return TickEvent(seq=seq, at=when, by=by, item=change.item)

        case Untick():
            state = session.item(change.item)
            if state.status not in (Status.DONE, Status.SKIPPED, Status.OVERRIDDEN):
                raise TransitionError(
                    f"cannot untick {change.item}: it is {state.status}"
                    " (only a tick, skip or override can be undone)"
                )
            return UntickEvent(seq=seq, at=when, by=by, item=change.item)

        case Skip():
            state = session.item(change.item)
            reason = _text(change.reason, "a skip needs a reason")
            if state.status is Status.RUNNING:
                raise TransitionError(
                    f"cannot skip {change.item}: a check of it is running: wait for it or cancel it"
                )
            if state.status in (Status.SKIPPED, Status.PASSED, Status.FLAKY, Status.OVERRIDDEN):
                raise TransitionError(f"cannot skip {change.item}: it is already {state.status}")
            return SkipEvent(seq=seq, at=when, by=by, item=change.item, reason=reason)

        case Override():
            state = session.item(change.item)
            note = _text(change.note, "an override needs a note saying why the failure is acceptable")
            if state.status not in (Status.FAILED, Status.ERROR, Status.INTERRUPTED, Status.BLOCKED):
                raise TransitionError(
                    f"cannot override {change.item}: it is {state.status}"
                    " (only failed, error, blocked or interrupted items)"
                )
            return OverrideEvent(seq=seq, at=when, by=by, item=change.item, note=note)

        case AddNote():
            session.item(change.item)
            text = _text(change.text, "a note cannot be empty")
            return NoteEvent(seq=seq, at=when, by=by, item=change.item, text=text)

        case RunStarted():
            state = session.item(change.item)
            _need(change.check_key, "a run needs a check key")
            _need(change.run_id, "a run needs a run id")
            current = state.checks.get(change.check_key)
            if current is not None and current.status is Status.RUNNING:
                raise TransitionError(f"check {change.check_key} is already running (run {current.run_id})")
            return RunStartedEvent(
                seq=seq,
                at=when,
                by=by,
                item=change.item,
                check=change.check_key,
                run_id=change.run_id,
                kind=change.kind,
                label=change.label,
                log=_refuse_bad_log(change.log),
            )

        case RunFinished():
            state = session.item(change.item)
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
            return RunFinishedEvent(
                seq=seq,
                at=when,
                by=by,
                item=change.item,
                check=change.check_key,
                run_id=change.run_id,
                kind=change.kind or (current.kind if current else ""),
                status=outcome.status,
                reason=_clip(outcome.reason, TEXT_MAX_CHARS),
                values=_scalars(outcome.values),
                evidence=_clip(outcome.evidence, EVIDENCE_MAX_CHARS),
                duration_ms=int(outcome.duration_ms),
                log=_refuse_bad_log(change.log),
                attempts=tuple(
                    dataclasses.replace(a, reason=_clip(a.reason, ATTEMPT_REASON_MAX_CHARS))
                    for a in outcome.attempts[:ATTEMPTS_MAX]
                ),
            )

        case RunCancelled():
            state = session.item(change.item)
            current = state.checks.get(change.check_key)
            # A run cancelled while still queued never started: the event records the cancellation only.
            started = (
                current is not None and current.status is Status.RUNNING and current.run_id == change.run_id
            )
            return RunCancelledEvent(
                seq=seq,
                at=when,
                by=by,
                item=change.item,
                check=change.check_key,
                run_id=change.run_id,
                started=started,
            )

        case ActionStarted():
            state = session.item(change.item)
            _need(change.check_key, "an action needs its key")
            _need(change.run_id, "an action needs a run id")
            _need(change.command, "an action needs the command it runs")
            if any(a.run_id == change.run_id for a in state.actions):
                raise TransitionError(f"action run {change.run_id} already started")
            command = _clip(change.command, TEXT_MAX_CHARS)
            return ActionStartedEvent(
                seq=seq,
                at=when,
                by=by,
                item=change.item,
                check=change.check_key,
                run_id=change.run_id,
                label=change.label,
                command=command,
                command_sha256=hashlib.sha256(command.encode("utf-8", "replace")).hexdigest(),
                cwd=change.cwd,
                host=change.host,
                pid=int(change.pid),
                log=_refuse_bad_log(change.log),
            )

        case ActionRan():
            session.item(change.item)
            return ActionRanEvent(
                seq=seq,
                at=when,
                by=by,
                item=change.item,
                index=int(change.action_index),
                run_id=change.run_id,
                exit_code=int(change.exit_code),
                log=_refuse_bad_log(change.log),
                cancelled=bool(change.cancelled),
            )

        case Heartbeat():
            if not session.anything_running():
                raise TransitionError("nothing is running: no heartbeat to record")
            return HeartbeatEvent(seq=seq, at=when, by=by)

        case Resume():
            host = _text(change.host, "a resume needs the host it happens on")
            return ResumedEvent(seq=seq, at=when, by=by, operator=by, host=host, pid=int(change.pid))

        case SignOff():
            fields: dict[str, str] = {}
            for key, value in change.fields.items():
                if not isinstance(key, str) or not key or not isinstance(value, str):
                    raise TransitionError(f"sign-off field {key!r} must be text")
                if len(value) > TEXT_MAX_CHARS:
                    raise TransitionError(
                        f"sign-off field {key!r} is longer than {TEXT_MAX_CHARS} characters"
                    )
                fields[key] = value
            if change.acknowledged_open < 0:
                raise TransitionError("the acknowledged open items cannot be negative")
            if change.reviewers not in (0, 1):
                raise TransitionError(f"reviewers must be 0 or 1, not {change.reviewers}")
            return SignOffEvent(
                seq=seq, at=when, by=by, fields=fields,
                acknowledged_open=int(change.acknowledged_open), reviewers=int(change.reviewers),
            )

        case Finish():
            result = _text(change.result, "finishing needs a result (e.g. success or rollback)")
            running = session.running()
            if running:
                raise TransitionError(
                    f"cannot finish: {len(running)} check(s) still running"
                    f" ({running[0][1]}): wait or cancel them"
                )
            return FinishEvent(seq=seq, at=when, by=by, result=result)

        case MarkInterrupted():
            running = session.running()
            actions = tuple(run.run_id for _item, run in session.running_actions())
            if not running and not actions:
                raise TransitionError("no check or action is running")
            return InterruptedEvent(
                seq=seq, at=when, by=by, checks=tuple(running), actions=actions, last_seen=change.last_seen
            )

        case Rebase():
            old = {i for i, s in session.items.items() if not s.orphan}
            new = {s.id for s in change.items}
            return RebaseEvent(
                seq=seq,
                at=when,
                by=by,
                checklist_path=change.checklist_path,
                checklist_sha256=change.checklist_sha256,
                checklist_title=change.checklist_title,
                previous_sha256=session.checklist_sha256,
                items=tuple(change.items),
                added=tuple(s.id for s in change.items if s.id not in old),
                removed=tuple(sorted(old - new)),
            )

        case RecordExported():
            if not change.path.startswith("/") or any(not c.isprintable() for c in change.path):
                raise TransitionError(f"a record's path must be absolute and printable: {change.path!r}")
            if not _SHA256_RE.fullmatch(change.body_sha256):
                raise TransitionError("a record's body sha256 must be 64 lowercase hex digits")
            return ExportedEvent(
                seq=seq, at=when, by=by, path=change.path, body_sha256=change.body_sha256,
                signed=bool(change.signed),
            )

        case _:
            assert_never(change)


# ---------------------------------------------------------------------------------------------- helpers


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


_SPACE_RE = re.compile(r"\s+")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def _who(by: str) -> str:
    who = _SPACE_RE.sub(" ", str(by)).strip()
    if not who:
        raise TransitionError("every change needs a who (by)")
    return who


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
