"""kind = "http" against the real target app: each expectation passes, and fails with its own reason."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from deploytui.checks.kinds.http import BODY_KEEP_BYTES, Kind
from deploytui.core.status import Status
from tests.servers.common import free_port
from tests.servers.target_app import TargetServer, TLSFiles
from tests.support.engine_helpers import run_one


async def test_health_passes_with_status_json_body_and_headers(target_app: TargetServer) -> None:
    outcome, rec = await run_one(
        "http",
        url=f"{target_app.url}/api/v1/health",
        expect={
            "status": 200,
            "max_ms": 2000,
            "json": {"status": "ok"},
            "body_contains": '"ok"',
            "headers": {"x-content-type-options": "nosniff", "x-frame-options": True, "x-powered-by": False},
        },
    )
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.values["status"] == 200 and isinstance(outcome.values["ms"], int)
    assert any(line.startswith("< 200") for line in rec.lines())


async def test_wrong_status_is_reported(target_app: TargetServer) -> None:
    outcome, _ = await run_one("http", url=f"{target_app.url}/misbehave/error")
    assert (outcome.status, outcome.reason) == (Status.FAILED, "status 500, expected 200")


async def test_status_lists_and_classes(target_app: TargetServer) -> None:
    ok, _ = await run_one(
        "http", url=f"{target_app.url}/misbehave/status?code=204", expect={"status": [200, 204]}
    )
    assert ok.status is Status.PASSED
    outcome, _ = await run_one(
        "http", url=f"{target_app.url}/misbehave/status?code=503", expect={"status": "2xx"}
    )
    assert outcome.reason == "status 503, expected 2xx"


async def test_connection_refused_names_the_target() -> None:
    port = free_port()
    outcome, _ = await run_one("http", url=f"http://127.0.0.1:{port}/api/v1/health")
    assert (outcome.status, outcome.reason) == (Status.FAILED, f"connection refused by 127.0.0.1:{port}")


async def test_untrusted_certificate_is_a_tls_error(target_app_tls: TargetServer) -> None:
    outcome, _ = await run_one("http", url=f"{target_app_tls.url}/api/v1/health")
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith(f"TLS certificate not trusted for localhost:{target_app_tls.port}")


async def test_tls_passes_with_the_ca_file_or_without_verification(
    target_app_tls: TargetServer, tls_files: TLSFiles
) -> None:
    url = f"{target_app_tls.url}/api/v1/health"
    with_ca, _ = await run_one(
        "http",
        url=url,
        ca_file=str(tls_files.ca_file),
        expect={"headers": {"strict-transport-security": True}},
    )
    assert with_ca.status is Status.PASSED, with_ca.reason
    unverified, _ = await run_one("http", url=url, verify=False)
    assert unverified.status is Status.PASSED
    missing, _ = await run_one("http", url=url, ca_file="/nonexistent/ca.pem")
    assert missing.reason == "CA file /nonexistent/ca.pem does not exist"


async def test_slow_answer_fails_max_ms(target_app: TargetServer) -> None:
    outcome, _ = await run_one("http", url=f"{target_app.url}/misbehave/slow?ms=400", expect={"max_ms": 100})
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("slow: answered in 4") and outcome.reason.endswith(
        "expected at most 100 ms"
    )


async def test_hang_and_trickle_end_at_the_check_timeout(target_app: TargetServer) -> None:
    hang, _ = await run_one("http", url=f"{target_app.url}/misbehave/hang", timeout=1)
    assert (hang.status, hang.reason) == (Status.FAILED, "timed out after 1s")
    trickle, _ = await run_one("http", url=f"{target_app.url}/misbehave/trickle?seconds=60", timeout=1.5)
    assert (trickle.status, trickle.reason) == (Status.FAILED, "timed out after 1.5s")


async def test_body_and_json_mismatches(target_app: TargetServer) -> None:
    url = f"{target_app.url}/api/v1/health"
    body, _ = await run_one("http", url=url, expect={"body_contains": "unicorn"})
    assert body.reason == "body does not contain 'unicorn'"
    field, _ = await run_one("http", url=url, expect={"json": {"status": "healthy"}})
    assert field.reason == "JSON field 'status' is 'ok', expected 'healthy'"
    missing, _ = await run_one("http", url=url, expect={"json": {"checks.redis": "up"}})
    assert missing.reason == "JSON has no field 'checks.redis'"
    html, _ = await run_one("http", url=f"{target_app.url}/", expect={"json": {"a": 1}})
    assert html.reason == "body is not JSON"
    header, _ = await run_one("http", url=url, expect={"headers": {"x-frame-options": "SAMEORIGIN"}})
    assert header.reason == "header x-frame-options is 'DENY', expected 'SAMEORIGIN'"
    absent, _ = await run_one("http", url=url, expect={"headers": {"strict-transport-security": True}})
    assert absent.reason == "header strict-transport-security missing"


async def test_a_50_mb_body_is_read_only_up_to_the_bound(target_app: TargetServer) -> None:
    outcome, _ = await run_one(
        "http", url=f"{target_app.url}/misbehave/huge?mb=50", expect={"body_contains": "AAAA"}
    )
    assert outcome.status is Status.PASSED
    assert outcome.values["bytes"] == BODY_KEEP_BYTES


async def test_hostile_body_is_cleaned_in_evidence(target_app: TargetServer) -> None:
    outcome, rec = await run_one(
        "http", url=f"{target_app.url}/misbehave/hostile", expect={"body_contains": "healthy"}
    )
    assert outcome.status is Status.PASSED
    for text in [outcome.evidence, *rec.lines()]:
        assert "\x1b" not in text and "\x00" not in text and "\x07" not in text


async def test_post_json_chat_query_and_validation(target_app: TargetServer) -> None:
    url = f"{target_app.url}/api/v1/chat/query"
    query, _ = await run_one(
        "http",
        url=url,
        method="POST",
        json={"question": "what is rag?", "session_id": "t-post"},
        expect={"status": 200, "body_contains": "answer"},
    )
    assert query.status is Status.PASSED, query.reason
    bad, _ = await run_one(
        "http",
        url=url,
        method="POST",
        body="{not json",
        headers={"Content-Type": "application/json"},
        expect={"status": 422},
    )
    assert bad.status is Status.PASSED
    # the target uses bound parameters: injection text is a question like any other
    injection, _ = await run_one(
        "http", url=url, json={"question": "x' OR '1'='1", "session_id": "t-sqli"}, expect={"status": 200}
    )
    assert injection.status is Status.PASSED and injection.values["status"] == 200


async def test_samples_report_percentiles_and_fail_a_p95_bound(target_app: TargetServer) -> None:
    fast, _ = await run_one(
        "http", url=f"{target_app.url}/api/v1/health", samples=10, expect={"p95_ms": 1000}
    )
    assert fast.status is Status.PASSED
    assert fast.values["samples"] == 10 and fast.values["p50_ms"] <= fast.values["p95_ms"]  # type: ignore[operator]
    slow, _ = await run_one(
        "http", url=f"{target_app.url}/misbehave/slow?ms=150", samples=3, expect={"p95_ms": 50}
    )
    assert slow.status is Status.FAILED and slow.reason.startswith("slow: p95 1")
    broken, _ = await run_one("http", url=f"{target_app.url}/misbehave/error", samples=3)
    assert broken.reason == "sample 1 of 3: status 500, expected 200"


async def test_burst_detects_rate_limiting(target_app_factory: Callable[..., TargetServer]) -> None:
    app = target_app_factory()
    limited, _ = await run_one(
        "http",
        url=f"{app.url}/api/v1/chat/query",
        json={"question": "burst", "session_id": "burst-1"},
        burst=30,
    )
    assert limited.status is Status.PASSED, limited.reason
    assert limited.values["limited"] == 10  # 20 chat POSTs per 10 s per client
    unlimited, _ = await run_one("http", url=f"{app.url}/api/v1/health", burst=15)
    assert unlimited.status is Status.FAILED
    assert unlimited.reason == "no 429 in a burst of 15 requests: rate limiting is not active (200×15)"
    errors, _ = await run_one("http", url=f"{app.url}/misbehave/error", burst=3)
    assert errors.reason.startswith("3 of 3 requests answered 5xx")


async def test_repeat_detects_a_cache_hit(target_app: TargetServer) -> None:
    url = f"{target_app.url}/api/v1/chat/query"
    question = {"question": f"cache me {uuid.uuid4()}", "session_id": "cache-test"}
    by_header, _ = await run_one(
        "http", url=url, json=question, repeat=2, expect={"cache_header": "x-cache: HIT"}
    )
    assert by_header.status is Status.PASSED, by_header.reason
    fresh = {"question": f"cache me {uuid.uuid4()}", "session_id": "cache-test-2"}
    by_speed, _ = await run_one("http", url=url, json=fresh, repeat=2, expect={"cache_speedup": 2})
    assert by_speed.status is Status.PASSED, by_speed.reason
    assert by_speed.values["speedup"] >= 2  # type: ignore[operator]
    uncached, _ = await run_one(
        "http", url=f"{target_app.url}/misbehave/slow?ms=100", repeat=2, expect={"cache_speedup": 2}
    )
    assert uncached.status is Status.FAILED and uncached.reason.startswith("not a cache hit: request 2 took")
    no_header, _ = await run_one(
        "http", url=f"{target_app.url}/api/v1/health", repeat=2, expect={"cache_header": {"x-cache": "HIT"}}
    )
    assert no_header.reason == "not a cache hit: header x-cache missing on request 2"


async def test_cors_preflight_allowed_and_disallowed(target_app: TargetServer) -> None:
    url = f"{target_app.url}/api/v1/chat/query"
    good, _ = await run_one(
        "http",
        url=url,
        cors={"allowed": "https://app.example.com", "disallowed": "https://evil.example", "method": "POST"},
    )
    assert good.status is Status.PASSED, good.reason
    assert good.reason == "CORS allows https://app.example.com and refuses https://evil.example"
    too_open, _ = await run_one(
        "http", url=url, cors={"disallowed": "https://app.example.com", "method": "POST"}
    )
    assert too_open.status is Status.FAILED
    assert too_open.reason == (
        "CORS allows https://app.example.com: access-control-allow-origin is 'https://app.example.com'"
    )
    refused, _ = await run_one("http", url=url, cors={"allowed": "https://evil.example", "method": "POST"})
    assert refused.reason == "CORS does not allow https://evil.example: no access-control-allow-origin"


async def test_bad_url_is_an_error(tmp_path: Path) -> None:
    outcome, _ = await run_one("http", url="localhost:8000/health")
    assert outcome.status is Status.ERROR and outcome.reason.startswith("url must start with http://")


def test_validation_names_bad_fields() -> None:
    assert Kind.validate({"url": "http://x", "burst": 5, "repeat": 2}) == [
        "use at most one of samples, burst, repeat, cors (got burst, repeat)"
    ]
    assert "cache_header and cache_speedup need repeat = 2" in Kind.validate(
        {"url": "http://x", "expect": {"cache_header": "x-cache: HIT"}}
    )
    assert any(
        "unknown expectation 'stauts'" in p for p in Kind.validate({"url": "u", "expect": {"stauts": 200}})
    )
    assert Kind.validate({"url": "http://x", "samples": 0}) == [
        "samples must be a whole number from 1 to 1000"
    ]
    assert Kind.validate({"url": "http://x", "samples": 5, "expect": {"p95_ms": 100, "status": 200}}) == []
