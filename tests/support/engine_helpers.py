"""Helpers for tests running checks through the real engine: build a spec, run it, collect events."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from deploytui.core.events import EngineEvent, RunEnded, RunOutput
from deploytui.core.redact import Redactor
from deploytui.core.spec import CheckSpec
from deploytui.core.status import Outcome
from deploytui.engine import Engine


def spec(kind: str, item: str = "item", index: int = 0, timeout: float = 10.0, **params: Any) -> CheckSpec:
    return CheckSpec(item=item, kind=kind, index=index, params=params, timeout=timeout)


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
