"""A clock for tests of what the store writes: its readings do not depend on the day the tests run.

Pass it to `SessionStore(dir, clock=TickingClock())` with a fixed session id, operator and host, and every
byte of the session's files (event times, ids, the session file) is the same on any day, on any machine.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
"""The first reading of a TickingClock (any fixed moment would do)."""


class TickingClock:
    """`start`, then one `step` later at every reading: times stay distinct and ordered, yet fixed."""

    def __init__(self, start: datetime = START, step: timedelta = timedelta(seconds=1)) -> None:
        self.next = start
        self.step = step

    def __call__(self) -> datetime:
        moment = self.next
        self.next += self.step
        return moment
