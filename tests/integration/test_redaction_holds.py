"""A multi-line secret (a PEM key in .env, double-quoted) and a password written inline in a check's URL
reach no artefact: not the session TOML, the event log, a run log (its output nor its `# $ …` header), the
JSON or JUnit report, the text output, nor the exported record. The real CLI runs in a child process;
every file it wrote is grepped for the whole key, each line of its key material, and the password."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers.target_app import TargetServer

REPO = Path(__file__).resolve().parents[2]

PEM_LINES = [
    "-----BEGIN PRIVATE KEY-----",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDQx7Vb9yQ2kLm3",
    "pR8sT1uV4wX6yZ0aB2cD5eF7gH9iJ1kL3mN5oP7qR9sT1uV3wX5yZ7aB9cD1eF3g",
    "H5iJ7kL9mN1oP3qR5sT7uV9wX1yZ3aB5cD7eF9gH1iJ3kL5mN7oP9qR1sT3uV5wX",
    "-----END PRIVATE KEY-----",
]
PEM = "\n".join(PEM_LINES)
KEY_MATERIAL = PEM_LINES[1:-1]

URL_PASSWORD = "Hunter2-inline"
"""Written in the config's URL itself, in no [secrets] variable."""

CHECKLIST = """# Release

## Checks

- [ ] Print the key
- [ ] Key on the command line
- [ ] Health with credentials
- [ ] Refused with credentials

## Sign-off

- **Deployed by:** ____
- **Result:** [ ] Success [ ] Rollback
"""

CONFIG = """\
checklist = "release.md"

[env]
files = [".env"]

[secrets]
env = ["TLS_KEY"]

[[check]]
item = "checks/print-the-key"
kind = "command"
run = "printf 'key:\\n%s\\n' \\"$TLS_KEY\\"; printf 'again: %s\\n' \\"$TLS_KEY\\" | tr '\\n' ' '; echo"

[[check]]
item = "checks/key-on-the-command-line"
kind = "command"
run = "test -n '${{TLS_KEY}}' && echo ok"
expect = {{ stdout_absent = "ok" }}

[[check]]
item = "checks/health-with-credentials"
kind = "http"
url = "http://admin:{password}@127.0.0.1:{port}/api/v1/health"
expect = {{ status = 201 }}

[[check]]
item = "checks/refused-with-credentials"
kind = "http"
url = "http://admin:{password}@127.0.0.1:{closed}/x?u=http://admin:{password}@127.0.0.1/"
timeout = "2s"
"""


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `deploytui ARGS` in a child process (this checkout importable); never a traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "deploytui", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def forms() -> list[str]:
    """Every text whose presence in an artefact is a leak."""
    basic = base64.b64encode(f"admin:{URL_PASSWORD}".encode()).decode()
    return [PEM, PEM.replace("\n", " "), json.dumps(PEM)[1:-1], *KEY_MATERIAL, URL_PASSWORD, basic]


def leaks(text: str) -> list[str]:
    return [form[:24] for form in forms() if form in text]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.delenv("TLS_KEY", raising=False)
    monkeypatch.chdir(tmp_path)


def test_a_multi_line_secret_and_a_url_password_reach_no_artefact(
    tmp_path: Path, target_app: TargetServer
) -> None:
    (tmp_path / "release.md").write_text(CHECKLIST)
    (tmp_path / ".env").write_text(f'TLS_KEY="{PEM}"\n')
    config = tmp_path / "deploytui.toml"
    config.write_text(CONFIG.format(port=target_app.port, closed=_closed_port(), password=URL_PASSWORD))
    inputs = {config, tmp_path / ".env"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        proc = _cli(tmp_path, *args)
        assert not leaks(proc.stdout + proc.stderr), (args, leaks(proc.stdout + proc.stderr))
        return proc

    text = cli("check")
    assert text.returncode == 1, text.stdout + text.stderr
    cli("check", "--format", "json", "-o", "report.json")
    cli("check", "--format", "junit", "-o", "report.xml")
    sessions = sorted(p.stem for p in (tmp_path / "sessions").glob("*.toml"))
    assert len(sessions) == 3
    for sid in sessions:
        cli("export", sid, "-o", f"record-{sid}.md")

    found: dict[str, list[str]] = {}
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file() and path not in inputs:
            text_of = path.read_bytes().decode("utf-8", "replace")
            if leaks(text_of):
                found[str(path.relative_to(tmp_path))] = leaks(text_of)
    assert found == {}, "\n".join(f"{name}: {forms}" for name, forms in found.items())

    # The secret was there to leak, and it shows as what it is: masked whole, by name.
    logs = [p.read_text() for p in (tmp_path / "sessions").rglob("*.log")]
    assert any("key:\n[secret:TLS_KEY]\n" in log for log in logs)
    assert any(line.startswith("# $ test -n '[secret:TLS_KEY]'") for log in logs for line in log.splitlines())
    assert any("admin:[secret:" in log for log in logs)
    record = (tmp_path / f"record-{sessions[0]}.md").read_text()
    assert "[secret:TLS_KEY]" in record


def test_export_with_config_masks_a_session_recorded_under_an_older_config(tmp_path: Path) -> None:
    """The session was recorded when the key was not yet a secret (so its log and evidence hold it in
    clear); `export --config F` masks it with F's secrets, across the key's lines."""
    (tmp_path / "release.md").write_text(CHECKLIST)
    (tmp_path / ".env").write_text(f'TLS_KEY="{PEM}"\n')
    old = tmp_path / "old.toml"
    old.write_text(
        'checklist = "release.md"\n[env]\nfiles = [".env"]\n\n[[check]]\nitem = "checks/print-the-key"\n'
        'kind = "command"\nrun = "printf \'key:\\\\n%s\\\\n\' \\"$TLS_KEY\\""\n'
    )
    new = tmp_path / "new.toml"
    new.write_text(
        old.read_text().replace('files = [".env"]\n', 'files = [".env"]\n[secrets]\nenv = ["TLS_KEY"]\n')
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return _cli(tmp_path, *args)

    assert cli("check", str(old)).returncode == 0
    (sid,) = sorted(p.stem for p in (tmp_path / "sessions").glob("*.toml"))
    unmasked = cli("export", sid)
    assert unmasked.returncode == 0 and KEY_MATERIAL[0] in unmasked.stdout  # the old config had no secret
    masked = cli("export", sid, "--config", str(new))
    assert masked.returncode == 0, masked.stderr
    assert not leaks(masked.stdout), leaks(masked.stdout)
    assert "[secret:TLS_KEY]" in masked.stdout
