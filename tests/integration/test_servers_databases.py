"""The throwaway PostgreSQL, Redis and Prometheus fixtures behave as other tests rely on."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.servers.databases import (
    APP_PASSWORD,
    APP_USER,
    MetricsTarget,
    PostgresServer,
    PrometheusServer,
    RedisServer,
)

pytestmark = pytest.mark.services


def test_postgres_superuser_url_connects_without_password(postgres_server: PostgresServer) -> None:
    assert postgres_server.url == f"postgresql://postgres@127.0.0.1:{postgres_server.port}/postgres"
    with psycopg.connect(postgres_server.url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with psycopg.connect(postgres_server.dsn, connect_timeout=5) as conn:
        assert conn.info.port == postgres_server.port
    assert (postgres_server.bin_dir / "pg_dump").exists()


def test_postgres_app_role_needs_its_password(postgres_server: PostgresServer) -> None:
    with psycopg.connect(
        postgres_server.url_for(user=APP_USER, password=APP_PASSWORD), connect_timeout=5
    ) as c:
        assert c.execute("SELECT current_user").fetchone() == (APP_USER,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres_server.url_for(user=APP_USER, password="wrong"), connect_timeout=5)


def test_postgres_create_database_gives_a_fresh_database(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("fixture_check")
    postgres_server.execute("CREATE TABLE t (x int)", database="fixture_check")
    url_again = postgres_server.create_database("fixture_check")
    assert url == url_again
    rows = postgres_server.execute(
        "SELECT count(*) FROM pg_tables WHERE tablename = 't'", database="fixture_check"
    )
    assert rows == [(0,)]


def test_postgres_stop_and_start_keep_port_and_data(
    postgres_server: PostgresServer, postgres_restart_guard: PostgresServer
) -> None:
    postgres_server.execute("CREATE TABLE IF NOT EXISTS survives_restart (x int)")
    postgres_server.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres_server.url, connect_timeout=2)
    postgres_server.start()
    rows = postgres_server.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'survives_restart'")
    assert rows == [(1,)]


def test_redis_stop_then_guard_restarts_it(
    redis_server: RedisServer, redis_restart_guard: RedisServer
) -> None:
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert redis.Redis.from_url(redis_server.url).ping()
    redis_server.stop()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(redis_server.url, socket_connect_timeout=1).ping()
    redis_server.start()
    assert redis.Redis.from_url(redis_server.url).ping()


def test_redis_factory_with_password_rejects_anonymous_clients(
    redis_factory: Callable[..., RedisServer],
) -> None:
    server = redis_factory(password="fixture-pass")
    assert server.url == f"redis://:fixture-pass@127.0.0.1:{server.port}/0"
    assert redis.Redis.from_url(server.url).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=server.port, retry=Retry(NoBackoff(), 0)).ping()


def test_prometheus_has_a_sample_and_an_alerting_rule(prometheus_server: PrometheusServer) -> None:
    up = prometheus_server.query('up{job="app"}')
    assert up and up[0]["value"][1] == "1"
    errors = prometheus_server.query('http_requests_total{status="500"}')
    assert errors[0]["value"][1] == "10"
    rules = httpx.get(f"{prometheus_server.url}/api/v1/rules", timeout=5).json()
    names = [r["name"] for g in rules["data"]["groups"] for r in g["rules"]]
    assert names == ["HighErrorRate"]


def test_prometheus_add_target_is_scraped(prometheus_server: PrometheusServer) -> None:
    extra = MetricsTarget("extra_metric 42\n")
    try:
        prometheus_server.add_target(extra.address, job="extra", labels={"env": "test"})
        series = prometheus_server.wait_for_series('extra_metric{job="extra"}', timeout=20)
        assert series[0]["metric"]["env"] == "test"
        assert series[0]["value"][1] == "42"
    finally:
        extra.close()


def test_prometheus_factory_without_rules_has_no_rule_groups(
    prometheus_factory: Callable[..., PrometheusServer],
) -> None:
    server = prometheus_factory(targets=[], rules=False)
    rules = httpx.get(f"{server.url}/api/v1/rules", timeout=5).json()
    assert rules["data"]["groups"] == []


def test_redis_factory_with_tls_serves_rediss_only(redis_factory: Callable[..., RedisServer]) -> None:
    server = redis_factory(tls=True)
    assert server.url == f"rediss://127.0.0.1:{server.port}/0"
    assert redis.Redis.from_url(server.url, ssl_ca_certs=str(server.ca_file)).ping()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=1, retry=Retry(NoBackoff(), 0)).ping()
