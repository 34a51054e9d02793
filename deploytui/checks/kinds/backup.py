"""kind = "backup": take a PostgreSQL backup with pg_dump (an action), or verify an existing one (a check).

    [[check]]   # an action: runs only after the operator confirms the exact command
    item = "deployment-steps/1-pre-deployment/create-backup-of-production-database"
    kind = "backup"
    url = "${DATABASE_URL}"
    output = "backups/production-${date}-${time}.dump"   # relative to deploytui.toml
    format = "custom"                                    # custom (default) | plain | tar | directory
    timeout = "30m"

    [[check]]   # read-only: runs headless too
    item = "post-deployment/week-1/validate-backups-work"
    kind = "backup"
    verify_only = true
    path = "/var/backups/production-*.dump"              # a glob takes the newest match
    expect = { max_age = "26h", min_bytes = 1024 }

In `output` and `path`, `${date}` is the local date as YYYYMMDD and `${time}` HHMMSS (fixed when the
run starts); `%Y`-style strftime codes work too; other `${NAME}` come from [vars] or the environment.

A dump writes `<output>.partial` (mode 0600: a backup holds every row), then checks it: not empty,
and `pg_restore --list` reads it (custom, tar, directory) or the plain SQL ends with pg_dump's
"dump complete" line. Only then is it renamed to `output`; a failed or timed-out dump leaves
nothing behind, and an existing `output` is never overwritten. The password goes to pg_dump in
PGPASSWORD, never on its command line. Verification does the same checks on an existing file, plus
`max_age` (from its modification time) and `min_bytes`.
"""

from __future__ import annotations

import asyncio
import glob
import math
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from deploytui.checks.base import (
    CheckKind,
    import_client,
    mask_outcome,
    masked_url,
    own_deadline,
    url_masker,
)
from deploytui.checks.expect import fmt_number
from deploytui.checks.kinds.postgres import (
    MIN_CONNECT_TIMEOUT,
    connect_failure_reason,
    libpq_message,
    target_of,
)
from deploytui.core.durations import MAX_AGE, format_duration, parse_duration
from deploytui.core.spec import DEFAULT_ACTION_TIMEOUT, CheckContext, CheckSpec
from deploytui.core.status import Outcome, Scalar, Status
from deploytui.core.text import one_line

FORMATS = ("custom", "plain", "tar", "directory")
"""pg_dump --format values this kind writes and verifies."""

SNIFF_BYTES = 4096
"""Bytes read at each end of a file to tell its format and whether a plain dump is complete."""

PLAIN_HEADER = b"PostgreSQL database dump"
PLAIN_TRAILER = b"PostgreSQL database dump complete"


class Kind(CheckKind):
    name: ClassVar[str] = "backup"
    clients: ClassVar[tuple[str, ...]] = ("psycopg",)
    provides: ClassVar[frozenset[str]] = frozenset({"date", "time"})
    fields: ClassVar[frozenset[str]] = frozenset(
        {"url", "output", "format", "verify_only", "path", "bin_dir"}
    )
    expect_fields: ClassVar[frozenset[str]] = frozenset({"max_age", "min_bytes"})
    action: ClassVar[bool] = True
    """A dump writes a file; `is_action` says False for `verify_only = true` bindings."""
    summary: ClassVar[str] = (
        "pg_dump a database to a file and prove it restorable, or verify an existing backup"
    )

    @classmethod
    def is_action(cls, params: Mapping[str, Any]) -> bool:
        return params.get("verify_only") is not True

    @classmethod
    def default_timeout(cls, params: Mapping[str, Any]) -> float | None:
        """A dump takes minutes on a real database; verifying one keeps the config's timeout."""
        return DEFAULT_ACTION_TIMEOUT if cls.is_action(params) else None

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> list[str]:
        problems = super().validate(params)
        verify = params.get("verify_only", False)
        if not isinstance(verify, bool):
            problems.append("verify_only must be true or false")
        elif verify:
            if "path" not in params:
                problems.append("verify_only = true needs `path` (the backup file, or a glob for the newest)")
            for key in ("url", "output"):
                if key in params:
                    problems.append(
                        f"{key!r} is for taking a backup; with verify_only = true use only `path`"
                    )
        else:
            for key in ("url", "output"):
                if key not in params:
                    problems.append(
                        f"a backup needs {key!r} (or set verify_only = true to check an existing one)"
                    )
            if "path" in params:
                problems.append("`path` is for verify_only = true; a backup writes to `output`")
        fmt = params.get("format", "custom")
        if fmt not in FORMATS:
            problems.append(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        expect = params.get("expect")
        if isinstance(expect, Mapping):
            if "max_age" in expect:
                try:
                    parse_duration(expect["max_age"], MAX_AGE)
                except ValueError as exc:
                    problems.append(f"expect.max_age: {exc}")
            size = expect.get("min_bytes")
            if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
                problems.append("expect.min_bytes must be a whole number of bytes, like 1024")
        return problems

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        if spec.params.get("verify_only") is True:
            path = expand_path(str(spec.params.get("path", "")), ctx, datetime.now())
            return f"verify backup {path}: present, not empty, restorable"
        url = str(ctx.param(spec, "url", ""))
        output = expand_path(str(spec.params.get("output", "")), ctx, datetime.now())
        fmt = str(spec.params.get("format", "custom"))
        try:
            argv, _ = dump_command(url, Path(output), fmt, "pg_dump", {}, 10)
        except ValueError:
            return f"pg_dump {masked_url(url)} to {output}"
        dbname = argv[-1].split("=", 1)[1]
        return (
            f"pg_dump --format={fmt} --file={output} --dbname='{dbname}' (password, if any, via PGPASSWORD)"
        )

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        url = str(ctx.param(spec, "url", ""))
        mask = url_masker(url, ctx.redactor)

        def emit(line: str) -> None:
            ctx.emit(mask(line))

        started = time.monotonic()
        if spec.params.get("verify_only") is True:
            outcome = await self._verify_existing(spec, ctx, emit)
        else:
            outcome = await self._dump(spec, ctx, url, emit)
        mask_outcome(outcome, mask)
        outcome.values.setdefault("duration_ms", int(round((time.monotonic() - started) * 1000)))
        return outcome

    # ------------------------------------------------------------------ verify an existing backup

    async def _verify_existing(
        self, spec: CheckSpec, ctx: CheckContext, emit: Callable[[str], None]
    ) -> Outcome:
        pattern = str(ctx.path(expand_path(str(spec.params["path"]), ctx, datetime.now())))
        values: dict[str, Scalar] = {}
        if glob.has_magic(pattern):
            matches = [Path(p) for p in glob.glob(pattern)]
            values["matches"] = len(matches)
            if not matches:
                return Outcome(Status.FAILED, f"no backup matches {pattern}", values)
            path = max(matches, key=_mtime)
            emit(f"{len(matches)} file(s) match {pattern}; newest: {path}")
        else:
            path = Path(pattern)
            if not path.exists():
                return Outcome(Status.FAILED, f"no backup at {path}", values)
        values["path"] = str(path)
        age = max(0.0, time.time() - _mtime(path))
        values["age_s"] = int(age)
        expect = ctx.substitute(dict(spec.expect))
        if "max_age" in expect:
            limit = parse_duration(expect["max_age"], MAX_AGE)
            if age > limit:
                return Outcome(
                    Status.FAILED,
                    f"backup {path.name} is {format_duration(age)} old,"
                    f" expected at most {format_duration(limit)}",
                    values,
                )
        pg_restore = _binary("pg_restore", spec, ctx)
        try:
            async with asyncio.timeout(own_deadline(ctx.timeout)):
                problem = await verify_backup(
                    path, pg_restore, values, emit, ctx.env, expect.get("min_bytes", 1)
                )
        except TimeoutError:
            return Outcome(
                Status.FAILED, f"timed out after {format_duration(ctx.timeout)} reading {path}", values
            )
        if problem is not None:
            return Outcome(Status.FAILED, problem, values)
        return Outcome(
            Status.PASSED,
            f"backup {path.name}: {_describe_backup(values)}, {format_duration(age)} old",
            values,
        )

    # ------------------------------------------------------------------------------ take a backup

    async def _dump(
        self, spec: CheckSpec, ctx: CheckContext, url: str, emit: Callable[[str], None]
    ) -> Outcome:
        from deploytui.checks.kinds.command import run_process

        fmt = str(ctx.param(spec, "format", "custom"))
        output = ctx.path(expand_path(str(spec.params["output"]), ctx, datetime.now()))
        values: dict[str, Scalar] = {"path": str(output), "format": fmt}
        if output.exists():
            return Outcome(
                Status.ERROR,
                f"{output} already exists: refusing to overwrite a backup (put ${{time}} in `output`)",
                values,
            )
        if not output.parent.is_dir():
            return Outcome(Status.ERROR, f"directory {output.parent} does not exist", values)
        pg_dump = _binary("pg_dump", spec, ctx)
        await import_client("psycopg")  # for its URL parser; ~100 ms: off the event loop
        if pg_dump is None:
            return Outcome(
                Status.ERROR, "pg_dump not found: install postgresql-client or set bin_dir", values
            )
        budget = own_deadline(ctx.timeout)
        partial = output.with_name(output.name + ".partial")
        try:
            argv, env = dump_command(
                url, partial, fmt, pg_dump, ctx.env, max(MIN_CONNECT_TIMEOUT, math.ceil(budget))
            )
        except ValueError as exc:
            return Outcome(Status.ERROR, str(exc), values)
        _remove(partial)  # left by a run that was killed: never a valid backup
        if fmt != "directory":
            # Created 0600 before pg_dump opens it: the rows are never readable by others, not even briefly.
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        tail: deque[str] = deque(maxlen=50)
        started = time.monotonic()
        emit(f"pg_dump to {partial} (format {fmt})")
        try:
            async with asyncio.timeout(budget):
                result = await run_process(
                    argv, cwd=ctx.base_dir, env=env, emit=emit, on_line=tail.append, pause=ctx.pause
                )
        except TimeoutError:
            _remove(partial)
            return Outcome(
                Status.FAILED,
                f"timed out after {format_duration(ctx.timeout)} running pg_dump (partial file removed)",
                values,
            )
        except OSError as exc:
            _remove(partial)
            return Outcome(Status.ERROR, f"cannot run {pg_dump}: {one_line(str(exc), 160)}", values)
        except BaseException:
            _remove(partial)
            raise
        dump_s = time.monotonic() - started
        values["dump_ms"] = int(round(dump_s * 1000))
        if result.exit_code != 0:
            _remove(partial)
            values["exit_code"] = result.exit_code
            return Outcome(
                Status.FAILED, _dump_failure(list(tail), result.exit_code, url, ctx.timeout), values
            )
        pg_restore = _binary("pg_restore", spec, ctx)
        try:
            remaining = max(0.5, budget - (time.monotonic() - started))
            async with asyncio.timeout(remaining):
                problem = await verify_backup(partial, pg_restore, values, emit, ctx.env, 1)
        except TimeoutError:
            problem = f"timed out after {format_duration(ctx.timeout)} verifying the dump"
        except BaseException:
            _remove(partial)
            raise
        if problem is not None:
            _remove(partial)
            return Outcome(Status.FAILED, f"pg_dump finished but the backup is unusable: {problem}", values)
        os.replace(partial, output)
        return Outcome(
            Status.PASSED,
            f"backup written to {output}: {_describe_backup(values)} in {format_duration(dump_s)}",
            values,
        )


def expand_path(template: str, ctx: CheckContext, now: datetime) -> str:
    """`${date}` (YYYYMMDD) and `${time}` (HHMMSS) from `now`, then ${vars}, then strftime codes."""
    text = template.replace("${date}", now.strftime("%Y%m%d")).replace("${time}", now.strftime("%H%M%S"))
    text = str(ctx.substitute(text))
    return now.strftime(text) if "%" in text else text


def dump_command(
    url: str, output: Path, fmt: str, pg_dump: str, env: Mapping[str, str], connect_timeout: int
) -> tuple[list[str], dict[str, str]]:
    """pg_dump's argv (connection parameters without the password) and environment (PGPASSWORD).

    ValueError with a readable message when the URL is not a valid libpq URL or key=value string.
    """
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - psycopg raises ProgrammingError; its text may echo the URL
        raise ValueError(f"not a valid PostgreSQL URL: {masked_url(url)}") from None
    password = params.pop("password", None)
    child_env = dict(env)
    if password:
        child_env["PGPASSWORD"] = str(password)
    child_env.setdefault("PGCONNECT_TIMEOUT", str(connect_timeout))
    dsn = make_conninfo("", **params)
    argv = [pg_dump, f"--format={fmt}", f"--file={output}", "--verbose", "--no-password", f"--dbname={dsn}"]
    return argv, child_env


async def verify_backup(
    path: Path,
    pg_restore: str | None,
    values: dict[str, Scalar],
    emit: Callable[[str], None],
    env: Mapping[str, str],
    min_bytes: int = 1,
) -> str | None:
    """None when `path` is a complete pg_dump backup (records format, bytes, toc_entries), else why not."""
    from deploytui.checks.kinds.command import run_process

    fmt = _sniff(path)
    values["format"] = fmt or "unknown"
    size = _size(path)
    values["bytes"] = size
    if size == 0:
        return f"{path.name} is empty"
    if size < min_bytes:
        return f"{path.name} is {size} bytes, expected at least {min_bytes}"
    if fmt is None:
        return f"{path.name} is not a pg_dump backup (not custom, tar, directory or plain SQL)"
    if fmt == "plain":
        with open(path, "rb") as f:
            f.seek(max(0, size - SNIFF_BYTES))
            if PLAIN_TRAILER not in f.read():
                return f"{path.name} is a truncated SQL dump (no '-- {PLAIN_TRAILER.decode()}' at the end)"
        emit(f"{path.name}: plain SQL dump, {size} bytes, complete")
        return None
    if pg_restore is None:
        return "pg_restore not found: install postgresql-client or set bin_dir"
    entries = 0
    tail: deque[str] = deque(maxlen=5)

    def count(line: str) -> None:
        nonlocal entries
        tail.append(line)
        if line.strip() and not line.startswith(";"):
            entries += 1

    result = await run_process(
        [pg_restore, "--list", str(path)], cwd=None, env=dict(env), emit=lambda line: None, on_line=count
    )
    if result.exit_code != 0:
        detail = next((libpq_message(line) for line in tail if "error" in line.lower()), "")
        failed = f"pg_restore --list failed (exit {result.exit_code})"
        return f"{path.name} is not restorable: {failed} {detail}".strip()
    values["toc_entries"] = entries
    emit(f"{path.name}: {fmt} format, {size} bytes, pg_restore --list reads {entries} entries")
    return None


def _dump_failure(lines: list[str], exit_code: int, url: str, timeout: float) -> str:
    """Why pg_dump failed, from its last error line; connection failures read as for kind postgres."""
    errors = [line for line in lines if "error:" in line]
    line = errors[0] if errors else (lines[-1] if lines else "")
    if "connection to server" in line:
        return connect_failure_reason(line, target_of(url), url, timeout)
    message = libpq_message(line) or "no message"
    return f"pg_dump failed (exit {exit_code}): {message}"


def _sniff(path: Path) -> str | None:
    if path.is_dir():
        return "directory" if (path / "toc.dat").is_file() else None
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return None
    if head.startswith(b"PGDMP"):
        return "custom"
    if head[257:262] == b"ustar":
        return "tar"
    if PLAIN_HEADER in head:
        return "plain"
    return None


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _describe_backup(values: Mapping[str, Scalar]) -> str:
    text = f"{values.get('format')} format, {_human_bytes(int(values.get('bytes', 0)))}"
    if "toc_entries" in values:
        text += f", {values['toc_entries']} TOC entries readable by pg_restore"
    return text


def _human_bytes(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            break
    return f"{fmt_number(round(value, 1))} {unit}"


def _binary(name: str, spec: CheckSpec, ctx: CheckContext) -> str | None:
    """`bin_dir`/name when set, else name on the PATH of the check's environment."""
    bin_dir = ctx.param(spec, "bin_dir")
    if bin_dir:
        candidate = ctx.path(str(bin_dir)) / name
        return str(candidate) if os.access(candidate, os.X_OK) else None
    return shutil.which(name, path=ctx.env.get("PATH") or os.defpath)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
