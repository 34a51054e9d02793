"""kind = "postgres" against a real throwaway PostgreSQL: every failure mode has its own reason."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from deploytui.checks.kinds.postgres import Kind, scalar_reason
from deploytui.core.redact import Redactor
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Status
from tests.servers.common import free_port
from tests.servers.databases import APP_PASSWORD, APP_USER, PostgresServer

pytestmark = pytest.mark.services


def spec(**params: Any) -> CheckSpec:
    return CheckSpec(
        item="database-ready/connection-string-verified", kind="postgres", index=0, params=params
    )


async def run(timeout: float = 5.0, ctx: CheckContext | None = None, **params: Any) -> Outcome:
    context = ctx or CheckContext(timeout=timeout)
    return await Kind().run(spec(**params), context)


@pytest.fixture(scope="module")
def migrated_db(postgres_server: PostgresServer) -> str:
    """A database at Alembic revision 'abc123' with a table the queries read."""
    url = postgres_server.create_database("pg_check_migrated")
    postgres_server.execute(
        "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
        " INSERT INTO alembic_version VALUES ('abc123');"
        " CREATE TABLE documents (id int); INSERT INTO documents SELECT generate_series(1, 42);",
        database="pg_check_migrated",
    )
    return url


async def test_passes_with_server_version(postgres_server: PostgresServer) -> None:
    outcome = await run(url=postgres_server.url)
    assert outcome.status is Status.PASSED, outcome.reason
    assert str(outcome.values["server_version"]).startswith("15")
    assert "PostgreSQL 15" in outcome.reason
    assert isinstance(outcome.values["connect_ms"], int)


async def test_query_scalar_matches_number_and_condition(migrated_db: str) -> None:
    exact = await run(url=migrated_db, query="SELECT count(*) FROM documents", expect={"scalar": 42})
    assert exact.status is Status.PASSED, exact.reason
    assert exact.values["scalar"] == 42 and exact.values["rows"] == 1
    bounded = await run(url=migrated_db, query="SELECT count(*) FROM documents", expect={"scalar": "< 100"})
    assert bounded.status is Status.PASSED, bounded.reason


async def test_wrong_scalar_fails_naming_both_values(migrated_db: str) -> None:
    outcome = await run(url=migrated_db, query="SELECT count(*) FROM documents", expect={"scalar": 7})
    assert outcome.status is Status.FAILED
    assert outcome.reason == "query returned 42, expected == 7"
    text = await run(url=migrated_db, query="SELECT 'read committed'", expect={"scalar": "serializable"})
    assert text.reason == "query returned 'read committed', expected 'serializable'"


async def test_row_count_expectation(migrated_db: str) -> None:
    outcome = await run(url=migrated_db, query="SELECT id FROM documents", expect={"rows": "<= 10"})
    assert outcome.status is Status.FAILED
    assert outcome.reason == "row count is 42, expected <= 10"


async def test_alembic_at_head_passes(migrated_db: str) -> None:
    outcome = await run(url=migrated_db, alembic_head="abc123")
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.values["alembic_version"] == "abc123"


async def test_alembic_at_other_revision_fails(migrated_db: str) -> None:
    outcome = await run(url=migrated_db, alembic_head="def456")
    assert outcome.status is Status.FAILED
    assert outcome.reason == "database at Alembic revision abc123, expected head def456"


async def test_alembic_table_missing_fails(postgres_server: PostgresServer) -> None:
    outcome = await run(url=postgres_server.url, alembic_head="def456")
    assert outcome.status is Status.FAILED
    assert outcome.reason == "alembic_version table missing: no migrations applied (expected head def456)"


async def test_connection_refused() -> None:
    port = free_port()
    outcome = await run(url=f"postgresql://postgres@127.0.0.1:{port}/postgres")
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"connection refused by 127.0.0.1:{port}/postgres"


async def test_wrong_password_fails_without_leaking_it(postgres_server: PostgresServer) -> None:
    wrong = "Wr0ng-Passw0rd-xyz"
    url = postgres_server.url_for(user=APP_USER, password=wrong)
    lines: list[str] = []
    outcome = await run(url=url, ctx=CheckContext(timeout=5, emit=lines.append))
    assert outcome.status is Status.FAILED
    assert (
        outcome.reason
        == f"authentication failed for user {APP_USER} at 127.0.0.1:{postgres_server.port}/postgres"
    )
    assert wrong not in repr(outcome) and wrong not in "".join(lines)
    description = Kind().describe(spec(url=url), CheckContext())
    assert wrong not in description and f"{APP_USER}:***@" in description


async def test_right_password_passes_and_is_masked_in_values(postgres_server: PostgresServer) -> None:
    url = postgres_server.url_for(user=APP_USER, password=APP_PASSWORD)
    outcome = await run(url=url, query=f"SELECT '{APP_PASSWORD}'")
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.values["scalar"] == "[secret:password]"


async def test_secret_from_config_is_masked_by_name(postgres_server: PostgresServer) -> None:
    url = postgres_server.url_for(user=APP_USER, password="not-the-password")
    ctx = CheckContext(timeout=5, vars={"DATABASE_URL": url}, redactor=Redactor({"DATABASE_URL": url}))
    outcome = await Kind().run(spec(url="${DATABASE_URL}"), ctx)
    assert outcome.status is Status.FAILED
    assert "not-the-password" not in repr(outcome)


async def test_database_does_not_exist(postgres_server: PostgresServer) -> None:
    outcome = await run(url=postgres_server.url_for(database="no_such_db"))
    assert outcome.status is Status.FAILED
    assert (
        outcome.reason == f"database no_such_db does not exist at 127.0.0.1:{postgres_server.port}/no_such_db"
    )


async def test_slow_query_times_out_and_is_cancelled_on_the_server(postgres_server: PostgresServer) -> None:
    started = time.monotonic()
    outcome = await run(timeout=1.0, url=postgres_server.url, query="SELECT pg_sleep(5)")
    elapsed = time.monotonic() - started
    assert outcome.status is Status.FAILED
    assert outcome.reason == "timed out after 1s running the query"
    assert elapsed < 2.0
    await asyncio.sleep(0.1)
    sleeping = postgres_server.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)'"
    )
    assert sleeping == [(0,)]


async def test_hung_server_times_out_while_connecting(silent_port: int) -> None:
    started = time.monotonic()
    outcome = await run(timeout=1.0, url=f"postgresql://postgres@127.0.0.1:{silent_port}/postgres")
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"timed out after 1s connecting to 127.0.0.1:{silent_port}/postgres"
    assert time.monotonic() - started < 2.0


async def test_bad_sql_names_the_error_and_sqlstate(postgres_server: PostgresServer) -> None:
    outcome = await run(url=postgres_server.url, query="SELECT no_such_column")
    assert outcome.status is Status.FAILED
    assert (
        outcome.reason == 'running the query failed: column "no_such_column" does not exist (SQLSTATE 42703)'
    )


async def test_query_cannot_write(postgres_server: PostgresServer) -> None:
    outcome = await run(url=postgres_server.url, query="CREATE TABLE written_by_a_check (x int)")
    assert outcome.status is Status.FAILED
    assert "read-only transaction" in outcome.reason
    assert postgres_server.execute("SELECT to_regclass('written_by_a_check') IS NULL") == [(True,)]


async def test_max_ms_expectation_bounds_latency(postgres_server: PostgresServer) -> None:
    outcome = await run(url=postgres_server.url, query="SELECT pg_sleep(0.2)", expect={"max_ms": 50})
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("connect + queries (ms) is ") and outcome.reason.endswith(
        "expected <= 50"
    )


def test_validate_rejects_unknown_fields_and_scalar_without_query() -> None:
    problems = Kind.validate({"url": "x", "sql": "SELECT 1", "expect": {"scalar": 1}})
    assert any("unknown field 'sql'" in p for p in problems)
    assert "expect.scalar / expect.rows need a `query`" in problems
    assert (
        Kind.validate({"expect": {"rows": "about ten"}, "query": "q"})[0]
        == "kind 'postgres' needs field 'url'"
    )


def test_scalar_reason_kinds_of_expectation() -> None:
    assert scalar_reason(True, True) is None
    assert scalar_reason(1, True) == "query returned 1, expected true"
    assert scalar_reason("abc", 3) == "query returned 'abc', not a number (expected 3)"
    assert scalar_reason(None, 3) == "query returned no value, expected 3"
    assert scalar_reason(0.5, ">= 0.25") is None
