"""kind = "prometheus" against a real Prometheus scraping a loopback /metrics endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from deploytui.checks.kinds.prometheus import Kind
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Status
from tests.servers.common import free_port
from tests.servers.databases import PrometheusServer

pytestmark = pytest.mark.services

ERROR_RATIO = (
    'sum(http_requests_total{status=~"5.."}) / sum(http_requests_total{handler="/api/v1/chat/query"})'
)


def spec(**params: Any) -> CheckSpec:
    return CheckSpec(item="deployment-steps/5-monitoring-setup/x", kind="prometheus", index=0, params=params)


async def run(timeout: float = 5.0, **params: Any) -> Outcome:
    return await Kind().run(spec(**params), CheckContext(timeout=timeout))


async def test_up_meets_minimum(prometheus_server: PrometheusServer) -> None:
    outcome = await run(url=prometheus_server.url, query='up{job="app"}', expect={"min": 1})
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.values["series"] == 1 and outcome.values["value"] == 1
    assert outcome.reason == f"Prometheus at 127.0.0.1:{prometheus_server.port}: 1 series, value 1"


async def test_ratio_with_op_and_value(prometheus_server: PrometheusServer) -> None:
    success = await run(
        url=prometheus_server.url, query=f"1 - ({ERROR_RATIO})", expect={"op": ">", "value": 0.98}
    )
    assert success.status is Status.PASSED, success.reason
    strict = await run(
        url=prometheus_server.url, query=f"1 - ({ERROR_RATIO})", expect={"op": ">", "value": 0.999}
    )
    assert strict.status is Status.FAILED
    assert strict.reason == "{} is 0.99, expected > 0.999"


async def test_every_failing_series_is_named_with_labels(prometheus_server: PrometheusServer) -> None:
    outcome = await run(
        url=prometheus_server.url, query='http_requests_total{job="app"}', expect={"max": 600}
    )
    assert outcome.status is Status.FAILED
    instance = prometheus_server.target.address if prometheus_server.target else "?"
    assert outcome.reason == (
        f'http_requests_total{{handler="/api/v1/chat/query",instance="{instance}",job="app",status="200"}}'
        " is 990, expected <= 600"
    )
    assert outcome.values["series"] == 3 and outcome.values["failing_series"] == 1


async def test_empty_result_fails_unless_allowed(prometheus_server: PrometheusServer) -> None:
    empty = await run(url=prometheus_server.url, query='up{job="absent"}', expect={"min": 1})
    assert empty.status is Status.FAILED
    assert empty.reason == "query 'up{job=\"absent\"}' returned no series"
    allowed = await run(url=prometheus_server.url, query='up{job="absent"}', expect={"nonempty": False})
    assert allowed.status is Status.PASSED, allowed.reason


async def test_expect_empty_for_firing_alerts(prometheus_server: PrometheusServer) -> None:
    quiet = await run(url=prometheus_server.url, query='ALERTS{alertstate="firing"}', expect={"empty": True})
    assert quiet.status is Status.PASSED, quiet.reason
    noisy = await run(url=prometheus_server.url, query='app_ready{job="app"}', expect={"empty": True})
    assert noisy.status is Status.FAILED
    assert noisy.reason.startswith('expected no series, got 1: app_ready{instance="')


async def test_bad_promql_is_an_error_with_prometheus_message(prometheus_server: PrometheusServer) -> None:
    outcome = await run(url=prometheus_server.url, query="sum(up")
    assert outcome.status is Status.ERROR
    assert outcome.reason.startswith("Prometheus rejected the query (bad_data): ")
    assert "parse error" in outcome.reason


async def test_range_vector_is_an_error(prometheus_server: PrometheusServer) -> None:
    outcome = await run(url=prometheus_server.url, query="up[1m]")
    assert outcome.status is Status.ERROR
    assert outcome.reason.startswith("the query returns a range vector")


async def test_rules_and_ready(prometheus_server: PrometheusServer) -> None:
    outcome = await run(url=prometheus_server.url, rules=True, ready=True)
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.reason.endswith("ready; 1 alerting rule(s) in 1 group(s)")
    assert outcome.values["alerting_rules"] == 1


async def test_no_rules_fails(prometheus_factory: Callable[..., PrometheusServer]) -> None:
    bare = prometheus_factory(targets=[], rules=False)
    outcome = await run(url=bare.url, rules=True)
    assert outcome.status is Status.FAILED
    assert outcome.reason == "no alerting rules loaded (0 group(s), 0 recording rule(s))"


async def test_connection_refused_never_shows_the_password() -> None:
    port = free_port()
    outcome = await run(url=f"http://admin:prom-Secret-1@127.0.0.1:{port}", ready=True)
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"connection refused by 127.0.0.1:{port}"
    assert "prom-Secret-1" not in Kind().describe(
        spec(url="http://admin:prom-Secret-1@h:1", ready=True), CheckContext()
    )


async def test_hung_server_times_out(silent_port: int) -> None:
    started = time.monotonic()
    outcome = await run(timeout=1.0, url=f"http://127.0.0.1:{silent_port}", query="up")
    assert outcome.status is Status.FAILED
    assert outcome.reason == "timed out after 1s running the query"
    assert time.monotonic() - started < 1.8


async def test_not_prometheus_is_named(prometheus_server: PrometheusServer) -> None:
    assert prometheus_server.target is not None
    outcome = await run(url=f"http://{prometheus_server.target.address}", query="up")
    assert outcome.status is Status.FAILED
    assert (
        outcome.reason
        == f"query API at {prometheus_server.target.address} answered HTTP 404 Not Found, not Prometheus JSON"
    )


def test_validate() -> None:
    assert "kind 'prometheus' needs `query`, `rules = true` or `ready = true`" in Kind.validate({"url": "u"})
    problems = Kind.validate({"url": "u", "query": "up", "expect": {"op": "~", "value": 1}})
    assert problems == ["expect.op '~' is not one of ==, =, !=, <, <=, >, >="]
    assert Kind.validate({"url": "u", "query": "up", "expect": {"min": "1"}}) == [
        "expect.min must be a number, got '1'"
    ]
    assert Kind.validate({"url": "u", "rules": True, "expect": {"min": 1}}) == [
        "expect needs a `query` (rules and ready take no expectations)"
    ]


async def test_a_plus_in_the_query_reaches_prometheus_as_a_plus(prometheus_server: PrometheusServer) -> None:
    # Query parameters are encoded by the client: a "+" written into the URL would read as a space.
    outcome = await run(url=prometheus_server.url, query="vector(1) + vector(2)", expect={"min": 3, "max": 3})
    assert outcome.status is Status.PASSED, outcome.reason


async def test_an_answer_over_the_size_cap_fails_saying_so(
    prometheus_server: PrometheusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploytui.checks.kinds import prometheus

    monkeypatch.setattr(prometheus, "ANSWER_MAX_BYTES", 64)
    outcome = await run(url=prometheus_server.url, query='up{job="app"}', expect={"min": 1})
    assert (outcome.status, outcome.reason) == (
        Status.FAILED,
        f"query API at 127.0.0.1:{prometheus_server.port} answered over 64 bytes: narrow the query",
    )
