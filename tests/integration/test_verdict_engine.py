"""The engine's order and isolation, from recorded start and end times: `after` and `blocked`,
`exclusive`, `resource`, and the cooldown rule (its own value or the target's Retry-After)."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path
from typing import ClassVar

import pytest

from deploytui.checks import registry
from deploytui.checks.base import CheckKind
from deploytui.core.spec import CheckContext, CheckSpec, Retry
from deploytui.core.status import Outcome, Status
from deploytui.engine.attempts import cooling
from deploytui.engine.schedule import Policy
from deploytui.services.project import load_config
from tests.support.engine_helpers import TimedRecorder, make_engine, overlap, spec

CHECKLIST = """# Deploy

## Steps

- [ ] Compose up
- [ ] Migrations
- [ ] Health
- [ ] Smoke
- [ ] Docs built
"""


def config_checks(tmp_path: Path, body: str) -> list[CheckSpec]:
    (tmp_path / "deploy.md").write_text(CHECKLIST)
    path = tmp_path / "deploytui.toml"
    path.write_text('checklist = "deploy.md"\n' + textwrap.dedent(body))
    return load_config(path).checks


async def test_a_failing_dependency_leaves_its_dependents_blocked_each_naming_it(tmp_path: Path) -> None:
    checks = config_checks(
        tmp_path,
        """
        [[check]]
        item = "steps/compose-up"
        kind = "command"
        run = "echo compose failed; exit 3"

        [[check]]
        item = "steps/migrations"
        kind = "command"
        run = "touch ran-migrations"
        after = ["steps/compose-up"]

        [[check]]
        item = "steps/health"
        name = "health answers"
        kind = "command"
        run = "touch ran-health"
        after = ["steps/compose-up"]

        [[check]]
        item = "steps/smoke"
        kind = "command"
        run = "touch ran-smoke"
        after = ["health answers"]

        [[check]]
        item = "steps/docs-built"
        kind = "command"
        run = "true"
        """,
    )
    engine = make_engine(tmp_path / "logs", base_dir=tmp_path)
    rec = TimedRecorder()
    up, migrations, health, smoke, docs = await engine.run_many(checks, rec)
    assert up.status is Status.FAILED and docs.status is Status.PASSED
    assert (migrations.status, migrations.reason) == (
        Status.BLOCKED,
        "not run: dependency steps/compose-up failed",
    )
    assert (health.status, health.reason) == (Status.BLOCKED, "not run: dependency steps/compose-up failed")
    assert (smoke.status, smoke.reason) == (
        Status.BLOCKED,
        "not run: dependency steps/health (health answers) was blocked",
    )
    assert migrations.values == {"blocked_by": "steps/compose-up#0"}
    # never started: no RunBegan, no log, nothing ran
    assert rec.began() == {"steps/compose-up#0", "steps/docs-built#4"}
    assert [e.log for e in rec.ended() if e.outcome.status is Status.BLOCKED] == ["", "", ""]
    assert not list(tmp_path.glob("ran-*"))


async def test_after_waits_for_the_dependency_to_finish_and_runs_when_it_passed(tmp_path: Path) -> None:
    checks = config_checks(
        tmp_path,
        """
        [[check]]
        item = "steps/compose-up"
        kind = "command"
        run = "sleep 0.4"

        [[check]]
        item = "steps/health"
        kind = "command"
        run = "true"
        after = ["steps/compose-up"]
        """,
    )
    rec = TimedRecorder()
    outcomes = await make_engine(tmp_path / "logs").run_many(checks, rec)
    assert [o.status for o in outcomes] == [Status.PASSED, Status.PASSED]
    spans = rec.spans()
    assert spans["steps/health#1"][0] >= spans["steps/compose-up#0"][1]


async def test_a_dependency_outside_the_run_is_judged_by_its_latest_known_status(tmp_path: Path) -> None:
    up, health = config_checks(
        tmp_path,
        """
        [[check]]
        item = "steps/compose-up"
        kind = "command"
        run = "true"

        [[check]]
        item = "steps/health"
        kind = "command"
        run = "true"
        after = ["steps/compose-up"]
        """,
    )
    engine = make_engine(tmp_path / "logs", checks=[up, health])
    failed = await engine.run_check(health, None, TimedRecorder(), known={up.key: Status.FAILED})
    assert (failed.status, failed.reason) == (Status.BLOCKED, "not run: dependency steps/compose-up failed")
    flaky = await engine.run_check(health, None, TimedRecorder(), known={up.key: Status.FLAKY})
    assert flaky.status is Status.PASSED
    never_ran = await engine.run_check(health, None, TimedRecorder())
    assert never_ran.status is Status.PASSED


async def test_an_exclusive_check_runs_alone_and_the_others_still_run_in_parallel(tmp_path: Path) -> None:
    specs = [spec("command", item=f"i{n}", index=n, run="sleep 0.3") for n in range(4)]
    specs.insert(2, spec("command", item="alone", index=9, run="sleep 0.3", schedule={"exclusive": True}))
    rec = TimedRecorder()
    outcomes = await make_engine(tmp_path / "logs", concurrency=8).run_many(specs, rec)
    assert all(o.status is Status.PASSED for o in outcomes)
    spans = rec.spans()
    alone = spans.pop("alone#9")
    assert not [key for key, span in spans.items() if overlap(alone, span)]
    others = list(spans.values())
    assert any(overlap(a, b) for a in others for b in others if a is not b)


async def test_checks_naming_one_resource_never_overlap(tmp_path: Path) -> None:
    specs = [
        spec("command", item=f"db{n}", index=n, run="sleep 0.25", schedule={"resource": "database"})
        for n in range(3)
    ] + [spec("command", item="cache", index=5, run="sleep 0.25", schedule={"resource": "cache"})]
    rec = TimedRecorder()
    await make_engine(tmp_path / "logs", concurrency=8).run_many(specs, rec)
    spans = rec.spans()
    on_db = [spans[f"db{n}#{n}"] for n in range(3)]
    assert not any(overlap(a, b) for a in on_db for b in on_db if a is not b)
    # another resource is not held back
    assert any(overlap(spans["cache#5"], span) for span in on_db)


def test_a_cooldown_lasts_its_own_value_or_the_targets_retry_after_whichever_is_longer() -> None:
    policy = Policy(cooldown=2.0, cool_resources=frozenset({"http://127.0.0.1:80"}), burst=True)
    short = Outcome(Status.PASSED, "rate limited", retry_after=1.0)
    long = Outcome(Status.PASSED, "rate limited", retry_after=8.0)
    assert cooling(policy, short) == {"http://127.0.0.1:80": 2.0}
    assert cooling(policy, long) == {"http://127.0.0.1:80": 8.0}
    # a burst without a cooldown still waits out the target's Retry-After
    assert cooling(Policy(cool_resources=policy.cool_resources, burst=True), long) == {
        "http://127.0.0.1:80": 8.0
    }
    # a plain check leaves no cooldown behind
    assert cooling(Policy(cool_resources=policy.cool_resources), long) == {}
    # nor does a burst whose connection was refused: no limiter counted anything
    refused = Outcome(Status.FAILED, "connection refused", retry_after=8.0, unreached=True)
    assert cooling(policy, refused) == {}


async def test_bursts_at_a_closed_port_owe_no_cooldown(tmp_path: Path) -> None:
    """`deploytui check` with the app down: the second burst does not wait out the first's cooldown
    (the engine's board keeps no cooldown on the origin), and each fails naming the refusal."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/v1/chat/query"
    burst = {"exclusive": True, "cooldown": 600.0}
    specs = [spec("http", item=f"burst{n}", index=n, url=url, burst=5, schedule=burst) for n in range(2)]
    engine = make_engine(tmp_path / "logs")
    outcomes = await asyncio.wait_for(engine.run_many(specs, lambda _event: None), 60)
    assert [o.status for o in outcomes] == [Status.FAILED, Status.FAILED]
    assert all("connection refused" in o.reason for o in outcomes)
    assert all(o.unreached for o in outcomes)
    assert not any(until > 0 for until in engine._board().cool_until.values())


class Kind(CheckKind):
    """A test-only kind ("leaky") that fails quoting a secret, then passes: its attempts keep reasons."""

    name: ClassVar[str] = "leaky"
    fields: ClassVar[frozenset[str]] = frozenset({"marker"})

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        marker = Path(str(spec.params["marker"]))
        if not marker.exists():
            marker.write_text("tried")
            return Outcome.failed(f"rejected token {ctx.lookup('TOKEN')}")
        return Outcome.passed("accepted")


@pytest.fixture
def leaky(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.kind_modules(), "leaky", __name__)


async def test_every_attempts_reason_is_redacted(tmp_path: Path, leaky: None) -> None:
    secret = "tok-9f8e7d6c5b4a-secret"
    engine = make_engine(tmp_path / "logs", secrets={"TOKEN": secret})
    check = spec("leaky", marker=str(tmp_path / "marker"), schedule={"retry": Retry(2, 0.0)})
    outcome = await engine.run_check(check, None, TimedRecorder())
    assert outcome.status is Status.FLAKY
    first = outcome.attempts[0]
    assert first.status is Status.FAILED and first.reason.startswith("rejected token ")
    assert secret not in repr(outcome)
    for log in (tmp_path / "logs").glob("*.log"):
        assert secret not in log.read_text()


async def test_cancelling_a_run_that_waits_for_its_dependency_or_between_attempts_ends_it(
    tmp_path: Path,
) -> None:
    slow = spec("command", item="slow", index=0, run="sleep 30")
    waiting = spec("command", item="waiting", index=1, run="true", schedule={"after": (slow.key,)})
    after_waiting = spec("command", item="last", index=2, run="true", schedule={"after": (waiting.key,)})
    retrying = spec("command", item="retrying", index=3, run="exit 1", schedule={"retry": Retry(5, 30.0)})
    engine = make_engine(tmp_path / "logs")
    rec = TimedRecorder()
    task = asyncio.ensure_future(
        engine.run_many([slow, waiting, after_waiting, retrying], rec, run_ids=["a", "b", "c", "d"])
    )
    deadline = time.monotonic() + 10
    while not any("attempt 2 of 5 in 30s" in line for line in rec.lines("d")):
        assert time.monotonic() < deadline, rec.text()
        await asyncio.sleep(0.02)
    assert engine.cancel("b") and engine.cancel("d")
    assert engine.cancel("a")
    outcomes = await asyncio.wait_for(task, 10)
    assert [o.status for o in outcomes] == [Status.INTERRUPTED, Status.INTERRUPTED, Status.BLOCKED,
                                            Status.INTERRUPTED]
    assert outcomes[1].reason == "cancelled before it started"
    assert outcomes[2].reason == "not run: dependency waiting was interrupted"
    assert [a.status for a in outcomes[3].attempts] == [Status.FAILED, Status.INTERRUPTED]
