"""`deploytui check`: run the bound checks headless (CI), record them in a session, report.

    deploytui check [CHECKLIST|CONFIG] [--config F] [--only ID ...] [--format text|json|junit] [-o FILE]
                    [--session ID] [--operator NAME]

- Runs every [[check]] of the config (never actions: fenced blocks, kind = "action", webhooks), at most
  [defaults] concurrency at once, each bounded by its timeout.
- Records each run in a session exactly as the TUI does (RunStarted / RunFinished, logs under the
  session's logs/ dir): a new session, or `--session ID` to add to an existing one.
- A line per finished check on stderr while it runs; the report (text, JSON or JUnit XML) on stdout or
  in `-o FILE`.
- `--only` takes item or section ids: a section (or a parent item) means every check under it.
- Exit 0: every check passed; 1: any failed, errored or was interrupted; 2: bad input.

JSON: {"session": ID, "results": [{"item", "check", "kind", "status", "reason", "duration_ms",
"values", "log"}]}. Never imports textual. The orchestration is `deploytui.services.runs`, the reports
`deploytui.services.reports`: the TUI runs checks through the same code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from deploytui.core.durations import format_duration, format_took
from deploytui.core.errors import DeployError
from deploytui.core.text import clean_line
from deploytui.services.prestart import EarlyWorkers
from deploytui.services.project import resolve

# What a run needs beyond this (asyncio, the engine, the store) is imported once its worker processes
# are started (run, below): they import their clients meanwhile.
if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist
    from deploytui.core.config import Config
    from deploytui.core.redact import Redactor
    from deploytui.core.spec import CheckSpec
    from deploytui.engine.loop import LoopFactory
    from deploytui.engine.workers import WorkerPool


def run(args: argparse.Namespace) -> int:
    failed_in = getattr(args, "failed", None)
    source, config_arg = getattr(args, "source", None), getattr(args, "config", None)
    # A run of every bound check starts its worker processes (qdrant, gemini) first, from the config's
    # kinds alone: they import their clients on the other core while the rest of deploytui loads.
    narrowed = failed_in or getattr(args, "only", None) or getattr(args, "dry_run", False)
    early = EarlyWorkers() if narrowed else EarlyWorkers.for_checks(source, config_arg)
    try:
        return _checks(args, source, config_arg, early)
    finally:
        early.close()  # any worker the run did not take (an error on the way)


def _checks(args: argparse.Namespace, source: str | None, config_arg: str | None, early: EarlyWorkers) -> int:
    from deploytui.engine import loop as engine_loop
    from deploytui.services.runs import select_checks, worker_pool

    loop = engine_loop.loop_factory()  # a bad DEPLOYTUI_LOOP says so before a session opens
    checklist, config = resolve(source, config_arg)
    failed_in = getattr(args, "failed", None)
    if failed_in and getattr(args, "session", None):
        raise DeployError("--failed SESSION re-runs into that session: give it alone, without --session")
    specs = select_checks(checklist, config, getattr(args, "only", None))
    if not specs:
        where = config.path or checklist.path
        raise DeployError(f"nothing to check: no [[check]] bindings for {where}")
    if getattr(args, "dry_run", False):
        return _dry_run(config, specs)
    redactor = config.redactor()
    output = getattr(args, "output", None)
    if output:
        _check_writable(Path(output))

    # The worker processes (qdrant, gemini) start before the session opens, if not started already: they
    # import their clients on the other core meanwhile (`--failed` knows its checks only once it is open).
    workers = None if failed_in else worker_pool(config, specs, early.take())
    try:
        return _run(args, checklist, config, specs, redactor, workers, loop)
    except BaseException:
        if workers is not None:
            workers.close()
        raise


def _run(
    args: argparse.Namespace,
    checklist: Checklist,
    config: Config,
    specs: list[CheckSpec],
    redactor: Redactor,
    workers: WorkerPool | None,
    loop: LoopFactory,
) -> int:
    from deploytui.core.events import EngineEvent, RunEnded
    from deploytui.core.session import iso_time, utc_now
    from deploytui.engine import loop as engine_loop
    from deploytui.services import reports
    from deploytui.services.runs import RunRecorder, build_engine, failed_checks, run_checks
    from deploytui.services.sessions import open_store, store_location

    failed_in = getattr(args, "failed", None)
    output = getattr(args, "output", None)
    store = open_store(
        store_location(getattr(args, "store", None), getattr(args, "sessions_dir", "sessions"), config)
    )
    session_id = getattr(args, "session", None) or failed_in
    operator = getattr(args, "operator", None)
    if session_id:
        resumer = operator
        if resumer is None and store.exists(session_id):
            try:
                resumer = store.load(session_id).current_operator
            except DeployError:
                resumer = None  # the open below says what is wrong
        live = store.open(session_id, checklist=checklist, redactor=redactor, resume_as=resumer)
        if live.session.finished:
            live.close()
            raise DeployError(f"session {session_id} is finished: start a new one (omit --session)")
    else:
        live = store.create(checklist, operator, redactor=redactor)
    if failed_in:
        only = getattr(args, "only", None)
        specs = failed_checks(checklist, config, live.session, only or None)
        if not specs:
            live.close()
            print(f"deploytui: nothing to re-run: no check of session {live.id} failed", file=sys.stderr)
            return 0
    err = sys.stderr
    width = max(len(s.item) for s in specs)
    labels = {s.key: s.label for s in specs}

    def progress(event: EngineEvent) -> None:
        if isinstance(event, RunEnded):
            o = event.outcome
            _line(
                err,
                f"{o.status.value.upper():<11} {event.item:<{width}}  {labels.get(event.check_key, '')}: "
                f"{o.reason} ({format_took(o.duration_ms)})",
            )

    try:
        recorder = RunRecorder.for_config(
            live,
            config,
            operator or live.session.current_operator,
            on_refused=lambda exc: _line(err, f"deploytui: session: {exc}"),
        )
        started, clock = iso_time(utc_now()), time.monotonic()
        engine = build_engine(config, live, workers=workers)
        try:
            results = engine_loop.run(run_checks(engine, recorder, specs, progress), loop)
        finally:
            engine.close()  # its worker processes (qdrant, gemini), waited for
        wall_ms = round((time.monotonic() - clock) * 1000)
        run = reports.RunReport(
            session_id=live.id,
            session_location=store.session_location(live.id),
            checklist=checklist,
            operator=recorder.operator,
            host=live.session.host,
            started=started,
            ended=iso_time(utc_now()),
            wall_ms=wall_ms,
            results=results,
        )
    finally:
        live.close()

    fmt = getattr(args, "format", "text")
    if fmt == "json":
        report = json.dumps(reports.to_json(run), indent=2, ensure_ascii=False) + "\n"
    elif fmt == "junit":
        report = reports.to_junit(run)
    else:
        report = reports.to_text(run)
    if output:
        try:
            Path(output).write_text(report, encoding="utf-8")
        except OSError as exc:
            raise DeployError(f"cannot write the report: {exc.strerror}", path=output) from None
    else:
        out: TextIO = sys.stdout
        out.write(report)
        out.flush()
    return 0 if all(r.status.is_passing for r in results) else 1


def _dry_run(config: Config, specs: list[CheckSpec]) -> int:
    """Every check resolved and described (secrets masked); nothing runs and no session is written."""
    from deploytui.cli.list import warn_unset
    from deploytui.services.runs import describe_checks

    width = max(len(s.item) for s in specs)
    out = sys.stdout
    for spec, description in describe_checks(config, specs):
        out.write(
            f"{spec.item:<{width}}  {spec.label} ({spec.kind}, timeout {format_duration(spec.timeout)}): "
            f"{clean_line(description)}\n"
        )
    out.write(f"\n{len(specs)} checks would run; nothing was run (--dry-run).\n")
    warn_unset(config)
    return 0


def _line(err: TextIO, text: str) -> None:
    try:
        err.write(text + "\n")
        err.flush()
    except (OSError, ValueError):
        pass


def _check_writable(path: Path) -> None:
    parent = path.resolve().parent
    if not parent.is_dir():
        raise DeployError(f"cannot write the report: directory {parent} does not exist", path=path)
    if path.is_dir():
        raise DeployError("cannot write the report: it is a directory", path=path)
    if not os.access(parent, os.W_OK):
        raise DeployError("cannot write the report: permission denied", path=path)
