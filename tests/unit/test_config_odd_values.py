"""Values the config refuses, each with one line naming the file and line: a secret too short to be
masked (where it is set: the dotenv line, or [secrets] when the process environment sets it), and a
timeout or any other duration that is NaN, infinite, huge or longer than a day."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deploytui.core.durations import parse_duration
from deploytui.core.errors import DeployError
from deploytui.services.project import load_config
from tests.support.cli_support import one_line_error, run_deploytui

CHECKLIST = """# Deploy

## Pre

- [ ] Api up
- [ ] Backup fresh
"""
API = "pre/api-up"
BACKUP = "pre/backup-fresh"

CONFIG = """\
checklist = "deploy.md"

[env]
files = [".env"]

[secrets]
env = ["API_KEY", "DB_PASSWORD"]

[defaults]
timeout = {timeout}

[[check]]
item = "pre/api-up"
kind = "command"
run = "true"
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "deploy.md").write_text(CHECKLIST)
    (tmp_path / ".env").write_text("# keys\nAPI_KEY=long-enough-key\nDB_PASSWORD=abc\n")
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    return tmp_path


def write(workdir: Path, timeout: str = '"5s"', extra: str = "") -> Path:
    path = workdir / "deploytui.toml"
    path.write_text(CONFIG.format(timeout=timeout) + textwrap.dedent(extra))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(DeployError) as info:
        load_config(path).redactor()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_three_character_secret_names_the_variable_and_its_dotenv_line(workdir: Path) -> None:
    message = error_of(write(workdir))
    assert message.startswith(f"{workdir / '.env'}:3: secret DB_PASSWORD is 3 characters long")
    assert "cannot be masked" in message and "abc" not in message


def test_a_short_secret_from_the_environment_names_the_secrets_line(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_KEY", "k1")
    path = write(workdir)
    message = error_of(path)
    assert message.startswith(f"{path}:7: secret API_KEY is 2 characters long")
    assert message.endswith("it is set in the environment")


def test_the_cli_refuses_a_short_secret_in_one_line(workdir: Path) -> None:
    write(workdir)
    line = one_line_error(run_deploytui("check", "--config", "deploytui.toml", cwd=workdir))
    assert line == (
        f"deploytui: {workdir / '.env'}:3: secret DB_PASSWORD is 3 characters long: a value shorter than 4"
        " cannot be masked (use a longer value, or take DB_PASSWORD out of [secrets] env)"
    )


def test_unset_and_empty_secrets_are_not_refused(workdir: Path) -> None:
    (workdir / ".env").write_text("API_KEY=\n")
    assert load_config(write(workdir)).redactor().names == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", '"2d"', '"25h"', "86401", '"1e3s"'])
def test_a_default_timeout_that_is_not_a_sane_duration_names_its_line(workdir: Path, value: str) -> None:
    (workdir / ".env").write_text("")
    path = write(workdir, timeout=value)
    with pytest.raises(DeployError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:10: timeout: "), str(info.value)


@pytest.mark.parametrize("value", ["nan", "inf", "1e308", '"2d"'])
def test_a_check_timeout_that_is_not_a_sane_duration_names_its_line(workdir: Path, value: str) -> None:
    (workdir / ".env").write_text("")
    path = write(workdir, extra=f"timeout = {value}\n")
    with pytest.raises(DeployError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:16: timeout: "), str(info.value)


def test_the_cli_refuses_a_nan_timeout_in_one_line(workdir: Path) -> None:
    (workdir / ".env").write_text("")
    write(workdir, timeout="nan")
    line = one_line_error(run_deploytui("check", "--config", "deploytui.toml", cwd=workdir))
    assert line == "deploytui: deploytui.toml:10: timeout: a duration must be a number, got nan"


@pytest.mark.parametrize(
    ("binding", "line", "message"),
    [
        (
            f'item = "{API}"\nkind = "http"\nurl = "http://127.0.0.1:1/"\nexpect = {{ max_ms = nan }}',
            21,
            "expect.max_ms must be a number of milliseconds",
        ),
        (
            f'item = "{API}"\nkind = "http"\nurl = "http://127.0.0.1:1/"\nsamples = 3\n'
            "expect = { p95_ms = inf }",
            22,
            "expect.p95_ms must be a number of milliseconds",
        ),
        (
            f'item = "{BACKUP}"\nkind = "backup"\nverify_only = true\npath = "x.dump"\n'
            "expect = { max_age = inf }",
            22,
            "expect.max_age: a duration must be finite",
        ),
        (
            f'item = "{API}"\nkind = "docker"\ncontainers = ["a"]\nstats = true\nsample_interval = "2d"',
            22,
            "sample_interval: a duration must be finite and at most 1d",
        ),
        (
            f'item = "{API}"\nkind = "docker"\ncontainers = ["a"]\nlogs_absent = "E"\nlogs_since = nan',
            22,
            "logs_since: a duration must be a number",
        ),
        (
            f'item = "{API}"\nkind = "redis"\nurl = "redis://127.0.0.1:1"\nexpect = {{ max_ms = "< 1e400" }}',
            21,
            "expect.max_ms: a threshold must be a finite number",
        ),
    ],
    ids=["http-max_ms", "http-p95_ms", "backup-max_age", "docker-interval", "docker-since", "redis"],
)
def test_durations_and_thresholds_in_kinds_refuse_odd_values(
    workdir: Path, binding: str, line: int, message: str
) -> None:
    (workdir / ".env").write_text("")
    path = write(workdir, extra=f"\n[[check]]\n{binding}\n")
    with pytest.raises(DeployError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:{line}: {message}"), str(info.value)


def test_a_backup_may_be_older_than_a_day_but_not_older_than_a_year() -> None:
    assert parse_duration("26h", limit=366 * 86400) == 26 * 3600
    with pytest.raises(ValueError, match="at most 366d"):
        parse_duration("400d", limit=366 * 86400)
    with pytest.raises(ValueError, match="at most 1d"):
        parse_duration("26h")
