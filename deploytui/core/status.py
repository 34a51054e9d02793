"""Statuses of items and check runs, and the outcome of one check run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

Scalar: TypeAlias = str | int | float | bool
"""A measured value: what a check reports beside its status (status code, latency, counts, versions)."""


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    """Could not run: bad config, a variable not set, a client library missing."""
    DONE = "done"
    """Ticked by hand."""
    SKIPPED = "skipped"
    OVERRIDDEN = "overridden"
    """Failed, then accepted by the operator with a note."""
    INTERRUPTED = "interrupted"
    """Was running when the process died."""
    FLAKY = "flaky"
    """Passed only after a failed attempt under `retry`: counts as passing, shown apart."""
    BLOCKED = "blocked"
    """Not run: a check it comes `after` did not pass."""

    @property
    def is_complete(self) -> bool:
        """Counts as finished for progress."""
        return self in COMPLETE

    @property
    def is_bad(self) -> bool:
        return self in BAD

    @property
    def is_passing(self) -> bool:
        """A check run that counts as passing (exit codes, `after` dependencies): passed or flaky."""
        return self in PASSING


COMPLETE = frozenset({Status.PASSED, Status.DONE, Status.SKIPPED, Status.OVERRIDDEN, Status.FLAKY})
BAD = frozenset({Status.FAILED, Status.ERROR, Status.INTERRUPTED, Status.BLOCKED})
PASSING = frozenset({Status.PASSED, Status.FLAKY})
"""Check results that count as a pass."""

RERUN = frozenset({Status.FAILED, Status.ERROR, Status.BLOCKED, Status.INTERRUPTED, Status.FLAKY})
"""Latest check results that "re-run what failed" runs again (flaky included: it needed a retry)."""


@dataclass(frozen=True)
class Attempt:
    """One try of a check run that tried more than once (`retry`, `within`, a wait after a 429)."""

    status: Status
    reason: str
    duration_ms: int = 0
    started_ms: int = 0
    """When the attempt began, in ms after the run's first attempt began."""
    number: int = 0
    """1 for the first attempt (a long poll keeps its first and last attempts, numbered as they ran)."""

    def to_dict(self) -> dict[str, Scalar]:
        return {
            "number": self.number,
            "status": str(self.status),
            "reason": self.reason,
            "duration_ms": self.duration_ms,
            "started_ms": self.started_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Attempt:
        """Inverse of to_dict; ValueError/TypeError on a malformed entry."""
        return cls(
            Status(str(data["status"])),
            str(data.get("reason", "")),
            int(str(data.get("duration_ms", 0))),
            int(str(data.get("started_ms", 0))),
            int(str(data.get("number", 0))),
        )


@dataclass
class Outcome:
    """The result of one check run: status, a one-line reason, measured values, an evidence excerpt."""

    status: Status
    reason: str
    values: dict[str, Scalar] = field(default_factory=dict)
    evidence: str = ""
    duration_ms: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    """Every attempt, oldest first, when the run tried more than once; empty for a single try."""
    rate_limited: bool = False
    """The target answered 429 to a check that does not judge rate limiting: no verdict (an error)."""
    retry_after: float | None = None
    """Seconds the target asked to wait (Retry-After of a 429), when it said."""
    unreached: bool = False
    """Nothing reached the target (the connection was refused): no limiter counted a request, so the
    cooldown a burst or a cooled check owes its resources is not owed."""

    @classmethod
    def passed(cls, reason: str, evidence: str = "", **values: Scalar) -> Outcome:
        return cls(Status.PASSED, reason, dict(values), evidence)

    @classmethod
    def failed(cls, reason: str, evidence: str = "", **values: Scalar) -> Outcome:
        return cls(Status.FAILED, reason, dict(values), evidence)

    @classmethod
    def error(cls, reason: str, evidence: str = "", **values: Scalar) -> Outcome:
        return cls(Status.ERROR, reason, dict(values), evidence)
