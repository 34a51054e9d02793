"""kind = "redis": PING, the server version, the cache hit rate, and keys that must exist.

    [[check]]
    item = "pre-deployment/external-services-verified/redis-accessible"
    kind = "redis"
    url = "${REDIS_URL}"                 # redis://[:password@]host:6379/0, rediss:// for TLS
    ca_file = "certs/redis-ca.pem"       # optional: CA to trust for rediss:// (else the system's)
    key_exists = ["ratelimit:config"]    # optional: a key or a list of keys that must exist
    expect = { hit_rate_min = 0.5, max_ms = 500 }

The hit rate is keyspace_hits / (keyspace_hits + keyspace_misses) from INFO stats, read before this
check looks up any key (its own EXISTS calls would count as hits or misses). With no lookups yet the
rate is unknown and `hit_rate_min` fails saying so. The URL's password never appears in a reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from deploytui.checks.base import (
    CheckKind,
    import_client,
    mask_outcome,
    masked_url,
    own_deadline,
    url_masker,
)
from deploytui.checks.expect import condition_problems, condition_reason, fmt_number, network_reason
from deploytui.core.durations import format_duration
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Scalar, Status
from deploytui.core.text import one_line


class Kind(CheckKind):
    name: ClassVar[str] = "redis"
    clients: ClassVar[tuple[str, ...]] = ("redis.asyncio",)
    fields: ClassVar[frozenset[str]] = frozenset({"url", "key_exists", "ca_file"})
    required: ClassVar[frozenset[str]] = frozenset({"url"})
    expect_fields: ClassVar[frozenset[str]] = frozenset({"hit_rate_min", "max_ms"})
    summary: ClassVar[str] = "PING Redis, read its version and cache hit rate, look for keys"

    @classmethod
    def validate(cls, params: Any) -> list[str]:
        problems = super().validate(params)
        keys = params.get("key_exists")
        if keys is not None and not (
            isinstance(keys, str) or (isinstance(keys, list) and all(isinstance(k, str) for k in keys))
        ):
            problems.append("key_exists must be a key name or a list of key names")
        expect = params.get("expect")
        if isinstance(expect, dict):
            rate = expect.get("hit_rate_min")
            if rate is not None and (
                isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1
            ):
                problems.append("expect.hit_rate_min must be a number between 0 and 1, like 0.8")
            problems += condition_problems(expect, ("max_ms",))
        return problems

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        text = f"PING {masked_url(str(ctx.param(spec, 'url', '')))}, read INFO"
        keys = _keys(ctx.param(spec, "key_exists"))
        if keys:
            text += f", check key(s) {', '.join(keys)} exist"
        return text

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        url = str(ctx.param(spec, "url"))
        mask = url_masker(url, ctx.redactor)
        outcome = await self._probe(spec, ctx, url, mask)
        return mask_outcome(outcome, mask)

    async def _probe(
        self, spec: CheckSpec, ctx: CheckContext, url: str, mask: Callable[[str], str]
    ) -> Outcome:
        try:
            await import_client("redis.asyncio")  # ~100 ms: off the event loop
            import redis.asyncio as aioredis
            from redis import exceptions
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            return Outcome.error(f"redis (redis-py) is not installed: {exc}")

        target, has_password, user = _target(url)
        keys = _keys(ctx.param(spec, "key_exists"))
        expect = ctx.substitute(dict(spec.expect))
        budget = own_deadline(ctx.timeout)
        options: dict[str, Any] = {
            "socket_timeout": budget,
            "socket_connect_timeout": budget,
            # No retries: a check reports the first failure, at once, instead of three with backoff.
            "retry": Retry(NoBackoff(), 0),
            # RESP2: works with every server version; RESP3's HELLO is unknown before Redis 6.
            "protocol": 2,
            "client_name": "deploytui",
        }
        ca_file = ctx.param(spec, "ca_file")
        if ca_file:
            if not url.startswith("rediss://"):
                return Outcome.error("ca_file is set but the URL is not rediss:// (TLS)")
            options["ssl_ca_certs"] = str(ctx.path(str(ca_file)))
        try:
            client = aioredis.Redis.from_url(url, **options)
        except ValueError as exc:
            return Outcome.error(f"bad Redis URL {masked_url(url)}: {one_line(str(exc), 160)}")

        def emit(line: str) -> None:
            ctx.emit(mask(line))

        values: dict[str, Scalar] = {}
        started = time.monotonic()
        phase = f"waiting for PONG from {target}"
        try:
            async with asyncio.timeout(budget):
                if not await client.ping():
                    return Outcome(Status.FAILED, f"{target} did not answer PONG", values)
                values["ping_ms"] = _ms_since(started)
                phase = "reading INFO"
                info = await client.info()
                values["redis_version"] = str(info.get("redis_version", ""))
                values["role"] = str(info.get("role", ""))
                hits = int(info.get("keyspace_hits", 0))
                misses = int(info.get("keyspace_misses", 0))
                values["hits"], values["misses"] = hits, misses
                if hits + misses:
                    values["hit_rate"] = round(hits / (hits + misses), 4)
                emit(
                    f"PONG from {target} in {values['ping_ms']} ms: Redis {values['redis_version']}"
                    f" ({values['role']}), keyspace hits {hits}, misses {misses}"
                )
                missing: list[str] = []
                for key in keys:
                    phase = f"looking up key {key!r}"
                    present = bool(await client.exists(key))
                    emit(f"key {key!r}: {'present' if present else 'missing'}")
                    if not present:
                        missing.append(key)
        except TimeoutError:
            return Outcome(Status.FAILED, f"timed out after {format_duration(ctx.timeout)} {phase}", values)
        except exceptions.AuthenticationError as exc:
            return Outcome(Status.FAILED, _auth_reason(str(exc), target, has_password, user), values)
        except exceptions.TimeoutError:
            return Outcome(Status.FAILED, f"timed out after {format_duration(ctx.timeout)} {phase}", values)
        except exceptions.ResponseError as exc:
            text = str(exc)
            if text.upper().startswith(("NOAUTH", "WRONGPASS")) or "AUTH" in text.split(" ", 1)[0].upper():
                return Outcome(Status.FAILED, _auth_reason(text, target, has_password, user), values)
            if text.upper().startswith("NOPERM"):
                return Outcome(Status.FAILED, f"{phase}: permission denied: {one_line(text, 200)}", values)
            return Outcome(Status.FAILED, f"{phase} failed: {one_line(text, 200)}", values)
        except exceptions.ConnectionError as exc:
            reason = network_reason(exc, target) or f"cannot connect to {target}: {one_line(str(exc), 200)}"
            return Outcome(Status.FAILED, reason, values)
        except exceptions.RedisError as exc:
            return Outcome(Status.FAILED, f"{phase} failed: {one_line(str(exc), 200)}", values)
        finally:
            await _close(client)
        duration_ms = values["duration_ms"] = _ms_since(started)
        values["keys_missing"] = len(missing)
        if missing:
            return Outcome(Status.FAILED, f"key(s) missing in {target}: {', '.join(missing)}", values)
        rate_min = expect.get("hit_rate_min")
        if rate_min is not None:
            if "hit_rate" not in values:
                return Outcome(
                    Status.FAILED,
                    f"no keyspace lookups yet (hits 0, misses 0): hit rate unknown, expected >= {rate_min}",
                    values,
                )
            low = condition_reason("cache hit rate", float(values["hit_rate"]), f">= {rate_min}")
            if low:
                return Outcome(Status.FAILED, f"{low} (hits {hits}, misses {misses})", values)
        if "max_ms" in expect:
            max_ms = expect["max_ms"]
            cond = (
                f"<= {max_ms}"
                if isinstance(max_ms, (int, float)) and not isinstance(max_ms, bool)
                else max_ms
            )
            slow = condition_reason("PING + INFO (ms)", duration_ms, cond)
            if slow:
                return Outcome(Status.FAILED, slow, values)
        summary = f"Redis {values['redis_version']} at {target} answered PONG in {values['ping_ms']} ms"
        if "hit_rate" in values:
            summary += f"; hit rate {fmt_number(float(values['hit_rate']))}"
        if keys:
            summary += f"; {len(keys)} key(s) present"
        return Outcome(Status.PASSED, summary, values)


def _auth_reason(message: str, target: str, has_password: bool, user: str) -> str:
    """NOAUTH (no password sent, one required) and WRONGPASS (rejected) read differently."""
    who = f"user {user}" if user else "the default user"
    if not has_password:
        return f"authentication required by {target} (NOAUTH): the URL has no password"
    if "WRONGPASS" in message.upper() or "invalid username-password" in message.lower():
        return f"authentication failed for {who} at {target} (WRONGPASS)"
    if "without any password configured" in message.lower():
        return f"a password was sent but {target} has none configured"
    return f"authentication failed for {who} at {target}: {one_line(message, 160)}"


def _target(url: str) -> tuple[str, bool, str]:
    """(host:port/db, whether the URL carries a password, user name) — never the password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 6379
        db = parts.path.strip("/") or "0"
        return f"{host}:{port}/{db}", parts.password is not None, parts.username or ""
    except ValueError:
        return "<unparsable URL>", False, ""


def _keys(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


async def _close(client: Any) -> None:
    try:
        await asyncio.wait_for(client.aclose(), 1.0)
    except (TimeoutError, Exception):  # noqa: BLE001 - the outcome is already decided
        pass


def _ms_since(start: float) -> int:
    return int(round((time.monotonic() - start) * 1000))
