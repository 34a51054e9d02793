"""Fork server for tests/test_action_kill.py: each child runs a streaming world-changing step until killed.

Usage: action_kill_child.py PROJECT_DIR

For each `run` line on stdin the parent forks a child that calls `deploytui run deploytui.toml
steps/stream --yes --resume` (the CLI's own `main`, so the same code path as the installed command); for
each `app` line, a child that opens the app on the same session (`--resume`), selects the item, presses
`x` and confirms. It prints `pid N`, and `reaped N STATUS` when the child dies. A fork costs milliseconds
where a fresh interpreter costs ~0.3 s, so fifty kills fit in the test's budget.

The step is a python block printing `<n> <time.time()>` every 10 ms, flushed, until its parent dies.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import deploytui.checks.kinds.command  # noqa: F401 - imported once here, not in every forked child
import deploytui.cli.run  # noqa: F401
import deploytui.tui.screens.main  # noqa: F401
from deploytui.cli.main import main as cli_main
from deploytui.services.project import resolve
from deploytui.tui.app import make_app
from deploytui.tui.widgets.checklist_tree import ChecklistTree

CHECKLIST = """# Streaming step

## Steps

- [ ] Stream
  ```python
  import os, sys, time
  parent = os.getppid()
  n = 0
  while os.getppid() == parent:
      print(n, repr(time.time()), flush=True)
      n += 1
      time.sleep(0.01)
  ```
"""

CONFIG = 'checklist = "steps.md"\n'

ITEM = "steps/stream"


def _say(text: str) -> None:
    os.write(1, (text + "\n").encode())


def _quiet() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def run_child(project: str) -> None:
    _quiet()
    os.chdir(project)
    cli_main(["run", "deploytui.toml", ITEM, "--yes", "--resume", "--sessions-dir", "sessions"])
    os._exit(3)


def app_child(project: str) -> None:
    os.chdir(project)
    _quiet()
    checklist, config = resolve("deploytui.toml", None)
    app = make_app(checklist, config, "sessions", choice="resume", settings_dir=Path(project) / "cfg")

    async def drive() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            app.screen.query_one(ChecklistTree).select_id(ITEM)
            await pilot.pause()
            await pilot.press("x")
            for _ in range(200):
                await pilot.pause(0.01)
                if app.screen.id == "action-dialog":
                    break
            app.screen.dismiss(True)  # type: ignore[attr-defined]
            while True:
                await asyncio.sleep(1)

    asyncio.run(drive())
    os._exit(3)


def main() -> None:
    project = sys.argv[1]
    for line in sys.stdin:
        mode = line.strip()
        if mode not in ("run", "app"):
            continue
        pid = os.fork()
        if pid == 0:
            try:
                (run_child if mode == "run" else app_child)(project)
            finally:
                os._exit(4)
        _say(f"pid {pid}")
        _, status = os.waitpid(pid, 0)
        _say(f"reaped {pid} {os.waitstatus_to_exitcode(status)}")


if __name__ == "__main__":
    main()
