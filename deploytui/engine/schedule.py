"""Order and isolation of runs: who waits for whom, what may overlap, and the cooldowns between them.

Two parts:

- `Board` (one per engine and event loop, shared by every batch): the concurrency slots, the resources
  runs use and hold, and until when a resource cools down. A run asks for a `Footing` and gets a
  `Grant` once it may start:
  - every run uses `GLOBAL`; an `exclusive = true` check holds it, so nothing else runs meanwhile;
  - a held resource (`resource = "name"`, a burst's origin) has one run on it and nobody else using it;
  - a used resource (an HTTP check's origin) is shared, but not while someone holds it or it cools down.
  Waiting runs are let in as things change, in the order they asked; a run holding something waits for
  the users of it to finish (they are never stopped halfway).
- `Plan` (one per `run_many` batch): the `after` dependencies among its checks, the order of bursts
  (a burst runs after every other check of the batch on its origin, unless that check waits for it), and
  the end of each run. A check whose dependency did not pass ends `blocked` without running.

Pure asyncio: no I/O, no kinds. The engine computes each run's footprint (checks.base.Footprint) and
hands it here.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from deploytui.core.spec import CheckSpec
from deploytui.core.status import Status

GLOBAL = "*"
"""The resource every run uses; an exclusive check holds it."""

RETRY_AFTER_MAX = 300.0
"""Longest wait the engine accepts from a cooldown or a target's Retry-After (seconds): a target asking
for more ends the check `error: rate limited ...` instead of stalling the run for an hour."""


@dataclass(frozen=True)
class Footing:
    """What one run needs from the board."""

    uses: frozenset[str] = frozenset({GLOBAL})
    holds: frozenset[str] = frozenset()

    @property
    def resources(self) -> frozenset[str]:
        return self.uses | self.holds


@dataclass
class Grant:
    """A run's place on the board, from `acquire` until `release`."""

    footing: Footing
    released: bool = False


class Board:
    """Slots, resources and cooldowns shared by every run of an engine (in one event loop)."""

    def __init__(self, concurrency: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.concurrency = max(1, int(concurrency))
        self.clock = clock
        self.active = 0
        self.users: Counter[str] = Counter()
        self.holders: set[str] = set()
        self.cool_until: dict[str, float] = {}
        self.cooldowns: dict[str, float] = {}
        """Resource -> the longest `cooldown` a check declares on it (from every check the engine knows)."""
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ state

    def declare_cooldown(self, resources: Iterable[str], seconds: float) -> None:
        for resource in resources:
            self.cooldowns[resource] = max(self.cooldowns.get(resource, 0.0), seconds)

    def cooldown_of(self, resources: Iterable[str]) -> float | None:
        """The longest declared cooldown on any of `resources`; None when none declares one."""
        found = [self.cooldowns[r] for r in resources if r in self.cooldowns]
        return max(found) if found else None

    def cool(self, resources: Iterable[str], seconds: float) -> None:
        """Nobody starts on these resources for `seconds` (an earlier, longer cooldown stays)."""
        if seconds <= 0:
            return
        until = self.clock() + min(seconds, RETRY_AFTER_MAX)
        for resource in resources:
            self.cool_until[resource] = max(self.cool_until.get(resource, 0.0), until)
        self._notify()

    def _wait_needed(self, footing: Footing) -> float | None:
        """None: may start now; 0: wait for a change; > 0: seconds until a cooldown on it ends."""
        if self.active >= self.concurrency:
            return 0.0
        for resource in footing.holds:
            if self.users[resource] or resource in self.holders:
                return 0.0
        for resource in footing.uses:
            if resource in self.holders:
                return 0.0
        now = self.clock()
        cooling = max((self.cool_until.get(r, 0.0) - now for r in footing.resources), default=0.0)
        return cooling if cooling > 0 else None

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # ------------------------------------------------------------ acquiring

    async def acquire(self, footing: Footing) -> Grant:
        """Wait until the run may start; CancelledError leaves the board as it was."""
        while True:
            wait = self._wait_needed(footing)
            if wait is None:
                self.active += 1
                for resource in footing.uses:
                    self.users[resource] += 1
                self.holders.update(footing.holds)
                return Grant(footing)
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), timeout=wait or None)
            except TimeoutError:
                pass

    def release(self, grant: Grant, cool: Mapping[str, float] | None = None) -> None:
        """Give the place back (once; synchronous, so a cancelled run can always do it); `cool`: resources
        nobody may start on for that many seconds from now."""
        if grant.released:
            return
        grant.released = True
        self.active -= 1
        for resource in grant.footing.uses:
            self.users[resource] -= 1
            if self.users[resource] <= 0:
                del self.users[resource]
        self.holders.difference_update(grant.footing.holds)
        now = self.clock()
        for resource, seconds in (cool or {}).items():
            if seconds > 0:
                until = now + min(seconds, RETRY_AFTER_MAX)
                self.cool_until[resource] = max(self.cool_until.get(resource, 0.0), until)
        self._notify()


# ------------------------------------------------------------------------------------------------ plan


@dataclass(frozen=True)
class Blocked:
    """Why a check does not run: the first of its dependencies (in `after` order) that did not pass."""

    key: str
    status: Status
    label: str

    @property
    def reason(self) -> str:
        how = {
            Status.FAILED: "failed",
            Status.ERROR: "could not run (error)",
            Status.BLOCKED: "was blocked",
            Status.INTERRUPTED: "was interrupted",
        }.get(self.status, f"ended {self.status}")
        return f"not run: dependency {self.label} {how}"


@dataclass
class Entry:
    """One run of the batch: what it waits for, and its end (a future the runs after it wait on)."""

    key: str
    spec: CheckSpec | None
    footing: Footing
    burst: bool = False
    deps: tuple[str, ...] = ()
    """Keys in the batch it comes `after` (in the config's order)."""
    external: tuple[tuple[str, Status], ...] = ()
    """Dependencies outside the batch, with their latest known status."""
    order: tuple[str, ...] = ()
    """Keys in the batch it only runs after (a burst after the other checks on its origin)."""
    plan: Plan | None = None
    end: asyncio.Future[Status] | None = None

    async def wait_turn(self) -> Blocked | None:
        """Wait for the dependencies and the order; the dependency that did not pass, if one did not."""
        plan = self.plan
        if plan is None:
            return None
        for key, status in self.external:
            if status not in (Status.PENDING, Status.RUNNING) and not status.is_passing:
                return Blocked(key, status, plan.label(key))
        waits = [f for key in (*self.deps, *self.order) for f in plan.ends(key) if f is not self.end]
        if waits:
            await asyncio.wait(waits)
        for key in self.deps:
            for future in plan.ends(key):
                status = future.result()
                if not status.is_passing:
                    return Blocked(key, status, plan.label(key))
        return None

    def finish(self, status: Status) -> None:
        """Record how the run ended (once; later calls are ignored)."""
        if self.end is not None and not self.end.done():
            self.end.set_result(status)


class Plan:
    """The order of one batch of checks."""

    def __init__(self, entries: Sequence[Entry], known: Mapping[str, Status] | None = None) -> None:
        self.entries = list(entries)
        loop = asyncio.get_running_loop()
        self._by_key: dict[str, list[Entry]] = {}
        self._labels: dict[str, str] = {}
        for entry in self.entries:
            entry.plan = self
            entry.end = loop.create_future()
            self._by_key.setdefault(entry.key, []).append(entry)
            if entry.spec is not None:
                self._labels.setdefault(entry.key, _label(entry.spec))
        known = dict(known or {})
        for entry in self.entries:
            if entry.spec is None:
                continue
            deps = [k for k in entry.spec.after if k in self._by_key]
            entry.deps = tuple(deps)
            entry.external = tuple(
                (k, known.get(k, Status.PENDING)) for k in entry.spec.after if k not in self._by_key
            )
        self._order_bursts()
        self._break_cycles()

    def set_labels(self, labels: Mapping[str, str]) -> None:
        """Names for dependencies outside the batch (from the engine's catalog)."""
        for key, label in labels.items():
            self._labels.setdefault(key, label)

    def label(self, key: str) -> str:
        return self._labels.get(key, key.rsplit("#", 1)[0])

    def ends(self, key: str) -> list[asyncio.Future[Status]]:
        return [e.end for e in self._by_key.get(key, ()) if e.end is not None]

    def _dependents(self, key: str) -> set[str]:
        """Keys that wait (directly or not) for `key` through `after`."""
        reverse: dict[str, set[str]] = {}
        for entry in self.entries:
            for dep in entry.deps:
                reverse.setdefault(dep, set()).add(entry.key)
        found: set[str] = set()
        stack = [key]
        while stack:
            for child in reverse.get(stack.pop(), ()):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found

    def _order_bursts(self) -> None:
        for burst in self.entries:
            if not burst.burst:
                continue
            held = burst.footing.holds - {GLOBAL}
            after_it = self._dependents(burst.key)
            order = [
                other.key
                for other in self.entries
                if not other.burst
                and other.key != burst.key
                and other.key not in after_it
                and other.key not in burst.deps
                and held & other.footing.resources
            ]
            burst.order = tuple(dict.fromkeys(order))

    def _break_cycles(self) -> None:
        """Runs built by hand (not from a config, which refuses cycles) may wait for each other: the
        implicit burst order gives way first; an `after` cycle keeps its entries from waiting at all."""
        def cycle_through(start: Entry, edges: Callable[[Entry], Iterable[str]]) -> bool:
            seen: set[str] = set()
            stack = list(edges(start))
            while stack:
                key = stack.pop()
                if key == start.key:
                    return True
                if key in seen:
                    continue
                seen.add(key)
                for entry in self._by_key.get(key, ()):
                    stack.extend(edges(entry))
            return False

        for entry in self.entries:
            if entry.order and cycle_through(entry, lambda e: (*e.deps, *e.order)):
                entry.order = ()
        for entry in self.entries:
            if entry.deps and cycle_through(entry, lambda e: e.deps):
                entry.deps = ()


def _label(spec: CheckSpec) -> str:
    return f"{spec.item} ({spec.name})" if spec.name else spec.item


@dataclass
class Policy:
    """How often one check is tried (from its spec): `within` polls, `retry` retries."""

    within: float | None = None
    interval: float = 2.0
    retry_attempts: int = 1
    retry_interval: float = 2.0
    cooldown: float | None = None
    """The check's own `cooldown` (after it, others on its resources wait)."""
    cool_resources: frozenset[str] = field(default_factory=frozenset)
    """The resources its cooldown (and a burst's Retry-After) applies to."""
    burst: bool = False

    @classmethod
    def of(cls, spec: CheckSpec, cool_resources: frozenset[str], burst: bool) -> Policy:
        retry = spec.retry
        return cls(
            within=spec.within,
            interval=spec.interval,
            retry_attempts=retry.attempts if retry is not None else 1,
            retry_interval=retry.interval if retry is not None else 2.0,
            cooldown=spec.cooldown,
            cool_resources=cool_resources,
            burst=burst,
        )

    @property
    def repeats(self) -> bool:
        return self.within is not None or self.retry_attempts > 1
