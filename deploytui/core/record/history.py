"""What a record tells beside the final state, read from the session's events: every run of every check
(cancelled and interrupted ones too), every override (also those a later run or an untick discarded),
who acted and when, and the interruptions and resumes of the session. Pure.

The state (`Session`) keeps only the latest run of a check; the event log keeps them all, so the record
is built from both: the state for statuses, the events for how the session got there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from deploytui.core.session.changes import SYSTEM
from deploytui.core.session.events import (
    CreatedEvent,
    Event,
    FinishEvent,
    InterruptedEvent,
    OverrideEvent,
    RunCancelledEvent,
    RunFinishedEvent,
    RunStartedEvent,
    SignOffEvent,
    UntickEvent,
)
from deploytui.core.status import Status


@dataclass
class RunEntry:
    """One run of one check: started, then finished, cancelled or interrupted (or still running)."""

    run_id: str
    started: str
    by: str
    end: str = ""
    """How it ended: a status word, "cancelled" or "interrupted" ("" while running)."""
    ended_at: str = ""
    ended_by: str = ""
    reason: str = ""
    duration_ms: int = 0
    log: str = ""


@dataclass
class OverrideEntry:
    item: str
    at: str
    by: str
    note: str
    discarded: str = ""
    """Why it no longer stands ("undone by bob at …", "replaced by a run at …"), "" when it holds."""


@dataclass
class Actor:
    name: str
    changes: int = 0
    first: str = ""
    last: str = ""


@dataclass
class Interruption:
    at: str
    checks: tuple[tuple[str, str], ...]
    resumed_by: str = ""
    """Who made the first change after it (the operator who reopened the session)."""
    resumed_at: str = ""


@dataclass
class RecordHistory:
    runs: dict[tuple[str, str], list[RunEntry]] = field(default_factory=dict)
    """(item, check key) -> its runs, oldest first."""
    overrides: list[OverrideEntry] = field(default_factory=list)
    actors: list[Actor] = field(default_factory=list)
    """People who made changes (the program's own marks left out), in order of first appearance."""
    interruptions: list[Interruption] = field(default_factory=list)
    created: str = ""
    created_by: str = ""
    signed_off: str = ""
    signed_off_by: str = ""
    finished: str = ""
    finished_by: str = ""
    acted: list[str] = field(default_factory=list)
    """When a person changed the session by hand (tick, skip, note, override, sign-off...), oldest first:
    the timeline's operator marks. Check and action runs are drawn as runs."""


_BY_HAND = frozenset(
    {"tick", "untick", "skip", "override", "note", "signoff", "finish", "resumed", "rebase", "exported"}
)
"""Event types that are a person's change by hand (not a run the engine carried out)."""


def history_of(events: Iterable[Event]) -> RecordHistory:
    """The history of a session from its events (the first N of its log, for a record of N events)."""
    history = RecordHistory()
    actors: dict[str, Actor] = {}
    standing: dict[str, OverrideEntry] = {}
    open_runs: dict[tuple[str, str], RunEntry] = {}
    pending: list[Interruption] = []
    for event in events:
        if event.by != SYSTEM and event.type in _BY_HAND:
            history.acted.append(event.at)
        if event.by != SYSTEM:
            actor = actors.setdefault(event.by, Actor(event.by, first=event.at))
            actor.changes += 1
            actor.last = event.at
            for interruption in pending:
                interruption.resumed_by, interruption.resumed_at = event.by, event.at
            pending = []
        match event:
            case CreatedEvent():
                history.created, history.created_by = event.at, event.by
            case RunStartedEvent():
                entry = RunEntry(event.run_id, event.at, event.by)
                history.runs.setdefault((event.item, event.check), []).append(entry)
                open_runs[(event.item, event.check)] = entry
            case RunFinishedEvent():
                key = (event.item, event.check)
                entry_or_none = open_runs.pop(key, None)
                if entry_or_none is None or entry_or_none.run_id != event.run_id:
                    entry_or_none = RunEntry(event.run_id, event.at, event.by)
                    history.runs.setdefault(key, []).append(entry_or_none)
                entry_or_none.end = str(event.status)
                entry_or_none.ended_at, entry_or_none.ended_by = event.at, event.by
                entry_or_none.reason, entry_or_none.duration_ms = event.reason, event.duration_ms
                entry_or_none.log = event.log
                _discard(standing, event.item, f"replaced by the run at {event.at} ({event.status})")
            case RunCancelledEvent():
                key = (event.item, event.check)
                entry_or_none = open_runs.get(key)
                if entry_or_none is not None and entry_or_none.run_id == event.run_id:
                    open_runs.pop(key)
                else:
                    entry_or_none = RunEntry(event.run_id, event.at, event.by)
                    history.runs.setdefault(key, []).append(entry_or_none)
                entry_or_none.end = "cancelled" if event.started else "cancelled before it started"
                entry_or_none.ended_at, entry_or_none.ended_by = event.at, event.by
            case InterruptedEvent():
                for key in event.checks:
                    entry_or_none = open_runs.pop(key, None)
                    if entry_or_none is not None:
                        entry_or_none.end = str(Status.INTERRUPTED)
                        entry_or_none.ended_at = event.at
                interruption = Interruption(event.at, tuple(event.checks))
                history.interruptions.append(interruption)
                pending.append(interruption)
            case OverrideEvent():
                override = OverrideEntry(event.item, event.at, event.by, event.note)
                history.overrides.append(override)
                standing[event.item] = override
            case UntickEvent():
                _discard(standing, event.item, f"undone by {event.by} at {event.at}")
            case SignOffEvent():
                history.signed_off, history.signed_off_by = event.at, event.by
            case FinishEvent():
                history.finished, history.finished_by = event.at, event.by
            case _:
                pass
    history.actors = list(actors.values())
    return history


def _discard(standing: dict[str, OverrideEntry], item: str, why: str) -> None:
    entry = standing.pop(item, None)
    if entry is not None:
        entry.discarded = why
