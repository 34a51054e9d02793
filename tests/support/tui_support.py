"""Shared set-up of the TUI tests: a small checklist, `command` bindings in a temp deploytui.toml,
a temp sessions dir, and a temp user config dir (so no test reads or writes the real settings)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploytui.services.project import resolve
from deploytui.tui.app import DeployApp, make_app

CHECKLIST = """\
# Release checklist

Steps for shipping the api service.

## Preflight

- [ ] Tests pass
- [ ] Config valid
- [ ] Notify team
  ```bash
  echo notified > notified.txt
  ```

- [ ] Slow probe

## Deploy

- [ ] Push image
  ```bash
  echo "pushing with token s3cr3t-token-value"
  ```

- [ ] Flood output

## Rollback Plan

1. **Revert**
   ```bash
   echo revert
   ```

## Sign-off

- **Deployed by:** _________________ (Name)
- **Reviewed by:** _________________ (Name)
- **Date:** _________________
- **Time:** _________________
- **Result:** [ ] Success [ ] Rollback

**Notes:** ___________________________
"""

BINDINGS = """\
checklist = "checklist.md"

[secrets]
env = ["DEPLOY_TOKEN"]

[[check]]
item = "preflight/tests-pass"
kind = "command"
name = "unit tests"
run = "echo ok; echo token=$DEPLOY_TOKEN"

[[check]]
item = "preflight/config-valid"
kind = "command"
name = "config lint"
run = "echo 'bad key: retries'; exit 1"

[[check]]
item = "preflight/slow-probe"
kind = "command"
name = "slow"
run = "sleep 30"
timeout = "60s"

[[check]]
item = "deploy/flood-output"
kind = "command"
name = "flood"
run = "seq 1 {flood}"
timeout = "120s"
"""

FROZEN_NOW = datetime(2026, 11, 25, 2, 14, 37, tzinfo=UTC)
"""The clock of snapshot tests: elapsed time and timestamps stay the same on every run."""

SECRET = "s3cr3t-token-value"


def write_project(tmp: Path, *, flood: int = 1000, extra: str = "", quick: bool = False) -> Path:
    """The test checklist and its bindings; `quick` turns the 30 s slow probe into `true` (run-all flows)."""
    (tmp / "checklist.md").write_text(CHECKLIST, encoding="utf-8")
    config = tmp / "deploytui.toml"
    bindings = BINDINGS.format(flood=flood) + extra
    if quick:
        bindings = bindings.replace('run = "sleep 30"', 'run = "true"')
    config.write_text(bindings, encoding="utf-8")
    return config


def build_app(
    tmp: Path, *, config: Path | None = None, clock: Callable[[], datetime] | None = None, **options: Any
) -> DeployApp:
    config = config or write_project(tmp)
    checklist, cfg = resolve(str(config), None)
    options.setdefault("operator", "alice")
    if clock is not None:
        options["clock"] = clock
    return make_app(checklist, cfg, tmp / "sessions", **options)
