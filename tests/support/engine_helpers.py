"""Helpers for tests running checks through the real engine: build a spec, run it, collect events."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from deploytui.core.events import EngineEvent, RunBegan, RunEnded, RunOutput
from deploytui.core.redact import Redactor
from deploytui.core.spec import CheckSpec
from deploytui.core.status import Outcome
from deploytui.engine import Engine


def spec(
    kind: str,
    item: str = "item",
    index: int = 0,
    timeout: float = 10.0,
    schedule: dict[str, Any] | None = None,
    **params: Any,
) -> CheckSpec:
    """A CheckSpec; `schedule`: its order/isolation/time fields (after, exclusive, resource, within...)."""
    return CheckSpec(item=item, kind=kind, index=index, params=params, timeout=timeout, **(schedule or {}))


class Recorder:
    """Collects engine events (an `on_event`)."""

    def __init__(self) -> None:
        self.events: list[EngineEvent] = []

    def __call__(self, event: EngineEvent) -> None:
        self.events.append(event)

    def lines(self, run_id: str | None = None) -> list[str]:
        return [
            line
            for e in self.events
            if isinstance(e, RunOutput) and (run_id is None or e.run_id == run_id)
            for line in e.lines
        ]

    def ended(self) -> list[RunEnded]:
        return [e for e in self.events if isinstance(e, RunEnded)]

    def text(self) -> str:
        return repr(self.events)


class TimedRecorder(Recorder):
    """A Recorder that also notes when each event arrived (the engine delivers RunBegan as a run starts
    and RunEnded as it ends), to assert on the order and overlap of runs."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def __call__(self, event: EngineEvent) -> None:
        self.times.append(time.monotonic())
        super().__call__(event)

    def spans(self) -> dict[str, tuple[float, float]]:
        """check_key -> (began, ended) of every run that started (a key run once per batch)."""
        began: dict[str, float] = {}
        spans: dict[str, tuple[float, float]] = {}
        for at, event in zip(self.times, self.events, strict=True):
            if isinstance(event, RunBegan):
                began[event.run_id] = at
            elif isinstance(event, RunEnded) and event.run_id in began:
                spans[event.check_key] = (began[event.run_id], at)
        return spans

    def began(self) -> set[str]:
        return {e.check_key for e in self.events if isinstance(e, RunBegan)}


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two (start, end) spans share any time."""
    return a[0] < b[1] and b[0] < a[1]


def make_engine(
    log_dir: Path | None = None,
    secrets: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    **kwargs: Any,
) -> Engine:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(secrets or {}), **(env or {})}
    return Engine(redactor=Redactor(secrets or {}), log_dir=log_dir, env=environment, **kwargs)


async def run_one(
    kind: str,
    *,
    tmp_path: Path | None = None,
    secrets: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 10.0,
    **params: Any,
) -> tuple[Outcome, Recorder]:
    """Run one check of `kind` with `params` through a fresh engine; (outcome, recorded events)."""
    engine = make_engine(tmp_path / "logs" if tmp_path else None, secrets, env, base_dir=tmp_path)
    recorder = Recorder()
    outcome = await engine.run_check(spec(kind, timeout=timeout, **params), None, recorder)
    return outcome, recorder
