"""Reports of a headless check run, for a pipeline: text, JSON and JUnit XML.

JSON: {"session": ID, "results": [{"item", "check", "kind", "status", "reason", "duration_ms",
"values", "log"}]}.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from deploytui.core.checklist import Checklist
from deploytui.core.status import Status
from deploytui.services.runs import CheckRun

_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
"""Characters XML 1.0 cannot hold (evidence is cleaned already; this is the last line of defence)."""



def to_json(session_id: str, results: Sequence[CheckRun]) -> dict[str, Any]:
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


def to_text(session_id: str, results: Sequence[CheckRun], where: str) -> str:
    """One line per check, then the counts and where the session is (`where`: the store's location)."""
    counts: dict[str, int] = {}
    lines = []
    for r in results:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
        lines.append(f"{r.status.value:<11} {r.spec.item}  {r.spec.label}: {r.reason}")
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    lines.append("")
    lines.append(f"{len(results)} checks: {summary}. Session {session_id} in the {where}")
    return "\n".join(lines) + "\n"


def _xml(text: str) -> str:
    return _XML_INVALID_RE.sub("", text)


def to_junit(session_id: str, checklist: Checklist, results: Sequence[CheckRun]) -> str:
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
