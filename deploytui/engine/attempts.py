"""The attempts of one run: when to try again, how long to wait, and the one Outcome they make.

- `within = "2m"` polls a failing check every `interval` until it passes or the time is up; a pass is
  `passed` (readiness, not flakiness), with `attempts` and `waited_ms` in its values;
- `retry = { attempts = 3, interval = "2s" }` tries a failed check again; a pass after a failed attempt
  is `flaky`, its reason naming every failed attempt's;
- a 429 (an error: the target refused to judge) is waited out once, for the resource's cooldown or the
  target's Retry-After, whichever is longer, when a check on one of its resources declares a cooldown.

Errors other than a 429 end the run at once (bad config or tooling does not fix itself by waiting).
"""

from __future__ import annotations

from collections.abc import Sequence

from deploytui.core.durations import format_duration
from deploytui.core.status import Attempt, Outcome, Scalar, Status
from deploytui.engine.schedule import RETRY_AFTER_MAX, Board, Footing, Policy

ATTEMPTS_KEPT = 100
"""Attempts of one run listed in its Outcome: a long poll keeps its first and last ATTEMPTS_KEPT / 2."""


def cooling(policy: Policy | None, outcome: Outcome) -> dict[str, float]:
    """After an attempt of a burst or of a check with a cooldown: how long its resources cool
    (its cooldown or the target's Retry-After, whichever is longer). Nothing when no request reached the
    target (a refused connection): `deploytui check` against a stopped app waited 12 s per burst for it."""
    if policy is None or (policy.cooldown is None and not policy.burst) or outcome.unreached:
        return {}
    seconds = max(policy.cooldown or 0.0, outcome.retry_after or 0.0)
    return dict.fromkeys(policy.cool_resources, seconds) if seconds > 0 else {}


def next_attempt(
    policy: Policy,
    tries: Sequence[tuple[Outcome, Attempt]],
    now: float,
    deadline: float | None,
    may_wait_out_limit: bool,
    board: Board,
    footing: Footing,
) -> tuple[float, str] | None:
    """(pause, why) before another attempt, or None: the run ends with what it has."""
    outcome = tries[-1][0]
    if outcome.status is Status.PASSED:
        return None
    if outcome.rate_limited and may_wait_out_limit:
        cooldown = board.cooldown_of(footing.resources)
        if cooldown is not None:
            wait = max(cooldown, outcome.retry_after or 0.0)
            if wait <= RETRY_AFTER_MAX:
                return wait, "rate limited"
    if deadline is not None and (outcome.status is Status.FAILED or outcome.rate_limited):
        pause = policy.interval
        if outcome.rate_limited:
            pause = max(pause, outcome.retry_after or 0.0)
        return (pause, "not ready") if now + pause < deadline else None
    judged = sum(1 for o, _a in tries if not o.rate_limited)
    if outcome.status is Status.FAILED and judged < policy.retry_attempts:
        return policy.retry_interval, "failed"
    return None


def combine(
    policy: Policy, tries: Sequence[tuple[Outcome, Attempt]], rate_wait: float | None
) -> Outcome:
    """One outcome from every attempt: the last one's verdict, values and evidence, the attempts
    listed; a pass after a failed attempt under `retry` is `flaky`, under `within` it is `passed`."""
    last = tries[-1][0]
    attempts = [a for _o, a in tries]
    values: dict[str, Scalar] = dict(last.values)
    values["attempts"] = len(attempts)
    waited = attempts[-1].started_ms
    if policy.within is not None:
        values["waited_ms"] = waited
    status, reason = last.status, str(last.reason)
    failed = [a for o, a in tries[:-1] if o.status is Status.FAILED]
    judged = sum(1 for o, _a in tries if not o.rate_limited)
    if status is Status.PASSED:
        if policy.retry_attempts > 1 and failed:
            status = Status.FLAKY
            earlier = "; ".join(f"attempt {a.number}: {a.reason}" for a in failed)
            reason = f"{reason} (flaky: passed on attempt {judged} of {policy.retry_attempts}; {earlier})"
        elif policy.within is not None and len(attempts) > 1:
            reason = f"{reason} (ready after {format_duration(waited / 1000)}, attempt {len(attempts)})"
        elif rate_wait is not None:
            reason = f"{reason} (after waiting {format_duration(rate_wait)} for the target's rate limit)"
    elif status is not Status.INTERRUPTED:
        if policy.within is not None and (
            status is Status.FAILED or (last.rate_limited and len(attempts) > 1)
        ):
            reason = (
                f"not ready within {format_duration(policy.within)} ({len(attempts)} attempts): {reason}"
            )
        elif policy.retry_attempts > 1 and status is Status.FAILED:
            reason = f"attempt {judged} of {policy.retry_attempts}: {reason}"
        elif rate_wait is not None and last.rate_limited:
            reason = f"{reason}, again after waiting {format_duration(rate_wait)}"
    if len(attempts) > ATTEMPTS_KEPT:
        half = ATTEMPTS_KEPT // 2
        attempts = attempts[:half] + attempts[-half:]
    return Outcome(
        status,
        reason,
        values,
        last.evidence,
        0,
        attempts if len(tries) > 1 else [],
        last.rate_limited,
        last.retry_after,
    )
