"""Honest HTTP verdicts against the real target app and its real per-IP limiter: a 429 is the verdict of
a rate-limit check only; bursts count their own 429s and run alone on their origin, after the others;
cooldowns and Retry-After are waited out; `within` polls a slow start; `retry` makes `flaky`; the
bundled health and SQL-injection bindings judge only what they should."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from deploytui.checks.expect import names_status, status_matches
from deploytui.core.checklist import bundled_checklist_path, load_checklist
from deploytui.core.config import bundled_bindings_path
from deploytui.core.spec import CheckSpec, Retry
from deploytui.core.status import Status
from deploytui.services.project import load_config
from tests.servers.common import free_port
from tests.servers.target_app import TargetServer
from tests.support.engine_helpers import TimedRecorder, make_engine, overlap, spec

Factory = Callable[..., TargetServer]
CHAT = "/api/v1/chat/query"


def exhaust(app: TargetServer, n: int) -> None:
    """Use up the jump box's share of the app's limiter with `n` chat POSTs of our own."""
    with httpx.Client(base_url=app.url, timeout=10) as client:
        for i in range(n):
            client.post(CHAT, json={"question": f"filler {i}", "session_id": "filler"})


def chat(app: TargetServer, index: int = 0, **schedule: Any) -> CheckSpec:
    return spec(
        "http",
        item=f"chat{index}",
        index=index,
        schedule=schedule,
        url=f"{app.url}{CHAT}",
        json={"question": f"what is rag {index}?", "session_id": "t"},
        expect={"status": 200, "body_contains": "answer"},
    )


def burst(app: TargetServer, n: int, index: int = 90, **schedule: Any) -> CheckSpec:
    return spec(
        "http",
        item=f"burst{index}",
        index=index,
        schedule=schedule,
        url=f"{app.url}{CHAT}",
        json={"question": "rate limit probe", "session_id": "probe"},
        burst=n,
    )


def bundled(item: str, **params: Any) -> CheckSpec:
    config = load_config(bundled_bindings_path(), load_checklist(bundled_checklist_path()))
    (found,) = config.checks_for(item)
    return CheckSpec(
        item=found.item,
        kind=found.kind,
        index=found.index,
        params={**found.params, **params},
        name=found.name,
    )


def test_a_status_class_never_matches_429_unless_the_check_names_it() -> None:
    assert status_matches(404, "4xx") and not status_matches(429, "4xx")
    assert status_matches(429, 429) and status_matches(429, ["4xx", "429"]) and status_matches(429, "429")
    assert names_status([200, 429], 429) and not names_status("4xx", 429)


async def test_a_429_is_no_verdict_of_a_check_that_does_not_judge_rate_limiting(factory: Factory) -> None:
    app = factory(rate_limit=3, rate_window=30)
    exhaust(app, 3)
    engine = make_engine()
    limited = await engine.run_check(chat(app), None, TimedRecorder())
    assert limited.status is Status.ERROR and limited.rate_limited
    assert limited.reason.startswith("rate limited by the target (429, Retry-After ")
    assert 25 <= (limited.retry_after or 0) <= 30
    # "4xx" does not accept it either: the SQL-injection check passed on 429 before
    sqli = await engine.run_check(
        bundled("deployment-steps/7-security-verification/sql-injection-protection", url=f"{app.url}{CHAT}"),
        None,
        TimedRecorder(),
    )
    assert sqli.status is Status.ERROR and sqli.reason.startswith("rate limited by the target (429")
    # a check that says 429 judges it
    said = spec(
        "http", url=f"{app.url}{CHAT}", json={"question": "q", "session_id": "t"}, expect={"status": 429}
    )
    assert (await engine.run_check(said, None, TimedRecorder())).status is Status.PASSED


async def test_with_a_cooldown_on_its_origin_a_429_is_waited_out_and_tried_once_more(
    factory: Factory,
) -> None:
    app = factory(rate_limit=3, rate_window=2)
    exhaust(app, 3)
    probe = burst(app, 10, cooldown=0.5)
    # the engine knows the config's burst (and so the origin's cooldown) though it is not in this run
    engine = make_engine(checks=[probe])
    rec = TimedRecorder()
    outcome = await engine.run_check(chat(app), None, rec)
    assert outcome.status is Status.PASSED, outcome.reason
    first, second = outcome.attempts
    assert first.status is Status.ERROR and first.reason.startswith("rate limited by the target (429")
    assert second.status is Status.PASSED and second.started_ms >= 1000  # Retry-After (>= 1 s) beat 0.5 s
    assert "for the target's rate limit" in outcome.reason and outcome.values["attempts"] == 2
    assert any("rate limited: attempt 2 in" in line for line in rec.lines())


async def test_a_burst_counts_only_its_own_429s(factory: Factory) -> None:
    app = factory(rate_limit=5, rate_window=30)
    engine = make_engine()
    own = await engine.run_check(burst(app, 12), None, TimedRecorder())
    assert own.status is Status.PASSED, own.reason
    assert own.values["first_status"] == 200 and own.values["limited"] == 7
    assert own.reason.startswith("rate limited: the first request answered 200, then 7 of 12 answered 429")
    # the limiter is engaged already (30 of 30 would answer 429 from the first request): no verdict.
    # (The same engine would wait out the first burst's Retry-After: a new one, as in a second process.)
    again = await make_engine().run_check(burst(app, 12, index=91), None, TimedRecorder())
    assert again.status is Status.ERROR and again.rate_limited
    assert again.reason.startswith("already rate limited before its burst (429, Retry-After ")
    unlimited = await make_engine().run_check(
        spec("http", url=f"{app.url}/api/v1/health", burst=15), None, TimedRecorder()
    )
    assert unlimited.reason == "no 429 in a burst of 15 requests: rate limiting is not active (200×15)"


async def test_a_burst_runs_alone_on_its_origin_after_the_other_checks_there(factory: Factory) -> None:
    app, other = factory(rate_limit=8, rate_window=30), factory()
    specs = [
        burst(app, 12),
        *[chat(app, n) for n in range(3)],
        spec("http", item="elsewhere", index=50, url=f"{other.url}/misbehave/slow?ms=1500"),
    ]
    rec = TimedRecorder()
    outcomes = await make_engine(concurrency=8).run_many(specs, rec)
    assert [o.status for o in outcomes] == [Status.PASSED] * 5, [o.reason for o in outcomes]
    spans = rec.spans()
    probe = spans["burst90#90"]
    assert all(spans[f"chat{n}#{n}"][1] <= probe[0] for n in range(3))
    assert overlap(probe, spans["elsewhere#50"])  # another origin is not held back
    # none of the other checks saw a 429: the burst came last
    assert all(not o.attempts for o in outcomes[1:4])


async def test_after_a_burst_its_origin_waits_for_the_targets_retry_after(factory: Factory) -> None:
    app = factory(rate_limit=4, rate_window=3)
    probe = burst(app, 10, cooldown=0.2)
    follow = chat(app, 1, after=(probe.key,))
    rec = TimedRecorder()
    first, second = await make_engine().run_many([probe, follow], rec)
    assert first.status is Status.PASSED and first.retry_after is not None and first.retry_after >= 1
    assert second.status is Status.PASSED and not second.attempts, second.reason
    spans = rec.spans()
    assert spans[follow.key][0] - spans[probe.key][1] >= first.retry_after - 0.05


async def test_within_polls_a_slow_start_until_ready_and_without_it_fails_at_once(factory: Factory) -> None:
    app = factory(start_after=5.0)
    health = {"url": f"{app.url}/api/v1/health", "expect": {"status": 200}}
    patient = spec("http", item="patient", index=0, schedule={"within": 30.0, "interval": 1.0}, **health)
    hasty = spec("http", item="hasty", index=1, **health)
    rec = TimedRecorder()
    waited, at_once = await make_engine().run_many([patient, hasty], rec)
    assert waited.status is Status.PASSED, waited.reason
    assert isinstance(waited.values["attempts"], int) and waited.values["attempts"] >= 3
    assert isinstance(waited.values["waited_ms"], int) and waited.values["waited_ms"] >= 3000
    assert waited.attempts[0].reason.startswith("connection refused by 127.0.0.1:")
    assert waited.attempts[-1].status is Status.PASSED and "(ready after " in waited.reason
    assert at_once.status is Status.FAILED and at_once.reason.startswith("connection refused")
    assert at_once.duration_ms < 2000


async def test_within_bounds_the_whole_polling() -> None:
    url = f"http://127.0.0.1:{free_port()}/health"
    outcome = await make_engine().run_check(
        spec("http", url=url, schedule={"within": 1.0, "interval": 0.3}), None, TimedRecorder()
    )
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("not ready within 1s (") and "connection refused" in outcome.reason
    assert 900 <= outcome.duration_ms < 2500


async def test_retry_makes_a_pass_after_a_failure_flaky_with_every_attempts_reason(
    target_app: TargetServer,
) -> None:
    def settling(after: int) -> CheckSpec:
        url = f"{target_app.url}/misbehave/fail-first?n={after}&key={uuid.uuid4().hex}"
        return spec("http", url=url, schedule={"retry": Retry(3, 0.1)})

    engine = make_engine()
    flaky = await engine.run_check(settling(2), None, TimedRecorder())
    assert flaky.status is Status.FLAKY
    assert [a.status for a in flaky.attempts] == [Status.FAILED, Status.FAILED, Status.PASSED]
    assert [a.reason for a in flaky.attempts[:2]] == ["status 503, expected 200"] * 2
    assert flaky.reason.startswith("200 in ")
    assert "(flaky: passed on attempt 3 of 3; attempt 1: status 503" in flaky.reason
    clean = await engine.run_check(settling(0), None, TimedRecorder())
    assert (clean.status, clean.attempts, clean.values["attempts"]) == (Status.PASSED, [], 1)
    broken = await engine.run_check(settling(5), None, TimedRecorder())
    assert (broken.status, broken.reason) == (Status.FAILED, "attempt 3 of 3: status 503, expected 200")


async def test_the_bundled_sql_injection_binding_passes_a_safe_200_and_fails_a_500_with_psycopg(
    factory: Factory,
) -> None:
    item = "deployment-steps/7-security-verification/sql-injection-protection"
    engine = make_engine()
    verdicts = {}
    for mode in ("safe", "reject", "vulnerable", "leaky"):
        app = factory(injection=mode)
        outcome = await engine.run_check(bundled(item, url=f"{app.url}{CHAT}"), None, TimedRecorder())
        verdicts[mode] = (outcome.status, outcome.reason, outcome.values.get("status"))
    assert verdicts["safe"][0] is Status.PASSED and verdicts["safe"][2] == 200
    assert verdicts["reject"][0] is Status.PASSED and verdicts["reject"][2] == 400
    assert verdicts["vulnerable"][:2] == (Status.FAILED, "status 500, expected 2xx or 4xx")
    # a 200 that shows the database's error is no protection either
    assert verdicts["leaky"][:2] == (Status.FAILED, "body contains 'psycopg'")


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/api/v1/health", Status.PASSED, None),  # {"status": "ok"}
        ("/", Status.PASSED, None),  # not JSON: nothing to judge beyond the 200
        ("/misbehave/status?code=200", Status.FAILED,
         "JSON field 'status' is 200, expected one of 'ok', 'healthy', 'pass', 'up'"),
        ("/misbehave/status?code=503", Status.FAILED, "status 503, expected 200"),
    ],
)
async def test_the_bundled_health_binding_accepts_any_healthy_word_and_only_those(
    target_app: TargetServer, path: str, status: Status, reason: str | None
) -> None:
    item = "deployment-steps/3-health-checks/api-health-check-passes"
    check = bundled(item, url=f"{target_app.url}{path}")
    outcome = await make_engine().run_check(check, None, TimedRecorder())
    assert outcome.status is status, outcome.reason
    if reason is not None:
        assert outcome.reason == reason


@pytest.fixture
def factory(target_app_factory: Factory) -> Factory:
    return target_app_factory
