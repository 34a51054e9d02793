"""deploytui.toml and dotenv files: every mistake is reported as one line naming file:line and the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deploytui.core.checklist import bundled_checklist_path, load_checklist
from deploytui.core.config import bundled_bindings_path
from deploytui.core.dotenv import parse_dotenv
from deploytui.core.errors import DeployError
from deploytui.core.spec import CheckContext
from deploytui.services.project import load_config, resolve

CHECKLIST = """# Deploy

## Pre

- [ ] Database URL set
- [ ] API health check passes
- [ ] Code review completed
  - [ ] Security review
"""
DB = "pre/database-url-set"
API = "pre/api-health-check-passes"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "deploy.md").write_text(CHECKLIST)
    return tmp_path


def write(workdir: Path, body: str, name: str = "deploytui.toml") -> Path:
    path = workdir / name
    path.write_text(textwrap.dedent(body).lstrip("\n"))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(DeployError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    return message


GOOD = """
checklist = "deploy.md"

[vars]
api = "http://127.0.0.1:8000"
health = "${api}/health"
dsn = "postgresql://app:${DB_PASSWORD}@127.0.0.1/app"

[env]
files = [".env"]

[secrets]
env = ["DB_PASSWORD"]

[defaults]
timeout = "4s"
concurrency = 3

[[check]]
item = "pre/api-health-check-passes"
kind = "command"
name = "health"
run = "curl ${health}"
expect = { exit_code = 0 }

[[check]]
item = "pre/api-health-check-passes"
kind = "command"
run = "true"
timeout = "250ms"
"""


def test_good_config_loads_with_bindings_defaults_and_relative_checklist(workdir: Path) -> None:
    cfg = load_config(write(workdir, GOOD))
    assert cfg.checklist_path == workdir / "deploy.md"
    assert (cfg.timeout, cfg.concurrency) == (4.0, 3)
    assert cfg.env_files == [workdir / ".env"] and cfg.secret_names == ["DB_PASSWORD"]
    first, second = cfg.checks_for(API)
    assert (first.kind, first.name, first.index, first.line, first.timeout) == (
        "command",
        "health",
        0,
        18,
        4.0,
    )
    assert dict(first.params) == {
        "run": "curl ${health}",
        "expect": {"exit_code": 0},
    }  # no item/kind/name/timeout
    assert second.timeout == 0.25 and second.key == f"{API}#1"
    assert cfg.checks_for(DB) == [] and cfg.bound_items() == [API]
    # vars reference vars: substitution at run time expands them through CheckContext.
    assert CheckContext(vars=cfg.vars, env={}).substitute("${health}") == "http://127.0.0.1:8000/health"


def test_environment_reads_dotenv_and_the_process_environment_wins(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / ".env").write_text("DB_PASSWORD='from-file-pw'\nONLY_IN_FILE=yes\nSHARED=file\n")
    monkeypatch.setenv("SHARED", "process")
    cfg = load_config(write(workdir, GOOD))
    env = cfg.environment()
    assert (
        env["ONLY_IN_FILE"] == "yes" and env["SHARED"] == "process" and env["DB_PASSWORD"] == "from-file-pw"
    )
    assert (workdir / ".env").read_text().startswith("DB_PASSWORD")  # read, never written


def test_redactor_masks_secrets_and_vars_built_from_them(workdir: Path) -> None:
    (workdir / ".env").write_text('DB_PASSWORD="pw-Xy7!long"\n')
    cfg = load_config(write(workdir, GOOD))
    redactor = cfg.redactor()
    text = "connecting to postgresql://app:pw-Xy7!long@127.0.0.1/app with pw-Xy7!long"
    masked = redactor.redact(text)
    assert "pw-Xy7!long" not in masked and "[secret:" in masked
    assert "dsn" in redactor.names and "DB_PASSWORD" in redactor.names
    assert "api" not in redactor.names  # a var without a secret in it stays visible


def test_missing_env_file_names_the_config_line(workdir: Path) -> None:
    path = write(workdir, GOOD)
    cfg = load_config(path)
    with pytest.raises(DeployError, match=rf"^{path}:9: env file .*\.env not found"):
        cfg.environment()


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ('checklist = "deploy.md"\n[vars]\napi = "x\n', 3, "invalid TOML"),
        ('checklist = "deploy.md"\ncheklist_extra = 1\n', 2, "unknown key 'cheklist_extra'"),
        ('checklist = "deploy.md"\n[default]\ntimeout = "1s"\n', 2, "did you mean 'defaults'"),
        ('checklist = "deploy.md"\n[defaults]\ntimout = "1s"\n', 3, "unknown key 'timout' in [defaults]"),
        ('checklist = "deploy.md"\n[defaults]\ntimeout = "soon"\n', 3, "timeout: expected a duration"),
        ('checklist = "deploy.md"\n[defaults]\nconcurrency = 0\n', 3, "concurrency must be"),
        ('checklist = "nope.md"\n', 1, "checklist 'nope.md' not found"),
        ('checklist = "deploy.md"\n[vars]\na = "${b}"\nb = "${a}"\n', 3, "cycle: a -> b -> a"),
        ('checklist = "deploy.md"\n[vars]\nport = [1]\n', 3, "var 'port' must be a string"),
        ('checklist = "deploy.md"\n[secrets]\nenv = ["NOT-A-NAME"]\n', 3, "not an environment variable name"),
        ('checklist = "deploy.md"\n[env]\nfiles = ".env"\npaths = 1\n', 4, "unknown key 'paths' in [env]"),
    ],
)
def test_top_level_errors_name_file_and_line(workdir: Path, body: str, line: int, message: str) -> None:
    path = write(workdir, body)
    got = error_of(path)
    assert got.startswith(f"{path}:{line}: "), got
    assert message in got


def _binding(workdir: Path, *checks: str) -> Path:
    body = 'checklist = "deploy.md"\n\n' + "\n".join(f"[[check]]\n{c}\n" for c in checks)
    return write(workdir, body)


def test_unknown_item_suggests_closest_ids(workdir: Path) -> None:
    path = _binding(workdir, 'item = "pre/api-health-check-pass"\nkind = "command"\nrun = "true"')
    got = error_of(path)
    assert got.startswith(f"{path}:4: unknown item id 'pre/api-health-check-pass'")
    assert f"did you mean '{API}'" in got


def test_second_binding_error_points_at_its_own_table(workdir: Path) -> None:
    path = _binding(
        workdir,
        f'item = "{API}"\nkind = "command"\nrun = "true"',
        f'item = "{DB}"\nkind = "comand"\nrun = "true"',
    )
    got = error_of(path)
    assert got.startswith(f"{path}:10: unknown kind 'comand'") and "did you mean 'command'" in got
    assert "http" in got and "postgres" in got  # lists the kinds


def test_binding_to_a_section_is_refused_naming_its_items(workdir: Path) -> None:
    path = _binding(workdir, 'item = "pre"\nkind = "command"\nrun = "true"')
    got = error_of(path)
    assert got.startswith(f"{path}:4: 'pre' is a section") and DB in got


def test_unknown_field_names_its_line(workdir: Path) -> None:
    path = _binding(workdir, f'item = "{API}"\nkind = "command"\nrun = "true"\nbogus = 1')
    got = error_of(path)
    assert got.startswith(f"{path}:7: unknown field 'bogus'")


def test_missing_required_field_and_item_name_the_table(workdir: Path) -> None:
    got = error_of(_binding(workdir, f'item = "{API}"\nkind = "command"'))
    assert ":3: " in got and "needs field 'run'" in got
    got = error_of(_binding(workdir, 'kind = "command"\nrun = "true"'))
    assert ":3: " in got and "needs item" in got


def test_bad_per_check_timeout_names_its_line(workdir: Path) -> None:
    path = _binding(workdir, f'item = "{API}"\nkind = "command"\nrun = "true"\ntimeout = -1')
    assert error_of(path).startswith(f"{path}:7: timeout:")


def test_dotenv_parsing() -> None:
    text = textwrap.dedent(
        r"""
        # comment
        PLAIN=value with spaces   # trailing comment
        export EXPORTED=yes
        SINGLE='no $escapes \n here'
        DOUBLE="tab\there \"quoted\" \$HOME"
        MULTI="line one
        line two"
        EMPTY=
        HASH=abc#not-a-comment
        """
    )
    values = parse_dotenv(text, "x.env")
    assert values == {
        "PLAIN": "value with spaces",
        "EXPORTED": "yes",
        "SINGLE": r"no $escapes \n here",
        "DOUBLE": 'tab\there "quoted" $HOME',
        "MULTI": "line one\nline two",
        "EMPTY": "",
        "HASH": "abc#not-a-comment",
    }


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("A=1\nnot an assignment\n", 2, "expected '=' after not"),
        ("A=1\n=value\n", 2, "expected NAME=value"),
        ("A=1\nB='open\n", 2, "unterminated single quote"),
        ('A=1\n\nB="open\nstill open\n', 3, "unterminated double quote"),
        ("A='x' trailing\n", 1, "unexpected text after the value of A"),
    ],
)
def test_dotenv_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(DeployError) as info:
        parse_dotenv(text, "prod.env")
    assert str(info.value).startswith(f"prod.env:{line}: ") and message in str(info.value)


def test_resolve_toml_source_and_sibling_config(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(workdir, GOOD)
    checklist, cfg = resolve(str(path), None)
    assert checklist.path == workdir / "deploy.md" and len(cfg.checks) == 2
    # A checklist given alone picks up the deploytui.toml beside it that names it.
    checklist, cfg = resolve(str(workdir / "deploy.md"), None)
    assert cfg.path == path and len(cfg.checks) == 2
    # Nothing given: ./deploytui.toml.
    monkeypatch.chdir(workdir)
    checklist, cfg = resolve(None, None)
    assert cfg.path == Path.cwd() / "deploytui.toml" and checklist.title == "Deploy"
    with pytest.raises(DeployError, match="two configs"):
        resolve(str(path), str(path))


def test_resolve_checklist_with_explicit_config_validates_against_it(workdir: Path) -> None:
    other = workdir / "other.md"
    other.write_text("# Other\n\n## S\n\n- [ ] Something else\n")
    path = write(workdir, GOOD)
    with pytest.raises(DeployError, match=rf"^{path}:19: unknown item id"):
        resolve(str(other), str(path))


def test_resolve_bare_checklist_has_no_bindings(tmp_path: Path) -> None:
    (tmp_path / "solo.md").write_text(CHECKLIST)
    checklist, cfg = resolve(str(tmp_path / "solo.md"), None)
    assert cfg.checks == [] and cfg.path is None and cfg.timeout == 10.0


def test_resolve_default_is_the_bundled_checklist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    checklist, cfg = resolve(None, None)
    assert checklist.path == bundled_checklist_path()
    assert checklist.sha256 == load_checklist(bundled_checklist_path()).sha256
    if bundled_bindings_path().is_file():
        assert cfg.path == bundled_bindings_path() and cfg.checks
        assert all(spec.item in checklist.nodes for spec in cfg.checks)
    else:
        assert cfg.checks == []


def test_unknown_expectation_names_the_expect_line(workdir: Path) -> None:
    path = _binding(workdir, f'item = "{API}"\nkind = "command"\nrun = "true"\nexpect = {{ exit_cod = 0 }}')
    got = error_of(path)
    assert got.startswith(f"{path}:7: unknown expectation 'exit_cod'")
