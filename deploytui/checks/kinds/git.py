"""kind = "git": files that must never be committed (.env) are not tracked now and never were.

    [[check]]
    item = "pre-deployment/secrets-secured/env-not-committed"
    kind = "git"
    paths = [".env"]                 # git pathspecs, relative to the repository root
    repo = "${APP_DIR:-.}"           # default: APP_DIR, else the config's directory
    # expect = { ignored = true }    # also require .gitignore to cover each path

Reasons: not a repository, tracked now, committed in the past (the commit, never the content),
not ignored. Runs `git ls-files` and `git log --all` (read-only).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from deploytui.checks.base import CheckKind, Field
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome
from deploytui.core.text import one_line


async def git(repo: Path, *args: str) -> tuple[int, str]:
    """Run git in `repo`; (exit code, stdout+stderr decoded with errors="replace")."""
    proc = await asyncio.create_subprocess_exec(
        "git",
        "-c",
        "safe.directory=*",
        "-C",
        str(repo),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
    )
    try:
        out, _ = await proc.communicate()
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
        raise
    return proc.returncode if proc.returncode is not None else -1, out.decode("utf-8", errors="replace")


class Kind(CheckKind):
    name: ClassVar[str] = "git"
    schema: ClassVar[Mapping[str, Field]] = {
        "paths": Field("string list", required=True, doc="git pathspecs, relative to the repository root"),
        "repo": Field("string", doc="the repository (default: APP_DIR, else the config's directory)"),
    }
    expect_fields: ClassVar[frozenset[str]] = frozenset({"ignored"})
    summary: ClassVar[str] = "files (like .env) are not tracked by git and never were"

    def repo(self, spec: CheckSpec, ctx: CheckContext) -> Path:
        if "repo" in spec.params:
            return ctx.path(str(ctx.param(spec, "repo")))
        app_dir = ctx.env.get("APP_DIR") or ctx.vars.get("APP_DIR")
        return ctx.path(app_dir) if app_dir else ctx.base_dir

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        paths = ", ".join(str(p) for p in spec.params.get("paths", []))
        return f"git: {paths} never committed in {self.repo(spec, ctx)}"

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        repo = self.repo(spec, ctx)
        paths = [str(p) for p in ctx.param(spec, "paths", [])]
        if not repo.is_dir():
            return Outcome.error(f"repository directory {repo} does not exist")
        try:
            code, out = await git(repo, "rev-parse", "--show-toplevel")
        except FileNotFoundError:
            return Outcome.error("git is not installed")
        if code != 0:
            return Outcome.error(f"{repo} is not a git repository")
        top = Path(out.strip())
        ctx.emit(f"repository {top}")
        code, out = await git(top, "rev-list", "--all", "--count")
        commits = int(out.strip()) if code == 0 and out.strip().isdigit() else 0
        for path in paths:
            code, out = await git(top, "ls-files", "--cached", "--", path)
            if code != 0:
                return Outcome.error(f"git ls-files failed: {one_line(out, 160)}")
            tracked = [line for line in out.splitlines() if line.strip()]
            if tracked:
                return Outcome.failed(f"{tracked[0]} is tracked by git", commits=commits)
            if commits:
                code, out = await git(
                    top, "log", "--all", "--format=%h %ad", "--date=short", "-1", "--", path
                )
                if code != 0:
                    return Outcome.error(f"git log failed: {one_line(out, 160)}")
                if out.strip():
                    commit = out.strip().splitlines()[0]
                    return Outcome.failed(
                        f"{path} was committed in the past (commit {commit}): rotate its secrets",
                        commits=commits,
                    )
            if spec.expect.get("ignored"):
                code, _ = await git(top, "check-ignore", "-q", "--no-index", "--", path)
                if code != 0:
                    return Outcome.failed(f"{path} is not covered by .gitignore", commits=commits)
            ctx.emit(f"{path}: never committed")
        return Outcome.passed(
            f"{', '.join(paths)} never committed ({commits} commits searched)", commits=commits
        )
