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
"values", "log"}]}. Never imports textual.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from deploytui.core.checklist import Checklist
from deploytui.core.config import Config
from deploytui.core.durations import format_duration
from deploytui.core.errors import DeployError
from deploytui.core.events import EngineEvent, RunBegan, RunEnded
from deploytui.core.spec import CheckSpec
from deploytui.core.status import Outcome, Status
from deploytui.services.project import resolve

_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
"""Characters XML 1.0 cannot hold (evidence is cleaned already; this is the last line of defence)."""


@dataclass
class Result:
    spec: CheckSpec
    outcome: Outcome | None = None
    log: str = ""
    run_id: str = ""
    cancelled: bool = False
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        return self.outcome.status if self.outcome is not None else Status.INTERRUPTED

    @property
    def reason(self) -> str:
        return self.outcome.reason if self.outcome is not None else "did not run"


def select_specs(checklist: Checklist, config: Config, only: list[str] | None) -> list[CheckSpec]:
    """The bound checks to run (actions never), limited to `only` ids (items or sections)."""
    from deploytui.checks.registry import get_kind

    def runnable(spec: CheckSpec) -> bool:
        try:
            return not get_kind(spec.kind).is_action(spec.params)
        except (KeyError, ImportError):
            return True  # reported as an error when it runs

    specs = [s for s in config.checks if runnable(s)]
    if not only:
        return specs
    wanted: set[str] = set()
    for node_id in only:
        node_id = node_id.strip().strip("/")
        if node_id not in checklist.nodes:
            import difflib

            close = difflib.get_close_matches(node_id, list(checklist.nodes), n=2, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise DeployError(
                f"--only: no item or section {node_id!r} in the checklist{hint} (see `deploytui list`)"
            )
        wanted.add(node_id)
        wanted.update(n.id for n in checklist.descendants(node_id))
    selected = [s for s in specs if s.item in wanted]
    if not selected:
        raise DeployError(f"--only {' '.join(only)}: no checks are bound there (see `deploytui list`)")
    return selected


def run(args: argparse.Namespace) -> int:
    from deploytui.engine import Engine
    from deploytui.storage.fs import SessionStore

    checklist, config = resolve(getattr(args, "source", None), getattr(args, "config", None))
    specs = select_specs(checklist, config, getattr(args, "only", None))
    if not specs:
        where = config.path or checklist.path
        raise DeployError(f"nothing to check: no [[check]] bindings for {where}")
    env = config.environment()
    redactor = config.redactor(env)
    output = getattr(args, "output", None)
    if output:
        _check_writable(Path(output))

    store = SessionStore(getattr(args, "sessions_dir", "sessions"))
    session_id = getattr(args, "session", None)
    if session_id:
        live = store.open(session_id, checklist=checklist, redactor=redactor)
        if live.session.finished:
            live.close()
            raise DeployError(f"session {session_id} is finished: start a new one (omit --session)")
    else:
        live = store.create(checklist, getattr(args, "operator", None), redactor=redactor)
    try:
        started = _parse_time(live.session.started)
        engine = Engine(
            concurrency=config.concurrency,
            default_timeout=config.timeout,
            redactor=redactor,
            env=env,
            vars=config.vars,
            base_dir=config.base_dir,
            session_started=started,
            log_for=live.new_log,
        )
        results = asyncio.run(_run_all(engine, specs, live, sys.stderr))
    finally:
        live.close()

    fmt = getattr(args, "format", "text")
    if fmt == "json":
        report = json.dumps(to_json(live.id, results), indent=2, ensure_ascii=False) + "\n"
    elif fmt == "junit":
        report = to_junit(live.id, checklist, results)
    else:
        report = to_text(live.id, results, live.dir)
    if output:
        try:
            Path(output).write_text(report, encoding="utf-8")
        except OSError as exc:
            raise DeployError(f"cannot write the report: {exc.strerror}", path=output) from None
    else:
        out: TextIO = sys.stdout
        out.write(report)
        out.flush()
    return 0 if all(r.status is Status.PASSED for r in results) else 1


async def _run_all(engine: Any, specs: list[CheckSpec], live: Any, err: TextIO) -> list[Result]:
    """Run the checks, turning engine events into session actions and live stderr lines."""
    from deploytui.core.session import RunCancelled, RunFinished, RunStarted
    from deploytui.engine import new_run_id

    run_ids = [new_run_id() for _ in specs]
    results = {rid: Result(spec, run_id=rid) for rid, spec in zip(run_ids, specs, strict=True)}
    width = max(len(s.item) for s in specs)

    def apply(action: Any) -> None:
        try:
            live.apply(action)
        except DeployError as exc:  # e.g. a transition the session refuses: report, keep checking
            _line(err, f"deploytui: session: {exc}")

    def on_event(event: EngineEvent) -> None:
        if isinstance(event, RunBegan):
            spec = results[event.run_id].spec
            apply(RunStarted(event.item, event.check_key, event.run_id, kind=spec.kind, label=spec.label))
        elif isinstance(event, RunEnded):
            result = results[event.run_id]
            result.outcome = event.outcome
            result.log = live.relative(event.log) if event.log else ""
            result.cancelled = event.cancelled
            if event.cancelled:
                if event.log:
                    apply(RunCancelled(event.item, event.check_key, event.run_id, by=live.session.operator))
            else:
                apply(
                    RunFinished(
                        event.item,
                        event.check_key,
                        event.run_id,
                        event.outcome,
                        event.log,
                        kind=result.spec.kind,
                    )
                )
            o = event.outcome
            _line(
                err,
                f"{o.status.value.upper():<11} {event.item:<{width}}  {result.spec.label}: {o.reason}"
                f" ({format_duration(o.duration_ms / 1000)})",
            )

    await engine.run_many(specs, on_event, run_ids=run_ids)
    return [results[rid] for rid in run_ids]


def _line(err: TextIO, text: str) -> None:
    try:
        err.write(text + "\n")
        err.flush()
    except (OSError, ValueError):
        pass


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _check_writable(path: Path) -> None:
    parent = path.resolve().parent
    if not parent.is_dir():
        raise DeployError(f"cannot write the report: directory {parent} does not exist", path=path)
    if path.is_dir():
        raise DeployError("cannot write the report: it is a directory", path=path)
    if not os.access(parent, os.W_OK):
        raise DeployError("cannot write the report: permission denied", path=path)


# ------------------------------------------------------------------------------------------- reports


def to_json(session_id: str, results: list[Result]) -> dict[str, Any]:
    return {
        "session": session_id,
        "results": [
            {
                "item": r.spec.item,
                "check": r.spec.key,
                "kind": r.spec.kind,
                "status": r.status.value,
                "reason": r.reason,
                "duration_ms": r.outcome.duration_ms if r.outcome else 0,
                "values": dict(r.outcome.values) if r.outcome else {},
                "log": r.log,
            }
            for r in results
        ],
    }


def to_text(session_id: str, results: list[Result], session_dir: Path) -> str:
    counts: dict[str, int] = {}
    lines = []
    for r in results:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
        lines.append(f"{r.status.value:<11} {r.spec.item}  {r.spec.label}: {r.reason}")
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    lines.append("")
    lines.append(f"{len(results)} checks: {summary}. Session {session_id} ({session_dir})")
    return "\n".join(lines) + "\n"


def _xml(text: str) -> str:
    return _XML_INVALID_RE.sub("", text)


def to_junit(session_id: str, checklist: Checklist, results: list[Result]) -> str:
    """JUnit XML: one testsuite, one testcase per check; failures and errors carry the reason."""
    failures = sum(r.status is Status.FAILED for r in results)
    errors = sum(r.status in (Status.ERROR, Status.INTERRUPTED) for r in results)
    total_ms = sum(r.outcome.duration_ms for r in results if r.outcome)
    suites = ET.Element("testsuites", name="deploytui", tests=str(len(results)))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=_xml(checklist.title or "deploytui"),
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{total_ms / 1000:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="session", value=session_id)
    ET.SubElement(props, "property", name="checklist_sha256", value=checklist.sha256)
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_xml(r.spec.item),
            name=_xml(f"{r.spec.label} ({r.spec.key})"),
            time=f"{(r.outcome.duration_ms if r.outcome else 0) / 1000:.3f}",
        )
        evidence = _xml(r.outcome.evidence if r.outcome else "")
        if r.status is Status.FAILED:
            node = ET.SubElement(case, "failure", message=_xml(r.reason), type="failed")
            node.text = evidence
        elif r.status is not Status.PASSED:
            node = ET.SubElement(case, "error", message=_xml(r.reason), type=r.status.value)
            node.text = evidence
        if r.log:
            ET.SubElement(case, "system-out").text = _xml(f"log: {r.log}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
