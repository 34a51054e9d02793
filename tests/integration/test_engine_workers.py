"""Kinds with `process = True` (qdrant, gemini) run in a worker process of the engine's: what holds for
any run (verdicts, masking, timeouts, cancel) holds there, a worker that dies fails its runs with a
reason and is replaced, and none outlives its engine. Real servers on loopback, the real clients."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import time
from pathlib import Path

import pytest

from deploytui.core.events import RunBegan
from deploytui.core.status import Status
from deploytui.engine import Engine
from tests.servers.common import free_port
from tests.servers.containers import GeminiServer, QdrantServer
from tests.support.engine_helpers import Recorder, make_engine, spec

COLLECTION = "worker-docs"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    made = make_engine(tmp_path / "logs", secrets={"COLLECTION_NAME": COLLECTION})
    yield made
    made.close()


def gone(pid: int) -> bool:
    """The process has exited (a zombie its new parent has not reaped yet counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def wait_for(condition, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


def log_text(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in (tmp_path / "logs").rglob("*.log"))


async def test_qdrant_passes_and_fails_in_its_worker_with_output_masked(
    engine: Engine, qdrant_server: QdrantServer, tmp_path: Path
) -> None:
    qdrant_server.create_collection(COLLECTION, points=12, size=4)
    recorder = Recorder()
    good = spec(
        "qdrant", url=qdrant_server.url, api_key=qdrant_server.api_key, collection="${COLLECTION_NAME}"
    )
    outcome = await engine.run_check(good, "q-1", recorder)
    assert outcome.status is Status.PASSED, outcome.reason
    assert "qdrant" in engine.workers.pids
    # The collection's name is a secret: the worker's emitted lines reach the display and the log masked.
    lines = recorder.lines("q-1")
    assert any("collection [secret:COLLECTION_NAME]: 12 points" in line for line in lines), lines
    assert COLLECTION not in repr(recorder.events) and COLLECTION not in log_text(tmp_path)

    too_many = spec(
        "qdrant",
        index=1,
        url=qdrant_server.url,
        api_key=qdrant_server.api_key,
        collection="${COLLECTION_NAME}",
        points_min=13,
    )
    outcome = await engine.run_check(too_many, "q-2", recorder)
    assert outcome.status is Status.FAILED
    assert outcome.reason == "collection '[secret:COLLECTION_NAME]' has too few points: 12, expected >= 13"


async def test_gemini_runs_concurrently_in_one_worker(engine: Engine, gemini_factory) -> None:  # type: ignore[no-untyped-def]
    slow: GeminiServer = gemini_factory(delay=1.0)
    specs = [
        spec("gemini", item=f"g{n}", api_key=slow.api_key, model=slow.model, base_url=slow.url)
        for n in range(3)
    ]
    await engine.workers.ready("gemini")
    started = time.monotonic()
    outcomes = await engine.run_many(specs, Recorder())
    took = time.monotonic() - started
    assert [o.status for o in outcomes] == [Status.PASSED] * 3, [o.reason for o in outcomes]
    assert took < 2.5, f"three 1 s answers took {took:.1f} s: not concurrent in the worker"
    assert list(engine.workers.pids) == ["gemini"]


async def test_slow_gemini_times_out_with_the_kinds_reason(engine: Engine, gemini_factory) -> None:  # type: ignore[no-untyped-def]
    slow: GeminiServer = gemini_factory(delay=5.0)
    outcome = await engine.run_check(
        spec("gemini", timeout=1.0, api_key=slow.api_key, model=slow.model, base_url=slow.url),
        None,
        Recorder(),
    )
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"Gemini API at {slow.url} did not answer within 900ms (trying to get model)"


async def test_cancel_stops_the_run_in_the_worker_which_lives_on(
    engine: Engine, silent_port: int, gemini_server: GeminiServer
) -> None:
    recorder = Recorder()
    hung = spec(
        "gemini", timeout=60.0, api_key="AIzaSomething1234", base_url=f"http://127.0.0.1:{silent_port}"
    )
    task = asyncio.ensure_future(engine.run_check(hung, "g-hung", recorder))
    await wait_for(lambda: any(isinstance(e, RunBegan) for e in recorder.events))
    await asyncio.sleep(0.3)  # the request is in the worker, waiting on the silent socket
    pid = engine.workers.pids["gemini"]
    started = time.monotonic()
    assert engine.cancel("g-hung")
    outcome = await task
    assert outcome.status is Status.INTERRUPTED and outcome.reason == "cancelled by the operator"
    assert time.monotonic() - started < 1.5
    assert engine.workers.pids["gemini"] == pid  # the worker confirmed; it was not killed
    good = spec("gemini", index=1, api_key=gemini_server.api_key, base_url=gemini_server.url)
    assert (await engine.run_check(good, None, Recorder())).status is Status.PASSED


async def test_a_killed_worker_fails_its_run_and_the_next_run_starts_a_fresh_one(
    engine: Engine, silent_port: int, qdrant_server: QdrantServer
) -> None:
    recorder = Recorder()
    hung = spec("qdrant", timeout=60.0, url=f"http://127.0.0.1:{silent_port}")
    task = asyncio.ensure_future(engine.run_check(hung, "q-hung", recorder))
    await wait_for(lambda: any(isinstance(e, RunBegan) for e in recorder.events))
    pid = engine.workers.pids["qdrant"]
    os.kill(pid, signal.SIGKILL)
    outcome = await asyncio.wait_for(task, 10)
    assert outcome.status is Status.ERROR
    assert outcome.reason == "qdrant worker exited (signal 9)"

    good = spec("qdrant", index=1, url=qdrant_server.url, api_key=qdrant_server.api_key)
    outcome = await engine.run_check(good, None, Recorder())
    assert outcome.status is Status.PASSED, outcome.reason
    assert engine.workers.pids["qdrant"] != pid


async def test_a_worker_traceback_becomes_a_one_line_reason(engine: Engine, tmp_path: Path) -> None:
    # An interpreter that dies as a worker whose start-up raised: its stderr is kept, never shown raw.
    crashing = tmp_path / "python"
    crashing.write_text(
        "#!/bin/sh\n"
        "echo 'Traceback (most recent call last):' >&2\n"
        "echo '  File \"worker.py\", line 1, in <module>' >&2\n"
        "echo 'RuntimeError: the client cannot start' >&2\n"
        "exit 1\n"
    )
    crashing.chmod(crashing.stat().st_mode | stat.S_IXUSR)
    engine.workers.python = str(crashing)
    url = f"http://127.0.0.1:{free_port()}"
    outcome = await engine.run_check(spec("qdrant", url=url), None, Recorder())
    assert outcome.status is Status.ERROR
    assert outcome.reason == "qdrant worker exited (exit code 1): RuntimeError: the client cannot start"


async def test_a_worker_that_cannot_start_runs_the_kind_in_process(engine: Engine, tmp_path: Path) -> None:
    engine.workers.python = str(tmp_path / "no-such-python")
    url = f"http://127.0.0.1:{free_port()}"
    recorder = Recorder()
    outcome = await engine.run_check(spec("qdrant", url=url), "q-local", recorder)
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"Qdrant unreachable: connection refused by {url}"
    said = [line for line in recorder.lines("q-local") if "worker could not start" in line]
    assert said and said[0].startswith("qdrant worker could not start (FileNotFoundError"), said
    assert said[0].endswith("): running in this process")
    assert "qdrant worker could not start" in log_text(tmp_path)


async def test_no_worker_outlives_its_engine(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "logs")
    url = f"http://127.0.0.1:{free_port()}"
    specs = [
        spec("qdrant", item="q", url=url),
        spec("gemini", item="g", api_key="AIzaSomething1234", base_url=url),
    ]
    outcomes = await engine.run_many(specs, Recorder())
    assert [o.status for o in outcomes] == [Status.FAILED, Status.FAILED]
    pids = engine.workers.pids
    assert sorted(pids) == ["gemini", "qdrant"]
    engine.close()
    assert all(gone(pid) for pid in pids.values()), pids
    assert engine.workers.pids == {}


PARENT = r"""
import asyncio, sys
from deploytui.engine import Engine

async def start() -> None:
    engine = Engine()
    await engine.workers.ready("qdrant")
    print(engine.workers.pids["qdrant"], flush=True)
    await asyncio.sleep(600)

asyncio.run(start())
"""


def test_a_worker_exits_when_its_engines_process_is_killed(tmp_path: Path) -> None:
    # SIGKILL leaves the engine no chance to close anything: the worker's stdin ends, so it exits.
    import subprocess
    import sys

    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert parent.stdout is not None
        worker_pid = int(parent.stdout.readline())
        assert not gone(worker_pid)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while not gone(worker_pid):
            assert time.monotonic() < deadline, "the worker outlived its engine's process"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
