"""`deploytui check --format junit` is valid against the JUnit XSD a CI server validates with (the Jenkins
xUnit plugin's junit-10.xsd, surefire's format), on a run where every verdict of a check run occurs:
passed, flaky, failed, error and blocked. A blocked check did not run: JUnit calls that skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from deploytui.cli import main

XSD = Path(__file__).parents[1] / "fixtures" / "junit" / "junit-10.xsd"

CHECKLIST = """\
# Release

## Checks
- [ ] Passes
- [ ] Fails
- [ ] Cannot judge
- [ ] After the failure
- [ ] Passes on a retry
"""

BODY = """\
checklist = "checklist.md"

[[check]]
item = "checks/passes"
kind = "command"
run = "true"

[[check]]
item = "checks/fails"
kind = "command"
run = "echo 'bad <&> \\"output\\"'; exit 3"

[[check]]
item = "checks/cannot-judge"
kind = "command"
run = ["/nonexistent/deploytui-no-such-program"]

[[check]]
item = "checks/after-the-failure"
kind = "command"
run = "true"
after = ["checks/fails"]

[[check]]
item = "checks/passes-on-a-retry"
kind = "command"
run = "test -f once || {{ touch once; exit 1; }}"
cwd = "{cwd}"
retry = {{ attempts = 3, interval = "10ms" }}
"""


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> etree._ElementTree:
    (tmp_path / "checklist.md").write_text(CHECKLIST)
    (tmp_path / "deploytui.toml").write_text(
        BODY.replace("{{", "{").replace("}}", "}").replace("{cwd}", str(tmp_path))
    )
    monkeypatch.chdir(tmp_path)
    args = ["check", "deploytui.toml", "--format", "junit", "-o", "report.xml"]
    assert main([*args, "--sessions-dir", str(tmp_path / "sessions"), "--operator", "ci"]) == 1
    return etree.parse(str(tmp_path / "report.xml"))


def _case(report: etree._ElementTree, item: str) -> etree._Element:
    (case,) = report.xpath(f"//testcase[@classname='{item}']")
    return case


def test_check_junit_validates_against_the_jenkins_surefire_schema(report: etree._ElementTree) -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(report), "\n".join(str(e) for e in schema.error_log)


def test_every_verdict_lands_where_a_ci_server_reads_it(report: etree._ElementTree) -> None:
    suite = report.getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "5",
        "1",
        "1",
        "1",
    )
    assert [c.tag for c in _case(report, "checks/passes")] == ["system-out"]
    failure = _case(report, "checks/fails").find("failure")
    assert failure is not None and "bad <&>" in (failure.text or "")
    error = _case(report, "checks/cannot-judge").find("error")
    assert error is not None and error.get("type") == "error"
    skipped = _case(report, "checks/after-the-failure").find("skipped")
    assert skipped is not None and "checks/fails" in (skipped.get("message") or "")
    assert _case(report, "checks/after-the-failure").find("error") is None
    flaky = _case(report, "checks/passes-on-a-retry").findall("flakyFailure")
    assert len(flaky) == 1 and flaky[0].get("type") == "failed"
