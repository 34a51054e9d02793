"""The bundled checklist and its bindings against a full local deployment on loopback.

The target app (rag-chatbot-shaped, caching and rate limiting in its own Redis, plus an HTTPS twin), a
PostgreSQL database with an Alembic revision and a verified pg_dump backup, Qdrant and Gemini speaking
their real APIs, Prometheus scraping the app with an alerting rule, a backend container on a Docker API
(podman), a git repository without .env. `deploytui check` with no config must pass every bound
item; with Redis stopped, exactly the Redis-dependent items must fail, each with a clear reason.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploytui.cli import main
from deploytui.core.checklist import bundled_checklist_path, load_checklist
from deploytui.core.config import bundled_bindings_path
from deploytui.services.project import load_config
from tests.servers.deployment import wire_deployment
from tests.servers.target_app import TargetServer, TLSFiles

pytestmark = [pytest.mark.services, pytest.mark.slow]

REDIS_DEPENDENT = {
    "pre-deployment/external-services-verified/redis-accessible",
    "deployment-steps/3-health-checks/external-services-accessible/redis-connected",
    "deployment-steps/4-smoke-testing/rate-limiting-works",
    "deployment-steps/4-smoke-testing/caching-works",
    "deployment-steps/7-security-verification/rate-limiting-active",
}
"""Items whose checks need the app's Redis: Redis itself, and the rate limiter and cache that live in it."""

MACHINE_VERIFIABLE = [
    "pre-deployment/environment-variables-configured/database-url-set",
    "pre-deployment/environment-variables-configured/redis-url-set",
    "pre-deployment/environment-variables-configured/qdrant-credentials-set",
    "pre-deployment/environment-variables-configured/gemini-api-key-set",
    "pre-deployment/environment-variables-configured/secret-key-generated",
    "pre-deployment/environment-variables-configured/allowed-origins-set",
    "pre-deployment/secrets-secured/env-not-committed",
    "pre-deployment/secrets-secured/api-keys-not-in-logs",
    "pre-deployment/database-ready/backup-strategy-in-place",
    "pre-deployment/database-ready/connection-string-verified",
    "pre-deployment/external-services-verified/qdrant-cluster-accessible",
    "pre-deployment/external-services-verified/gemini-api-key-valid",
    "pre-deployment/external-services-verified/redis-accessible",
    "pre-deployment/external-services-verified/database-accessible",
    "deployment-steps/2-deployment/run-database-migrations",
    "deployment-steps/2-deployment/verify-services-are-running",
    "deployment-steps/3-health-checks/api-health-check-passes",
    "deployment-steps/3-health-checks/database-connection-works",
    "deployment-steps/3-health-checks/external-services-accessible/qdrant-reachable",
    "deployment-steps/3-health-checks/external-services-accessible/gemini-api-responding",
    "deployment-steps/3-health-checks/external-services-accessible/redis-connected",
    "deployment-steps/3-health-checks/logs-show-no-errors",
    "deployment-steps/4-smoke-testing/general-query-works",
    "deployment-steps/4-smoke-testing/selection-query-works",
    "deployment-steps/4-smoke-testing/rate-limiting-works",
    "deployment-steps/4-smoke-testing/caching-works",
    "deployment-steps/4-smoke-testing/error-handling-works",
    "deployment-steps/5-monitoring-setup/prometheus-collecting-metrics",
    "deployment-steps/5-monitoring-setup/grafana-dashboards-loaded",
    "deployment-steps/5-monitoring-setup/alerts-configured",
    "deployment-steps/6-performance-validation/response-time-2-seconds",
    "deployment-steps/6-performance-validation/memory-usage-stable",
    "deployment-steps/6-performance-validation/cpu-usage-80",
    "deployment-steps/7-security-verification/https-tls-enabled",
    "deployment-steps/7-security-verification/api-keys-not-exposed",
    "deployment-steps/7-security-verification/cors-properly-configured",
    "deployment-steps/7-security-verification/rate-limiting-active",
    "deployment-steps/7-security-verification/input-validation-working",
    "deployment-steps/7-security-verification/sql-injection-protection",
    "deployment-steps/7-security-verification/xss-protection-enabled",
    "deployment-steps/8-user-testing/ui-loads-correctly",
    "deployment-steps/10-post-deployment/monitor-error-rate-1",
    "deployment-steps/10-post-deployment/monitor-response-time-p95-2s",
    "deployment-steps/10-post-deployment/monitor-uptime-99-9",
    "deployment-steps/10-post-deployment/validate-backups-work",
    "post-deployment-validation/week-1/cache-hit-rates-good-30",
    "post-deployment-validation/month-1/uptime-99-9",
]
"""Items of the issue's list that a machine can verify: each must have a binding."""


def test_bundled_bindings_load_without_errors_and_cover_the_verifiable_items() -> None:
    checklist = load_checklist(bundled_checklist_path())
    config = load_config(bundled_bindings_path(), checklist)
    bound = set(config.bound_items())
    assert [item for item in MACHINE_VERIFIABLE if item not in bound] == []
    assert set(config.secret_names) >= {"DATABASE_URL", "REDIS_URL", "QDRANT_API_KEY", "GEMINI_API_KEY"}
    # world-changing bindings exist but are actions (never run by `check`)
    from deploytui.checks.registry import get_kind

    actions = {c.item for c in config.checks if get_kind(c.kind).is_action(c.params)}
    assert actions == {
        "deployment-steps/1-pre-deployment/create-backup-of-production-database",
        "deployment-steps/1-pre-deployment/notify-team-of-deployment",
        "deployment-steps/4-smoke-testing/webhooks-trigger",
    }


def test_an_unset_required_variable_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    rc = main(
        [
            "check",
            "--only",
            "pre-deployment/external-services-verified/database-accessible",
            "--format",
            "json",
            "--sessions-dir",
            str(tmp_path / "sessions"),
        ]
    )
    assert rc == 1
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert (result["status"], result["reason"]) == ("error", "DATABASE_URL is not set")


@pytest.fixture
def deployment(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_server: Any,
    redis_factory: Callable[..., Any],
    prometheus_factory: Callable[..., Any],
    docker_engine: Any,
    qdrant_server: Any,
    gemini_server: Any,
    target_app_factory: Callable[..., TargetServer],
    tls_files: TLSFiles,
) -> Iterator[dict[str, Any]]:
    """Every service of the deployment up and wired through the environment the bindings read."""
    with contextlib.ExitStack() as stack:
        wired = wire_deployment(
            tmp_path,
            stack,
            postgres=postgres_server,
            make_redis=redis_factory,
            make_target=target_app_factory,
            make_prometheus=prometheus_factory,
            docker=docker_engine,
            qdrant=qdrant_server,
            gemini=gemini_server,
            tls=tls_files,
        )
        for name, value in wired.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield {"env": wired.env, "redis": wired.redis, "app": wired.app, "sessions": tmp_path / "sessions"}


def run_check(
    sessions: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, dict[str, Any]], str]:
    rc = main(["check", "--format", "json", "--sessions-dir", str(sessions)])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    by_item: dict[str, dict[str, Any]] = {}
    for result in report["results"]:
        previous = by_item.get(result["item"])
        if previous is None or previous["status"] == "passed":
            by_item[result["item"]] = result
    return rc, by_item, captured.err


def test_every_bound_item_passes_then_exactly_the_redis_items_fail(
    deployment: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, results, err = run_check(deployment["sessions"], capsys)
    failing = {
        item: f"{r['status']}: {r['reason']}" for item, r in results.items() if r["status"] != "passed"
    }
    assert failing == {}, err
    assert rc == 0
    assert set(MACHINE_VERIFIABLE) <= set(results)

    deployment["redis"].stop()
    rc, results, err = run_check(deployment["sessions"], capsys)
    assert rc == 1
    failing = {item for item, r in results.items() if r["status"] != "passed"}
    assert failing == REDIS_DEPENDENT, err
    reasons = {item: results[item]["reason"] for item in REDIS_DEPENDENT}
    port = deployment["redis"].port
    assert "refused" in reasons["pre-deployment/external-services-verified/redis-accessible"]
    assert str(port) in reasons[
        "deployment-steps/3-health-checks/external-services-accessible/redis-connected"
    ] or (
        "refused" in reasons["deployment-steps/3-health-checks/external-services-accessible/redis-connected"]
    )
    # the limiter lives in Redis and fails open: the burst is answered, and it says so
    assert reasons["deployment-steps/4-smoke-testing/rate-limiting-works"].startswith(
        "no 429 in a burst of 30"
    )
    assert reasons["deployment-steps/4-smoke-testing/caching-works"].startswith(
        "not a cache hit: x-cache is 'BYPASS'"
    )

    # Nothing the runs wrote holds a secret value.
    secret_values = [deployment["env"][n] for n in ("QDRANT_API_KEY", "GEMINI_API_KEY", "SECRET_KEY")]
    for path in deployment["sessions"].rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in secret_values:
                assert value.encode() not in data, path


RATE_LIMIT_ITEMS = {
    "deployment-steps/4-smoke-testing/rate-limiting-works",
    "deployment-steps/7-security-verification/rate-limiting-active",
}
"""The rate-limit checks: the only ones whose verdict a 429 is."""


def test_five_runs_in_a_row_against_the_real_limiter_give_the_same_verdicts(
    deployment: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each run's bursts leave a ~10 s window of 429s for every chat request from the jump box: the next
    run's chat checks get 429, wait out the bursts' cooldown and pass; the bursts run last and alone, and
    still see the limit engage during their own burst."""
    verdicts: list[dict[str, str]] = []
    for _ in range(5):
        rc = main(["check", "--format", "json", "--sessions-dir", str(deployment["sessions"])])
        captured = capsys.readouterr()
        results = json.loads(captured.out)["results"]
        verdicts.append({r["check"]: r["status"] for r in results})
        failing = {r["check"]: r["reason"] for r in results if r["status"] != "passed"}
        assert failing == {}, captured.err
        assert rc == 0
        for r in results:
            if r["item"] in RATE_LIMIT_ITEMS:
                assert r["reason"].startswith("rate limited: the first request answered 200, then "), r
            else:
                # As a status, not a digit run: a Prometheus value of 0.08429 is no rate limit.
                assert not re.search(r"(?<![\d.])429(?![\d.])", r["reason"]), r
                assert r["values"].get("status") != 429, r
    assert all(v == verdicts[0] for v in verdicts[1:])
