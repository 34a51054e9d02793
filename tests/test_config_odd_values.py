"""Values the config refuses, each with one line naming the file and line: a secret too short to be
masked (where it is set: the dotenv line, or [secrets] when the process environment sets it)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deploytui.core.errors import DeployError
from deploytui.services.project import load_config
from tests.cli_support import one_line_error, run_deploytui

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
