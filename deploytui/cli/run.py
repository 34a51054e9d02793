"""`deploytui run`: run items' world-changing steps headless, recorded exactly as the app records them.

    deploytui run [CONFIG] ITEM... [--config F] [--yes] [--session ID | --resume] [--operator NAME]

- ITEM: item ids (`deploytui list` shows them). Each item's steps run in order: its fenced blocks, then
  its bound world-changing checks (kind = "action", webhook, backup in dump mode).
- Before each step it prints exactly what will run (the command after substitution, or the HTTP method,
  URL and body; secrets masked), the absolute working directory and the host, then asks `Run it? [y/N]`
  on the terminal. `--yes` answers yes (CI). With no terminal and no `--yes` it refuses (exit 2) before
  touching any session.
- Recording (services.actions.run_step): ActionStarted, fsynced, before the process is spawned; the
  output to the run's log as it comes; a heartbeat every few seconds while it runs; the end.
- `--session ID` / `--resume` work in an existing session (the operator, unless `--operator`, is the
  session's); otherwise a new session is created.
- The step's output goes to stdout as it comes; a line per step on stderr.
- Exit 0 when every step succeeded, 1 when any failed, was declined or could not run, 2 on bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from deploytui.core.errors import DeployError
from deploytui.core.events import EngineEvent, RunOutput
from deploytui.core.status import Status
from deploytui.engine import Engine
from deploytui.engine import loop as engine_loop
from deploytui.services.actions import Step, describe, run_step, select_steps
from deploytui.services.project import resolve
from deploytui.services.runs import RunRecorder, build_engine
from deploytui.services.sessions import open_store, store_location
from deploytui.storage.base import SessionRepository


def _split_source(words: list[str]) -> tuple[str | None, list[str]]:
    """`[CONFIG] ITEM...`: the first word is the source when it names a .toml/.md file or a directory."""
    if words and (words[0].endswith((".toml", ".md")) or Path(words[0]).is_dir()):
        return words[0], words[1:]
    return None, words


def run(args: argparse.Namespace) -> int:
    source, items = _split_source(list(getattr(args, "words", []) or []))
    if not items:
        raise DeployError("run: name at least one item (see `deploytui list`)")
    assume_yes = bool(getattr(args, "yes", False))
    if not assume_yes and not _interactive():
        raise DeployError("run: no terminal to confirm on: pass --yes to run without asking")
    checklist, config = resolve(source, getattr(args, "config", None))
    steps = select_steps(checklist, config, items)
    loop = engine_loop.loop_factory()  # a bad DEPLOYTUI_LOOP says so before a session opens
    store = open_store(
        store_location(getattr(args, "store", None), getattr(args, "sessions_dir", "sessions"), config)
    )
    redactor = config.redactor()
    operator = getattr(args, "operator", None)
    session_id = getattr(args, "session", None)
    if getattr(args, "resume", False) and not session_id:
        session_id = store.latest_unfinished(checklist)
        if session_id is None:
            _line(sys.stderr, "deploytui: no unfinished session to resume: starting a new one")
    if session_id:
        who = operator or _current_operator(store, session_id)
        live = store.open(session_id, checklist=checklist, redactor=redactor, resume_as=who)
        if live.session.finished:
            live.close()
            raise DeployError(f"session {session_id} is finished: start a new one (omit --session)")
        operator = who or live.session.current_operator
    else:
        live = store.create(checklist, operator, redactor=redactor)
        operator = live.session.operator
    err = sys.stderr
    ok = True
    engine = None
    try:
        for item_id, cut in live.session.interrupted_actions():
            _line(err, f"deploytui: {item_id}: {cut.label or 'action'} {cut.reason}")
        engine = build_engine(config, live)
        recorder = RunRecorder.for_config(
            live, config, operator, on_refused=lambda exc: _line(err, f"deploytui: session: {exc}")
        )
        _line(err, f"session {live.id} · operator {operator}")
        for step in steps:
            if not _confirm(engine, step, assume_yes, err):
                _line(err, f"DECLINED    {step.node_id}  {step.label}")
                ok = False
                continue
            outcome = engine_loop.run(run_step(engine, recorder, step, _printer(sys.stdout)), loop)
            _line(err, f"{outcome.status.value.upper():<11} {step.node_id}  {step.label}: {outcome.reason}")
            ok = ok and outcome.status is Status.PASSED
    finally:
        if engine is not None:
            engine.close()  # its worker processes, if a step started one
        live.close()
    return 0 if ok else 1


def _current_operator(store: SessionRepository, session_id: str) -> str | None:
    """Who works in the session now (its last resume's operator, else its creator); None when unreadable
    (the open that follows says why)."""
    if not store.exists(session_id):
        return None
    try:
        return store.load(session_id).current_operator or None
    except DeployError:
        return None


def _interactive() -> bool:
    try:
        return sys.stdin.isatty() and os.isatty(sys.stderr.fileno())
    except (OSError, ValueError):
        return False


def _confirm(engine: Engine, step: Step, assume_yes: bool, err: TextIO) -> bool:
    what = describe(engine, step)
    warning = "This changes the world. " if what.world_changing else ""
    _line(err, f"\n{step.node_id}  ·  {step.label}  ·  {warning}It runs exactly:")
    for line in what.command.splitlines() or [""]:
        _line(err, f"    {line}")
    _line(err, f"  in {what.cwd} on {what.host}")
    if assume_yes:
        return True
    err.write("Run it? [y/N] ")
    err.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _printer(out: TextIO) -> Callable[[EngineEvent], None]:
    def show(event: EngineEvent) -> None:
        if isinstance(event, RunOutput):
            try:
                out.write("".join(line + "\n" for line in event.lines))
                out.flush()
            except (OSError, ValueError):
                pass

    return show


def _line(err: TextIO, text: str) -> None:
    try:
        err.write(text + "\n")
        err.flush()
    except (OSError, ValueError):
        pass
