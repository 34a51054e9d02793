"""A scripted session that makes every kind of session event, at fixed times, with fixed ids.

`tests/fixtures/sessions/` holds this script as the store wrote it before session events became typed
dataclasses; tests/test_session_events.py plays it again with today's code and compares the bytes.
Only change classes and Outcome are used here, so the script means the same thing before and after.
"""

from __future__ import annotations

from deploytui.core.checklist import Checklist, parse_checklist
from deploytui.core.session import (
    ActionRan,
    AddNote,
    Change,
    Finish,
    MarkInterrupted,
    Override,
    Rebase,
    RunCancelled,
    RunFinished,
    RunStarted,
    SignOff,
    Skip,
    Tick,
    Untick,
    item_specs,
)
from deploytui.core.status import Outcome

SESSION_ID = "20261125T090000Z-0ld1"
OPERATOR = "alice"
HOST = "jump1"
CHECKLIST_PATH = "deploy.md"
CREATED_AT = "2026-11-25T09:00:00.000Z"

TEXT = """# Deploy

## Pre

- [ ] Tests pass
- [ ] Review
  - [ ] Security
  - [ ] Perf

## Health

- [ ] API up
- [ ] Cache warm
- [ ] Queue drained

## Rollback Plan

1. **Quick**
   ```bash
   echo back
   ```
"""

CHANGED_TEXT = TEXT.replace("- [ ] Queue drained", "- [ ] Queue empty")

TESTS = "pre/tests-pass"
REVIEW = "pre/review"
SEC = "pre/review/security"
PERF = "pre/review/perf"
API = "health/api-up"
CACHE = "health/cache-warm"
QUEUE = "health/queue-drained"
QUICK = "rollback-plan/quick"


def checklist() -> Checklist:
    return parse_checklist(TEXT)


def changed_checklist() -> Checklist:
    return parse_checklist(CHANGED_TEXT)


def script() -> list[tuple[Change, str]]:
    """(change, time) for every event after the creation, in order; each kind of event at least once."""
    failed = Outcome.failed(
        "HTTP 500 from /health — “upstream” timed out",
        evidence="HTTP/1.1 500\r\n\x1b[31mboom\x1b[0m\n{\"detail\": \"é\"}",
        status=500,
        huge=2**80,
        ratio=0.25,
        cached=False,
        server="uvicorn",
    )
    failed.duration_ms = 1234
    passed = Outcome.passed("200 in 12ms", status=200)
    passed.duration_ms = 12
    changed = changed_checklist()
    steps: list[Change] = [
        Tick(TESTS, OPERATOR),
        Untick(TESTS, OPERATOR),
        Skip(PERF, OPERATOR, "no load-test environment this week"),
        AddNote(SEC, "bob", "reviewed by the security team\nsee OPS-12"),
        RunStarted(API, f"{API}#0", "r1", kind="http", label="health endpoint"),
        RunFinished(API, f"{API}#0", "r1", failed, log="logs/r1.log", kind="http"),
        Override(API, "bob", "known 500 on the canary, tracked in OPS-12"),
        RunCancelled(CACHE, f"{CACHE}#0", "queued-1", OPERATOR),
        RunStarted(CACHE, f"{CACHE}#0", "r2", kind="redis"),
        RunCancelled(CACHE, f"{CACHE}#0", "r2", OPERATOR),
        RunStarted(CACHE, f"{CACHE}#0", "r3", kind="redis", label="warm keys"),
        RunFinished(CACHE, f"{CACHE}#0", "r3", passed, log="logs/r3.log"),
        RunStarted(QUEUE, f"{QUEUE}#0", "r4", kind="command"),
        MarkInterrupted(),
        ActionRan(QUICK, 0, "a1", 3, "logs/a1.log", OPERATOR),
        Rebase(CHECKLIST_PATH, changed.sha256, changed.title, item_specs(changed)),
        Tick(TESTS, "carol"),
        SignOff({"deployed-by": "Alice", "reviewed-by": "Bob", "result": "Success"}, OPERATOR),
        Finish("success", OPERATOR),
    ]
    return [(change, f"2026-11-25T09:{n:02d}:00.000Z") for n, change in enumerate(steps, start=1)]
