"""The engine's worker processes: one per kind whose runs go to a process of its own (`CheckKind.process`).

    pool = WorkerPool(redactor)
    pool.start("qdrant")                     # as soon as a batch uses the kind: it imports meanwhile
    await pool.ready("qdrant")               # before a run's clock starts
    outcome = await pool.run("qdrant", spec, ctx)   # None: no worker could start (run it in-process)
    pool.close()                             # stdin closed, the process waited for (killed if need be)

The worker (deploytui/checks/worker.py) pays its client's import and first build on another core; the
engine's process never imports that client. Each worker has two reader threads (its stdout: protocol
lines handed to the loop of the run they belong to; its stderr: kept, bounded, never shown raw), so a
pool serves runs from any event loop and closes without one.

What holds as for a run in the engine's process: lines the kind emits reach `ctx.emit` in order, before
the outcome (the engine masks them as it masks any run's); cancelling the awaiting task (a timeout, the
operator) cancels the run in the worker, and a worker that does not confirm within CANCEL_ACK_SECONDS is
killed; a worker that dies ends its runs `error: qdrant worker exited (signal 9)` (with the last line of
a traceback it wrote, when there is one) and the next run starts a fresh one. A worker exits when its
stdin ends: when the pool closes it, or when the engine's process dies.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deploytui.checks import worker as protocol
from deploytui.core.redact import Redactor
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome
from deploytui.core.text import one_line
from deploytui.engine.spawn import discard, process_kinds, spawn_worker

CANCEL_ACK_SECONDS = 1.5
"""After asking a worker to cancel a run, how long it may take to confirm before it is killed (less than
the engine's CANCEL_GRACE_SECONDS, so the run still ends within the engine's grace)."""

CLOSE_SECONDS = 2.0
"""On close, how long a worker may take to exit after its stdin ends before it is killed."""

STDERR_LINES = 200
"""Lines of a worker's stderr kept (its reason when it dies is read from them)."""

REASON_CHARS = 300
"""Longest reason a dead worker gives its runs."""


@dataclass
class _Request:
    """A run in a worker, as its awaiting task sees it."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Outcome | None]
    """The outcome; None when the worker confirmed a cancel."""
    emit: Callable[[str], None]


@dataclass
class _Worker:
    """One worker process and the state its reader threads share with the loops waiting on it."""

    kind: str
    proc: subprocess.Popen[bytes]
    redactor: Redactor
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Guards the state below (never held while blocking on the pipes)."""
    writing: threading.Lock = field(default_factory=threading.Lock)
    """One writer at a time on its stdin."""
    requests: dict[int, _Request] = field(default_factory=dict)
    ready: bool = False
    dead: str | None = None
    """Why it is gone (its runs' reason); None while it lives."""
    killed: str | None = None
    """Set when the pool killed it: the reason its runs get instead of the exit status."""
    waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = field(default_factory=list)
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=STDERR_LINES))
    threads: list[threading.Thread] = field(default_factory=list)

    # ------------------------------------------------------------- reader threads

    def read_stdout(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            for line in stdout:
                try:
                    message = protocol.loads(line)
                except ValueError:
                    self.stderr.append(f"(not protocol) {line.decode('utf-8', 'replace').rstrip()}")
                    continue
                self.dispatch(message)
        except (OSError, ValueError):
            pass
        self.exited()

    def read_stderr(self) -> None:
        stderr = self.proc.stderr
        assert stderr is not None
        try:
            for line in stderr:
                self.stderr.append(line.decode("utf-8", "replace").rstrip("\r\n"))
        except (OSError, ValueError):
            pass

    def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("ready") is True:
            self.wake()
            return
        try:
            run_id = int(message["id"])
        except (KeyError, TypeError, ValueError):
            return
        with self.lock:
            request = self.requests.get(run_id)
        if request is None:
            return  # a run given up on (cancelled, then killed)
        if "emit" in message:
            _post(request.loop, request.emit, str(message["emit"]))
            return
        if message.get("cancelled") is True:
            result: Outcome | None = None
        else:
            try:
                result = protocol.decode_outcome(message["outcome"])
            except (KeyError, TypeError, ValueError) as exc:
                result = Outcome.error(f"{self.kind} worker sent an unreadable outcome ({exc})")
        with self.lock:
            self.requests.pop(run_id, None)
        _post(request.loop, _resolve, request.future, result)

    def wake(self) -> None:
        with self.lock:
            self.ready = True
            waiters, self.waiters = self.waiters, []
        for loop, future in waiters:
            _post(loop, _resolve, future, None)

    def exited(self) -> None:
        """Its stdout ended: it is gone. Every run it had fails with the reason, every waiter wakes."""
        try:
            code = self.proc.wait(timeout=CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        for thread in self.threads:
            if thread is not threading.current_thread() and thread.ident is not None:
                thread.join(1.0)
        reason = self.killed or self.exit_reason(code)
        with self.lock:
            self.dead = reason
            requests, self.requests = self.requests, {}
        self.wake()
        for request in requests.values():
            _post(request.loop, _resolve, request.future, Outcome.error(reason))

    def exit_reason(self, code: int) -> str:
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        text = f"{self.kind} worker exited ({how})"
        lines = [line for line in self.stderr if line.strip()]
        if lines:
            # A traceback's last line says what went wrong ("ModuleNotFoundError: No module named ...").
            last = next((line for line in reversed(lines) if not line[:1].isspace()), lines[-1])
            text += f": {last.strip()}"
        r = self.redactor
        return r.redact(one_line(r.redact(text), REASON_CHARS))

    # ------------------------------------------------------------- from the loops

    def send(self, message: dict[str, Any]) -> bool:
        stdin = self.proc.stdin
        if stdin is None:
            return False
        line = protocol.dumps(message)
        if self.dead is not None:
            return False
        try:
            with self.writing:
                stdin.write(line)
                stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def kill(self, reason: str) -> None:
        self.killed = self.killed or reason
        try:
            self.proc.kill()
        except OSError:
            pass


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # that loop is closed: nobody waits any more
        pass


class WorkerPool:
    """The worker processes of one engine, one per kind, started on demand and restarted after a death."""

    python: str = sys.executable
    """The interpreter workers run under (the engine's own)."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._workers: dict[str, _Worker] = {}
        self._failed: dict[str, str] = {}
        """Kinds whose worker could not start, and why: their runs run in the engine's process."""
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def start(self, kind: str) -> bool:
        """Make sure a live worker for `kind` exists (starting it now); False when none can start."""
        return self._worker(kind) is not None

    def failure(self, kind: str) -> str | None:
        """Why `kind`'s worker could not start (None: it did, or was never tried)."""
        return self._failed.get(kind)

    def _worker(self, kind: str) -> _Worker | None:
        with self._lock:
            current = self._workers.get(kind)
            if current is not None and current.dead is None:
                return current
            try:
                proc = spawn_worker(kind, self.python)
            except (OSError, ValueError) as exc:
                self._failed[kind] = one_line(f"{type(exc).__name__}: {exc}", REASON_CHARS)
                return None
            return self._watch(kind, proc)

    def adopt(self, kind: str, proc: subprocess.Popen[bytes]) -> None:
        """Take a worker started already (spawn_worker, before the pool existed) as `kind`'s."""
        with self._lock:
            current = self._workers.get(kind)
            if current is not None and current.dead is None:
                discard(proc)  # one is running already
                return
            self._watch(kind, proc)

    def _watch(self, kind: str, proc: subprocess.Popen[bytes]) -> _Worker:
        """`proc` as `kind`'s worker, its reader threads started (with self._lock held)."""
        self._failed.pop(kind, None)
        worker = _Worker(kind, proc, self.redactor)
        # stderr's reader first: a worker that dies at once ends stdout's reader, whose `exited` joins
        # the stderr reader (for the traceback's last line); joining one not started yet raised, and
        # the run waited forever (seen once in tests/integration/test_engine_workers.py).
        for target, name in ((worker.read_stderr, "err"), (worker.read_stdout, "out")):
            thread = threading.Thread(target=target, name=f"deploytui-{kind}-worker-{name}", daemon=True)
            worker.threads.append(thread)
        for thread in worker.threads:
            thread.start()
        self._workers[kind] = worker
        return worker

    async def ready(self, kind: str) -> bool:
        """Wait until `kind`'s worker has imported its client (or died); False when none can start."""
        worker = self._worker(kind)
        if worker is None:
            return False
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with worker.lock:
            if worker.ready or worker.dead is not None:
                return True
            worker.waiters.append((loop, future))
        await future
        return True

    async def run(self, kind: str, spec: CheckSpec, ctx: CheckContext) -> Outcome | None:
        """Run `spec` in `kind`'s worker; None when no worker can start. Cancelling the awaiting task
        cancels the run there (the worker is killed when it does not confirm in time)."""
        worker = self._worker(kind)
        if worker is None:
            return None
        loop = asyncio.get_running_loop()
        run_id = next(self._ids)
        request = _Request(loop, loop.create_future(), ctx.emit)
        with worker.lock:
            if worker.dead is not None:
                return Outcome.error(worker.dead)
            worker.requests[run_id] = request
        message = {
            "op": "run",
            "id": run_id,
            "spec": protocol.encode_spec(spec),
            "context": protocol.encode_context(ctx),
        }
        # A send that fails means the worker is gone: its stdout ends too, and that ends this request
        # with the reason (exit status, traceback).
        worker.send(message)
        try:
            result = await asyncio.shield(request.future)
        except asyncio.CancelledError:
            await self._cancel(worker, run_id, request)
            raise
        if result is None:  # a cancel it was never asked for
            return Outcome.error(f"{kind} worker cancelled the run by itself")
        return result

    async def _cancel(self, worker: _Worker, run_id: int, request: _Request) -> None:
        if worker.send({"op": "cancel", "id": run_id}):
            done, _ = await asyncio.wait({request.future}, timeout=CANCEL_ACK_SECONDS)
            if done:
                return
        with worker.lock:
            worker.requests.pop(run_id, None)
        if worker.dead is None:
            worker.kill(
                f"{worker.kind} worker killed: a cancelled run did not stop within {CANCEL_ACK_SECONDS:g} s"
            )

    @property
    def pids(self) -> dict[str, int]:
        """The live workers' process ids, by kind."""
        return {kind: w.proc.pid for kind, w in list(self._workers.items()) if w.dead is None}

    def close(self) -> None:
        """End every worker: its stdin closed (it exits), killed after CLOSE_SECONDS; waited for. A run
        after this starts a fresh worker."""
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            with worker.writing:
                stdin = worker.proc.stdin
                try:
                    if stdin is not None:
                        stdin.close()
                except OSError:
                    pass
        for worker in workers:
            try:
                worker.proc.wait(timeout=CLOSE_SECONDS)
            except subprocess.TimeoutExpired:
                worker.kill(f"{worker.kind} worker killed: it did not exit when the engine closed")
                worker.proc.wait()
            for thread in worker.threads:
                thread.join(CLOSE_SECONDS)
            for stream in (worker.proc.stdout, worker.proc.stderr):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass


def start_workers(pool: WorkerPool, specs: Sequence[CheckSpec]) -> None:
    """Start `pool`'s worker for each kind of `specs` that runs in one (CheckKind.process)."""
    for name in process_kinds(spec.kind for spec in specs):
        pool.start(name)
