"""The engine: runs checks (and confirmed actions) in asyncio with a concurrency limit, a per-check
timeout, cancellation, batched and redacted output streaming, and a full log file per run.

    engine = Engine(concurrency=8, redactor=config.redactor(), log_dir=session_dir / "logs",
                    env=config.environment(), vars=config.vars, base_dir=config_dir)
    outcomes = await engine.run_many(config.checks, on_event)

Order, isolation and time (deploytui.toml `after`, `exclusive`, `resource`, `cooldown`, `within`, `retry`)
are honoured by `run_many` and `run_check`: the scheduling lives in engine/schedule.py (a Board of slots,
resources and cooldowns shared by every run; a Plan per batch for dependencies and the order of bursts),
the attempts of one run here. A run that tries more than once keeps one RunBegan/RunEnded pair and one log;
its Outcome lists every attempt.

Guarantees, whatever a kind does:
- a run ends: at its timeout it is cancelled and ends `failed: timed out after 10s`;
- an exception inside a kind ends the run `error: <one line>`, never a crash;
  a `${NAME}` with no value ends it `error: NAME is not set`;
- every text leaving the engine (events, outcome reason/values/evidence, the log file) is redacted;
- the live stream is batched (<= BATCH_SECONDS or <= BATCH_LINES per RunOutput) with display lines
  cleaned of escapes and capped at DISPLAY_LINE_CHARS; the log keeps every line whole.

Why one module (~840 lines): a run's life (slot, attempts, output stream, log, timeout, cancel,
the world-changing hook) is one state machine; the board and plan (`schedule.py`) and the attempts
(`attempts.py`) are already their own modules.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import itertools
import os
import re
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from deploytui.checks.base import CheckKind, Footprint, outcome_of, url_origin
from deploytui.checks.expect import exception_reason
from deploytui.checks.registry import get_kind
from deploytui.core.durations import format_duration
from deploytui.core.events import (
    ActionLaunch,
    BeforeAction,
    EngineEvent,
    EventHandler,
    RunBegan,
    RunEnded,
    RunOutput,
    action_key,
)
from deploytui.core.redact import Redactor
from deploytui.core.spec import DEFAULT_ACTION_TIMEOUT, CheckContext, CheckSpec, MissingVariable
from deploytui.core.status import Attempt, Outcome, Scalar, Status
from deploytui.core.text import (
    EXCERPT_LINES,
    REASON_KEPT_CHARS,
    cap,
    display_line,
    excerpt,
    inert,
    is_display_safe,
    one_line,
)
from deploytui.core.threads import no_pause
from deploytui.engine.attempts import combine, cooling, next_attempt
from deploytui.engine.schedule import GLOBAL, Board, Entry, Footing, Grant, Plan, Policy
from deploytui.engine.workers import WorkerPool

BATCH_SECONDS = 0.05
"""Longest a line of live output waits before it is sent in a RunOutput batch."""

BATCH_LINES = 2000
"""Most lines in one RunOutput batch: a flood is sent in chunks this size, never line by line."""

DISPLAY_LINE_CHARS = 4096
"""A live line longer than this is cut for display (the log file keeps it whole)."""

CANCEL_GRACE_SECONDS = 2.0
"""After cancelling a run (timeout or operator), how long its cleanup may take before it is abandoned."""

MIN_ATTEMPT_SECONDS = 0.05
"""Shortest budget of the last attempt of a `within` poll (what is left of `within` may be less)."""

_executor_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_run_counter = itertools.count(1)


def new_run_id() -> str:
    """A run id unique within the process and sortable by start: `r<epoch ms>-<n>`."""
    return f"r{int(time.time() * 1000)}-{next(_run_counter)}"


def _safe_name(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run_id)[:120] or "run"


def _open_log(path: Path) -> IO[str]:
    """The run's log, opened for writing; its directory made only when missing (a mkdir per run was a
    tenth of the engine's own time per check)."""
    try:
        return open(path, "w", encoding="utf-8", errors="replace", newline="\n")  # noqa: SIM115
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "w", encoding="utf-8", errors="replace", newline="\n")  # noqa: SIM115


class _RunStream:
    """Per-run output: masks it as a stream, writes it to the log, batches display lines to on_event.

    Lines from ctx.emit are collected raw and masked together at each flush (every BATCH_SECONDS or
    BATCH_LINES): a secret with line breaks (a PEM key) is masked across the lines it spans, and one
    masking pass per batch costs less than one per line. The masker holds back the end of a batch that
    a multi-line secret could still span (at most the longest such secret) until the next batch; when
    no new line comes, the next timer tick releases it.

    The log file of a check (`defer_log`) is created BATCH_SECONDS after the run starts, or at its first
    batch of output, or at its end, whichever comes first; its header waits in memory until then, as
    output waits for its batch. Creating a file costs ~170 us of this machine's kernel time: 50 checks
    at once paid ~9 ms for it before their first request went out (benchmarks/bench_parallel_http.py).
    After a kill -9 the log holds what it held before: every batch sent, the header of every run past
    its first BATCH_SECONDS. A world-changing step's log is created before it starts (its evidence).
    """

    def __init__(
        self,
        run_id: str,
        redactor: Redactor,
        on_event: EventHandler,
        log_path: Path | None,
        loop: asyncio.AbstractEventLoop,
        *,
        defer_log: bool = False,
    ) -> None:
        self.run_id = run_id
        self.redactor = redactor
        self.masker = redactor.stream()
        self.on_event = on_event
        self.loop = loop
        self.loop_thread = threading.get_ident()
        self.raw: list[str] = []
        """Lines emitted since the last flush, not masked yet."""
        self.partial = ""
        """Masked text after the last line break the masker released (only a huge line is cut)."""
        self.pending: list[str] = []
        self.tail: deque[str] = deque(maxlen=EXCERPT_LINES)
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.lines = 0
        self.log: IO[str] | None = None
        self.log_error: OSError | None = None
        """Why the deferred log could not be created (the run then ends in error: no evidence)."""
        self._unopened: Path | None = None
        self._early: list[str] = []
        """Log text written before the deferred log exists (its header)."""
        self._log_timer: asyncio.TimerHandle | None = None
        if log_path is not None:
            if defer_log:
                self._unopened = log_path
                self._log_timer = loop.call_later(BATCH_SECONDS, self._open_log)
            else:
                self.log = _open_log(log_path)

    def _open_log(self) -> IO[str] | None:
        """The log file, created now if it was deferred (with what was written to it meanwhile)."""
        path = self._unopened
        if path is not None:
            self._unopened = None
            if self._log_timer is not None:
                self._log_timer.cancel()
                self._log_timer = None
            try:
                self.log = _open_log(path)
                self.log.write("".join(self._early))
                self.log.flush()
            except OSError as exc:
                self.log_error = exc
                self.log = None
            self._early = []
        return self.log

    def write_log(self, text: str) -> None:
        """A line for the log only (headers, the final verdict): after all the output so far."""
        self.drain()
        if self._unopened is not None:
            self._early.append(self.redactor.redact(text) + "\n")
        elif self.log is not None:
            self.log.write(self.redactor.redact(text) + "\n")

    def flush_log(self) -> None:
        """What the log holds so far, handed to the kernel (not fsynced: a kill -9 keeps it)."""
        if self.log is not None:
            self.log.flush()

    def emit(self, line: str) -> None:
        """ctx.emit: callable from the loop or from a worker thread."""
        if threading.get_ident() != self.loop_thread:
            try:
                self.loop.call_soon_threadsafe(self._emit, line)
            except RuntimeError:  # loop closed: the run is long over
                pass
            return
        self._emit(line)

    def _emit(self, line: str) -> None:
        if self.closed:
            return
        if not isinstance(line, str):
            line = str(line)
        self.raw.append(line)
        if len(self.raw) >= BATCH_LINES:
            self.flush()
        elif self.timer is None:
            self.timer = self.loop.call_later(BATCH_SECONDS, self.flush)

    def flush(self) -> None:
        """Mask and send what was emitted; a tick with nothing new releases what the masker held."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.raw:
            text = "\n".join(self.raw) + "\n"
            self.raw = []
            self._output(self.masker.feed(text))
        elif self.masker.holding:
            self._output(self.masker.finish())
        self._send()
        if self.masker.holding and not self.closed:
            self.timer = self.loop.call_later(BATCH_SECONDS, self.flush)

    def drain(self) -> None:
        """Everything emitted so far masked, logged and sent (before the verdict, the evidence)."""
        if self.raw or self.masker.holding:
            self.flush()
            self._output(self.masker.finish())
            self._send()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _output(self, text: str) -> None:
        """Masked output text (whole lines but after a cut huge line) to the log and the display."""
        if self.partial:
            text = self.partial + text
            self.partial = ""
        if not text:
            return
        lines = text.split("\n")
        self.partial = lines.pop()
        if not lines:
            return
        body = text[: len(text) - len(self.partial)]
        if is_display_safe(body):
            # Plain output (the common flood) is shown as it is: one check for the whole batch.
            shown = lines
        else:
            shown = [display_line(line) for line in lines]
            joined = "\n".join(shown)
            # Mask again after cleaning: an escape sequence or a carriage return inside a secret hides it
            # from the first pass, and whoever shows the output later (the app reading the log back, the
            # record's excerpt) cleans it too. Then the log keeps the masked clean line, not the bytes.
            masked = self.redactor.redact(joined)
            if masked != joined:
                again = masked.split("\n")
                if len(again) == len(lines):
                    lines = [line if a == c else a for line, c, a in zip(lines, shown, again, strict=True)]
                else:
                    lines = again
                shown = again
                body = "\n".join(lines) + "\n"
        log = self._open_log()
        if log is not None:
            log.write(body)
        if max(map(len, shown)) > DISPLAY_LINE_CHARS:
            shown = [cap(line, DISPLAY_LINE_CHARS) for line in shown]
        self.pending.extend(shown)
        self.tail.extend(shown[-EXCERPT_LINES:])
        self.lines += len(shown)

    def _send(self) -> None:
        if self.log is not None and self.pending:
            # On disk as it arrives (flushed, not fsynced): after a kill -9 the log holds every batch.
            try:
                self.log.flush()
            except OSError:
                pass
        while self.pending:
            batch, self.pending = self.pending[:BATCH_LINES], self.pending[BATCH_LINES:]
            _deliver(self.on_event, RunOutput(self.run_id, batch))

    def close(self) -> None:
        self.drain()
        if self.partial:
            self._output("\n")
            self._send()
        self.closed = True
        self._open_log()  # a run shorter than BATCH_SECONDS has a log too
        if self.log is not None:
            self.log.close()
            self.log = None


@dataclass(frozen=True)
class _RunJob:
    """One run to carry out: a bound check or a confirmed action, as the engine's core sees both."""

    run_id: str
    item: str
    check_key: str
    label: str
    describe: Callable[[], str]
    """The log header's description; called inside the guarded part (a kind's describe may fail)."""
    body: Callable[[CheckContext], Any]
    """The run itself: awaited with the run's context, answers an Outcome."""
    timeout: float
    action: bool
    footing: Footing = Footing()
    """What the run needs from the board (resources used and held)."""
    policy: Policy | None = None
    """How often it is tried (checks); None: once (actions)."""
    entry: Entry | None = None
    """Its place in the batch's plan (dependencies, order)."""
    changes_world: bool = False
    """A fenced block or a world-changing binding: `before_action` records it before it starts."""
    clients: bool = False
    """Its kind imports client modules: it starts once no client import is under way (CheckKind.clients)."""
    worker: str | None = None
    """Its kind runs in a worker process (CheckKind.process): it starts once that worker is ready."""


def _import_quietly(modules: Sequence[str]) -> None:
    """Import each module; one that fails is left to the kind that needs it to report when it runs.

    What the imports made (modules, classes, a client library's tables: ~33,000 objects with aiohttp) lives
    as long as the process: it is then moved out of the collector's sight (`gc.freeze`), so that a full
    collection falling inside a run of checks does not walk it (one took 23 ms of a 50-check run's
    ~320 ms here, benchmarks/bench_parallel_http.py). The TUI and the CLI freeze what they load the same
    way; what this leaves unfreed (garbage of that moment) is made once per client library."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001, S112 - reported by the kind's own import
            continue
    gc.freeze()


@dataclass
class _Held:
    """The board place a run holds right now (released between attempts)."""

    grant: Grant | None = None


def _deliver(on_event: EventHandler, event: EngineEvent) -> None:
    """Call the consumer; its failure must not take a run (or the engine) down."""
    try:
        on_event(event)
    except Exception:  # noqa: BLE001 - a broken consumer is not the check's fault
        pass


class Engine:
    """Runs checks and confirmed actions. One engine per session; safe to share across tasks of a loop."""

    def __init__(
        self,
        concurrency: int = 8,
        default_timeout: float = 10.0,
        redactor: Redactor | None = None,
        log_dir: str | Path | None = None,
        env: dict[str, str] | None = None,
        vars: dict[str, str] | None = None,  # noqa: A002 - the config's name for them
        base_dir: str | Path | None = None,
        session_started: datetime | None = None,
        log_for: Callable[[str], Path] | None = None,
        action_timeout: float = DEFAULT_ACTION_TIMEOUT,
        checks: Sequence[CheckSpec] | None = None,
        before_action: BeforeAction | None = None,
        pause: Callable[[], None] = no_pause,
        workers: WorkerPool | None = None,
    ) -> None:
        """`checks`: every check of the config, when a run may hold only some of them: their cooldowns
        still apply to the resources they name, and their names label dependencies outside the run.
        `pause`: every run's CheckContext.pause (the TUI's engine thread shares the GIL: sharing()).
        `workers`: a pool started already (start_workers), else a new one."""
        self.concurrency = max(1, int(concurrency))
        self.default_timeout = float(default_timeout)
        self.redactor = redactor if redactor is not None else Redactor()
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.log_for = log_for
        self.env = dict(env) if env is not None else dict(os.environ)
        self.vars = dict(vars or {})
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self.session_started = session_started
        self.action_timeout = action_timeout
        self.catalog = list(checks or ())
        self._board_state: Board | None = None
        self._board_loop: asyncio.AbstractEventLoop | None = None
        self.before_action = before_action
        """Told of every world-changing step before it starts (the session records it there)."""
        self.pause = pause
        self._tasks: dict[str, asyncio.Task[Outcome]] = {}
        self._groups: dict[str, set[str]] = {}
        self._imports: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[None]]]
        self._imports = weakref.WeakKeyDictionary()
        """Per event loop: the client imports under way, by module (see `_load_clients`)."""
        self.workers = workers if workers is not None else WorkerPool(self.redactor)
        """The worker processes of the kinds that run in one (CheckKind.process), started on first use."""
        self._finalizer = weakref.finalize(self, self.workers.close)

    def close(self) -> None:
        """End the engine's worker processes (waited for). A run after this starts them again."""
        self.workers.close()

    # ----------------------------------------------------------------- helpers

    def context(
        self, timeout: float | None = None, emit: Callable[[str], None] | None = None
    ) -> CheckContext:
        return CheckContext(
            vars=self.vars,
            env=self.env,
            redactor=self.redactor,
            emit=emit or (lambda line: None),
            base_dir=self.base_dir,
            session_started=self.session_started,
            timeout=self.default_timeout if timeout is None else timeout,
            pause=self.pause,
        )

    @property
    def cwd(self) -> Path:
        """The absolute directory runs start in."""
        try:
            return self.base_dir.resolve()
        except OSError:
            return self.base_dir.absolute()

    def log_path(self, run_id: str) -> Path | None:
        if self.log_for is not None:
            return self.log_for(run_id)
        if self.log_dir is not None:
            return self.log_dir / f"{_safe_name(run_id)}.log"
        return None

    def describe(self, spec: CheckSpec) -> str:
        """What a check (or a kind = "action") will do, one line, substituted, secrets masked."""
        try:
            kind = get_kind(spec.kind)()
            text = kind.describe(spec, self.context(spec.timeout))
        except MissingVariable as exc:
            text = f"{spec.kind} check (cannot run: {exc.name} is not set)"
        except KeyError:
            text = f"unknown kind {spec.kind!r}"
        except Exception as exc:  # noqa: BLE001 - a description must never crash a dialog
            text = f"{spec.kind} check ({exception_reason(exc)})"
        # Masked before one_line too: it turns a multi-line secret's line breaks into spaces.
        r = self.redactor
        return r.redact(one_line(r.redact(text), 2000))

    def describe_action(self, action: Any) -> str:
        """The exact command a fenced action runs (secrets masked), for the confirmation dialog."""
        from deploytui.checks.kinds.command import action_argv

        try:
            argv = action_argv(action.lang, action.code)
        except ValueError as exc:
            return self.redactor.redact(str(exc))
        shell = "python3" if argv[0] == "python3" else os.path.basename(argv[0])
        # inert: a control character in the block shows as a symbol, so nothing in the command can hide
        # part of itself from the operator who confirms it.
        return self.redactor.redact(inert(f"{shell}: {argv[-1]}"))

    def is_action(self, spec: CheckSpec) -> bool:
        """Whether the binding changes the world (runs only on confirmation; `check` never runs it)."""
        try:
            return bool(get_kind(spec.kind).is_action(spec.params))
        except Exception:  # noqa: BLE001 - an unknown kind is reported when it runs
            return False

    def _board(self) -> Board:
        """The engine's board in the running loop (slots, resources, cooldowns), made on first use."""
        loop = asyncio.get_running_loop()
        if self._board_state is None or self._board_loop is not loop:
            self._board_state = Board(self.concurrency)
            self._board_loop = loop
            for spec in self.catalog:
                self._declare(self._board_state, spec)
        if loop not in _executor_loops:
            # Blocking clients (docker SDK, sync drivers) run in threads; a hung one keeps its thread
            # until its socket times out, so the loop's default pool (cores + 4) would starve.
            workers = max(32, self.concurrency * 4)
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploytui-check")
            loop.set_default_executor(pool)
            _executor_loops.add(loop)
        return self._board_state

    def _declare(self, board: Board, spec: CheckSpec) -> None:
        if spec.cooldown is not None:
            _footing, cool, _burst = self.footing(spec)
            board.declare_cooldown(cool, spec.cooldown)

    def footing(self, spec: CheckSpec) -> tuple[Footing, frozenset[str], bool]:
        """What a check needs from the board, the resources its cooldown applies to, and whether it is
        a burst: the kind's footprint (an HTTP check's origin) with the config's exclusive/resource."""
        ctx = self.context(spec.timeout)
        try:
            footprint = get_kind(spec.kind)().footprint(spec, ctx)
        except Exception:  # noqa: BLE001 - unknown kind, unset variable: the run reports it
            footprint = Footprint()
        uses, holds = set(footprint.uses), set(footprint.holds)
        if spec.resource:
            try:
                name = str(ctx.substitute(spec.resource)).strip()
            except MissingVariable:
                name = spec.resource
            resource = url_origin(name) if "://" in name else None
            holds.add(resource or name)
        if spec.exclusive:
            holds.add(GLOBAL)
        else:
            uses.add(GLOBAL)
        uses -= holds
        cool = frozenset((uses | holds) - {GLOBAL}) or frozenset({GLOBAL})
        return Footing(frozenset(uses), frozenset(holds)), cool, footprint.burst

    def _reason(self, text: str) -> str:
        """A reason as kept (whole up to REASON_KEPT_CHARS; cutting to a line is for the screen)."""
        r = self.redactor
        return r.redact(one_line(r.redact(str(text)), REASON_KEPT_CHARS))

    def _sanitize(self, outcome: Outcome, tail: Iterable[str], duration_ms: int) -> Outcome:
        """Redact and clean every text of an outcome; fill evidence from the output tail."""
        r = self.redactor
        status = outcome.status if isinstance(outcome.status, Status) else Status(str(outcome.status))
        reason = self._reason(outcome.reason or status.value)
        values: dict[str, Scalar] = {}
        for key, value in (outcome.values or {}).items():
            if isinstance(value, (bool, int, float)):
                values[str(key)] = value
            else:
                values[str(key)] = r.redact(one_line(r.redact(str(value)), 500))
        evidence_src = outcome.evidence or "\n".join(tail)
        evidence = r.redact(excerpt(r.redact(evidence_src), r))
        attempts = [
            Attempt(a.status, self._reason(a.reason), a.duration_ms, a.started_ms, a.number)
            for a in outcome.attempts
        ]
        retry_after = outcome.retry_after
        if not isinstance(retry_after, (int, float)) or isinstance(retry_after, bool):
            retry_after = None
        return Outcome(
            status,
            reason,
            values,
            evidence,
            duration_ms,
            attempts,
            bool(outcome.rate_limited),
            retry_after,
            unreached=outcome.unreached is True,
        )

    # ------------------------------------------------------------- public runs

    async def run_check(
        self,
        spec: CheckSpec,
        run_id: str | None,
        on_event: EventHandler,
        group: str | None = None,
        *,
        known: Mapping[str, Status] | None = None,
    ) -> Outcome:
        """Run one bound check to its Outcome. Never raises (but CancelledError of the caller's task).

        Its isolation (exclusive, resource, cooldowns) and time (within, retry) hold as in `run_many`;
        its `after` dependencies are judged by `known` (check key -> latest status): one that did not pass
        ends it `blocked` without running."""
        return (await self.run_many([spec], on_event, [run_id or new_run_id()], group, known=known))[0]

    def _check_job(
        self, spec: CheckSpec, run_id: str, entry: Entry, prepared: tuple[Footing, frozenset[str], bool]
    ) -> _RunJob:
        timeout = spec.timeout if spec.timeout and spec.timeout > 0 else self.default_timeout

        async def body(ctx: CheckContext) -> Outcome:
            try:
                kind_cls: type[CheckKind] = get_kind(spec.kind)
            except KeyError:
                return Outcome.error(f"unknown kind {spec.kind!r}")
            except ImportError as exc:
                return Outcome.error(f"kind {spec.kind!r} cannot load: {one_line(str(exc), 200)}")
            if kind_cls.process:
                outcome = await self.workers.run(spec.kind, spec, ctx)
                if outcome is not None:
                    return outcome
                why = self.workers.failure(spec.kind) or "no reason given"
                ctx.emit(f"{spec.kind} worker could not start ({why}): running in this process")
            kind = kind_cls()
            return await kind.run(spec, ctx)

        try:
            kind_class = get_kind(spec.kind)
            clients, worker = bool(kind_class.clients), spec.kind if kind_class.process else None
        except (KeyError, ImportError):
            clients, worker = False, None  # the body reports it
        footing, cool, burst = prepared
        return _RunJob(
            run_id=run_id,
            item=spec.item,
            check_key=spec.key,
            label=spec.label,
            describe=lambda: self.describe(spec),
            body=body,
            timeout=timeout,
            action=False,
            footing=footing,
            policy=Policy.of(spec, cool, burst),
            entry=entry,
            changes_world=self.is_action(spec),
            clients=clients,
            worker=worker,
        )

    async def run_action(
        self, node_id: str, action: Any, run_id: str | None, on_event: EventHandler, group: str | None = None
    ) -> Outcome:
        """Run a fenced block of a node (only after the operator confirmed it). Outcome values: exit_code."""
        from deploytui.checks.kinds.command import action_argv, run_process

        run_id = run_id or new_run_id()

        async def body(ctx: CheckContext) -> Outcome:
            argv = action_argv(action.lang, action.code)
            result = await run_process(argv, cwd=self.base_dir, env=self.env, emit=ctx.emit, pause=ctx.pause)
            if result.exit_code == 0:
                return Outcome.passed("exit 0", exit_code=0)
            return Outcome.failed(f"exit code {result.exit_code}", exit_code=result.exit_code)

        job = _RunJob(
            run_id=run_id,
            item=node_id,
            check_key=action_key(node_id, action.index),
            label=f"action {action.index + 1}",
            describe=lambda: self.describe_action(action),
            body=body,
            timeout=self.action_timeout,
            action=True,
            changes_world=True,
        )
        return await self._run(job, on_event, group)

    async def run_many(
        self,
        specs: Sequence[CheckSpec],
        on_event: EventHandler,
        run_ids: Sequence[str] | None = None,
        group: str | None = None,
        *,
        known: Mapping[str, Status] | None = None,
    ) -> list[Outcome]:
        """Run checks concurrently (at most `concurrency` at once); outcomes in the order of `specs`.

        Order and isolation: a check waits for the checks of the batch it comes `after` and ends
        `blocked` (without running) when one of them did not pass; a dependency outside the batch is
        judged by `known` (check key -> latest status; unknown or pending: not waited for). Exclusive
        checks run alone, checks on one resource never overlap, a burst runs after the batch's other
        checks on its origin, and cooldowns hold (engine/schedule.py)."""
        ids = list(run_ids) if run_ids is not None else [new_run_id() for _ in specs]
        if len(ids) != len(specs):
            raise ValueError("run_ids must match specs one to one")
        board = self._board()
        entries: list[Entry] = []
        prepared = [self.footing(spec) for spec in specs]
        for spec, (footing, cool, burst) in zip(specs, prepared, strict=True):
            entries.append(Entry(spec.key, spec, footing, burst))
            if spec.cooldown is not None:
                board.declare_cooldown(cool, spec.cooldown)
        plan = Plan(entries, known)
        plan.set_labels({s.key: (f"{s.item} ({s.name})" if s.name else s.item) for s in self.catalog})
        self._load_clients(specs)
        tasks = [
            asyncio.ensure_future(self._run(self._check_job(spec, rid, entry, prep), on_event, group))
            for spec, rid, entry, prep in zip(specs, ids, entries, prepared, strict=True)
        ]
        try:
            return list(await asyncio.gather(*tasks))
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def _load_clients(self, specs: Sequence[CheckSpec]) -> None:
        """Start the worker process of each kind of these checks that runs in one (CheckKind.process:
        it imports its client there, on another core, meanwhile); import, in one thread, the client
        modules of the other kinds (and of a kind whose worker cannot start) not imported yet.

        The checks with clients start only once no such import is under way (`_clients_loaded`): an
        import holds the GIL for up to seconds (qdrant_client ~2 s, google.genai ~1.4 s here), and a check
        timed meanwhile would report the import as its target's latency (a Redis PING of 2.3 s, failing
        its 1 s threshold, was one). Checks without clients (env, git, commands) do not wait."""
        wanted: set[str] = set()
        for spec in specs:
            try:
                kind = get_kind(spec.kind)
            except (KeyError, ImportError):
                continue  # the run reports it
            if not kind.process or not self.workers.start(spec.kind):
                wanted.update(kind.clients)
        loads = self._imports.setdefault(asyncio.get_running_loop(), {})
        missing = sorted(m for m in wanted if m not in sys.modules and m not in loads)
        if not missing:
            return
        future: asyncio.Future[None] = asyncio.ensure_future(asyncio.to_thread(_import_quietly, missing))

        def done(_future: asyncio.Future[None]) -> None:
            for module in missing:
                loads.pop(module, None)

        for module in missing:
            loads[module] = future
        future.add_done_callback(done)

    async def _clients_loaded(self) -> None:
        """Wait until no client import of this loop is under way (they are shared: a waiter cancelled
        leaves them running for the others)."""
        loads = self._imports.get(asyncio.get_running_loop())
        while loads:
            await asyncio.wait(set(loads.values()))

    def cancel(self, run_id: str) -> bool:
        """Cancel one run (queued or running). True when it was still going."""
        task = self._tasks.get(run_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def cancel_group(self, group: str) -> int:
        """Cancel every run started with this group; the number cancelled."""
        return sum(self.cancel(rid) for rid in list(self._groups.get(group, ())))

    def cancel_all(self) -> int:
        return sum(self.cancel(rid) for rid in list(self._tasks))

    @property
    def running(self) -> list[str]:
        # A copy first: the app reads this from its own thread while the engine's loop runs (EngineThread).
        return [rid for rid, task in list(self._tasks.items()) if not task.done()]

    # ------------------------------------------------------------------ core

    async def _run(self, job: _RunJob, on_event: EventHandler, group: str | None) -> Outcome:
        run_id = job.run_id
        task = asyncio.ensure_future(self._guarded(job, on_event))
        entry = job.entry
        if entry is not None:
            # A task cancelled before its first step never runs its finally: the runs after it must
            # still learn that it ended.
            task.add_done_callback(lambda _task: entry.finish(Status.INTERRUPTED))
        self._tasks[run_id] = task
        if group is not None:
            self._groups.setdefault(group, set()).add(run_id)
        try:
            # shield: cancelling the caller must not skip the run's own clean ending (RunEnded, log)
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # The caller is being cancelled: stop the run, let it report, then propagate.
                if not task.done():
                    task.cancel()
                    await asyncio.wait({task})
                raise
            # The run was cancelled outside the guarded part of its body.
            return Outcome(Status.INTERRUPTED, "cancelled by the operator")
        finally:
            self._tasks.pop(run_id, None)
            if group is not None:
                members = self._groups.get(group)
                if members is not None:
                    members.discard(run_id)
                    if not members:
                        self._groups.pop(group, None)

    async def _guarded(self, job: _RunJob, on_event: EventHandler) -> Outcome:
        run_id, item, check_key, action = job.run_id, job.item, job.check_key, job.action
        loop = asyncio.get_running_loop()
        board = self._board()
        held = _Held()
        final: Outcome | None = None
        try:
            try:
                if job.worker is not None:
                    # Its client loads in its worker process (or, when none can start, here: below).
                    await self.workers.ready(job.worker)
                if job.clients:
                    await self._clients_loaded()
                blocked = await job.entry.wait_turn() if job.entry is not None else None
                if blocked is None:
                    held.grant = await board.acquire(job.footing)
            except asyncio.CancelledError:
                final = Outcome(Status.INTERRUPTED, "cancelled before it started")
                ended = RunEnded(run_id, item, check_key, final, "", cancelled=True, action=action)
                _deliver(on_event, ended)
                return final
            if blocked is not None:
                # Never started: no RunBegan and no log, like a run cancelled while queued.
                final = Outcome(Status.BLOCKED, self._reason(blocked.reason), {"blocked_by": blocked.key})
                _deliver(on_event, RunEnded(run_id, item, check_key, final, "", action=action))
                return final
            final = await self._started(job, on_event, loop, board, held)
            return final
        finally:
            if held.grant is not None:
                board.release(held.grant)
            if job.entry is not None:
                job.entry.finish(final.status if final is not None else Status.INTERRUPTED)

    async def _started(
        self,
        job: _RunJob,
        on_event: EventHandler,
        loop: asyncio.AbstractEventLoop,
        board: Board,
        held: _Held,
    ) -> Outcome:
        """The run from its first slot on: log header, RunBegan, its attempts, RunEnded."""
        run_id, item, check_key, action = job.run_id, job.item, job.check_key, job.action
        stream: _RunStream | None = None
        try:
            log_path = self.log_path(run_id)
            description = job.describe()
            # A check's log is created once its work is under way (_RunStream); a step's before it starts.
            defer = not job.changes_world
            stream = _RunStream(run_id, self.redactor, on_event, log_path, loop, defer_log=defer)
            stream.write_log(f"# deploytui run {run_id}: {check_key} ({job.label})")
            # Every header line starts with "# " (a multi-line action would otherwise put lines in the
            # header that read like output; a trailing newline left a blank one).
            for line in description.rstrip("\n").split("\n"):
                stream.write_log(f"# {line}")
            stream.write_log(f"# started {datetime.now().astimezone().isoformat(timespec='seconds')}")
            if job.changes_world:
                stream.flush_log()  # on disk before the step starts: a kill -9 then leaves its header
            if job.changes_world and self.before_action is not None:
                launch = ActionLaunch(
                    run_id, item, check_key, job.label, description, str(self.cwd), str(log_path or "")
                )
                try:
                    self.before_action(launch)
                except Exception as exc:  # noqa: BLE001 - not recorded: it must not run
                    reason = f"not run: it could not be recorded first ({one_line(str(exc), 300)})"
                    final = Outcome(Status.ERROR, self.redactor.redact(reason))
                    stream.write_log(f"# {final.status.value}: {final.reason}")
                    stream.close()
                    _deliver(
                        on_event, RunEnded(run_id, item, check_key, final, str(log_path or ""), action=action)
                    )
                    return final
            _deliver(
                on_event,
                RunBegan(run_id, item, check_key, job.label, str(log_path or ""), description, action=action),
            )
            started = time.monotonic()
            outcome, cancelled = await self._attempts(job, stream, board, held)
            duration_ms = int(round((time.monotonic() - started) * 1000))
            stream.drain()  # output the masker still holds: into the evidence, and before the verdict
            final = self._sanitize(outcome, stream.tail, duration_ms)
            code = final.values.get("exit_code") if action else None
            exit_code = code if isinstance(code, int) and not isinstance(code, bool) else None
            stream.write_log(f"# {final.status.value}: {final.reason} ({duration_ms} ms)")
            stream.close()
            if stream.log_error is not None:
                raise stream.log_error  # no evidence: an error, as when the log could not be created first
            _deliver(
                on_event,
                RunEnded(
                    run_id,
                    item,
                    check_key,
                    final,
                    str(log_path or ""),
                    cancelled=cancelled,
                    action=action,
                    exit_code=exit_code,
                ),
            )
            return final
        except Exception as exc:  # noqa: BLE001 - e.g. the log dir is not writable
            r = self.redactor
            final = Outcome(Status.ERROR, r.redact(one_line(r.redact(exception_reason(exc)))))
            if stream is not None:
                stream.close()
            _deliver(on_event, RunEnded(run_id, item, check_key, final, "", action=action))
            return final

    async def _attempts(
        self, job: _RunJob, stream: _RunStream, board: Board, held: _Held
    ) -> tuple[Outcome, bool]:
        """Try the run as its policy says (within: poll until it passes; retry: again after a failure; a
        429 with a cooldown on its resources: wait and try once more); (outcome, cancelled by operator).

        Between attempts the run gives its board place back: waiting holds no slot and no resource."""
        policy = job.policy
        first = time.monotonic()
        deadline = first + policy.within if policy is not None and policy.within is not None else None
        tries: list[tuple[Outcome, Attempt]] = []
        rate_wait: float | None = None
        cancelled = False
        while True:
            began = time.monotonic()
            timeout = job.timeout
            if deadline is not None:
                timeout = max(MIN_ATTEMPT_SECONDS, min(timeout, deadline - began))
            outcome, cancelled = await self._execute(job.run_id, job.body, timeout, stream)
            ended = time.monotonic()
            if held.grant is not None:
                board.release(held.grant, cooling(policy, outcome))
                held.grant = None
            attempt = Attempt(
                outcome.status,
                str(outcome.reason),
                int(round((ended - began) * 1000)),
                int(round((began - first) * 1000)),
                len(tries) + 1,
            )
            tries.append((outcome, attempt))
            if cancelled or policy is None:
                break
            step = next_attempt(policy, tries, ended, deadline, rate_wait is None, board, job.footing)
            if step is None:
                break
            pause, why = step
            if why == "rate limited":
                rate_wait = pause
                board.cool(policy.cool_resources, pause)
            total = policy.retry_attempts if policy.retry_attempts > 1 else None
            stream.emit(
                f"── {why}: attempt {len(tries) + 1}" + (f" of {total}" if total and why == "failed" else "")
                + f" in {format_duration(pause)} ──"
            )
            try:
                if pause > 0:
                    await asyncio.sleep(pause)
                held.grant = await board.acquire(job.footing)
            except asyncio.CancelledError:
                tries.append(
                    (
                        Outcome(Status.INTERRUPTED, "cancelled by the operator"),
                        Attempt(Status.INTERRUPTED, "cancelled by the operator", 0,
                                int(round((time.monotonic() - first) * 1000)), len(tries) + 1),
                    )
                )
                cancelled = True
                break
        if policy is None or (len(tries) == 1 and not policy.repeats):
            return tries[-1][0], cancelled
        return combine(policy, tries, rate_wait), cancelled

    async def _execute(
        self, run_id: str, body: Callable[[CheckContext], Any], timeout: float, stream: _RunStream
    ) -> tuple[Outcome, bool]:
        """Run the body in its own task, bounded by `timeout`; (outcome, cancelled by operator)."""
        ctx = self.context(timeout, stream.emit)
        inner: asyncio.Task[Outcome] = asyncio.ensure_future(self._call(body, ctx))
        try:
            done, _ = await asyncio.wait({inner}, timeout=timeout)
        except asyncio.CancelledError:
            await self._stop(inner)
            return Outcome(Status.INTERRUPTED, "cancelled by the operator"), True
        if inner in done:
            return inner.result(), False
        await self._stop(inner)
        return Outcome(Status.FAILED, f"timed out after {format_duration(timeout)}"), False

    @staticmethod
    async def _stop(inner: asyncio.Task[Outcome]) -> None:
        """Cancel a kind's task and give its cleanup (killing a process group) a bounded grace."""
        inner.cancel()
        try:
            await asyncio.wait({inner}, timeout=CANCEL_GRACE_SECONDS)
        except asyncio.CancelledError:
            pass
        if inner.done() and not inner.cancelled():
            inner.exception()  # retrieved, so asyncio does not log "exception never retrieved"

    @staticmethod
    async def _call(body: Callable[[CheckContext], Any], ctx: CheckContext) -> Outcome:
        """The kind itself: every failure becomes an Outcome."""
        return await outcome_of(body(ctx))
