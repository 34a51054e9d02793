"""Events the engine sends while checks and actions run (pure data: no I/O, no UI).

The engine calls `on_event(event)` in its event loop, in this order per run:

    RunBegan  -> RunOutput* -> RunEnded

- RunBegan is sent when the run gets a concurrency slot (queued runs have sent nothing yet).
- RunOutput carries a batch of display lines (at most 50 ms or 2,000 lines of output per event),
  already redacted, stripped of escape/control characters and capped in length. The full output is
  in the run's log file (`log`, an absolute path).
- RunEnded carries the final Outcome (redacted). `cancelled` is True when the run was cancelled by
  the operator (the outcome is then `interrupted: cancelled`); consumers record a RunCancelled
  instead of a RunFinished. A run cancelled while still queued sends only RunEnded, with `log` "".
- A check that comes `after` a check that did not pass never starts: it sends only RunEnded, with the
  outcome `blocked: not run: dependency X failed` and `log` "" (consumers record it as a RunFinished).
- A run that tries more than once (`within`, `retry`, a wait after a 429) sends one RunBegan and one
  RunEnded; its outcome lists the attempts (`Outcome.attempts`), and the pauses show in its output.

The headless `check` command and the TUI turn these into session actions (RunStarted, RunFinished,
RunCancelled, ActionRan).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Union

from deploytui.core.status import Outcome


@dataclass(frozen=True)
class RunBegan:
    run_id: str
    item: str
    check_key: str
    """`<item>#<index>` for a bound check; `<item>!action<index>` for a fenced action of a node."""
    label: str
    log: str
    """Absolute path of the run's log file."""
    description: str = ""
    """What runs, one line, variables substituted and secrets masked."""
    action: bool = False
    """True for an action (a fenced block or kind = "action"): it changes the world."""


@dataclass(frozen=True)
class RunOutput:
    run_id: str
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunEnded:
    run_id: str
    item: str
    check_key: str
    outcome: Outcome
    log: str
    cancelled: bool = False
    action: bool = False
    exit_code: int | None = None
    """Exit code of an action's process (None for checks and for actions that did not start)."""


@dataclass(frozen=True)
class ActionLaunch:
    """A world-changing step about to start: what the engine hands `before_action` before it spawns the
    process (or sends the request), so that the session records it first."""

    run_id: str
    item: str
    check_key: str
    label: str
    command: str
    """Exactly what runs, substituted, secrets masked."""
    cwd: str
    """Absolute working directory."""
    log: str
    """Absolute path of the run's log file ("" when it has none)."""


BeforeAction = Callable[[ActionLaunch], None]
"""Called in the engine's loop before a world-changing step starts; when it raises, the step does not
run (it ends `error: not recorded: …`)."""


EngineEvent = Union[RunBegan, RunOutput, RunEnded]  # noqa: UP007 - a runtime alias
"""Any event the engine sends."""

EventHandler = Callable[[EngineEvent], None]
"""`on_event`: called in the engine's event loop; must not block."""


def action_key(item: str, index: int) -> str:
    """The check_key of a fenced action: `<item>!action<index>`."""
    return f"{item}!action{index}"
