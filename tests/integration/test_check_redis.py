"""kind = "redis" against real throwaway Redis servers (plain, password, TLS)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from deploytui.checks.kinds.redis import Kind
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Status
from tests.servers.common import free_port
from tests.servers.databases import RedisServer

pytestmark = pytest.mark.services

PASSWORD = "redis-Pass-77z"


def spec(**params: Any) -> CheckSpec:
    return CheckSpec(
        item="pre-deployment/external-services-verified/redis-accessible",
        kind="redis",
        index=0,
        params=params,
    )


async def run(timeout: float = 5.0, ctx: CheckContext | None = None, **params: Any) -> Outcome:
    return await Kind().run(spec(**params), ctx or CheckContext(timeout=timeout))


@pytest.fixture(scope="module")
def auth_redis(redis_factory: Callable[..., RedisServer]) -> RedisServer:
    return redis_factory(password=PASSWORD)


@pytest.fixture(scope="module")
def tls_redis(redis_factory: Callable[..., RedisServer]) -> RedisServer:
    return redis_factory(tls=True)


async def test_ping_passes_with_version(redis_server: RedisServer) -> None:
    outcome = await run(url=redis_server.url)
    assert outcome.status is Status.PASSED, outcome.reason
    assert str(outcome.values["redis_version"]).startswith("7.")
    assert outcome.values["role"] == "master"
    assert outcome.reason.startswith(
        f"Redis {outcome.values['redis_version']} at 127.0.0.1:{redis_server.port}/0"
    )


async def test_hit_rate_is_measured_before_the_checks_own_lookups(
    redis_factory: Callable[..., RedisServer],
) -> None:
    server = redis_factory()
    with server.client() as client:
        client.set("cache:answer", "42")
        for _ in range(3):
            client.get("cache:answer")
        client.get("cache:absent")
    outcome = await run(url=server.url, key_exists="cache:answer", expect={"hit_rate_min": 0.5})
    assert outcome.status is Status.PASSED, outcome.reason
    assert (outcome.values["hits"], outcome.values["misses"], outcome.values["hit_rate"]) == (3, 1, 0.75)
    low = await run(url=server.url, expect={"hit_rate_min": 0.9})
    assert low.status is Status.FAILED
    # The first run's EXISTS found the key: one more hit.
    assert low.reason == "cache hit rate is 0.8, expected >= 0.9 (hits 4, misses 1)"


async def test_hit_rate_unknown_without_lookups(redis_factory: Callable[..., RedisServer]) -> None:
    outcome = await run(url=redis_factory().url, expect={"hit_rate_min": 0.5})
    assert outcome.status is Status.FAILED
    assert outcome.reason == "no keyspace lookups yet (hits 0, misses 0): hit rate unknown, expected >= 0.5"
    assert "hit_rate" not in outcome.values


async def test_missing_key_is_named(redis_server: RedisServer) -> None:
    with redis_server.client() as client:
        client.set("ratelimit:config", "10/min")
    outcome = await run(url=redis_server.url, key_exists=["ratelimit:config", "cache:warm"])
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"key(s) missing in 127.0.0.1:{redis_server.port}/0: cache:warm"
    assert outcome.values["keys_missing"] == 1


async def test_connection_refused() -> None:
    port = free_port()
    outcome = await run(url=f"redis://127.0.0.1:{port}/0")
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"connection refused by 127.0.0.1:{port}/0"


async def test_stopped_server_is_refused(redis_server: RedisServer, redis_restart_guard: RedisServer) -> None:
    redis_server.stop()
    outcome = await run(url=redis_server.url)
    assert outcome.reason == f"connection refused by 127.0.0.1:{redis_server.port}/0"


async def test_no_password_when_one_is_required(auth_redis: RedisServer) -> None:
    outcome = await run(url=f"redis://127.0.0.1:{auth_redis.port}/0")
    assert outcome.status is Status.FAILED
    assert (
        outcome.reason
        == f"authentication required by 127.0.0.1:{auth_redis.port}/0 (NOAUTH): the URL has no password"
    )


async def test_wrong_password_fails_without_leaking_it(auth_redis: RedisServer) -> None:
    wrong = "not-the-Right-one"
    url = f"redis://:{wrong}@127.0.0.1:{auth_redis.port}/0"
    lines: list[str] = []
    outcome = await run(url=url, ctx=CheckContext(timeout=5, emit=lines.append))
    assert outcome.status is Status.FAILED
    assert (
        outcome.reason
        == f"authentication failed for the default user at 127.0.0.1:{auth_redis.port}/0 (WRONGPASS)"
    )
    assert wrong not in repr(outcome)
    assert wrong not in Kind().describe(spec(url=url), CheckContext())


async def test_right_password_passes(auth_redis: RedisServer) -> None:
    outcome = await run(url=auth_redis.url)
    assert outcome.status is Status.PASSED, outcome.reason
    assert PASSWORD not in repr(outcome)


async def test_hung_server_times_out(silent_port: int) -> None:
    started = time.monotonic()
    outcome = await run(timeout=1.0, url=f"redis://127.0.0.1:{silent_port}/0")
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"timed out after 1s waiting for PONG from 127.0.0.1:{silent_port}/0"
    assert time.monotonic() - started < 1.8


async def test_tls_with_trusted_ca_passes(tls_redis: RedisServer) -> None:
    outcome = await run(url=tls_redis.url, ca_file=str(tls_redis.ca_file))
    assert outcome.status is Status.PASSED, outcome.reason


async def test_tls_untrusted_certificate_fails(tls_redis: RedisServer) -> None:
    outcome = await run(url=tls_redis.url)
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith(f"TLS certificate not trusted for 127.0.0.1:{tls_redis.port}/0")


async def test_ca_file_needs_a_tls_url(redis_server: RedisServer) -> None:
    outcome = await run(url=redis_server.url, ca_file="ca.pem")
    assert outcome.status is Status.ERROR
    assert outcome.reason == "ca_file is set but the URL is not rediss:// (TLS)"


def test_validate_rejects_bad_expectations() -> None:
    problems = Kind.validate({"url": "redis://x", "key_exists": 3, "expect": {"hit_rate_min": 80, "hits": 1}})
    assert "key_exists must be a key name or a list of key names" in problems
    assert "expect.hit_rate_min must be a number between 0 and 1, like 0.8" in problems
    assert any("unknown expectation 'hits'" in p for p in problems)
