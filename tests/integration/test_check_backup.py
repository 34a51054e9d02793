"""kind = "backup": real pg_dump / pg_restore against the throwaway PostgreSQL."""

from __future__ import annotations

import os
import stat
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from deploytui.checks.kinds.backup import Kind, dump_command, expand_path
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Status
from tests.servers.common import free_port
from tests.servers.databases import APP_PASSWORD, APP_USER, PostgresServer

pytestmark = pytest.mark.services


def spec(**params: Any) -> CheckSpec:
    return CheckSpec(
        item="deployment-steps/1-pre-deployment/create-backup", kind="backup", index=0, params=params
    )


async def run(
    tmp_path: Path, timeout: float = 10.0, lines: list[str] | None = None, **params: Any
) -> Outcome:
    ctx = CheckContext(
        timeout=timeout, base_dir=tmp_path, emit=(lines.append if lines is not None else print)
    )
    return await Kind().run(spec(**params), ctx)


@pytest.fixture(scope="module")
def source_db(postgres_server: PostgresServer) -> str:
    """A database owned by the password-authenticated role, with some rows; its URL with the password."""
    postgres_server.create_database("backup_src", owner=APP_USER)
    postgres_server.execute(
        f"SET ROLE {APP_USER}; CREATE TABLE orders (id int PRIMARY KEY, total numeric);"
        " INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 200) g;"
        " CREATE INDEX orders_total ON orders (total);",
        database="backup_src",
    )
    return postgres_server.url_for("backup_src", user=APP_USER, password=APP_PASSWORD)


async def test_custom_dump_is_written_private_and_restorable(tmp_path: Path, source_db: str) -> None:
    lines: list[str] = []
    before = datetime.now()
    outcome = await run(tmp_path, lines=lines, url=source_db, output="prod-${date}.dump")
    after = datetime.now()
    assert outcome.status is Status.PASSED, outcome.reason
    path = Path(str(outcome.values["path"]))
    # ${date} is the local date when the check ran: either day when the run spans midnight.
    assert path in {tmp_path / f"prod-{moment:%Y%m%d}.dump" for moment in (before, after)}
    assert path.read_bytes().startswith(b"PGDMP")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.with_name(path.name + ".partial").exists()
    assert int(outcome.values["toc_entries"]) >= 4  # table, data, primary key, index
    assert outcome.reason.startswith(f"backup written to {path}: custom format, ")
    assert any("pg_dump: dumping contents of table" in line for line in lines)
    assert APP_PASSWORD not in repr(outcome) and APP_PASSWORD not in "\n".join(lines)


async def test_plain_dump_is_verified_complete(tmp_path: Path, source_db: str) -> None:
    outcome = await run(tmp_path, url=source_db, output="prod.sql", format="plain")
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.values["format"] == "plain"
    assert "-- PostgreSQL database dump complete" in (tmp_path / "prod.sql").read_text()[-500:]


async def test_password_goes_in_the_environment_not_the_command_line(source_db: str) -> None:
    argv, env = dump_command(source_db, Path("/tmp/x.dump"), "custom", "pg_dump", {"PATH": "/usr/bin"}, 5)
    assert all(APP_PASSWORD not in arg for arg in argv)
    assert env["PGPASSWORD"] == APP_PASSWORD
    assert argv[-1].startswith("--dbname=") and "user=app" in argv[-1] and "dbname=backup_src" in argv[-1]
    description = Kind().describe(spec(url=source_db, output="x.dump"), CheckContext())
    assert APP_PASSWORD not in description and description.startswith("pg_dump --format=custom --file=x.dump")


async def test_existing_backup_is_never_overwritten(tmp_path: Path, source_db: str) -> None:
    (tmp_path / "prod.dump").write_bytes(b"earlier backup")
    outcome = await run(tmp_path, url=source_db, output="prod.dump")
    assert outcome.status is Status.ERROR
    assert outcome.reason.startswith(f"{tmp_path / 'prod.dump'} already exists: refusing to overwrite")
    assert (tmp_path / "prod.dump").read_bytes() == b"earlier backup"


async def test_refused_connection_leaves_no_file(tmp_path: Path) -> None:
    port = free_port()
    outcome = await run(tmp_path, url=f"postgresql://postgres@127.0.0.1:{port}/postgres", output="x.dump")
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"connection refused by 127.0.0.1:{port}/postgres"
    assert list(tmp_path.iterdir()) == []


async def test_wrong_password_fails_without_leaking_it(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    wrong = "Wrong-Dump-Pass-1"
    url = postgres_server.url_for("backup_src", user=APP_USER, password=wrong)
    lines: list[str] = []
    outcome = await run(tmp_path, lines=lines, url=url, output="x.dump")
    assert outcome.status is Status.FAILED
    assert (
        outcome.reason == f"authentication failed for user app at 127.0.0.1:{postgres_server.port}/backup_src"
    )
    assert wrong not in repr(outcome) and wrong not in "\n".join(lines)
    assert list(tmp_path.iterdir()) == []


async def test_dump_blocked_by_a_lock_times_out_and_cleans_up(
    tmp_path: Path, source_db: str, postgres_server: PostgresServer
) -> None:
    with psycopg.connect(postgres_server.url_for("backup_src")) as locker:
        locker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        outcome = await run(tmp_path, timeout=1.0, url=source_db, output="x.dump")
        elapsed = time.monotonic() - started
    assert outcome.status is Status.FAILED
    assert outcome.reason == "timed out after 1s running pg_dump (partial file removed)"
    assert elapsed < 2.5
    assert list(tmp_path.iterdir()) == []


async def test_verify_newest_backup_by_glob(tmp_path: Path, source_db: str) -> None:
    assert (await run(tmp_path, url=source_db, output="a.dump")).status is Status.PASSED
    old = tmp_path / "a.dump"
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert (await run(tmp_path, url=source_db, output="b.dump")).status is Status.PASSED
    outcome = await run(tmp_path, verify_only=True, path="*.dump", expect={"max_age": "1h", "min_bytes": 100})
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.values["path"] == str(tmp_path / "b.dump") and outcome.values["matches"] == 2
    assert outcome.reason.startswith("backup b.dump: custom format, ")


async def test_verify_too_old_backup_fails(tmp_path: Path, source_db: str) -> None:
    assert (await run(tmp_path, url=source_db, output="old.dump")).status is Status.PASSED
    two_days = time.time() - 2 * 86400 - 60
    os.utime(tmp_path / "old.dump", (two_days, two_days))
    outcome = await run(tmp_path, verify_only=True, path="old.dump", expect={"max_age": "26h"})
    assert outcome.status is Status.FAILED
    assert outcome.reason == "backup old.dump is 48h01m old, expected at most 26h00m"


async def test_verify_truncated_custom_dump_is_not_restorable(tmp_path: Path, source_db: str) -> None:
    assert (await run(tmp_path, url=source_db, output="full.dump")).status is Status.PASSED
    data = (tmp_path / "full.dump").read_bytes()
    (tmp_path / "cut.dump").write_bytes(data[: len(data) // 3])
    outcome = await run(tmp_path, verify_only=True, path="cut.dump")
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("cut.dump is not restorable: pg_restore --list failed (exit 1)")


async def test_verify_truncated_plain_dump_fails(tmp_path: Path, source_db: str) -> None:
    assert (await run(tmp_path, url=source_db, output="full.sql", format="plain")).status is Status.PASSED
    text = (tmp_path / "full.sql").read_text()
    (tmp_path / "cut.sql").write_text(text[: len(text) // 2])
    outcome = await run(tmp_path, verify_only=True, path="cut.sql")
    assert outcome.status is Status.FAILED
    assert (
        outcome.reason
        == "cut.sql is a truncated SQL dump (no '-- PostgreSQL database dump complete' at the end)"
    )


async def test_verify_missing_empty_and_foreign_files(tmp_path: Path) -> None:
    missing = await run(tmp_path, verify_only=True, path="nothing-*.dump")
    assert missing.reason == f"no backup matches {tmp_path}/nothing-*.dump"
    assert (
        await run(tmp_path, verify_only=True, path="gone.dump")
    ).reason == f"no backup at {tmp_path}/gone.dump"
    (tmp_path / "empty.dump").write_bytes(b"")
    assert (await run(tmp_path, verify_only=True, path="empty.dump")).reason == "empty.dump is empty"
    (tmp_path / "notes.txt").write_text("hello\n")
    foreign = await run(tmp_path, verify_only=True, path="notes.txt")
    assert foreign.reason == "notes.txt is not a pg_dump backup (not custom, tar, directory or plain SQL)"


def test_verify_mode_is_not_an_action_but_a_dump_is() -> None:
    assert Kind.is_action({"url": "u", "output": "o"}) is True
    assert Kind.is_action({"verify_only": True, "path": "p"}) is False


def test_validate_modes() -> None:
    assert Kind.validate({"url": "u", "output": "o"}) == []
    assert Kind.validate({"verify_only": True, "path": "p", "expect": {"max_age": "26h"}}) == []
    assert "verify_only = true needs `path` (the backup file, or a glob for the newest)" in Kind.validate(
        {"verify_only": True}
    )
    problems = Kind.validate({"url": "u", "format": "zip", "expect": {"max_age": "soon"}})
    assert "a backup needs 'output' (or set verify_only = true to check an existing one)" in problems
    assert "format must be one of custom, plain, tar, directory, got 'zip'" in problems
    assert any(p.startswith("expect.max_age: ") for p in problems)


def test_expand_path_date_time_vars_and_strftime() -> None:
    now = datetime(2026, 11, 25, 9, 30, 5)
    ctx = CheckContext(vars={"env": "prod"})
    assert expand_path("b/${env}-${date}-${time}.dump", ctx, now) == "b/prod-20261125-093005.dump"
    assert expand_path("b/%Y/%m/db.dump", ctx, now) == "b/2026/11/db.dump"
