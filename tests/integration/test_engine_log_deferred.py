"""When a run's log file is created: a check's once its work is under way (BATCH_SECONDS after it starts,
at its first batch of output, or at its end), so fifty checks at once do not pay fifty file creations
before their first request; a world-changing step's before its process starts (its evidence)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

import pytest

from deploytui.checks import registry
from deploytui.checks.base import CheckKind
from deploytui.core.checklist import Action
from deploytui.core.events import EngineEvent, RunEnded
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Status
from deploytui.engine import Engine
from deploytui.engine.runner import BATCH_SECONDS

SEEN: dict[str, str | None] = {}
"""What the probe kind found in its own log: at its start, and once it has waited."""


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


class Kind(CheckKind):
    """A test-only kind (registered as "logprobe"): looks at its own run's log file while it runs."""

    name: ClassVar[str] = "logprobe"
    fields: ClassVar[frozenset[str]] = frozenset({"log", "wait"})

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        log = Path(spec.params["log"])
        SEEN["start"] = _read(log)
        wait = float(spec.params.get("wait", 0))
        if wait:
            deadline = asyncio.get_running_loop().time() + wait
            while _read(log) is None and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            SEEN["waited"] = _read(log)
        ctx.emit("probe output")
        return Outcome.passed("looked")


@pytest.fixture(autouse=True)
def logprobe(monkeypatch: pytest.MonkeyPatch) -> None:
    SEEN.clear()
    monkeypatch.setitem(registry.kind_modules(), "logprobe", __name__)


def _probe(log: Path, wait: float) -> CheckSpec:
    return CheckSpec(item="probe/item", kind="logprobe", index=0, params={"log": str(log), "wait": wait})


def test_a_checks_log_appears_while_it_runs_with_its_header_and_ends_whole(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    engine = Engine(log_dir=logs, base_dir=tmp_path)
    log = logs / "r1.log"
    outcome = asyncio.run(engine.run_check(_probe(log, 5.0), "r1", lambda event: None))
    assert outcome.status is Status.PASSED, outcome.reason
    # Not created before the check's own work began ...
    assert SEEN["start"] is None
    # ... but within BATCH_SECONDS of it, header first, while the check still runs (a kill -9 then
    # leaves a log that names the run).
    waited = SEEN["waited"]
    assert waited is not None and waited.startswith("# deploytui run r1: probe/item")
    assert "# started " in waited
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines[0] == waited.splitlines()[0]
    assert "probe output" in lines
    assert lines[-1].startswith("# passed: looked (")


def test_a_check_shorter_than_a_batch_still_leaves_a_whole_log(tmp_path: Path) -> None:
    engine = Engine(log_dir=tmp_path / "logs", base_dir=tmp_path)  # the directory is made when missing
    log = tmp_path / "logs" / "r1.log"
    outcome = asyncio.run(engine.run_check(_probe(log, 0), "r1", lambda event: None))
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.duration_ms < BATCH_SECONDS * 1000 * 20  # quick, whatever the machine
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# deploytui run r1: probe/item")
    assert lines[-2:] == ["probe output", lines[-1]] and lines[-1].startswith("# passed: looked")


def test_a_world_changing_steps_log_exists_before_its_process_starts(tmp_path: Path) -> None:
    engine = Engine(log_dir=tmp_path / "logs", base_dir=tmp_path)
    # The step itself looks: its own log must already hold the header when its process runs.
    action = Action("deploy/step", 0, "bash", 'grep -q "^# deploytui run r2:" logs/r2.log && echo found\n', 2)
    outcome = asyncio.run(engine.run_action("deploy/step", action, "r2", lambda event: None))
    assert outcome.status is Status.PASSED, outcome.reason
    assert "found" in (tmp_path / "logs" / "r2.log").read_text(encoding="utf-8").splitlines()


def test_a_log_that_cannot_be_created_ends_the_check_in_error_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("a file where the logs directory should be\n", encoding="utf-8")
    engine = Engine(log_dir=tmp_path / "logs", base_dir=tmp_path)
    ended: list[RunEnded] = []

    def on_event(event: EngineEvent) -> None:
        if isinstance(event, RunEnded):
            ended.append(event)

    outcome = asyncio.run(engine.run_check(_probe(tmp_path / "nowhere.log", 0), "r1", on_event))
    assert outcome.status is Status.ERROR
    assert "logs" in outcome.reason and "\n" not in outcome.reason
    assert "Traceback" not in outcome.reason
    assert [e.log for e in ended] == [""]  # no log to point at
