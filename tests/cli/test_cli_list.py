"""`deploytui list`: the tree of ids in text and JSON, bound checks, and one-line errors (exit 2)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploytui.core.checklist import bundled_checklist_path, load_checklist
from tests.support.cli_support import REPO, one_line_error, run_deploytui

CHECKLIST = """# Tiny

## Deploy

- [ ] Build
  ```bash
  make build
  ```
- [x] Ship
  - [ ] Canary
"""


def test_without_argument_lists_the_bundled_checklist_as_a_tree(tmp_path: Path) -> None:
    done = run_deploytui("list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Deployment Checklist"
    assert "+ Pre-Deployment  pre-deployment" in lines
    assert "  [ ] All tests passing  pre-deployment/all-tests-passing  [1 action]" in lines
    # The bundled bindings come with the bundled checklist, so bound checks are marked.
    env_var = (
        "    [ ] Database URL set  pre-deployment/environment-variables-configured/database-url-set"
        "  [checks: env]"
    )
    assert env_var in lines
    assert "  1. Quick Rollback (< 5 minutes)  rollback-plan/quick-rollback-5-minutes  [1 action]" in lines
    assert "+ Rollback Plan  rollback-plan  (rollback procedure: outside progress)" in lines
    assert "94 items, 16 actions" in done.stdout
    assert "sign-off: Deployed by, Reviewed by, Date, Time, Result (Success | Rollback), Notes" in lines


def test_json_has_exactly_the_documented_shape(tmp_path: Path) -> None:
    done = run_deploytui("list", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert set(doc) == {"checklist", "nodes"}
    assert doc["checklist"] == {
        "path": str(bundled_checklist_path()),
        "sha256": hashlib.sha256(bundled_checklist_path().read_bytes()).hexdigest(),
    }
    seed = load_checklist(bundled_checklist_path())
    assert [n["id"] for n in doc["nodes"]] == list(seed.nodes)
    for node in doc["nodes"]:
        assert set(node) == {"id", "title", "kind", "depth", "line", "parent", "actions", "checks"}
        assert node["kind"] in ("section", "item")
        for action in node["actions"]:
            assert set(action) == {"index", "lang", "line", "code"}
    by_id = {n["id"]: n for n in doc["nodes"]}
    health = by_id["deployment-steps/3-health-checks/api-health-check-passes"]
    assert health["parent"] == "deployment-steps/3-health-checks"
    assert (health["depth"], health["line"], health["kind"]) == (2, 88, "item")
    assert health["actions"] == [
        {"index": 0, "lang": "bash", "line": 89, "code": "curl http://localhost:8000/api/v1/health\n"}
    ]
    assert by_id["pre-deployment"]["parent"] is None
    assert sum(len(n["actions"]) for n in doc["nodes"]) == 16


def test_a_checklist_file_with_its_config_shows_bound_checks(tmp_path: Path) -> None:
    (tmp_path / "tiny.md").write_text(CHECKLIST, encoding="utf-8")
    (tmp_path / "deploytui.toml").write_text(
        'checklist = "tiny.md"\n\n[[check]]\nitem = "deploy/ship/canary"\nkind = "redis"\n'
        'url = "redis://127.0.0.1:1/0"\n',
        encoding="utf-8",
    )
    for args in (["tiny.md"], ["deploytui.toml"], ["tiny.md", "--config", "deploytui.toml"]):
        done = run_deploytui("list", *args, "--format", "json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        nodes = {n["id"]: n for n in json.loads(done.stdout)["nodes"]}
        assert nodes["deploy/ship/canary"]["checks"] == [{"kind": "redis", "key": "deploy/ship/canary#0"}]
        assert nodes["deploy/ship"]["checks"] == []
        assert nodes["deploy/build"]["actions"][0]["code"] == "make build\n"
    text = run_deploytui("list", "tiny.md", cwd=tmp_path).stdout.splitlines()
    assert text[4:] == [
        "+ Deploy  deploy",
        "  [ ] Build  deploy/build  [1 action]",
        "  [x] Ship  deploy/ship",
        "    [ ] Canary  deploy/ship/canary  [checks: redis]",
        "",
        "3 items, 1 action, 1 check bound",
        "sign-off (default): Deployed by, Reviewed by, Result (Success | Rollback), Notes",
    ]


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    line = one_line_error(done)
    assert done.stdout == ""
    return line


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    line = _one_line_error(run_deploytui("list", "nope.md", cwd=tmp_path))
    assert line == "deploytui: nope.md: no such checklist file"


def test_directory_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "dir.md").mkdir()
    line = _one_line_error(run_deploytui("list", "dir.md", cwd=tmp_path))
    assert line == "deploytui: dir.md: is a directory, not a checklist file"


def test_binary_garbage_is_a_one_line_error_with_the_line(tmp_path: Path) -> None:
    (tmp_path / "junk.md").write_bytes(b"# fine\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    line = _one_line_error(run_deploytui("list", "junk.md", "--format", "json", cwd=tmp_path))
    assert line == "deploytui: junk.md:4: binary data (NUL byte), not a Markdown checklist"


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        ('checklist = "tiny.md"\n[[check]\nitem = "x"\n', "deploytui.toml:2: invalid TOML"),
        ('checklist = "tiny.md"\nvars = 3\n', "deploytui.toml:2: vars must be a table"),
        (
            'checklist = "tiny.md"\n\n[[check]]\nitem = "no/such"\nkind = "redis"\nurl = "redis://x"\n',
            "deploytui.toml:4: unknown item id 'no/such'",
        ),
    ],
)
def test_invalid_toml_is_a_one_line_error_naming_file_and_line(tmp_path: Path, toml: str, where: str) -> None:
    (tmp_path / "tiny.md").write_text(CHECKLIST, encoding="utf-8")
    (tmp_path / "deploytui.toml").write_text(toml, encoding="utf-8")
    line = _one_line_error(run_deploytui("list", "deploytui.toml", cwd=tmp_path))
    assert line.startswith(f"deploytui: {where}"), line


def test_list_and_the_core_never_import_textual(tmp_path: Path) -> None:
    probe = (
        "import sys, io, contextlib\n"
        "import deploytui.core, deploytui.core.checklist, deploytui.core.markdown, deploytui.core.config\n"
        "assert 'textual' not in sys.modules, 'deploytui.core imported textual'\n"
        "from deploytui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    code = main(['list', '--format', 'json'])\n"
        "assert code == 0 and out.getvalue().startswith('{')\n"
        "print('textual' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
