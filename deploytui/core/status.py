"""Statuses of items and check runs, and the outcome of one check run."""

from __future__ import annotations

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

    @property
    def is_complete(self) -> bool:
        """Counts as finished for progress."""
        return self in COMPLETE

    @property
    def is_bad(self) -> bool:
        return self in BAD


COMPLETE = frozenset({Status.PASSED, Status.DONE, Status.SKIPPED, Status.OVERRIDDEN})
BAD = frozenset({Status.FAILED, Status.ERROR, Status.INTERRUPTED})


@dataclass
class Outcome:
    """The result of one check run: status, a one-line reason, measured values, an evidence excerpt."""

    status: Status
    reason: str
    values: dict[str, Scalar] = field(default_factory=dict)
    evidence: str = ""
    duration_ms: int = 0

    @classmethod
    def passed(cls, reason: str, evidence: str = "", **values: Scalar) -> Outcome:
        return cls(Status.PASSED, reason, dict(values), evidence)

    @classmethod
    def failed(cls, reason: str, evidence: str = "", **values: Scalar) -> Outcome:
        return cls(Status.FAILED, reason, dict(values), evidence)

    @classmethod
    def error(cls, reason: str, evidence: str = "", **values: Scalar) -> Outcome:
        return cls(Status.ERROR, reason, dict(values), evidence)
