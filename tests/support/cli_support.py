"""Helpers for tests that run the real `deploytui` command in a child process and read what it printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The checkout: put on the child's PYTHONPATH so `python -m deploytui` runs this code from any cwd."""

CLI_TIMEOUT = 60
"""Seconds a CLI child may take before the test fails instead of hanging."""


def run_deploytui(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m deploytui ARGS` in `cwd` (this checkout importable), output captured as text; `env`
    adds to (or overrides) this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "deploytui", *args],
        cwd=cwd,
        env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a run that failed on bad input (exit 2, no traceback); asserts all three."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]
