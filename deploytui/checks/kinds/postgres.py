"""kind = "postgres": connect, `SELECT 1`, report the server version; optionally check a query's answer
and the Alembic revision.

    [[check]]
    item = "pre-deployment/external-services-verified/database-accessible"
    kind = "postgres"
    url = "${DATABASE_URL}"                        # postgresql://user:pass@host:5432/db?sslmode=require
    query = "SELECT count(*) FROM pg_stat_activity" # optional; its first column of the first row is `scalar`
    alembic_head = "3f2a1c9d8e7b"                  # optional: alembic_version.version_num must equal it
    expect = { scalar = "< 100", rows = 1, max_ms = 2000 }

`expect.scalar` is a number (equal), a condition string like "< 100" or ">= 1", any other string (the
value's text must equal it) or a boolean. `expect.rows` is a row count or a condition; `expect.max_ms`
bounds connect + queries. The session is read-only (default_transaction_read_only) and the query
runs under a server-side statement_timeout inside the check's budget, so a slow query is cancelled on
the server, not left running. The URL's password never appears in a reason or description.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any, ClassVar

from deploytui.checks.base import (
    CheckKind,
    import_client,
    mask_outcome,
    masked_url,
    own_deadline,
    url_masker,
)
from deploytui.checks.expect import condition_problems, condition_reason, fmt_number, parse_condition
from deploytui.core.durations import format_duration
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Scalar, Status
from deploytui.core.text import one_line

MIN_CONNECT_TIMEOUT = 2
"""libpq's connect_timeout is whole seconds and treats 1 as 2; the check's own deadline still applies."""


class Kind(CheckKind):
    name: ClassVar[str] = "postgres"
    clients: ClassVar[tuple[str, ...]] = ("psycopg",)
    fields: ClassVar[frozenset[str]] = frozenset({"url", "query", "alembic_head"})
    required: ClassVar[frozenset[str]] = frozenset({"url"})
    expect_fields: ClassVar[frozenset[str]] = frozenset({"scalar", "rows", "max_ms"})
    summary: ClassVar[str] = "connect to PostgreSQL, run SELECT 1 (and a query, the Alembic revision)"

    @classmethod
    def validate(cls, params: Any) -> list[str]:
        problems = super().validate(params)
        expect = params.get("expect")
        if isinstance(expect, dict):
            if ("scalar" in expect or "rows" in expect) and "query" not in params:
                problems.append("expect.scalar / expect.rows need a `query`")
            problems += condition_problems(expect, ("rows", "max_ms"))
        return problems

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        url = masked_url(str(ctx.param(spec, "url", "")))
        parts = [f"connect to {url}, SELECT 1"]
        query = ctx.param(spec, "query")
        if query:
            parts.append(f"run {one_line(str(query), 120)!r}")
        head = ctx.param(spec, "alembic_head")
        if head:
            parts.append(f"expect Alembic revision {head}")
        return ", ".join(parts)

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        url = str(ctx.param(spec, "url"))
        mask = url_masker(url, ctx.redactor)
        outcome = await self._probe(spec, ctx, url, mask)
        return mask_outcome(outcome, mask)

    async def _probe(
        self, spec: CheckSpec, ctx: CheckContext, url: str, mask: Callable[[str], str]
    ) -> Outcome:
        try:
            await import_client("psycopg")  # ~100 ms: off the event loop
            import psycopg
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            return Outcome.error(f"psycopg is not installed: {exc}")

        def emit(line: str) -> None:
            ctx.emit(mask(line))

        target = target_of(url)
        query = ctx.param(spec, "query")
        head = ctx.param(spec, "alembic_head")
        expect = ctx.substitute(dict(spec.expect))
        budget = own_deadline(ctx.timeout)
        started = time.monotonic()
        values: dict[str, Scalar] = {}
        phase = f"connecting to {target}"
        conn: Any = None
        try:
            async with asyncio.timeout(budget):
                conn = await psycopg.AsyncConnection.connect(
                    url,
                    connect_timeout=max(MIN_CONNECT_TIMEOUT, math.ceil(budget)),
                    autocommit=True,
                    application_name="deploytui",
                )
                values["connect_ms"] = _ms_since(started)
                values["server_version"] = conn.info.parameter_status("server_version") or ""
                emit(
                    f"connected to {target} as {conn.info.user} in {values['connect_ms']} ms"
                    f" (PostgreSQL {values['server_version']})"
                )
                phase = "preparing the session"
                remaining_ms = max(1, int((budget - (time.monotonic() - started)) * 1000) - 50)
                await conn.execute(
                    "SELECT set_config('statement_timeout', %s, false),"
                    " set_config('default_transaction_read_only', 'on', false)",
                    (str(remaining_ms),),
                )
                phase = "running SELECT 1"
                cur = await conn.execute("SELECT 1")
                if (await cur.fetchone()) != (1,):
                    return Outcome(Status.FAILED, "SELECT 1 did not return 1", dict(values))
                problem: str | None = None
                if query:
                    phase = "running the query"
                    problem = await _run_query(conn, str(query), expect, values, emit)
                if problem is None and head:
                    phase = "reading alembic_version"
                    problem = await _check_alembic(conn, str(head), values, emit)
        except TimeoutError:
            return Outcome(
                Status.FAILED, f"timed out after {format_duration(ctx.timeout)} {phase}", dict(values)
            )
        except psycopg.errors.QueryCanceled:
            return Outcome(
                Status.FAILED, f"timed out after {format_duration(ctx.timeout)} {phase}", dict(values)
            )
        except psycopg.OperationalError as exc:
            if conn is None:
                reason = connect_failure_reason(str(exc), target, url, ctx.timeout)
                return Outcome(Status.FAILED, reason, dict(values))
            return Outcome(Status.FAILED, f"{phase} failed: {_server_message(exc)}", dict(values))
        except psycopg.Error as exc:
            state = f" (SQLSTATE {exc.sqlstate})" if exc.sqlstate else ""
            return Outcome(Status.FAILED, f"{phase} failed: {_server_message(exc)}{state}", dict(values))
        finally:
            if conn is not None:
                await _close(conn)
        duration_ms = values["duration_ms"] = _ms_since(started)
        if problem is not None:
            return Outcome(Status.FAILED, problem, dict(values))
        if "max_ms" in expect:
            slow = condition_reason("connect + queries (ms)", duration_ms, _as_max(expect["max_ms"]))
            if slow:
                return Outcome(Status.FAILED, slow, dict(values))
        summary = f"PostgreSQL {values['server_version']} at {target} answered in {values['duration_ms']} ms"
        if "scalar" in values:
            summary += f"; query returned {values['scalar']}"
        if "alembic_version" in values:
            summary += f"; at Alembic revision {values['alembic_version']}"
        return Outcome(Status.PASSED, summary, dict(values))


async def _run_query(
    conn: Any, query: str, expect: dict[str, Any], values: dict[str, Scalar], emit: Callable[[str], None]
) -> str | None:
    """Run the check's query; record rows and scalar; a reason when an expectation fails."""
    started = time.monotonic()
    cur = await conn.execute(query.encode())
    rows = await cur.fetchall() if cur.description else []
    values["query_ms"] = _ms_since(started)
    values["rows"] = len(rows)
    scalar = rows[0][0] if rows and rows[0] else None
    if scalar is not None:
        values["scalar"] = _scalar_value(scalar)
    emit(f"query returned {len(rows)} row(s) in {values['query_ms']} ms; first value: {_show(scalar)}")
    if "rows" in expect:
        reason = condition_reason("row count", len(rows), expect["rows"])
        if reason:
            return reason
    if "scalar" in expect:
        return scalar_reason(scalar, expect["scalar"])
    return None


def scalar_reason(value: Any, expected: Any) -> str | None:
    """None when a query's value matches `expected` (number, condition, text, boolean), else a reason."""
    if value is None:
        return f"query returned no value, expected {_show(expected)}"
    if isinstance(expected, bool):
        if isinstance(value, bool) and value == expected:
            return None
        return f"query returned {_show(value)}, expected {_show(expected)}"
    numeric: float | None = None
    if not isinstance(value, bool):
        try:
            numeric = float(value)
        except (TypeError, ValueError):
            numeric = None
    if isinstance(expected, (int, float)) or _is_condition(expected):
        if numeric is None:
            return f"query returned {_show(value)}, not a number (expected {_show(expected)})"
        reason = condition_reason("query result", numeric, expected)
        return None if reason is None else reason.replace("query result is", "query returned", 1)
    if str(value) == str(expected):
        return None
    return f"query returned {_show(value)}, expected {_show(expected)}"


def _is_condition(expected: Any) -> bool:
    if not isinstance(expected, str):
        return False
    try:
        parse_condition(expected)
    except ValueError:
        return False
    return True


async def _check_alembic(
    conn: Any, head: str, values: dict[str, Scalar], emit: Callable[[str], None]
) -> str | None:
    """A reason unless alembic_version holds exactly the expected head revision."""
    import psycopg

    try:
        cur = await conn.execute("SELECT version_num FROM alembic_version")
    except psycopg.errors.UndefinedTable:
        return f"alembic_version table missing: no migrations applied (expected head {head})"
    revisions = sorted(str(row[0]) for row in await cur.fetchall())
    values["alembic_version"] = ",".join(revisions)
    emit(f"alembic_version: {', '.join(revisions) or '(empty)'}")
    if not revisions:
        return f"alembic_version is empty: no migration applied (expected head {head})"
    if revisions == [head]:
        return None
    if head in revisions:
        return f"database has several Alembic heads ({', '.join(revisions)}), expected only {head}"
    return f"database at Alembic revision {', '.join(revisions)}, expected head {head}"


def connect_failure_reason(error: str, target: str, url: str, timeout: float) -> str:
    """One line naming why libpq could not connect: refused, auth, no database, timeout, TLS.

    `error` is libpq's text, from psycopg or from a client program (pg_dump) alike.
    """
    message = libpq_message(error)
    lower = message.lower()
    user = _url_part(url, "user")
    if "password authentication failed" in lower or "no password supplied" in lower:
        return f"authentication failed for user {user} at {target}"
    if "role" in lower and "does not exist" in lower:
        return f"authentication failed: role {user} does not exist at {target}"
    if "database" in lower and "does not exist" in lower:
        return f"database {_url_part(url, 'dbname')} does not exist at {target}"
    if "connection refused" in lower:
        return f"connection refused by {target}"
    if "timeout expired" in lower:
        return f"timed out after {format_duration(timeout)} connecting to {target}"
    if "pg_hba.conf" in lower:
        return f"server at {target} rejected the connection: {message}"
    if "could not translate host name" in lower:
        return f"DNS lookup failed for {target}"
    if "ssl" in lower:
        return f"TLS problem with {target}: {message}"
    return f"cannot connect to {target}: {message}"


def _server_message(exc: Exception) -> str:
    return libpq_message(str(exc)) or type(exc).__name__


def libpq_message(error: str) -> str:
    """The useful part of a libpq error: the "connection to server at ... failed:" prefix (psycopg's
    "connection failed:", pg_dump's "pg_dump: error:") and "FATAL:" removed, first line only."""
    text = error.strip()
    if "connection to server" in text and " failed: " in text:
        text = text.split("connection to server", 1)[1].split(" failed: ", 1)[1]
    text = text.splitlines()[0].strip() if text else ""
    for prefix in ("pg_dump: error:", "pg_restore: error:", "FATAL:", "ERROR:"):
        if text.startswith(prefix):
            text = text[len(prefix) :].strip()
    return one_line(text, 200)


def target_of(url: str) -> str:
    """host:port/dbname for reasons (never the user's password)."""
    host = _url_part(url, "host") or "localhost"
    port = _url_part(url, "port") or "5432"
    return f"{host}:{port}/{_url_part(url, 'dbname') or '?'}"


def _url_part(url: str, key: str) -> str:
    try:
        from psycopg.conninfo import conninfo_to_dict

        value = conninfo_to_dict(url).get(key)
    except Exception:  # noqa: BLE001 - an unparsable URL fails at connect with libpq's own message
        return ""
    return "" if value is None else str(value)


async def _close(conn: Any) -> None:
    """Close without letting a stuck socket hold the check past its budget."""
    try:
        await asyncio.wait_for(conn.close(), 1.0)
    except (TimeoutError, Exception):  # noqa: BLE001 - the outcome is already decided
        pass


def _as_max(value: Any) -> Any:
    """`max_ms = 2000` means "at most 2000", not "exactly 2000"."""
    return f"<= {value}" if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _scalar_value(value: Any) -> Scalar:
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    try:
        number = float(value)
        return int(number) if number.is_integer() else number
    except (TypeError, ValueError):
        return one_line(str(value), 200)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return fmt_number(value)
    if value is None:
        return "NULL"
    return repr(one_line(str(value), 120))


def _ms_since(start: float) -> int:
    return int(round((time.monotonic() - start) * 1000))
