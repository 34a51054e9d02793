"""The layers contract holds: `tui | cli > services > engine | storage | signing > checks > core`, the
headless layers never import textual, core imports no network client (pyproject.toml,
[tool.importlinter]). CI runs lint-imports too; this puts it in the README's test command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_lint_imports_keeps_every_contract() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.skip("lint-imports is not installed (pip install -e '.[test]')")
    done = subprocess.run([exe, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
    assert "ignored" not in done.stdout, "a contract holds only by ignoring an import"


def test_the_cli_imports_no_tui_module() -> None:
    """The faces are siblings: the bare command's handler is the TUI's own (tui/launch.py), named by
    the CLI's dispatcher, never imported by it."""
    hits = [
        str(path.relative_to(REPO))
        for path in (REPO / "deploytui" / "cli").rglob("*.py")
        if "from deploytui.tui" in path.read_text(encoding="utf-8")
        or "import deploytui.tui" in path.read_text(encoding="utf-8")
    ]
    assert hits == []


def test_core_does_not_name_the_layers_above_it() -> None:
    """The grep of issue 11: core names no checks, engine or storage module, even in a comment."""
    above = ("deploytui.checks", "deploytui.engine", "deploytui.storage", "deploytui.services")
    hits = [
        f"{path.relative_to(REPO)}: {name}"
        for path in (REPO / "deploytui" / "core").rglob("*.py")
        for name in above
        if name in path.read_text(encoding="utf-8")
    ]
    assert hits == []


def test_the_tui_imports_no_command_module() -> None:
    hits = [
        str(path.relative_to(REPO))
        for path in (REPO / "deploytui" / "tui").rglob("*.py")
        if "deploytui.cli" in path.read_text(encoding="utf-8")
        or "deploytui.commands" in path.read_text(encoding="utf-8")
    ]
    assert hits == []
