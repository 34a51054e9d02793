"""The headless core and the non-TUI commands never import textual or the slow client libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("textual", "qdrant_client", "google.genai")


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint(','.join(m for m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(out.stdout.strip().split(","))


@pytest.mark.parametrize(
    "code",
    [
        "import deploytui.core.checklist, deploytui.core.config",
        "import deploytui.core.session, deploytui.core.record",
        "import deploytui.core.redact, deploytui.core.status, deploytui.core.events",
        "import deploytui.storage.fs, deploytui.engine, deploytui.signing",
        "import deploytui.cli",
    ],
)
def test_core_modules_do_not_import_textual_or_heavy_clients(code: str) -> None:
    loaded = _loaded_after(code)
    assert not [m for m in HEAVY if m in loaded], f"{code!r} imported {[m for m in HEAVY if m in loaded]}"


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--format", "json"],
        ["--help"],
        ["list", "--help"],
        ["check", "--help"],
        ["export", "--help"],
        ["verify", "--help"],
        ["sessions", "--help"],
    ],
)
def test_headless_commands_do_not_import_textual(argv: list[str], tmp_path) -> None:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['deploytui', *{argv!r}]\n"
        "from deploytui.cli import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(sys.argv[1:])\n"
        "    except SystemExit:\n"
        "        pass\n"
    )
    loaded = _loaded_after(code)
    assert not [m for m in HEAVY if m in loaded], (
        f"deploytui {' '.join(argv)} imported {[m for m in HEAVY if m in loaded]}"
    )
