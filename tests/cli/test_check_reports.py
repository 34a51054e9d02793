"""What `deploytui check` tells a pipeline and a person: a JSON report with the run's context and whole
reasons, JUnit whose suite time is the wall time, a text summary naming the slowest checks and how to
open the session, config mistakes caught before anything runs (`${API_URL` unclosed, a variable nothing
sets), and `--dry-run`, which resolves every binding and runs nothing."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from deploytui.cli import main

CHECKLIST = """\
# Release

## Checks
- [ ] First slow
- [ ] Second slow
- [ ] Long reason
"""

BODY = """\
checklist = "checklist.md"

[[check]]
item = "checks/first-slow"
kind = "command"
run = "sleep 1"

[[check]]
item = "checks/second-slow"
kind = "command"
run = "sleep 1"

[[check]]
item = "checks/long-reason"
kind = "command"
run = "true"
expect = { stdout_contains = "${NEEDLE}" }
"""

NEEDLE = "n" * 700
"""Longer than a screen line: the reason quoting it must reach the JSON whole."""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "checklist.md").write_text(CHECKLIST)
    (tmp_path / "deploytui.toml").write_text(BODY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEEDLE", NEEDLE)
    return tmp_path


def _check(project: Path, *args: str) -> int:
    return main(
        ["check", "deploytui.toml", *args, "--sessions-dir", str(project / "sessions"), "--operator", "ci"]
    )


def test_json_report_carries_the_run_context_and_whole_reasons(project: Path) -> None:
    assert _check(project, "--format", "json", "-o", "report.json") == 1
    report = json.loads((project / "report.json").read_text())
    assert report["checklist"]["path"] == str(project / "checklist.md")
    assert len(report["checklist"]["sha256"]) == 64
    assert report["operator"] == "ci" and report["host"]
    assert report["started"] < report["ended"]
    assert 900 <= report["wall_ms"] < 1900  # the two 1 s checks ran side by side
    assert report["counts"] == {"passed": 2, "failed": 1}
    session_dir = Path(report["session_dir"])
    assert session_dir.is_absolute() and session_dir.name == report["session"]
    long = next(r for r in report["results"] if r["item"] == "checks/long-reason")
    assert NEEDLE in long["reason"] and "…" not in long["reason"]
    assert all((session_dir / r["log"]).is_file() for r in report["results"])


def test_junit_suite_time_is_the_wall_time_not_the_sum(project: Path) -> None:
    assert _check(project, "--format", "junit", "-o", "report.xml") == 1
    root = ET.parse(project / "report.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = sum(float(c.get("time", "0")) for c in suite.iter("testcase"))
    assert cases >= 1.9  # two checks of 1 s each
    assert float(suite.get("time", "0")) < cases * 0.9
    assert root.get("time") == suite.get("time")
    assert suite.get("timestamp") and suite.get("hostname")


def test_text_summary_names_counts_wall_time_slowest_and_how_to_open_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _check(project) == 1
    out = capsys.readouterr().out
    assert "3 checks in " in out and "2 passed, 1 failed" in out
    assert "Slowest: checks/" in out
    sid = next(p.stem for p in (project / "sessions").glob("*.toml"))
    assert f"Open it in the app: deploytui --session {sid}" in out
    assert f"Session {sid} in {(project / 'sessions' / sid).resolve()}" in out
    long_line = next(line for line in out.splitlines() if "checks/long-reason" in line)
    assert len(long_line) < 400  # the screen gets a line, the JSON the whole reason


def test_an_unclosed_variable_is_a_config_error_naming_file_and_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "deploytui.toml").write_text(
        BODY.replace(
            '"sleep 1"\n\n[[check]]\nitem = "checks/second',
            '"sleep ${API_URL"\n\n[[check]]\nitem = "checks/second',
            1,
        )
    )
    assert _check(project) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "deploytui.toml:6:" in err and "'${API_URL'" in err
    assert not (project / "sessions").exists()  # nothing ran


def test_list_and_dry_run_name_variables_nothing_sets(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "deploytui.toml").write_text(
        BODY.replace('run = "sleep 1"', 'run = "curl ${API_URL}/health"', 1)
    )
    assert main(["list", "deploytui.toml"]) == 0
    assert "${API_URL} (1 check)" in capsys.readouterr().err
    assert _check(project, "--dry-run") == 0
    captured = capsys.readouterr()
    assert "3 checks would run; nothing was run (--dry-run)." in captured.out
    assert "checks/long-reason" in captured.out and "${API_URL} (1 check)" in captured.err
    assert not (project / "sessions").exists()


def test_dry_run_masks_secrets_in_what_it_prints(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "deploytui.toml").write_text(
        BODY.replace(
            'checklist = "checklist.md"\n', 'checklist = "checklist.md"\n[secrets]\nenv = ["NEEDLE"]\n', 1
        ).replace('run = "sleep 1"', 'run = "echo ${NEEDLE}"', 1)
    )
    assert _check(project, "--dry-run") == 0
    out = capsys.readouterr().out
    assert NEEDLE not in out and "[secret:NEEDLE]" in out


def test_an_empty_sessions_listing_names_the_absolute_dir_and_how_to_point_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["sessions", "--sessions-dir", "nowhere"]) == 0
    out = capsys.readouterr().out
    assert f"no sessions in the sessions dir {tmp_path / 'nowhere'}" in out
    assert "--sessions-dir D" in out and "$DEPLOYTUI_SESSIONS" in out


def test_export_says_where_the_record_went_as_an_absolute_path(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _check(project, "--only", "checks/first-slow") == 0
    sid = next(p.stem for p in (project / "sessions").glob("*.toml"))
    capsys.readouterr()
    assert main(["export", sid, "-o", "rec.md", "--sessions-dir", str(project / "sessions")]) == 0
    assert f"wrote {project / 'rec.md'} (unsigned)" in capsys.readouterr().err
