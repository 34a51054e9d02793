"""Reports of a headless check run, for a pipeline: text, JSON and JUnit XML.

JSON: {"session", "session_dir", "checklist": {"path", "sha256"}, "operator", "host", "started",
"ended", "wall_ms", "counts": {status: n}, "results": [{"item", "check", "kind", "status", "reason",
"duration_ms", "values", "log"}]}: the DESIGN shape plus what a pipeline needs; run logs are relative
to `session_dir`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deploytui.core.checklist import Checklist
from deploytui.core.durations import format_took
from deploytui.core.status import Status
from deploytui.core.text import one_line
from deploytui.services.runs import CheckRun

_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
"""Characters XML 1.0 cannot hold (evidence is cleaned already; this is the last line of defence)."""


@dataclass(frozen=True)
class RunReport:
    """A headless check run as a pipeline reads it: what ran, where, by whom, when, and how it ended."""

    session_id: str
    session_location: str
    """Where the session is (an absolute directory for the file store); run logs are relative to it."""
    checklist: Checklist
    operator: str
    host: str
    started: str
    ended: str
    wall_ms: int
    """The run's wall time: start of the first check to the end of the last, as the operator waited."""
    results: Sequence[CheckRun]

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in Status}
        for r in self.results:
            counts[r.status.value] += 1
        return {status: n for status, n in counts.items() if n}


def to_json(report: RunReport) -> dict[str, Any]:
    """The `check --format json` document. Reasons are whole (cutting is for the screen)."""
    return {
        "session": report.session_id,
        "session_dir": report.session_location,
        "checklist": {
            "path": str(report.checklist.path) if report.checklist.path else None,
            "sha256": report.checklist.sha256,
        },
        "operator": report.operator,
        "host": report.host,
        "started": report.started,
        "ended": report.ended,
        "wall_ms": report.wall_ms,
        "counts": report.counts(),
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
                **(
                    {"attempts": [a.to_dict() for a in r.outcome.attempts]}
                    if r.outcome and r.outcome.attempts
                    else {}
                ),
            }
            for r in report.results
        ],
        "flaky": [
            {
                "check": r.spec.key,
                "item": r.spec.item,
                "attempts": len(r.outcome.attempts) if r.outcome else 0,
            }
            for r in report.results
            if r.status is Status.FLAKY
        ],
        "blocked": [
            {"check": r.spec.key, "item": r.spec.item, "reason": r.reason}
            for r in report.results
            if r.status is Status.BLOCKED
        ],
    }


SLOWEST_SHOWN = 3
"""Checks the text summary names as the slowest."""


def to_text(report: RunReport) -> str:
    """One line per check (reasons cut to a screen line), then the summary: counts, wall time, the
    slowest checks, and the session with the command that opens it in the app."""
    lines = [
        f"{r.status.value:<11} {r.spec.item}  {r.spec.label}: {one_line(r.reason)}" for r in report.results
    ]
    counts = report.counts()
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    lines.append("")
    lines.append(f"{len(report.results)} checks in {format_took(report.wall_ms)}: {summary}.")
    timed = sorted(
        (r for r in report.results if r.outcome), key=lambda r: -(r.outcome.duration_ms if r.outcome else 0)
    )
    if timed:
        slowest = ", ".join(
            f"{r.spec.item} {format_took(r.outcome.duration_ms if r.outcome else 0)}"
            for r in timed[:SLOWEST_SHOWN]
        )
        lines.append(f"Slowest: {slowest}.")
    lines.append(f"Session {report.session_id} in {report.session_location}")
    lines.append(f"Open it in the app: deploytui --session {report.session_id}")
    return "\n".join(lines) + "\n"


def _xml(text: str) -> str:
    return _XML_INVALID_RE.sub("", text)


_NOT_RUN = frozenset({Status.BLOCKED, Status.SKIPPED})
"""Statuses of a check that did not run: JUnit's `<skipped>`, not an error."""


def to_junit(report: RunReport) -> str:
    """JUnit XML as surefire writes it (valid against the Jenkins xUnit plugin's junit-10.xsd): one
    testsuite, one testcase per check; failures and errors carry the reason, a blocked check (not run) is
    `<skipped>`. The suite's `time` is the run's wall time, not the sum of the checks' (they overlap)."""
    results, checklist, session_id = report.results, report.checklist, report.session_id
    failures = sum(r.status is Status.FAILED for r in results)
    skipped = sum(r.status in _NOT_RUN for r in results)
    errors = sum(
        not r.status.is_passing and r.status is not Status.FAILED and r.status not in _NOT_RUN
        for r in results
    )
    suites = ET.Element(
        "testsuites",
        name="deploytui",
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        time=f"{report.wall_ms / 1000:.3f}",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=_xml(checklist.title or "deploytui"),
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
        time=f"{report.wall_ms / 1000:.3f}",
        timestamp=report.started.removesuffix("Z")[:19],
        hostname=_xml(report.host) or "localhost",
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
        elif r.status is Status.FLAKY:
            # As surefire writes a test that passed on a rerun: one <flakyFailure> per failed attempt.
            for attempt in r.outcome.attempts if r.outcome else ():
                if not attempt.status.is_passing:
                    ET.SubElement(
                        case, "flakyFailure", message=_xml(attempt.reason), type=attempt.status.value
                    ).text = _xml(f"attempt {attempt.number}: {attempt.reason}")
        elif r.status in _NOT_RUN:
            ET.SubElement(case, "skipped", message=_xml(r.reason), type=r.status.value)
        elif not r.status.is_passing:
            node = ET.SubElement(case, "error", message=_xml(r.reason), type=r.status.value)
            node.text = evidence
        if r.log:
            ET.SubElement(case, "system-out").text = _xml(f"log: {r.log}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
