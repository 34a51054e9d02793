"""What a session holds about each item: its status, check results, action runs, notes and history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from deploytui.core.status import Attempt, Scalar, Status


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
    step: str = ""
    """When the change is a world-changing step's start or end (its status may not move): `started`,
    or how it ended (`passed`, `failed`, `cancelled`); empty for any other change."""
    took_ms: int = 0
    """How long the step ran (set on its end)."""


STEP_STARTED = "started"
STEP_PASSED = "passed"
STEP_FAILED = "failed"
STEP_CANCELLED = "cancelled"
"""StatusChange.step values."""

RUN_VERDICTS = frozenset({Status.PASSED, Status.FLAKY, Status.FAILED, Status.ERROR})
"""Run endings whose duration is the check's own (not a blocked, cancelled or interrupted run's)."""


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
    previous: CheckResult | None = None
    """While it runs: the result it had before (a cancelled re-run gives it back)."""


ACTION_RUNNING = "running"
ACTION_ENDED = "ended"
ACTION_CANCELLED = "cancelled"
ACTION_INTERRUPTED = "interrupted"
"""The states of an ActionRun."""

ACTION_INTERRUPTED_WHY = "it may have partly run: check before running it again"


@dataclass
class ActionRun:
    """One run of a world-changing step of an item (a fenced block, or a bound action), after the operator
    confirmed it: recorded when it starts (ActionStarted), completed when it ends."""

    index: int
    run_id: str
    exit_code: int
    log: str
    at: str
    """When it ended (when it started, while it runs)."""
    by: str
    state: str = ACTION_ENDED
    check: str = ""
    label: str = ""
    command: str = ""
    command_sha256: str = ""
    cwd: str = ""
    host: str = ""
    pid: int = 0
    started: str = ""
    reason: str = ""
    """How it ended, in words: "exit 0", "cancelled by X at T", "interrupted: it may have partly run…"."""

    @property
    def running(self) -> bool:
        return self.state == ACTION_RUNNING

    def summary(self) -> str:
        """One line: how this run ended (or that it runs)."""
        if self.state == ACTION_RUNNING:
            return f"running since {self.started}"
        if self.reason:
            return self.reason
        return f"exit {self.exit_code}"


@dataclass
class Resumed:
    """The session opened for write again: who, when, from which host."""

    at: str
    by: str
    host: str


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
    overridden: bool = False
    """An override is in force: it stands while re-runs fail; a pass or an untick ends it."""
    notes: list[Note] = field(default_factory=list)
    checks: dict[str, CheckResult] = field(default_factory=dict)
    actions: list[ActionRun] = field(default_factory=list)
    history: list[StatusChange] = field(default_factory=list)
    run_durations: dict[str, dict[str, int]] = field(default_factory=dict)
    """Check key -> {run id: duration ms} of every run that ended with a verdict, oldest first (the
    checks hold only the latest run). Like the history, rebuilt from the event log, not saved in the
    session file (a state read from that file alone knows only each check's latest run)."""

    @property
    def note(self) -> str:
        """Every note, oldest first, one per line."""
        return "\n".join(n.text for n in self.notes)

    def step_keys(self) -> set[str]:
        """Keys of the bound checks of this item that are world-changing steps (a bound action, webhook
        or dump): the ones recorded by an ActionStarted."""
        return {a.check for a in self.actions if a.check and a.check in self.checks}

    def status_from_checks(self) -> Status:
        """What the item's check results say (pending when it has none).

        A world-changing step is not a check: it does something, it does not verify anything. Its pass
        therefore completes nothing by itself (the item stays as its checks and the operator leave it:
        tick it once the step did what it should, DESIGN.md "Statuses"); while it runs, or when it failed,
        errored or was interrupted, it counts like a check, so the item shows it and asks for a look."""
        steps = self.step_keys()
        return aggregate_checks(
            c.status
            for c in self.checks.values()
            if not (c.key in steps and c.status in (Status.PASSED, Status.FLAKY))
        )


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


def log_path(value: str) -> str:
    """A run's log path as a session may hold it: relative to the session dir and inside it. ValueError
    otherwise, so a crafted session cannot make a viewer read (and show) a file elsewhere."""
    if not value:
        return value
    parts = PurePosixPath(value.replace("\\", "/")).parts
    if value.startswith(("/", "~")) or ".." in parts or "\x00" in value:
        raise ValueError(f"log path {value!r} is outside the session directory")
    return value

