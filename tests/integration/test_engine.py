"""The engine's guarantees: concurrency, timeout, cancellation, batching, redaction, errors as statuses."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from deploytui.checks import registry
from deploytui.checks.base import CheckKind
from deploytui.core.events import RunBegan, RunEnded, RunOutput
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Status
from deploytui.engine import BATCH_LINES, DISPLAY_LINE_CHARS, Engine
from tests.servers.target_app import HOSTILE_BYTES, HungServer, TargetServer
from tests.support.engine_helpers import Recorder, make_engine, spec


class Kind(CheckKind):
    """A test-only kind (registered as "misbehaving") that fails in the ways a buggy kind could."""

    name: ClassVar[str] = "misbehaving"
    fields: ClassVar[frozenset[str]] = frozenset({"mode"})

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        mode = spec.params["mode"]
        if mode == "raise":
            raise RuntimeError("driver exploded\nwith a second line and " + ctx.lookup("TOKEN"))
        if mode == "slow_cleanup":
            try:
                await asyncio.sleep(3600)
            finally:
                await asyncio.sleep(30)  # a cleanup that ignores the first cancellation
        if mode == "not_outcome":
            return "passed"  # type: ignore[return-value]
        if mode == "leak":
            secret = ctx.lookup("TOKEN")
            ctx.emit(f"token is {secret}")
            return Outcome.failed(f"bad token {secret}", f"evidence {secret}", token=secret)
        raise AssertionError(mode)


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (an orphan may wait for its reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def misbehaving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.kind_modules(), "misbehaving", __name__)


async def test_concurrency_limit_bounds_simultaneous_runs(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, concurrency=2)
    running = 0
    peak = 0

    def on_event(event: Any) -> None:
        nonlocal running, peak
        if isinstance(event, RunBegan):
            running += 1
            peak = max(peak, running)
        elif isinstance(event, RunEnded):
            running -= 1

    specs = [spec("command", item=f"i{n}", index=n, run="sleep 0.3") for n in range(6)]
    started = time.monotonic()
    outcomes = await engine.run_many(specs, on_event)
    elapsed = time.monotonic() - started
    assert [o.status for o in outcomes] == [Status.PASSED] * 6
    assert peak == 2
    assert elapsed >= 0.85  # three waves of two


async def test_timeout_fails_the_check_and_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    engine = make_engine(tmp_path)
    recorder = Recorder()
    started = time.monotonic()
    outcome = await engine.run_check(
        spec("command", run=f"sleep 60 & echo $! > {pidfile}; wait", timeout=0.5), "r1", recorder
    )
    assert time.monotonic() - started < 3
    assert outcome.status is Status.FAILED
    assert outcome.reason == "timed out after 500ms"
    child = int(pidfile.read_text())
    await asyncio.sleep(0.1)
    assert not alive(child)
    assert recorder.ended()[0].outcome.reason == "timed out after 500ms"


async def test_timeout_reason_uses_whole_seconds(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    outcome = await engine.run_check(spec("command", run="sleep 30", timeout=1.0), None, Recorder())
    assert outcome.reason == "timed out after 1s"


async def test_a_kind_with_a_hanging_cleanup_still_ends_near_its_timeout(
    tmp_path: Path, misbehaving: None
) -> None:
    engine = make_engine(tmp_path)
    started = time.monotonic()
    outcome = await engine.run_check(spec("misbehaving", mode="slow_cleanup", timeout=0.3), None, Recorder())
    assert outcome.status is Status.FAILED and outcome.reason == "timed out after 300ms"
    assert time.monotonic() - started < 4


async def test_exception_in_a_kind_is_an_error_status_with_one_redacted_line(
    tmp_path: Path, misbehaving: None
) -> None:
    engine = make_engine(tmp_path, secrets={"TOKEN": "tok-5ecret-value"})
    outcome = await engine.run_check(spec("misbehaving", mode="raise"), None, Recorder())
    assert outcome.status is Status.ERROR
    assert outcome.reason.startswith("RuntimeError: driver exploded with a second line")
    assert "\n" not in outcome.reason and "tok-5ecret-value" not in outcome.reason
    assert "[secret:TOKEN]" in outcome.reason


async def test_a_kind_returning_garbage_is_an_error(tmp_path: Path, misbehaving: None) -> None:
    outcome = await make_engine(tmp_path).run_check(spec("misbehaving", mode="not_outcome"), None, Recorder())
    assert outcome.status is Status.ERROR and "not an Outcome" in outcome.reason


async def test_missing_variable_is_error_naming_it(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, env={"DATABASE_URL": ""})
    outcome = await engine.run_check(spec("command", run="echo ${DATABASE_URL}"), None, Recorder())
    assert (outcome.status, outcome.reason) == (Status.ERROR, "DATABASE_URL is not set")


async def test_variable_default_syntax_and_environment_override(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, env={"GREETING": "from-env"})
    rec = Recorder()
    command = "echo ${GREETING:-dflt} ${OTHER_UNSET_VAR:-fallback}"
    await engine.run_check(spec("command", run=command), None, rec)
    assert rec.lines() == ["from-env fallback"]


async def test_secrets_are_masked_in_events_outcome_and_log(tmp_path: Path, misbehaving: None) -> None:
    secret = "tok-5ecret-value"
    engine = make_engine(tmp_path / "logs", secrets={"TOKEN": secret})
    rec = Recorder()
    outcome = await engine.run_check(spec("misbehaving", mode="leak"), "leak1", rec)
    assert outcome.reason == "bad token [secret:TOKEN]"
    assert outcome.values == {"token": "[secret:TOKEN]"}
    assert secret not in outcome.evidence and "[secret:TOKEN]" in outcome.evidence
    assert secret not in rec.text()
    log = (tmp_path / "logs" / "leak1.log").read_text()
    assert "token is [secret:TOKEN]" in log and secret not in log
    # the command kind too: its output, with the secret passed to the process in its environment
    rec2 = Recorder()
    out2 = await engine.run_check(spec("command", run="echo $TOKEN; exit 1"), "leak2", rec2)
    assert rec2.lines() == ["[secret:TOKEN]"]
    assert secret not in rec2.text() and secret not in repr(out2)
    assert secret not in (tmp_path / "logs" / "leak2.log").read_text()


async def test_output_is_batched_and_the_log_keeps_everything(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    rec = Recorder()
    outcome = await engine.run_check(spec("command", run="seq 1 20000"), "flood", rec)
    assert outcome.status is Status.PASSED
    batches = [e for e in rec.events if isinstance(e, RunOutput)]
    assert sum(len(b.lines) for b in batches) == 20000
    assert all(len(b.lines) <= BATCH_LINES for b in batches)
    assert len(batches) <= 40  # never one event per line
    log_lines = (tmp_path / "flood.log").read_text().splitlines()
    assert [line for line in log_lines if not line.startswith("#")] == [str(n) for n in range(1, 20001)]
    assert outcome.evidence.splitlines() == [str(n) for n in range(19981, 20001)]


async def test_slow_output_arrives_while_the_process_runs(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    arrivals: list[float] = []

    def on_event(event: Any) -> None:
        if isinstance(event, RunOutput):
            arrivals.append(time.monotonic())

    await engine.run_check(spec("command", run="echo one; sleep 0.5; echo two"), None, on_event)
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.4  # the first line was delivered before the process ended


async def test_hostile_output_is_cleaned_for_display_and_whole_in_the_log(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.bin"
    hostile.write_bytes(HOSTILE_BYTES + b"L" * (10 * 1024 * 1024) + b"\ntail line\n")
    engine = make_engine(tmp_path / "logs")
    rec = Recorder()
    outcome = await engine.run_check(spec("command", run=f"cat {hostile}", timeout=30), "hostile", rec)
    assert outcome.status is Status.PASSED
    shown = rec.lines()
    assert "red alert" in shown[0] and "progress 100%" in shown
    assert any("invalid utf8 \ufffd" in line for line in shown)
    for line in shown:
        assert "\x1b" not in line and "\x00" not in line and "\x07" not in line and "\r" not in line
        assert len(line) <= DISPLAY_LINE_CHARS + 40
    assert shown[-1] == "tail line"
    assert "\x1b" not in outcome.evidence and "\x00" not in outcome.evidence
    log = (tmp_path / "logs" / "hostile.log").read_text(encoding="utf-8")
    assert "L" * (10 * 1024 * 1024) in log  # the full line, in the log only


async def test_cancel_one_run_leaves_the_others(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    rec = Recorder()
    specs = [
        spec("command", item="long", index=0, run="sleep 30"),
        spec("command", item="quick", index=1, run="sleep 0.2"),
    ]
    task = asyncio.ensure_future(engine.run_many(specs, rec, run_ids=["long-run", "quick-run"]))
    while "long-run" not in engine.running:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert engine.cancel("long-run") is True
    long_outcome, quick_outcome = await asyncio.wait_for(task, 5)
    assert long_outcome.status is Status.INTERRUPTED
    assert quick_outcome.status is Status.PASSED
    ended = {e.run_id: e for e in rec.ended()}
    assert ended["long-run"].cancelled and not ended["quick-run"].cancelled
    assert engine.cancel("long-run") is False


async def test_cancel_group_and_cancel_all(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, concurrency=2)
    rec = Recorder()
    group_a = asyncio.ensure_future(
        engine.run_many([spec("command", index=n, run="sleep 30") for n in range(3)], rec, group="a")
    )
    group_b = asyncio.ensure_future(
        engine.run_many([spec("command", index=n, run="sleep 30") for n in range(2)], rec, group="b")
    )
    await asyncio.sleep(0.3)
    assert engine.cancel_group("a") == 3  # running and queued alike
    outcomes_a = await asyncio.wait_for(group_a, 5)
    assert all(o.status is Status.INTERRUPTED for o in outcomes_a)
    assert not group_b.done()
    assert engine.cancel_all() == 2
    outcomes_b = await asyncio.wait_for(group_b, 5)
    assert all(o.status is Status.INTERRUPTED for o in outcomes_b)


async def test_cancelling_the_caller_stops_the_process(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    engine = make_engine(tmp_path)
    rec = Recorder()
    task = asyncio.ensure_future(
        engine.run_check(spec("command", run=f"echo $$ > {pidfile}; exec sleep 30"), "c", rec)
    )
    while not pidfile.exists() or not pidfile.read_text().strip():
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.2)
    assert not alive(int(pidfile.read_text()))
    assert rec.ended() and rec.ended()[0].cancelled


async def test_a_hung_server_fails_at_the_timeout_while_the_others_finish(
    tmp_path: Path, hung_server: HungServer, target_app: TargetServer
) -> None:
    engine = make_engine(tmp_path)
    finished: dict[str, float] = {}
    started = time.monotonic()

    def on_event(event: Any) -> None:
        if isinstance(event, RunEnded):
            finished[event.item] = time.monotonic() - started

    specs = [
        spec("http", item="hung", index=0, url=hung_server.url + "/api/v1/health", timeout=1.5),
        spec("http", item="ok1", index=1, url=target_app.url + "/api/v1/health"),
        spec("command", item="ok2", index=2, run="echo fine"),
        spec("http", item="hang-endpoint", index=3, url=target_app.url + "/misbehave/hang", timeout=1.5),
    ]
    outcomes = await engine.run_many(specs, on_event)
    assert [o.status for o in outcomes] == [Status.FAILED, Status.PASSED, Status.PASSED, Status.FAILED]
    assert outcomes[0].reason == outcomes[3].reason == "timed out after 1.5s"
    assert finished["ok1"] < 1.0 and finished["ok2"] < 1.0
    assert 1.4 < finished["hung"] < 4


@dataclass
class _Action:
    node_id: str
    index: int
    lang: str
    code: str
    line: int = 1


async def test_run_action_streams_and_reports_exit_code(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, secrets={"DB_PASSWORD": "pw-very-secret"})
    action = _Action("deploy/backup", 0, "bash", 'echo "dumping with $DB_PASSWORD"\nexit 3')
    assert engine.describe_action(action) == 'bash: echo "dumping with $DB_PASSWORD"\nexit 3'
    rec = Recorder()
    outcome = await engine.run_action("deploy/backup", action, "act1", rec)
    assert outcome.status is Status.FAILED and outcome.values["exit_code"] == 3
    ended = rec.ended()[0]
    assert ended.action and ended.exit_code == 3 and ended.check_key == "deploy/backup!action0"
    assert rec.lines() == ["dumping with [secret:DB_PASSWORD]"]


async def test_a_flood_of_output_calls_the_engines_pause_between_chunks(tmp_path: Path) -> None:
    """The TUI's engine thread naps through a flood (core.threads.sharing) so that keys get the GIL: the
    engine hands its `pause` to every run, and a command's or a fenced block's output calls it after each
    chunk read. Headless, the pause does nothing."""
    pauses: list[int] = []
    engine = make_engine(tmp_path, pause=lambda: pauses.append(1))
    assert engine.context().pause is engine.pause
    action = _Action("deploy/flood", 0, "bash", "seq 1 100000")
    rec = Recorder()
    outcome = await engine.run_action("deploy/flood", action, "act1", rec)
    assert outcome.status is Status.PASSED and len(rec.lines()) == 100_000
    assert len(pauses) >= 20  # ~590 KB of output in 16 KiB chunks
    pauses.clear()
    checked = await engine.run_check(spec("command", run="seq 1 100000"), None, Recorder())
    assert checked.status is Status.PASSED and len(pauses) >= 20
    assert make_engine(tmp_path).context().pause() is None  # headless: no nap


async def test_describe_action_masks_secrets_written_in_the_block(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, secrets={"DB_PASSWORD": "pw-very-secret"})
    action = _Action("n", 0, "sh", "psql postgresql://app:pw-very-secret@db/prod -c 'select 1'")
    assert "pw-very-secret" not in engine.describe_action(action)
    assert "[secret:DB_PASSWORD]" in engine.describe_action(action)
    assert "cannot run" in engine.describe_action(_Action("n", 0, "rust", "fn main() {}"))


async def test_describe_substitutes_and_masks(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, secrets={"DATABASE_URL": "postgresql://u:pw-very-secret@h/db"})
    text = engine.describe(spec("command", run="pg_isready -d ${DATABASE_URL}"))
    assert text == "$ pg_isready -d [secret:DATABASE_URL]"
    assert "UNSET_THING is not set" in engine.describe(spec("command", run="echo ${UNSET_THING}"))


async def test_unknown_kind_is_an_error_not_a_crash(tmp_path: Path) -> None:
    outcome = await make_engine(tmp_path).run_check(spec("no-such-kind"), None, Recorder())
    assert outcome.status is Status.ERROR and "unknown kind" in outcome.reason


async def test_a_failing_event_consumer_does_not_break_the_run(tmp_path: Path) -> None:
    def broken(event: Any) -> None:
        raise ValueError("consumer bug")

    outcome = await make_engine(tmp_path).run_check(spec("command", run="echo hi"), None, broken)
    assert outcome.status is Status.PASSED


def test_engine_defaults() -> None:
    engine = Engine()
    assert engine.concurrency == 8 and engine.default_timeout == 10.0


def _fresh_python(script: str, *args: str, cwd: Path) -> str:
    """What `script` prints (stripped), run in a fresh interpreter that sees only the repository."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True, text=True, timeout=120, cwd=cwd,
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


CLIENTS_FIRST = r"""
import asyncio, sys, tempfile
from deploytui.core.events import RunBegan
from deploytui.core.spec import CheckSpec
from deploytui.engine import Engine

closed = sys.argv[1]
specs = [
    CheckSpec(item="a", kind="http", index=0, params={"url": f"http://127.0.0.1:{closed}/", "expect": {}}),
    CheckSpec(item="b", kind="qdrant", index=0, params={"url": f"http://127.0.0.1:{closed}"}),
    CheckSpec(item="c", kind="gemini", index=0,
              params={"api_key": "AIzaTest", "base_url": f"http://127.0.0.1:{closed}/"}),
]
began = {}

def on_event(event):
    if isinstance(event, RunBegan):
        began[event.item] = {m for m in ("aiohttp", "qdrant_client", "google.genai") if m in sys.modules}

with tempfile.TemporaryDirectory() as logs:
    asyncio.run(Engine(concurrency=8, log_dir=logs).run_many(specs, on_event))
print(sorted((item, sorted(mods)) for item, mods in began.items()))
"""


def test_no_check_with_a_client_starts_while_a_client_is_being_imported(tmp_path: Path) -> None:
    # A fresh interpreter: a client import holds the GIL (aiohttp ~0.15 s, qdrant_client and google.genai
    # seconds), and an HTTP (or Redis, ...) check timed meanwhile measured the import as its target's
    # latency. Every check with a client begins only once the batch's in-process clients are imported;
    # qdrant and gemini load theirs in their worker processes, never in this one.
    from tests.servers.common import free_port

    out = _fresh_python(CLIENTS_FIRST, str(free_port()), cwd=tmp_path)
    assert out == str([("a", ["aiohttp"]), ("b", ["aiohttp"]), ("c", ["aiohttp"])])


ONE_HTTP_STACK = r"""
import asyncio, sys, tempfile
from deploytui.core.redact import Redactor
from deploytui.core.spec import CheckSpec
from deploytui.engine import Engine

url = f"http://127.0.0.1:{sys.argv[1]}"
specs = [
    CheckSpec(item="a", kind="http", index=0, params={"url": f"{url}/health", "expect": {}}),
    CheckSpec(item="b", kind="prometheus", index=0, params={"url": url, "query": "up"}),
    CheckSpec(item="c", kind="webhook", index=0, params={"url": f"{url}/hook"}),
    CheckSpec(item="d", kind="secrets_exposure", index=0, params={"urls": [f"{url}/health"]}),
]
with tempfile.TemporaryDirectory() as logs:
    engine = Engine(concurrency=8, log_dir=logs, redactor=Redactor({"API_KEY": "k-0123456789abcdef"}))
    outcomes = asyncio.run(engine.run_many(specs, lambda event: None))
print([o.reason for o in outcomes])
print(sorted(m for m in ("httpx", "httpcore", "anyio", "aiohttp") if m in sys.modules))
"""


def test_the_kinds_that_speak_http_share_one_client_library(tmp_path: Path) -> None:
    # http, webhook, prometheus and secrets_exposure all go through aiohttp: a headless run imported
    # httpx as well (~0.15 s of CPU, with its command-line client's rich and click) for two of them.
    from tests.servers.common import free_port

    port = free_port()
    out = _fresh_python(ONE_HTTP_STACK, str(port), cwd=tmp_path)
    reasons, modules = out.splitlines()
    refused = f"connection refused by 127.0.0.1:{port}"
    assert reasons == str([refused, refused, refused, f"connection refused by http://127.0.0.1:{port}/health"])
    assert modules == str(["aiohttp"])


FROZEN_AFTER_IMPORT = r"""
import asyncio, gc, sys, tempfile
from deploytui.core.spec import CheckSpec
from deploytui.engine import Engine

assert "aiohttp" not in sys.modules
url = f"http://127.0.0.1:{sys.argv[1]}/"
spec = CheckSpec(item="a", kind="http", index=0, params={"url": url, "expect": {}})
with tempfile.TemporaryDirectory() as logs:
    asyncio.run(Engine(concurrency=8, log_dir=logs).run_many([spec], lambda event: None))
import aiohttp
tracked = {id(o) for o in gc.get_objects()}
# The module's namespace and its classes were made by the import: frozen, a full collection skips them.
print(id(vars(aiohttp)) in tracked, id(aiohttp.ClientSession) in tracked, gc.get_freeze_count() > 10000)
"""


def test_what_a_client_import_made_is_frozen_out_of_the_collectors_sight(tmp_path: Path) -> None:
    # A full collection inside a batch walked everything aiohttp's import made: 23 ms of a 50-check run
    # of ~320 ms (benchmarks/bench_parallel_http.py). In a fresh interpreter, so that the engine imports it.
    from tests.servers.common import free_port

    out = _fresh_python(FROZEN_AFTER_IMPORT, str(free_port()), cwd=tmp_path)
    assert out == "False False True"


WORKER_FROZEN = r"""
import gc, sys
from deploytui.checks.worker import _load

assert "redis" not in sys.modules
kind, problem = _load("redis")
import redis
tracked = {id(o) for o in gc.get_objects()}
print(problem == "", id(vars(redis)) in tracked, id(redis.Redis) in tracked)
"""


def test_a_check_workers_clients_are_frozen_once_loaded(tmp_path: Path) -> None:
    # A worker process (qdrant, gemini: the largest client heaps) loads its kind's clients once; a full
    # collection walking them during a check would count as the target's latency.
    out = _fresh_python(WORKER_FROZEN, cwd=tmp_path)
    assert out == "True False False"
