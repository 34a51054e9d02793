"""Fork server for tests/integration/test_kill_resume.py: each child resumes a session and runs real
checks until killed.

Usage: kill_child.py SESSIONS_DIR SESSION_ID

The parent process imports everything once, then for each `go` line on stdin forks a child and prints
`pid N`; when that child dies it prints `reaped N STATUS`. A fork costs milliseconds where a fresh
interpreter costs ~0.3 s, so a hundred kills fit in seconds.

Each child opens the session for write (the `--resume` path: replay, running checks marked interrupted,
stale temp files removed) and then, until it is SIGKILLed, runs `command` checks through the real engine
(RunStarted / RunFinished applied exactly as `deploytui check` applies them, logs under the session's
logs/ dir) while ticking, skipping, unticking and noting the manual items. After each `LiveSession.apply`
returns (the change is acknowledged), it prints `ack SEQ TYPE ITEM` in one write.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from typing import Any

from deploytui.core.errors import DeployError
from deploytui.core.events import EngineEvent, RunBegan, RunEnded
from deploytui.core.session import AddNote, RunFinished, RunStarted, Skip, Tick, Untick, encode
from deploytui.core.spec import CheckSpec
from deploytui.core.status import Status
from deploytui.engine import Engine, new_run_id
from deploytui.storage.fs import LiveSession, SessionStore

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
"""

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


async def workload(live: LiveSession) -> None:
    engine = Engine(
        concurrency=4,
        log_for=live.new_log,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    kinds = {s.key: s.kind for s in specs()}

    def apply(action: Any) -> None:
        try:
            event = encode(live.apply(action))
        except DeployError:  # a transition the rules refuse (e.g. tick while a check runs): not acked
            return
        _say(f"ack {event['seq']} {event['type']} {event.get('item', '-')}")

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

    await asyncio.gather(checks_forever(), operator_forever())


def child(sessions_dir: str, session_id: str) -> None:
    try:
        live = SessionStore(sessions_dir).open(session_id)
        _say(f"opened {live.session.seq}")
        asyncio.run(workload(live))
    except BaseException:  # noqa: BLE001 - any way out but SIGKILL is a failure the parent reports
        _say("crashed " + traceback.format_exc().replace("\n", " | "))
    os._exit(3)


def main() -> None:
    sessions_dir, session_id = sys.argv[1], sys.argv[2]
    for line in sys.stdin:
        if line.strip() != "go":
            continue
        pid = os.fork()
        if pid == 0:
            child(sessions_dir, session_id)
        _say(f"pid {pid}")
        _, status = os.waitpid(pid, 0)
        _say(f"reaped {pid} {os.waitstatus_to_exitcode(status)}")


if __name__ == "__main__":
    main()
