"""Run a kind both ways it runs in deploytui: in this process, and in its worker process.

A kind with `process = True` (qdrant, gemini) runs in a worker process of the engine's
(deploytui/engine/workers.py); its tests take the `run_kind` fixture, parametrized over both, so every
reason they assert holds whichever way the engine runs it:

    async def test_x(run_kind: KindRunner) -> None:
        outcome = await run_kind(spec(...), ctx())
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import pytest

from deploytui.checks.registry import get_kind
from deploytui.core.redact import Redactor
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome
from deploytui.engine.workers import WorkerPool

KindRunner = Callable[[CheckSpec, CheckContext], Awaitable[Outcome]]


@pytest.fixture(scope="module")
def worker_pool() -> Iterator[WorkerPool]:
    """One pool for a test module: its workers start once (their imports take seconds)."""
    pool = WorkerPool(Redactor())
    yield pool
    pool.close()


@pytest.fixture(params=["in-process", "worker"])
def run_kind(request: pytest.FixtureRequest, worker_pool: WorkerPool) -> KindRunner:
    """`await run_kind(spec, ctx)`: the spec's kind run in this process, or through its worker."""

    async def in_process(spec: CheckSpec, ctx: CheckContext) -> Outcome:
        return await get_kind(spec.kind)().run(spec, ctx)

    async def in_worker(spec: CheckSpec, ctx: CheckContext) -> Outcome:
        outcome = await worker_pool.run(spec.kind, spec, ctx)
        assert outcome is not None, worker_pool.failure(spec.kind)
        return outcome

    return in_process if request.param == "in-process" else in_worker
