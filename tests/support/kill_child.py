"""Fork server for tests/integration/test_kill_resume.py: each child resumes a session and runs real
checks and a world-changing step until killed.

Usage: kill_child.py STORE SESSION_ID

STORE is a sessions dir or a PostgreSQL URL (`services.sessions.open_store`, as every command takes it).
The parent process imports everything once and opens no connection, then for each `go` line on stdin
forks a child and prints `pid N`; when that child dies it prints `reaped N STATUS`. A fork costs
milliseconds where a fresh interpreter costs ~0.3 s, so a hundred kills fit in seconds.

Each child opens the session for write (the `--resume` path: replay, running checks and actions marked
interrupted, stale temp files removed) and then, until it is SIGKILLed, runs `command` checks through the
real engine (RunStarted / RunFinished applied exactly as `deploytui check` applies them, logs under the
session's logs/ dir) and the "Stream" item's fenced block as `deploytui run` runs it (ActionStarted before
it is spawned; it prints `<n>` every 5 ms until its parent dies), while ticking, skipping, unticking and
noting the manual items. After each `LiveSession.apply` returns (the change is acknowledged), it prints
`ack SEQ TYPE ITEM LOG SIZE` in one write: LOG is the running step's log (`-` before it started) and SIZE
the bytes that log held when the change was applied, which the store must hold once it is acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import deploytui.checks.kinds.command  # noqa: F401 - imported once here, not in every forked child
import deploytui.storage.postgres  # noqa: F401
from deploytui.core.checklist import parse_checklist
from deploytui.core.errors import DeployError
from deploytui.core.events import EngineEvent, RunBegan, RunEnded, action_key
from deploytui.core.session import AddNote, RunFinished, RunStarted, Skip, Tick, Untick, encode
from deploytui.core.spec import CheckSpec
from deploytui.core.status import Status
from deploytui.engine import Engine, new_run_id
from deploytui.services.actions import Step, run_step
from deploytui.services.runs import RunRecorder
from deploytui.services.sessions import open_store
from deploytui.storage.base import LiveSession

CHECKLIST = """# Kill and resume

## Checks

- [ ] Api answers
- [ ] Worker answers
- [ ] Queue drained
- [ ] Cache warm

## Manual

- [ ] Announce
- [ ] Freeze merges
- [ ] Watch dashboards
- [ ] Update status page

## Actions

- [ ] Stream
  ```python
  import os, time
  parent = os.getppid()
  n = 0
  while os.getppid() == parent:
      print(n, flush=True)
      n += 1
      time.sleep(0.005)
  ```
"""

ACTION_ITEM = "actions/stream"

CHECK_ITEMS = ["checks/api-answers", "checks/worker-answers", "checks/queue-drained", "checks/cache-warm"]
MANUAL_ITEMS = [
    "manual/announce",
    "manual/freeze-merges",
    "manual/watch-dashboards",
    "manual/update-status-page",
]

RUNS = [
    "echo probing; sleep 0.02; echo ok",
    "echo slow; sleep 0.15; echo done",
    "echo checking; sleep 0.05; echo 'ERROR: queue not empty'; exit 1",
    "sleep 0.3; echo warm",
]
"""One shell line per check item: quick and slow, passing and failing, so kills land mid-run."""


def _say(text: str) -> None:
    os.write(1, (text + "\n").encode())  # one write: lines from parent and child never interleave


def specs() -> list[CheckSpec]:
    return [CheckSpec(item=item, kind="command", index=i, params={"run": run}, timeout=10.0)
            for i, (item, run) in enumerate(zip(CHECK_ITEMS, RUNS, strict=True))]


class Acking:
    """The live session, saying `ack …` once each change is acknowledged (every caller's: the engine's
    recorder too)."""

    def __init__(self, live: LiveSession) -> None:
        self._live = live
        self.step_log = "-"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._live, name)

    def apply(self, change: Any) -> Any:
        log = self.step_log
        try:
            size = (Path(self._live.dir) / log).stat().st_size if log != "-" else 0  # type: ignore[attr-defined]
        except FileNotFoundError:
            size = 0
        recorded = self._live.apply(change)
        event = encode(recorded)
        if event["type"] == "action_started":
            self.step_log = log = event["log"]
        _say(f"ack {event['seq']} {event['type']} {event.get('item', '-')} {log} {size}")
        return recorded


async def workload(raw: LiveSession) -> None:
    live = Acking(raw)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    engine = Engine(concurrency=4, log_for=live.new_log, env=env)
    kinds = {s.key: s.kind for s in specs()}

    def apply(action: Any) -> None:
        try:
            live.apply(action)
        except DeployError:  # a transition the rules refuse (e.g. tick while a check runs): not acked
            return

    def on_event(event: EngineEvent) -> None:
        if isinstance(event, RunBegan):
            apply(RunStarted(event.item, event.check_key, event.run_id, kind=kinds[event.check_key]))
        elif isinstance(event, RunEnded) and not event.cancelled:
            apply(RunFinished(event.item, event.check_key, event.run_id, event.outcome, event.log,
                              kind=kinds[event.check_key]))

    async def checks_forever() -> None:
        while True:
            batch = specs()
            await engine.run_many(batch, on_event, run_ids=[new_run_id() for _ in batch])

    async def operator_forever() -> None:
        n = live.session.seq
        while True:
            item = MANUAL_ITEMS[n % len(MANUAL_ITEMS)]
            status = live.session.items[item].status
            if n % 3 == 0:
                apply(AddNote(item, "kill", f"note {n}"))
            elif status is Status.PENDING:
                apply(Tick(item, "kill") if n % 2 else Skip(item, "kill", f"reason {n}"))
            else:
                apply(Untick(item, "kill"))
            n += 1
            await asyncio.sleep(0.005)

    async def step_forever() -> None:
        checklist = parse_checklist(CHECKLIST, Path("kill.md"))
        block = checklist.node(ACTION_ITEM).actions[0]
        step = Step(ACTION_ITEM, action_key(ACTION_ITEM, 0), "command 1 (python)", action=block)
        stepper = Engine(concurrency=1, log_for=live.new_log, env=env)
        await run_step(stepper, RunRecorder(live, "kill"), step)  # type: ignore[arg-type]
        raise AssertionError("the step ended by itself")

    await asyncio.gather(checks_forever(), operator_forever(), step_forever())


def child(store: str, session_id: str) -> None:
    try:
        live = open_store(store).open(session_id)
        _say(f"opened {live.session.seq}")
        asyncio.run(workload(live))
    except BaseException:  # noqa: BLE001 - any way out but SIGKILL is a failure the parent reports
        _say("crashed " + traceback.format_exc().replace("\n", " | "))
    os._exit(3)


def main() -> None:
    store, session_id = sys.argv[1], sys.argv[2]
    for line in sys.stdin:
        if line.strip() != "go":
            continue
        pid = os.fork()
        if pid == 0:
            child(store, session_id)
        _say(f"pid {pid}")
        _, status = os.waitpid(pid, 0)
        _say(f"reaped {pid} {os.waitstatus_to_exitcode(status)}")


if __name__ == "__main__":
    main()
