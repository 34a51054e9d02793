"""A kind's worker process: `python -m deploytui.checks.worker KIND`.

A kind whose client costs seconds of CPU to import and build (`CheckKind.process`: qdrant, gemini) runs
here, in a process of its own, so that cost is paid on another core while the engine's process goes on
with everything else. The engine starts one per such kind (deploytui/engine/workers.py). The worker
imports the kind and its `clients` at once, says it is ready, then serves runs until its stdin ends:

    engine -> worker   {"op": "run", "id": 1, "spec": {...}, "context": {...}}
                       {"op": "cancel", "id": 1}
    worker -> engine   {"ready": true, "pid": 123}
                       {"id": 1, "emit": "qdrant 1.12.0 at ... answered in 3 ms"}   (ctx.emit, in order)
                       {"id": 1, "outcome": {...}}   or   {"id": 1, "cancelled": true}

One JSON document a line, UTF-8, both ways over the pipes. A run's context crosses whole: substituted
parameters come from `vars`, `env`, the timeout, the base directory and the secrets the engine's
redactor masks (so the kind's own masking holds here too). Secrets cross the pipe only: never argv, a
file or this process's environment. Runs are asyncio tasks: several of one kind run at once. Lines the
kind emits and its outcome are masked here with that redactor, and again by the engine.

Its stdout carries the protocol only: fd 1 is pointed at stderr before anything is imported, so a
library's stray print cannot corrupt it. The engine keeps stderr (a traceback becomes a run's reason).
At the end of stdin (the engine closed it, or died) the worker cancels its runs and exits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gc
import importlib
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from deploytui.checks.base import CheckKind, outcome_of
from deploytui.core.redact import Redactor
from deploytui.core.spec import CheckContext, CheckSpec, Retry
from deploytui.core.status import Attempt, Outcome, Status

EXIT_GRACE_SECONDS = 1.0
"""At the end of stdin, how long cancelled runs may take to clean up before the worker exits anyway."""

# ------------------------------------------------------------------ what crosses the pipe

_TOML_TIMES: dict[str, Any] = {"datetime": dt.datetime, "date": dt.date, "time": dt.time}
"""TOML's dates and times: the only values a config holds that JSON has no type for."""


def _plain(value: Any) -> Any:
    """json.dumps' fallback: a TOML date or time as a tagged object, a set as a list."""
    for tag, cls in _TOML_TIMES.items():
        if type(value) is cls:
            return {"$toml": tag, "iso": value.isoformat()}
    if isinstance(value, frozenset | set):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} cannot cross to a worker")


def _unplain(data: dict[str, Any]) -> Any:
    tag = data.get("$toml")
    if isinstance(tag, str) and tag in _TOML_TIMES and len(data) == 2:
        return _TOML_TIMES[tag].fromisoformat(str(data["iso"]))
    return data


def dumps(message: Mapping[str, Any]) -> bytes:
    """One protocol line."""
    return json.dumps(message, default=_plain, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def loads(line: bytes) -> dict[str, Any]:
    """One protocol line read back; ValueError when it is not a JSON object."""
    message = json.loads(line.decode("utf-8", "replace"), object_hook=_unplain)
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    return message


def encode_spec(spec: CheckSpec) -> dict[str, Any]:
    data = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    data["params"] = dict(spec.params)
    data["retry"] = dataclasses.asdict(spec.retry) if spec.retry is not None else None
    return data


def decode_spec(data: Mapping[str, Any]) -> CheckSpec:
    fields = {f.name for f in dataclasses.fields(CheckSpec)}
    values = {k: v for k, v in data.items() if k in fields}
    values["after"] = tuple(values.get("after") or ())
    retry = values.get("retry")
    values["retry"] = Retry(**retry) if isinstance(retry, Mapping) else None
    return CheckSpec(**values)


def encode_context(ctx: CheckContext) -> dict[str, Any]:
    """What a run's context holds but its emit: the secrets as (name, value) pairs."""
    return {
        "vars": dict(ctx.vars),
        "env": dict(ctx.env),
        "secrets": ctx.redactor.secrets(),
        "base_dir": str(ctx.base_dir),
        "session_started": ctx.session_started.isoformat() if ctx.session_started else None,
        "timeout": ctx.timeout,
    }


def decode_context(data: Mapping[str, Any], emit: Callable[[str], None]) -> CheckContext:
    redactor = Redactor()
    redactor.extend((str(name), str(value)) for name, value in data.get("secrets") or ())
    started = data.get("session_started")
    return CheckContext(
        vars=dict(data.get("vars") or {}),
        env=dict(data.get("env") or {}),
        redactor=redactor,
        emit=emit,
        base_dir=Path(str(data.get("base_dir") or ".")),
        session_started=dt.datetime.fromisoformat(started) if isinstance(started, str) else None,
        timeout=float(data.get("timeout", 10.0)),
    )


def encode_outcome(outcome: Outcome) -> dict[str, Any]:
    data = dataclasses.asdict(outcome)
    data["status"] = str(outcome.status)
    data["attempts"] = [a.to_dict() for a in outcome.attempts]
    return data


def decode_outcome(data: Mapping[str, Any]) -> Outcome:
    """An outcome read back; ValueError/TypeError/KeyError when malformed."""
    retry_after = data.get("retry_after")
    return Outcome(
        Status(str(data["status"])),
        str(data.get("reason", "")),
        dict(data.get("values") or {}),
        str(data.get("evidence", "")),
        int(data.get("duration_ms", 0)),
        [Attempt.from_dict(a) for a in data.get("attempts") or ()],
        data.get("rate_limited") is True,
        float(retry_after) if isinstance(retry_after, int | float) else None,
        data.get("unreached") is True,
    )


def masked(outcome: Outcome, redactor: Redactor) -> Outcome:
    """`outcome` with its texts masked by `redactor` (the engine masks them again)."""
    r = redactor.redact
    outcome.reason = r(str(outcome.reason))
    outcome.evidence = r(str(outcome.evidence))
    outcome.values = {k: r(v) if isinstance(v, str) else v for k, v in (outcome.values or {}).items()}
    return outcome


# ------------------------------------------------------------------ the worker's side


class _Server:
    """Serves one kind's runs: reads requests from stdin (a thread), runs each as a task, writes back."""

    def __init__(self, kind: type[CheckKind] | None, load_error: str, out: IO[bytes]) -> None:
        self.kind = kind
        self.load_error = load_error
        self.out = out
        self.lock = threading.Lock()
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def send(self, message: Mapping[str, Any]) -> None:
        line = dumps(message)
        with self.lock:
            try:
                self.out.write(line)
                self.out.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass  # the engine is gone: stdin ends next

    async def serve(self, stdin: IO[bytes]) -> None:
        loop = asyncio.get_running_loop()
        ended = asyncio.Event()

        def read() -> None:
            for line in stdin:
                loop.call_soon_threadsafe(self.handle, line)
            loop.call_soon_threadsafe(ended.set)

        threading.Thread(target=read, name="deploytui-worker-stdin", daemon=True).start()
        await ended.wait()
        for task in self.tasks.values():
            task.cancel()
        if self.tasks:
            await asyncio.wait(set(self.tasks.values()), timeout=EXIT_GRACE_SECONDS)

    def handle(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            message = loads(line)
            run_id = int(message["id"])
        except (ValueError, KeyError, TypeError) as exc:
            print(f"deploytui worker: bad request: {exc}", file=sys.stderr)
            return
        if message.get("op") == "cancel":
            task = self.tasks.get(run_id)
            if task is not None:
                task.cancel()
            return
        if message.get("op") == "run":
            task = asyncio.ensure_future(self.run(run_id, message))
            self.tasks[run_id] = task
            task.add_done_callback(lambda _t: self.tasks.pop(run_id, None))

    async def run(self, run_id: int, message: Mapping[str, Any]) -> None:
        redactor = Redactor()

        def emit(line: str) -> None:
            self.send({"id": run_id, "emit": redactor.redact(line if isinstance(line, str) else str(line))})

        try:
            spec = decode_spec(message["spec"])
            ctx = decode_context(message["context"], emit)
            redactor = ctx.redactor
            if self.kind is None:
                outcome = Outcome.error(self.load_error)
            else:
                outcome = await outcome_of(self.kind().run(spec, ctx))
            reply: dict[str, Any] = {"id": run_id, "outcome": encode_outcome(masked(outcome, redactor))}
        except asyncio.CancelledError:
            reply = {"id": run_id, "cancelled": True}
        except Exception as exc:  # noqa: BLE001 - a malformed request: the run's reason, not a crash
            reply = {"id": run_id, "outcome": encode_outcome(Outcome.error(f"worker: bad request: {exc}"))}
        self.send(reply)


def _load(name: str) -> tuple[type[CheckKind] | None, str]:
    """The kind and its clients imported (a client that fails is the kind's to report when it runs).

    What the imports made lives as long as the worker: frozen out of the collector's sight, so that a
    full collection during a check does not walk it (qdrant_client's and google.genai's are the largest
    heaps deploytui loads) and count as the target's latency; the engine does the same (runner.py)."""
    from deploytui.checks.registry import get_kind
    from deploytui.core.text import one_line

    try:
        kind = get_kind(name)
    except KeyError:
        return None, f"unknown kind {name!r}"
    except ImportError as exc:
        return None, f"kind {name!r} cannot load: {one_line(str(exc), 200)}"
    for module in kind.clients:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001, S112 - reported by the kind's own import when it runs
            continue
    gc.freeze()
    return kind, ""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m deploytui.checks.worker KIND", file=sys.stderr)
        return 2
    # The protocol gets the real stdout; fd 1 (and sys.stdout) now write to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    kind, load_error = _load(args[0])
    server = _Server(kind, load_error, out)
    server.send({"ready": True, "pid": os.getpid()})
    asyncio.run(server.serve(sys.stdin.buffer))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # Not a normal exit: a client's thread stuck in a blocking call would hold the interpreter up.
    os._exit(code)
