"""Child process for tests/integration/test_faults_targets.py: runs one check through the engine and
reports how much its peak RSS grew (ru_maxrss after a warm-up run of the same kind, so imports and pools
are not counted).

Usage: rss_child.py KIND JSON_PARAMS TIMEOUT  ->  prints one JSON line {"status", "reason", "growth_mb"}
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from deploytui.core.events import EngineEvent, RunOutput
from deploytui.core.status import Outcome
from tests.support.engine_helpers import make_engine, spec


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(kind: str, tmp: Path, timeout: float, params: dict[str, object]) -> Outcome:
    """One run whose consumer only counts lines (as the TUI's bounded buffer would keep few)."""
    engine = make_engine(tmp / "logs", base_dir=tmp)
    lines = 0

    def on_event(event: EngineEvent) -> None:
        nonlocal lines
        if isinstance(event, RunOutput):
            lines += len(event.lines)

    return await engine.run_check(spec(kind, timeout=timeout, **params), None, on_event)


async def main() -> None:
    kind, params, timeout = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
    warm = json.loads(sys.argv[4]) if len(sys.argv) > 4 else params
    with tempfile.TemporaryDirectory() as tmp:
        await run(kind, Path(tmp), timeout, warm)
        before = peak_mb()
        started = time.monotonic()
        outcome = await run(kind, Path(tmp), timeout, params)
        seconds = time.monotonic() - started
        growth = peak_mb() - before
        logs = sum(p.stat().st_size for p in Path(tmp).rglob("*.log"))
    print(
        json.dumps(
            {
                "status": outcome.status.value,
                "reason": outcome.reason,
                "growth_mb": round(growth, 1), "seconds": round(seconds, 2),
                "log_bytes": logs,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
