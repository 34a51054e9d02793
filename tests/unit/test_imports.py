"""The headless core and the non-TUI commands never import textual or the slow client libraries."""

from __future__ import annotations

import os
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


CHECK_CHECKLIST = """\
# Release

## Services
- [ ] Qdrant reachable
- [ ] Gemini key valid
"""

CHECK_CONFIG = """\
checklist = "checklist.md"
[[check]]
item = "services/qdrant-reachable"
kind = "qdrant"
url = "${URL}"
[[check]]
item = "services/gemini-key-valid"
kind = "gemini"
api_key = "AIzaSomething1234"
base_url = "${URL}"
"""


def test_check_runs_qdrant_and_gemini_without_importing_their_clients(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Their clients import (and build) in the kinds' worker processes: `deploytui check` itself never
    # pays those seconds of CPU on its one core.
    from tests.servers.common import free_port

    (tmp_path / "checklist.md").write_text(CHECK_CHECKLIST)
    (tmp_path / "deploytui.toml").write_text(CHECK_CONFIG)
    code = (
        "import sys, contextlib, io\n"
        "from deploytui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:\n"
        f"    code = main(['check', {str(tmp_path / 'deploytui.toml')!r}, '--format', 'json',\n"
        f"                 '--sessions-dir', {str(tmp_path / 'sessions')!r}])\n"
        "print(code, err.getvalue().count('connection refused'))\n"
        "print(','.join(m for m in ('qdrant_client', 'google.genai') if m in sys.modules))\n"
    )
    env = {**os.environ, "URL": f"http://127.0.0.1:{free_port()}"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    ran, loaded = out.stdout.splitlines()
    assert ran == "1 2", out.stdout  # both checks ran and failed on the closed port, in their workers
    assert loaded == ""
