"""Runs: the one place both faces turn engine events into session changes.

The TUI and `deploytui check` used to map engine events each in their own way, and the two copies
drifted (one recorded runs with no kind, so the record lost its "(http)" tag; one recorded a
cancellation for a run that never began; the two named a different actor). Here:

- `build_engine(config, live)` makes the engine a session's runs go through;
- `runnable_checks(...)` picks the bound checks to run (never world-changing bindings, never the
  rollback procedure's unless it is what was asked for);
- `RunRecorder.record(event)` applies the session change for one engine event: `RunStarted` when a run
  gets its slot, `RunFinished` / `RunCancelled` / `ActionRan` when it ends. Every change names the
  operator the runs are done for. A cancellation is recorded only for a run that had begun (a run
  cancelled while queued left nothing in the session to cancel);
- `run_checks(...)` runs checks headless to the end and returns one `CheckRun` per check.

The TUI calls `record` from its message handler (workers post, the screen applies); the CLI calls it
from the engine's callback. Both get the same events in the same order, so the same session files.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deploytui.core.checklist import Checklist
from deploytui.core.config import Config
from deploytui.core.errors import DeployError
from deploytui.core.events import ActionLaunch, EngineEvent, RunBegan, RunEnded
from deploytui.core.session import (
    HEARTBEAT_SECONDS,
    ActionRan,
    ActionStarted,
    Change,
    Heartbeat,
    RunCancelled,
    RunFinished,
    RunStarted,
    Session,
    latest_statuses,
    rerun_keys,
)
from deploytui.core.spec import CheckSpec
from deploytui.core.status import Outcome, Status
from deploytui.core.threads import no_pause
from deploytui.engine import Engine, new_run_id
from deploytui.engine.spawn import discard, process_kinds
from deploytui.engine.workers import WorkerPool, start_workers
from deploytui.storage.base import LiveSession


def parse_iso(value: str | None) -> datetime | None:
    """A session timestamp (ISO 8601, `Z` allowed) as a datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def worker_pool(
    config: Config, specs: Sequence[CheckSpec], started: Mapping[str, subprocess.Popen[bytes]] | None = None
) -> WorkerPool:
    """The worker processes these checks' kinds run in (qdrant, gemini), started now: a headless command
    starts them before it opens its session, so that they import their clients on the other core
    meanwhile (build_engine takes the pool; its engine's close() ends them). `started`: workers started
    earlier still (services/prestart.py), adopted when these checks use their kind, else killed."""
    pool = WorkerPool(config.redactor())
    wanted = set(process_kinds(spec.kind for spec in specs))
    for kind, proc in (started or {}).items():
        if kind in wanted:
            pool.adopt(kind, proc)
        else:
            discard(proc)
    start_workers(pool, specs)
    return pool


def build_engine(
    config: Config,
    live: LiveSession,
    pause: Callable[[], None] = no_pause,
    workers: WorkerPool | None = None,
) -> Engine:
    """The engine for a session: the config's limits, variables and secrets; logs in the session.
    `pause`: sharing() when the engine runs in a thread beside a UI's (CheckContext.pause); `workers`:
    a pool started already (worker_pool)."""
    return Engine(
        concurrency=config.concurrency,
        default_timeout=config.timeout,
        redactor=live.redactor,
        log_for=live.new_log,
        env=config.environment(),
        vars=config.vars,
        base_dir=config.base_dir,
        session_started=parse_iso(live.session.started),
        checks=config.checks,
        pause=pause,
        workers=workers,
    )


def describe_checks(config: Config, specs: Sequence[CheckSpec]) -> list[tuple[CheckSpec, str]]:
    """What each check would do, variables substituted and secrets masked, without running anything
    (`deploytui check --dry-run`)."""
    engine = Engine(
        concurrency=config.concurrency,
        default_timeout=config.timeout,
        redactor=config.redactor(),
        env=config.environment(),
        vars=config.vars,
        base_dir=config.base_dir,
    )
    return [(spec, engine.describe(spec)) for spec in specs]


def is_world_changing(spec: CheckSpec) -> bool:
    """Whether a binding changes the world (kind = "action", a webhook, a backup that dumps): it runs
    only on the operator's confirmation, never as part of a check run. `read_only = true` says it only
    looks."""
    from deploytui.checks.registry import get_kind

    if spec.read_only:
        return False
    try:
        return bool(get_kind(spec.kind).is_action(spec.params))
    except (KeyError, ImportError):
        return False  # reported as an error when it runs


def runnable_checks(
    checklist: Checklist, config: Config, under: Iterable[str] | None = None
) -> list[CheckSpec]:
    """The bound checks to run, in config order: every one (`under` None), or those bound to the given
    nodes and their descendants. World-changing bindings never; the rollback procedure's checks only
    when a rollback node itself was asked for."""
    specs = [s for s in config.checks if not is_world_changing(s) and s.item in checklist.nodes]
    if under is None:
        return [s for s in specs if not checklist.node(s.item).rollback]
    wanted: set[str] = set()
    for node_id in under:
        node = checklist.node(node_id)
        ids = {node_id, *(d.id for d in checklist.descendants(node_id))}
        if not node.rollback:
            ids = {i for i in ids if not checklist.node(i).rollback}
        wanted |= ids
    return [s for s in specs if s.item in wanted]


def failed_checks(
    checklist: Checklist, config: Config, session: Session, under: Iterable[str] | None = None
) -> list[CheckSpec]:
    """The runnable checks whose latest result in `session` is failed, error, blocked, interrupted or
    flaky ("re-run what failed"), under the given nodes or everywhere."""
    keys = set(rerun_keys(session, under, checklist))
    return [s for s in runnable_checks(checklist, config, under) if s.key in keys]


def select_checks(checklist: Checklist, config: Config, only: Sequence[str] | None) -> list[CheckSpec]:
    """`deploytui check --only ID...`: the checks under those ids; DeployError for an unknown id (with
    the closest ones) or when nothing is bound there."""
    if not only:
        return runnable_checks(checklist, config)
    ids = []
    for node_id in only:
        node_id = node_id.strip().strip("/")
        if node_id not in checklist.nodes:
            close = difflib.get_close_matches(node_id, list(checklist.nodes), n=2, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise DeployError(
                f"--only: no item or section {node_id!r} in the checklist{hint} (see `deploytui list`)"
            )
        ids.append(node_id)
    selected = runnable_checks(checklist, config, ids)
    if not selected:
        raise DeployError(f"--only {' '.join(only)}: no checks are bound there (see `deploytui list`)")
    return selected


@dataclass
class CheckRun:
    """One check of a headless run, as it ended."""

    spec: CheckSpec
    run_id: str
    outcome: Outcome | None = None
    log: str = ""
    """The run's log, relative to the session (as the session records it)."""
    cancelled: bool = False

    @property
    def status(self) -> Status:
        return self.outcome.status if self.outcome is not None else Status.INTERRUPTED

    @property
    def reason(self) -> str:
        return self.outcome.reason if self.outcome is not None else "did not run"


Refused = Callable[[DeployError], None]
"""Called when the session refuses a change (the run goes on; the face says why)."""


@dataclass
class RunRecorder:
    """Engine events -> session changes for one session, on behalf of `operator`."""

    live: LiveSession
    operator: str
    specs: Mapping[str, CheckSpec] = field(default_factory=dict)
    """Bound checks by key: a run's kind and label come from its binding."""
    on_refused: Refused | None = None
    host: str = field(default_factory=socket.gethostname)
    _begun: set[str] = field(default_factory=set)
    _last_beat: float = field(default_factory=time.monotonic)

    def attach(self, engine: Engine) -> Engine:
        """Have the engine record every world-changing step here before it starts."""
        engine.before_action = self.before_action
        return engine

    def before_action(self, launch: ActionLaunch) -> None:
        """ActionStarted, logged and fsynced before the step's process is spawned (or its request sent).
        Raises when the session refuses it: the engine then does not run the step."""
        self.live.apply(
            ActionStarted(
                launch.item,
                launch.check_key,
                launch.run_id,
                launch.command,
                launch.cwd,
                self.host,
                os.getpid(),
                self.operator,
                label=launch.label,
                log=self.live.relative(launch.log) if launch.log else "",
            )
        )

    def beat(self, every: float = HEARTBEAT_SECONDS) -> bool:
        """A heartbeat when something runs and the last one is `every` seconds old: "interrupted at" is
        then at most that far from a crash. True when one was logged."""
        now = time.monotonic()
        if now - self._last_beat < every:
            return False
        session = self.live.session
        if not session.anything_running():
            return False
        self._last_beat = now
        try:
            self.live.apply(Heartbeat())
        except DeployError:
            return False
        return True

    @classmethod
    def for_config(
        cls, live: LiveSession, config: Config, operator: str, on_refused: Refused | None = None
    ) -> RunRecorder:
        return cls(live, operator, {s.key: s for s in config.checks}, on_refused)

    def record(self, event: EngineEvent) -> Change | None:
        """Apply the session change `event` calls for (None for output, which only the log keeps)."""
        change = self.change_for(event)
        if change is None:
            return None
        try:
            self.live.apply(change)
        except DeployError as exc:  # a transition the session refuses: say so, keep running
            if self.on_refused is None:
                raise
            self.on_refused(exc)
        return change

    def change_for(self, event: EngineEvent) -> Change | None:
        if isinstance(event, RunBegan):
            self._begun.add(event.run_id)
            if event.action:
                return None  # an action is recorded when it ends (ActionRan)
            spec = self.specs.get(event.check_key)
            return RunStarted(
                event.item,
                event.check_key,
                event.run_id,
                self.operator,
                kind=spec.kind if spec is not None else "",
                label=event.label,
                log=self.live.relative(event.log) if event.log else "",
            )
        if not isinstance(event, RunEnded):
            return None
        began = event.run_id in self._begun
        self._begun.discard(event.run_id)
        log = self.live.relative(event.log) if event.log else ""
        if event.action:
            index = int(event.check_key.rsplit("!action", 1)[-1]) if "!action" in event.check_key else 0
            code = event.exit_code if event.exit_code is not None else -1
            return ActionRan(event.item, index, event.run_id, code, log, self.operator, event.cancelled)
        if event.cancelled:
            return RunCancelled(event.item, event.check_key, event.run_id, self.operator) if began else None
        spec = self.specs.get(event.check_key)
        return RunFinished(
            event.item,
            event.check_key,
            event.run_id,
            event.outcome,
            log,
            self.operator,
            kind=spec.kind if spec is not None else "",
        )


EventSink = Callable[[EngineEvent], Any]
"""Also told of every engine event (after the session recorded it): a face's live display."""


async def run_checks(
    engine: Engine,
    recorder: RunRecorder,
    specs: Sequence[CheckSpec],
    on_event: EventSink | None = None,
) -> list[CheckRun]:
    """Run `specs` to the end, recording each run in the session; one CheckRun per spec, in order."""
    run_ids = [new_run_id() for _ in specs]
    runs = {rid: CheckRun(spec, rid) for rid, spec in zip(run_ids, specs, strict=True)}

    def handle(event: EngineEvent) -> None:
        recorder.record(event)
        if isinstance(event, RunEnded) and event.run_id in runs:
            run = runs[event.run_id]
            run.outcome = event.outcome
            run.log = recorder.live.relative(event.log) if event.log else ""
            run.cancelled = event.cancelled
        if on_event is not None:
            on_event(event)

    known = latest_statuses(recorder.live.session)
    beating = asyncio.ensure_future(heartbeat(recorder))
    try:
        await engine.run_many(list(specs), handle, run_ids=run_ids, known=known)
    finally:
        beating.cancel()
    return [runs[rid] for rid in run_ids]


async def heartbeat(recorder: RunRecorder, every: float = HEARTBEAT_SECONDS) -> None:
    """Until cancelled: a heartbeat every `every` seconds while anything runs."""
    while True:
        await asyncio.sleep(min(1.0, every))
        recorder.beat(every)
