"""Secrets set in the environment and in a dotenv file never reach an artefact: the session TOML, the event
log, run logs, the JSON/JUnit/text reports, the stderr progress lines, the exported record, or the app's
screen (a Pilot screenshot and the widgets' text). Checks that echo a secret, print it URL-encoded, hide
it behind an escape sequence or a carriage return, fail with it in the reason, or carry it in a URL or a
header are all masked. Every artefact is grepped for every form of every value: zero occurrences."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from textual.widgets import Input

from deploytui.services.project import resolve
from deploytui.tui.app import make_app
from deploytui.tui.screens.dialogs import ConfirmDialog, TextDialog
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from tests.servers.target_app import TargetServer

REPO = Path(__file__).resolve().parents[2]

ENV_TOKEN = "tok-Env-7f3a9c2e1b"
"""Set in the process environment."""
DB_PASSWORD = "Pw-DotEnv-5e8d1a"
DB_URL = f"postgresql://app:{DB_PASSWORD}@127.0.0.1:1/app"
API_KEY = "key/DotEnv+9b7c"
"""Both in the dotenv file; the key has characters URL encoding changes."""

FORMS = [ENV_TOKEN, DB_PASSWORD, DB_URL, API_KEY, quote(API_KEY, safe=""), quote(DB_PASSWORD, safe="")]

CHECKLIST = """# Release

## Checks

- [ ] Echo secrets
- [ ] Encoded key
- [ ] Hidden behind escapes
- [ ] Failing with the secret
- [ ] Database url scheme
- [ ] Api with key
- [ ] Deploy hook
  ```bash
  echo "deploying with $DEPLOY_TOKEN and $API_KEY"
  ```

## Sign-off

- **Deployed by:** ____
- **Result:** [ ] Success [ ] Rollback
"""

CONFIG = """\
checklist = "release.md"

[env]
files = [".env"]

[secrets]
env = ["DEPLOY_TOKEN", "DATABASE_URL", "API_KEY"]

[vars]
target = "http://127.0.0.1:{port}"

[[check]]
item = "checks/echo-secrets"
kind = "command"
run = "echo token=$DEPLOY_TOKEN; echo db=$DATABASE_URL; echo key=$API_KEY; echo >&2 err=$DEPLOY_TOKEN"

[[check]]
item = "checks/encoded-key"
kind = "command"
run = "python3 -c 'import os, urllib.parse as u; print(u.quote(os.environ[\\"API_KEY\\"], safe=\\"\\"))'"

[[check]]
item = "checks/hidden-behind-escapes"
kind = "command"
run = '''
printf 'tok-Env-\\033[0m7f3a9c2e1b\\n'
printf 'XXXXXXXX7f3a9c2e1b\\rtok-Env-\\n'
printf 'Pw-DotEnv\\033]0;x\\007-5e8d1a\\n'
'''

[[check]]
item = "checks/failing-with-the-secret"
kind = "command"
run = "echo ERROR auth failed for $API_KEY at $DATABASE_URL"
expect = {{ stdout_absent = "ERROR" }}

[[check]]
item = "checks/database-url-scheme"
kind = "env"
names = ["DATABASE_URL"]
expect = {{ scheme = "mysql" }}

[[check]]
item = "checks/api-with-key"
kind = "http"
url = "${{target}}/api/v1/health?key=${{API_KEY}}"
headers = {{ Authorization = "Bearer ${{API_KEY}}", X-Token = "${{DEPLOY_TOKEN}}" }}
expect = {{ status = 201 }}
"""


def _project(tmp_path: Path, port: int) -> Path:
    (tmp_path / "release.md").write_text(CHECKLIST)
    (tmp_path / ".env").write_text(f"DATABASE_URL={DB_URL}\nAPI_KEY='{API_KEY}'\n")
    config = tmp_path / "deploytui.toml"
    config.write_text(CONFIG.format(port=port))
    return config


def _leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


def _scan(root: Path, skip: set[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path not in skip:
            leaks = _leaks(path.read_bytes().decode("utf-8", "replace"))
            if leaks:
                found[str(path.relative_to(root))] = leaks
    return found


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.setenv("DEPLOY_TOKEN", ENV_TOKEN)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)


async def test_no_artefact_holds_a_secret(tmp_path: Path, target_app: TargetServer) -> None:
    config = _project(tmp_path, target_app.port)
    inputs = {config, tmp_path / ".env"}
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "deploytui", *args], cwd=tmp_path, capture_output=True, text=True,
            timeout=120, env=env,
        )
        assert not _leaks(proc.stdout + proc.stderr), (args, _leaks(proc.stdout + proc.stderr))
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    # Headless: every report format, and the stderr progress lines.
    text = cli("check")
    assert text.returncode == 1 and "[secret:" in text.stdout + text.stderr
    cli("check", "--format", "json", "-o", "report.json")
    cli("check", "--format", "junit", "-o", "report.xml")
    sessions = sorted(p.stem for p in (tmp_path / "sessions").glob("*.toml"))
    assert len(sessions) == 3
    for sid in sessions:
        cli("export", sid, "-o", f"record-{sid}.md")

    # The app: run everything, the action (after its confirmation), a note with a secret pasted in.
    checklist, cfg = resolve(str(config), None)
    app = make_app(checklist, cfg, tmp_path / "sessions", operator="alice", choice="new")
    screens: list[str] = []
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await pilot.press("R")
        await app.workers.wait_for_complete()
        await pilot.pause()
        for node_id in checklist.nodes:
            if screen.query_one(ChecklistTree).select_id(node_id):
                await pilot.pause()
                screens.append(app.export_screenshot())
        assert screen.query_one(ChecklistTree).select_id("checks/deploy-hook")
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        screens.append(app.export_screenshot())
        await pilot.click("#confirm")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screens.append(app.export_screenshot())
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, TextDialog)
        app.screen.query_one(Input).value = f"rotated {ENV_TOKEN}, was {DB_PASSWORD}"  # as if pasted
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        screens.append(app.export_screenshot())
        await pilot.press("a")  # the activity pane
        await pilot.pause()
        screens.append(app.export_screenshot())
        app_sid = app.live.id
        assert app.live.session.items["checks/deploy-hook"].notes, "the note was saved"
        app.exit(0)
    for shot in screens:
        assert not _leaks(shot), _leaks(shot)
    # Reopened, the logs come back from disk into the panes: still masked.
    again = make_app(checklist, cfg, tmp_path / "sessions", operator="alice", session_id=app_sid)
    async with again.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        for node_id in checklist.nodes:
            if again.screen.query_one(ChecklistTree).select_id(node_id):
                await pilot.pause()
                shot = again.export_screenshot()
                assert not _leaks(shot), (node_id, _leaks(shot))
        again.exit(0)
    cli("export", app_sid, "-o", "record-app.md")

    # Every file written anywhere under the project: sessions, logs, events, reports, records.
    assert _scan(tmp_path, inputs) == {}
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert {"report.json", "report.xml", "record-app.md", "events.jsonl"} <= written
    assert any(name.endswith(".log") for name in written)
