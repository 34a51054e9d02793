"""kind = "command" (and "action"): exit codes, output patterns, cwd/env, argv lists, missing programs."""

from __future__ import annotations

from pathlib import Path

from deploytui.checks.kinds.action import Kind as ActionKind
from deploytui.checks.kinds.command import Kind, action_argv
from deploytui.core.status import Status
from tests.support.engine_helpers import make_engine, run_one, spec


async def test_exit_zero_passes_with_values(tmp_path: Path) -> None:
    outcome, rec = await run_one("command", tmp_path=tmp_path, run="echo hello; echo world")
    assert (outcome.status, outcome.reason) == (Status.PASSED, "exit 0, 2 lines of output")
    assert outcome.values == {"exit_code": 0, "lines": 2}
    assert rec.lines() == ["hello", "world"]


async def test_nonzero_exit_fails_and_expected_codes(tmp_path: Path) -> None:
    failed, _ = await run_one("command", tmp_path=tmp_path, run="exit 4")
    assert (failed.status, failed.reason) == (Status.FAILED, "exit code 4, expected 0")
    grep_nothing, _ = await run_one("command", tmp_path=tmp_path, run="exit 1", expect={"exit_code": [0, 1]})
    assert grep_nothing.status is Status.PASSED


async def test_killed_by_signal(tmp_path: Path) -> None:
    outcome, _ = await run_one("command", tmp_path=tmp_path, run="kill -9 $$")
    assert (outcome.status, outcome.reason) == (Status.FAILED, "killed by signal 9")


async def test_stdout_absent_reports_the_first_matching_line(tmp_path: Path) -> None:
    outcome, _ = await run_one(
        "command",
        tmp_path=tmp_path,
        run="echo 'INFO started'; echo 'ERROR db down' >&2; echo 'ERROR again'",
        expect={"stdout_absent": "ERROR"},
    )
    assert outcome.status is Status.FAILED
    assert outcome.reason == "output has a line matching 'ERROR': ERROR db down"
    clean, _ = await run_one(
        "command", tmp_path=tmp_path, run="echo all good", expect={"stdout_absent": "ERROR"}
    )
    assert clean.status is Status.PASSED


async def test_stdout_contains(tmp_path: Path) -> None:
    ok, _ = await run_one(
        "command",
        tmp_path=tmp_path,
        run="echo 'alembic: head (a1b2c3)'",
        expect={"stdout_contains": [r"\(head\)|head"]},
    )
    assert ok.status is Status.PASSED
    missing, _ = await run_one(
        "command", tmp_path=tmp_path, run="echo nope", expect={"stdout_contains": "head"}
    )
    assert missing.reason == "output never matched 'head'"


async def test_argv_list_cwd_and_env(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    outcome, rec = await run_one(
        "command",
        tmp_path=tmp_path,
        run=["sh", "-c", 'pwd; echo "$STAGE"'],
        cwd="work",
        env={"STAGE": "prod"},
    )
    assert outcome.status is Status.PASSED
    assert rec.lines() == [str(tmp_path / "work"), "prod"]


async def test_missing_program_and_cwd_are_errors(tmp_path: Path) -> None:
    missing, _ = await run_one("command", tmp_path=tmp_path, run=["no-such-program-xyz"])
    assert (missing.status, missing.reason) == (Status.ERROR, "command not found: no-such-program-xyz")
    no_dir, _ = await run_one("command", tmp_path=tmp_path, run="true", cwd="absent")
    assert (
        no_dir.status is Status.ERROR
        and no_dir.reason == f"working directory {tmp_path / 'absent'} does not exist"
    )


async def test_invalid_utf8_and_a_line_without_newline(tmp_path: Path) -> None:
    outcome, rec = await run_one("command", tmp_path=tmp_path, run=r"printf 'caf\303\251 \377\376 end'")
    assert outcome.status is Status.PASSED
    assert rec.lines() == ["café \ufffd\ufffd end"]


async def test_background_child_holding_the_pipe_does_not_hang_the_check(tmp_path: Path) -> None:
    outcome, _ = await run_one("command", tmp_path=tmp_path, run="sleep 30 & echo started", timeout=5)
    assert outcome.status is Status.PASSED
    assert outcome.duration_ms < 3000


async def test_action_kind_is_an_action_with_the_same_fields(tmp_path: Path) -> None:
    assert ActionKind.action and ActionKind.is_action({}) and not Kind.action
    engine = make_engine(tmp_path)
    assert engine.is_action(spec("action", run="systemctl restart app"))
    assert not engine.is_action(spec("command", run="true"))
    assert (
        engine.describe(spec("action", run="docker restart ${NAME:-backend}")) == "$ docker restart backend"
    )


def test_action_argv_languages() -> None:
    assert action_argv("bash", "echo hi")[1:] == ["-c", "echo hi"]
    assert action_argv("console", "$ echo hi\n$ ls")[-1] == "echo hi\nls"
    assert action_argv("python", "print(1)") == ["python3", "-c", "print(1)"]


def test_validation() -> None:
    assert Kind.validate({"run": ""}) == ["run must be a shell line (string) or a non-empty list of strings"]
    assert Kind.validate({}) == ["kind 'command' needs field 'run'"]
    problems = Kind.validate({"run": "x", "expect": {"stdout_absent": "(unclosed"}})
    assert problems and problems[0].startswith("stdout_absent: bad regular expression '(unclosed'")


async def test_shell_lines_expand_variables_in_the_shell_so_values_cannot_inject(tmp_path: Path) -> None:
    hostile = f"a; touch {tmp_path / 'pwned'}; echo $(id -u)"
    outcome, rec = await run_one("command", tmp_path=tmp_path, env={"X": hostile}, run='echo "${X}"')
    assert outcome.status is Status.PASSED
    assert rec.lines() == [hostile]
    assert not (tmp_path / "pwned").exists()
    argv, rec2 = await run_one("command", tmp_path=tmp_path, env={"X": hostile}, run=["echo", "${X}"])
    assert rec2.lines() == [hostile]


async def test_config_vars_reach_the_shell(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, vars={"api": "http://127.0.0.1:9", "unused": "${NOT_SET_ANYWHERE}"})
    from tests.support.engine_helpers import Recorder

    rec = Recorder()
    outcome = await engine.run_check(spec("command", run="echo ${api}/health"), None, rec)
    assert outcome.status is Status.PASSED and rec.lines() == ["http://127.0.0.1:9/health"]
    missing = await engine.run_check(spec("command", run="echo ${unused}"), None, Recorder())
    assert (missing.status, missing.reason) == (Status.ERROR, "NOT_SET_ANYWHERE is not set")
