"""kind = "git": .env never committed, in a real repository made by the test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploytui.core.status import Status
from tests.support.engine_helpers import run_one


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo), *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "app"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "app.py").write_text("print('hi')\n")
    (path / ".gitignore").write_text(".env\n")
    git(path, "add", "app.py", ".gitignore")
    git(path, "commit", "-q", "-m", "initial")
    (path / ".env").write_text("SECRET_KEY=very-secret-value\n")
    return path


async def test_untracked_ignored_env_passes(repo: Path) -> None:
    outcome, _ = await run_one("git", repo=str(repo), paths=[".env"], expect={"ignored": True})
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.reason == ".env never committed (1 commits searched)"


async def test_app_dir_is_the_default_repository(repo: Path) -> None:
    outcome, _ = await run_one("git", env={"APP_DIR": str(repo)}, paths=[".env"])
    assert outcome.status is Status.PASSED, outcome.reason


async def test_tracked_env_fails(repo: Path) -> None:
    git(repo, "add", "-f", ".env")
    outcome, _ = await run_one("git", repo=str(repo), paths=[".env"])
    assert (outcome.status, outcome.reason) == (Status.FAILED, ".env is tracked by git")


async def test_env_committed_then_removed_still_fails(repo: Path) -> None:
    git(repo, "add", "-f", ".env")
    git(repo, "commit", "-q", "-m", "oops")
    git(repo, "rm", "-q", "--cached", ".env")
    git(repo, "commit", "-q", "-m", "remove it")
    outcome, rec = await run_one("git", repo=str(repo), paths=[".env"])
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith(".env was committed in the past (commit ")
    assert outcome.reason.endswith("rotate its secrets")
    assert "very-secret-value" not in outcome.reason and "very-secret-value" not in rec.text()


async def test_committed_on_another_branch_is_found(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "add", "-f", ".env")
    git(repo, "commit", "-q", "-m", "on a branch")
    git(repo, "checkout", "-q", "main")
    outcome, _ = await run_one("git", repo=str(repo), paths=[".env"])
    assert outcome.status is Status.FAILED and "was committed in the past" in outcome.reason


async def test_not_ignored(repo: Path) -> None:
    (repo / ".gitignore").write_text("")
    outcome, _ = await run_one("git", repo=str(repo), paths=[".env"], expect={"ignored": True})
    assert (outcome.status, outcome.reason) == (Status.FAILED, ".env is not covered by .gitignore")


async def test_not_a_repository_and_missing_dir(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    outcome, _ = await run_one("git", repo=str(plain), paths=[".env"])
    assert (outcome.status, outcome.reason) == (Status.ERROR, f"{plain} is not a git repository")
    missing, _ = await run_one("git", repo=str(tmp_path / "nope"), paths=[".env"])
    assert missing.reason == f"repository directory {tmp_path / 'nope'} does not exist"
