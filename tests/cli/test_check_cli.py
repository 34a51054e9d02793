"""`deploytui check`: exit codes, JSON and JUnit reports, --only, sessions recorded like the TUI, no secret
value in any file it writes, a hung server failing alone at its timeout, and no textual import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from deploytui.cli import main
from tests.servers.target_app import HungServer, TargetServer

SECRET = "tok-Q9x-7c1f5e-secret"

CHECKLIST = """\
# Release

## Checks
- [ ] API healthy
- [ ] Secrets hidden
- [ ] Hung dependency

## Other
- [ ] Environment ready
  ```bash
  touch should-not-exist
  ```
"""


def write_config(tmp_path: Path, body: str, secrets: bool = True) -> Path:
    (tmp_path / "checklist.md").write_text(CHECKLIST)
    head = 'checklist = "checklist.md"\n'
    if secrets:
        head += '[secrets]\nenv = ["API_TOKEN"]\n'
    head += '[defaults]\ntimeout = "5s"\nconcurrency = 4\n'
    path = tmp_path / "deploytui.toml"
    path.write_text(head + body)
    return path


def run_cli(tmp_path: Path, *args: str) -> int:
    return main(["check", *args, "--sessions-dir", str(tmp_path / "sessions")])


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("API_TOKEN", SECRET)
    return SECRET


def passing_body(app: TargetServer) -> str:
    return f"""
[[check]]
item = "checks/api-healthy"
kind = "http"
url = "{app.url}/api/v1/health"
expect = {{ status = 200, json = {{ status = "ok" }} }}

[[check]]
item = "other/environment-ready"
kind = "env"
names = ["API_TOKEN"]

[[check]]
item = "other/environment-ready"
kind = "action"
run = "touch should-not-exist"
"""


def test_all_passed_exit_0_json_and_session_recorded(
    tmp_path: Path, target_app: TargetServer, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, passing_body(target_app))
    assert run_cli(tmp_path, str(config), "--format", "json") == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert [(r["item"], r["kind"], r["status"]) for r in report["results"]] == [
        ("checks/api-healthy", "http", "passed"),
        ("other/environment-ready", "env", "passed"),
    ]  # the action is never run headless
    first = report["results"][0]
    assert set(first) >= {"item", "kind", "status", "reason", "duration_ms", "values"}
    assert first["values"]["status"] == 200
    assert not (tmp_path / "should-not-exist").exists()
    # a live line per finished check on stderr
    assert "PASSED" in captured.err and "checks/api-healthy" in captured.err
    # the session holds both runs, their logs and the event chain
    session_id = report["session"]
    sessions = tmp_path / "sessions"
    toml_text = (sessions / f"{session_id}.toml").read_text()
    assert "checks/api-healthy" in toml_text and "passed" in toml_text
    events = (sessions / session_id / "events.jsonl").read_text().splitlines()
    assert len(events) == 5  # created + 2 started + 2 finished
    logs = list((sessions / session_id / "logs").iterdir())
    assert len(logs) == 2 and first["log"].startswith("logs/")


def test_failure_exit_1_and_junit_parses(
    tmp_path: Path, target_app: TargetServer, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        passing_body(target_app)
        + f"""
[[check]]
item = "checks/secrets-hidden"
kind = "http"
url = "{target_app.url}/misbehave/error"
"""
    )
    config = write_config(tmp_path, body)
    out = tmp_path / "report.xml"
    assert run_cli(tmp_path, str(config), "--format", "junit", "-o", str(out)) == 1
    root = ET.parse(out).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 3
    failures = root.findall(".//testcase/failure")
    assert [f.get("message") for f in failures] == ["status 500, expected 200"]
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("tests") == "3"
    assert capsys.readouterr().out == ""  # the report went to the file


def test_only_items_and_sections(
    tmp_path: Path, target_app: TargetServer, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, passing_body(target_app))
    assert run_cli(tmp_path, str(config), "--only", "other", "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["item"] for r in report["results"]] == ["other/environment-ready"]
    assert run_cli(tmp_path, str(config), "--only", "checks/api-healthy", "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["item"] for r in report["results"]] == ["checks/api-healthy"]
    assert run_cli(tmp_path, str(config), "--only", "checks/api-helthy") == 2
    err = capsys.readouterr().err
    assert "no item or section 'checks/api-helthy'" in err and "did you mean 'checks/api-healthy'" in err
    assert run_cli(tmp_path, str(config), "--only", "checks/hung-dependency") == 2
    assert "no checks are bound there" in capsys.readouterr().err


def test_bad_config_is_exit_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, '\n[[check]]\nitem = "checks/api-healthy"\nkind = "htp"\nurl = "x"\n')
    assert run_cli(tmp_path, str(config)) == 2
    err = capsys.readouterr().err
    assert f"{config}:" in err and "unknown kind 'htp'" in err and "Traceback" not in err
    empty = write_config(tmp_path, "")
    assert run_cli(tmp_path, str(empty)) == 2
    assert "nothing to check" in capsys.readouterr().err


def test_no_secret_value_in_any_file_report_or_stream(
    tmp_path: Path, target_app: TargetServer, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    body = f"""
[[check]]
item = "checks/secrets-hidden"
kind = "command"
run = "echo token=$API_TOKEN; echo ERROR with $API_TOKEN >&2; exit 3"
expect = {{ stdout_absent = "ERROR" }}

[[check]]
item = "checks/api-healthy"
kind = "http"
url = "{target_app.url}/api/v1/health?token=${{API_TOKEN}}"
expect = {{ body_contains = "${{API_TOKEN}}" }}

[[check]]
item = "other/environment-ready"
kind = "command"
run = ["sh", "-c", "printf '%s' \\"$API_TOKEN\\" | base64; echo $API_TOKEN"]
"""
    config = write_config(tmp_path, body)
    json_out = tmp_path / "report.json"
    junit_out = tmp_path / "report.xml"
    assert run_cli(tmp_path, str(config), "--format", "json", "-o", str(json_out)) == 1
    assert run_cli(tmp_path, str(config), "--format", "junit", "-o", str(junit_out)) == 1
    captured = capsys.readouterr()
    report = json.loads(json_out.read_text())
    reasons = [r["reason"] for r in report["results"]]
    assert reasons[0].startswith("exit code 3") or "ERROR" in reasons[0]
    assert "[secret:API_TOKEN]" in json_out.read_text() or "[secret:API_TOKEN]" in junit_out.read_text()
    written = [p for p in (tmp_path / "sessions").rglob("*") if p.is_file()] + [json_out, junit_out]
    assert len(written) > 6
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in captured.out and SECRET not in captured.err


def test_a_hung_server_fails_at_its_timeout_and_the_rest_finish(
    tmp_path: Path,
    target_app: TargetServer,
    hung_server: HungServer,
    token: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = (
        passing_body(target_app)
        + f"""
[[check]]
item = "checks/hung-dependency"
kind = "http"
url = "{hung_server.url}/health"
timeout = "1s"
"""
    )
    config = write_config(tmp_path, body)
    assert run_cli(tmp_path, str(config), "--format", "json") == 1
    results = {r["item"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert results["checks/hung-dependency"]["status"] == "failed"
    assert results["checks/hung-dependency"]["reason"] == "timed out after 1s"
    assert results["checks/api-healthy"]["status"] == "passed"
    assert results["other/environment-ready"]["status"] == "passed"


def test_record_into_an_existing_session(
    tmp_path: Path, target_app: TargetServer, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, passing_body(target_app))
    assert run_cli(tmp_path, str(config), "--format", "json") == 0
    session_id = json.loads(capsys.readouterr().out)["session"]
    assert (
        run_cli(tmp_path, str(config), "--format", "json", "--session", session_id, "--only", "checks") == 0
    )
    assert json.loads(capsys.readouterr().out)["session"] == session_id
    logs = list((tmp_path / "sessions" / session_id / "logs").iterdir())
    assert len(logs) == 3
    assert run_cli(tmp_path, str(config), "--session", "20990101-000000-nope") == 2


def test_unset_variable_is_an_error_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = (
        '\n[[check]]\nitem = "checks/api-healthy"\nkind = "http"\n'
        'url = "${DEPLOYTUI_TEST_UNSET_URL}/health"\n'
    )
    config = write_config(tmp_path, body, secrets=False)
    assert run_cli(tmp_path, str(config), "--format", "json") == 1
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert (result["status"], result["reason"]) == ("error", "DEPLOYTUI_TEST_UNSET_URL is not set")


def test_check_command_never_imports_textual(tmp_path: Path, target_app: TargetServer) -> None:
    config = write_config(tmp_path, passing_body(target_app))
    code = (
        "import sys\n"
        "from deploytui.cli import main\n"
        f"rc = main(['check', {str(config)!r}, '--sessions-dir', {str(tmp_path / 's')!r},"
        " '--format', 'json'])\n"
        "assert 'textual' not in sys.modules, 'textual imported'\n"
        "sys.exit(rc)\n"
    )
    env = {**os.environ, "API_TOKEN": SECRET}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["status"] == "passed"


def test_workers_start_before_the_session_opens_and_none_outlives_a_session_that_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`deploytui check` starts the qdrant and gemini workers before it opens its session, so that they
    import their clients on the other core meanwhile (bench_startup.py's headless figure); when the
    session then cannot be opened, the error is one line and no worker is left running."""
    from deploytui.engine.workers import WorkerPool

    url = "http://127.0.0.1:9"  # nothing is ever reached: the run does not start
    config = write_config(
        tmp_path,
        f"""
[[check]]
item = "checks/api-healthy"
kind = "qdrant"
url = "{url}"
collection = "docs"

[[check]]
item = "checks/secrets-hidden"
kind = "gemini"
api_key = "AIzaSomething1234"
base_url = "{url}"

[[check]]
item = "other/environment-ready"
kind = "env"
names = ["HOME"]
""",
        secrets=False,
    )
    sessions = tmp_path / "sessions"
    started: dict[str, int] = {}
    sessions_when_started: list[int] = []
    start = WorkerPool.start

    def noting(self: WorkerPool, kind: str) -> bool:
        ok = start(self, kind)
        started.update(self.pids)
        sessions_when_started.append(len(list(sessions.glob("*"))) if sessions.is_dir() else 0)
        return ok

    monkeypatch.setattr(WorkerPool, "start", noting)
    assert main(["check", "--config", str(config), "--sessions-dir", str(sessions)]) == 1  # unreachable
    assert sorted(started) == ["gemini", "qdrant"]
    assert sessions_when_started[:2] == [0, 0]  # both started before the session was created
    assert list(sessions.glob("*.toml"))  # and then it was
    capsys.readouterr()

    started.clear()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the sessions directory should be")
    assert main(["check", "--config", str(config), "--sessions-dir", str(blocked / "x")]) == 2
    assert sorted(started) == ["gemini", "qdrant"]
    for pid in started.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # ended and waited for
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("deploytui: "), err
