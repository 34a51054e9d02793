"""Re-running what failed, headless: `check --failed SESSION` runs exactly the checks whose latest result
did not cleanly pass, into the same session; a flaky check (passed on a retry) is shown apart in JSON and
as surefire's <flakyFailure> in JUnit, and counts as passing for the exit code."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from deploytui.cli import main
from deploytui.storage.fs import SessionStore

CHECKLIST = """\
# Release

## Checks
- [ ] Good
- [ ] Bad
- [ ] Wobbly
"""

BODY = """\
checklist = "checklist.md"

[[check]]
item = "checks/good"
kind = "command"
run = "true"

[[check]]
item = "checks/bad"
kind = "command"
run = "test -f fixed"

[[check]]
item = "checks/wobbly"
kind = "command"
run = "test -f tried || {{ touch tried; exit 1; }}"
retry = {{ attempts = 3, interval = "100ms" }}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "checklist.md").write_text(CHECKLIST)
    (tmp_path / "deploytui.toml").write_text(BODY.format())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _check(project: Path, *args: str) -> int:
    return main(["check", "deploytui.toml", *args, "--sessions-dir", str(project / "sessions")])


def _run_keys(project: Path, sid: str) -> list[str]:
    lines = (project / "sessions" / sid / "events.jsonl").read_text().splitlines()
    return [e["check"] for e in map(json.loads, lines) if e["type"] == "run_started"]


def test_failed_reruns_exactly_what_did_not_pass_into_the_same_session(project: Path) -> None:
    assert _check(project) == 1
    (sid,) = SessionStore(project / "sessions").ids()
    assert sorted(_run_keys(project, sid)) == ["checks/bad#1", "checks/good#0", "checks/wobbly#2"]
    (project / "fixed").touch()
    assert _check(project, "--failed", sid) == 0  # bad now passes; wobbly was flaky: run again too
    again = _run_keys(project, sid)[3:]
    assert sorted(again) == ["checks/bad#1", "checks/wobbly#2"]
    session = SessionStore(project / "sessions").load(sid)
    assert session.items["checks/bad"].checks["checks/bad#1"].status.value == "passed"
    assert _check(project, "--failed", sid) == 0  # nothing left to re-run: says so, exits 0
    assert len(_run_keys(project, sid)) == 5


def test_flaky_is_passing_and_shown_apart_in_json_and_junit(project: Path) -> None:
    (project / "fixed").touch()
    assert _check(project, "--format", "json", "-o", "r.json") == 0  # flaky counts as passing
    report = json.loads((project / "r.json").read_text())
    assert report["counts"] == {"passed": 2, "flaky": 1}
    assert [f["check"] for f in report["flaky"]] == ["checks/wobbly#2"]
    wobbly = next(r for r in report["results"] if r["item"] == "checks/wobbly")
    assert [a["status"] for a in wobbly["attempts"]] == ["failed", "passed"]
    (project / "tried").unlink()
    assert _check(project, "--format", "junit", "-o", "r.xml") == 0
    suite = ET.parse(project / "r.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "0" and suite.get("failures") == "0"
    (case,) = [c for c in suite.iter("testcase") if c.get("classname") == "checks/wobbly"]
    flaky = case.findall("flakyFailure")
    assert len(flaky) == 1 and flaky[0].get("type") == "failed"
    assert case.find("failure") is None and case.find("error") is None
