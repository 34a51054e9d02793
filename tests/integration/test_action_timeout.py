"""A bound world-changing command (`kind = "action"`, a backup dump) that sets no timeout gets the action
default, 30 minutes, not a check's seconds: a migration killed after [defaults]' 10 s would leave the
database half-migrated. An explicit `timeout` wins (here a tiny one, on a real process that would sleep
for a minute: the engine kills its process group and the run ends `timed out` with the reason, recorded in
the session); checks keep the config's timeout."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from deploytui.core.spec import DEFAULT_ACTION_TIMEOUT
from deploytui.core.status import Status
from deploytui.services.actions import run_step, select_steps
from deploytui.services.project import resolve
from deploytui.services.runs import RunRecorder, build_engine
from deploytui.storage.fs import SessionStore
from tests.support.clock_support import TickingClock

CHECKLIST = """# Release

## Deploy

- [ ] Run database migrations
- [ ] Restart workers
- [ ] Take a backup
- [ ] Check a backup
- [ ] Health
"""

MIGRATE, RESTART, BACKUP, CHECK_BACKUP, HEALTH = (
    "deploy/run-database-migrations",
    "deploy/restart-workers",
    "deploy/take-a-backup",
    "deploy/check-a-backup",
    "deploy/health",
)

CONFIG = f"""checklist = "release.md"

[defaults]
timeout = "10s"

[[check]]
name = "migrate"
item = "{MIGRATE}"
kind = "action"
run = "echo $$ > child.pid; echo migrating; exec sleep 60"
timeout = "300ms"

[[check]]
name = "restart"
item = "{RESTART}"
kind = "action"
run = "echo restarted"

[[check]]
name = "dump"
item = "{BACKUP}"
kind = "backup"
url = "postgresql://deploy@127.0.0.1:1/app"
output = "backups/app.dump"

[[check]]
name = "verify dump"
item = "{CHECK_BACKUP}"
kind = "backup"
verify_only = true
path = "backups/*.dump"

[[check]]
name = "health"
item = "{HEALTH}"
kind = "command"
run = "true"

[[check]]
name = "read-only action"
item = "{HEALTH}"
kind = "action"
run = "true"
read_only = true
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "release.md").write_text(CHECKLIST)
    config = tmp_path / "deploytui.toml"
    config.write_text(CONFIG)
    return config


def test_world_changing_commands_without_a_timeout_get_30_minutes_and_checks_keep_theirs(
    tmp_path: Path,
) -> None:
    _checklist, config = resolve(str(_project(tmp_path)), None)
    by_name = {spec.name: spec for spec in config.checks}
    assert DEFAULT_ACTION_TIMEOUT == 1800.0
    restart, dump = by_name["restart"], by_name["dump"]
    assert (restart.timeout, restart.timeout_set) == (1800.0, False)
    assert (dump.timeout, dump.timeout_set) == (1800.0, False)
    # An explicit value wins, however small.
    assert (by_name["migrate"].timeout, by_name["migrate"].timeout_set) == (0.3, True)
    # Checks keep the config's timeout: a verify-only backup, a command, a read-only action.
    for name in ("verify dump", "health", "read-only action"):
        assert (by_name[name].timeout, by_name[name].timeout_set) == (10.0, False), name


def test_an_explicit_tiny_timeout_kills_the_action_and_the_run_ends_timed_out(tmp_path: Path) -> None:
    project = _project(tmp_path)
    checklist, config = resolve(str(project), None)
    store = SessionStore(tmp_path / "sessions", clock=TickingClock())
    [step] = select_steps(checklist, config, [MIGRATE])
    with store.create(checklist, "alice", redactor=config.redactor(), host="h1") as live:
        engine = build_engine(config, live)
        recorder = RunRecorder.for_config(live, config, "alice")
        outcome = asyncio.run(run_step(engine, recorder, step))
        assert outcome.status is Status.FAILED
        assert outcome.reason == "timed out after 300ms", outcome.reason
        [run] = live.session.items[MIGRATE].actions
        assert not run.running and run.label == "migrate"
        assert live.session.status_of(MIGRATE, checklist) is Status.FAILED
        assert live.session.items[MIGRATE].reason == "timed out after 300ms"
        log = (store.session_dir(live.id) / run.log).read_text() if run.log else ""
        assert "migrating" in log
    # The shell and its sleep are gone: the engine killed the whole process group.
    pid = int((config.base_dir / "child.pid").read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"the action's process {pid} outlived its timeout")
