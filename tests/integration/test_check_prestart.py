"""`deploytui check` of every bound check starts its worker processes (qdrant, gemini) before it loads
the checklist, the engine or the store, from the config's [[check]] kinds alone; the run's pool adopts
them. A narrowed run (`--only`) starts them as before, once its checks are known. A worker started for
nothing (a config that fails to load, a kind no selected check uses) is killed at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from deploytui.checks.registry import BUILTIN_KINDS, PROCESS_KINDS, get_kind
from tests.servers.common import free_port
from tests.unit.test_imports import CHECK_CHECKLIST, CHECK_CONFIG

# The qdrant and gemini checks of tests/unit/test_imports.py, and one that needs no worker.
CHECKLIST = CHECK_CHECKLIST + "- [ ] Environment ready\n"
CONFIG = CHECK_CONFIG + '[[check]]\nitem = "services/environment-ready"\nkind = "env"\nnames = ["HOME"]\n'

# Runs `deploytui check` in a fresh process and reports, for every worker started, what was loaded
# by then and whether that process is still alive once the command returned.
PROBE = """\
import contextlib, io, json, os, sys
import deploytui.engine.spawn as spawn
started = []
real = spawn.spawn_worker
def recording(kind, python=None):
    proc = real(kind, python)
    started.append({"kind": kind, "pid": proc.pid,
                    "checklist_loaded": "deploytui.core.checklist" in sys.modules,
                    "engine_loaded": "deploytui.engine.runner" in sys.modules})
    return proc
spawn.spawn_worker = recording
import deploytui.engine.workers, deploytui.services.prestart
deploytui.engine.workers.spawn_worker = recording
deploytui.services.prestart.spawn_worker = recording
from deploytui.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
    code = main(sys.argv[1:])
def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
for s in started:
    s["alive"] = alive(s["pid"])
print(json.dumps({"code": code, "started": started, "out": out.getvalue(), "err": err.getvalue()}))
"""


def _check(tmp_path: Path, config: str, *args: str, checklist: str = CHECKLIST) -> dict:  # type: ignore[type-arg]
    (tmp_path / "checklist.md").write_text(checklist)
    (tmp_path / "deploytui.toml").write_text(config)
    env = {**os.environ, "URL": f"http://127.0.0.1:{free_port()}"}
    argv = [sys.executable, "-c", PROBE, "check", "deploytui.toml", "--sessions-dir", "sessions", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_the_workers_start_before_the_checklist_loads_and_the_run_uses_them(tmp_path: Path) -> None:
    result = _check(tmp_path, CONFIG, "--format", "json")
    assert result["code"] == 1, result["err"]  # qdrant and gemini fail on the closed port
    started = result["started"]
    assert sorted(s["kind"] for s in started) == ["gemini", "qdrant"]  # one each: the pool adopted them
    assert not any(s["checklist_loaded"] or s["engine_loaded"] for s in started), started
    statuses = {r["kind"]: r["status"] for r in json.loads(result["out"])["results"]}
    assert statuses == {"qdrant": "failed", "gemini": "failed", "env": "passed"}, result["out"]
    assert result["err"].count("connection refused") == 2, result["err"]  # ran in their workers
    assert not any(s["alive"] for s in started)  # closed with the engine


def test_a_narrowed_run_starts_only_the_workers_its_checks_use(tmp_path: Path) -> None:
    result = _check(tmp_path, CONFIG, "--only", "services/qdrant-reachable")
    assert result["code"] == 1, result["err"]
    assert [s["kind"] for s in result["started"]] == ["qdrant"]
    assert result["started"][0]["checklist_loaded"]  # started once the checks were known


def test_a_config_that_does_not_load_leaves_no_worker_behind(tmp_path: Path) -> None:
    broken = CONFIG + '[[check]]\nitem = "services/environment-ready"\nkind = "env"\nnmes = ["X"]\n'
    result = _check(tmp_path, broken)
    assert result["code"] == 2
    assert "deploytui.toml:" in result["err"] and "Traceback" not in result["err"], result["err"]
    assert sorted(s["kind"] for s in result["started"]) == ["gemini", "qdrant"]  # started early...
    assert not any(s["alive"] for s in result["started"])  # ...and killed


def test_a_worker_no_selected_check_uses_is_killed(tmp_path: Path) -> None:
    # The gemini check is bound to an item of the rollback procedure: a run of every check leaves it
    # out (only asking for the rollback runs it), so its early worker is killed, not kept.
    checklist = CHECKLIST + "\n## Rollback procedure\n- [ ] Gemini key still valid\n"
    config = CONFIG.replace("services/gemini-key-valid", "rollback-procedure/gemini-key-still-valid")
    result = _check(tmp_path, config, "--format", "json", checklist=checklist)
    assert result["code"] == 1, result["err"]
    assert sorted(s["kind"] for s in result["started"]) == ["gemini", "qdrant"]
    assert [r["kind"] for r in json.loads(result["out"])["results"]] == ["qdrant", "env"]
    assert not any(s["alive"] for s in result["started"])


def test_the_registry_knows_which_built_in_kinds_run_in_a_process_without_importing_them() -> None:
    assert {name for name in BUILTIN_KINDS if get_kind(name).process} == PROCESS_KINDS
