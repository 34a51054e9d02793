"""Hostile configs, checklists and session files: fuzzed deploytui.toml never escapes as a traceback (a
one-line error naming the file, or a config whose checks describe themselves without crashing); id
collisions and very long lines in a checklist are handled; no session id, log name or crafted event can
make deploytui read or write outside the session it names."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploytui.checks.registry import kind_names
from deploytui.core.checklist import parse_checklist
from deploytui.core.errors import DeployError
from deploytui.core.session import RunFinished, RunStarted, TransitionError
from deploytui.core.status import Outcome
from deploytui.engine import Engine
from deploytui.services.project import load_config
from deploytui.storage.fs import SessionStore, line_hash
from tests.support.cli_support import run_deploytui

TEXT = """# Deploy

## Pre

- [ ] Tests pass
- [ ] Review
- [ ] API up
"""
ITEMS = ["pre/tests-pass", "pre/review", "pre/api-up"]

SCALARS = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(
        ["${api}", "${NOPE}", "${A:-x}", "10s", "-1s", "0", "1e9s", "http://x", "../../etc/passwd"]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(min_size=1, max_size=10), inner, max_size=4),
    ),
    max_leaves=10,
)
KEYS = st.sampled_from(
    [
        "url",
        "run",
        "names",
        "expect",
        "timeout",
        "name",
        "cwd",
        "env",
        "query",
        "host",
        "port",
        "method",
        "headers",
        "files",
        "path",
        "text",
        "verify",
        "ca_file",
        "status",
        "x",
    ]
)
CHECK = st.fixed_dictionaries(
    {
        "item": st.one_of(st.sampled_from(ITEMS), st.text(max_size=20)),
        "kind": st.one_of(st.sampled_from(kind_names()), st.text(max_size=10)),
    },
    optional={"params": st.dictionaries(KEYS, VALUES, max_size=5)},
).map(lambda d: {"item": d["item"], "kind": d["kind"], **d.get("params", {})})
DOCUMENT = st.fixed_dictionaries(
    {},
    optional={
        "checklist": st.one_of(st.just("deploy.md"), st.text(max_size=20), st.integers()),
        "vars": st.dictionaries(st.sampled_from(["api", "A", "B", "x y"]), VALUES, max_size=4),
        "env": st.one_of(st.fixed_dictionaries({"files": VALUES}), VALUES),
        "secrets": st.one_of(st.fixed_dictionaries({"env": VALUES}), VALUES),
        "defaults": st.dictionaries(st.sampled_from(["timeout", "concurrency", "other"]), VALUES, max_size=3),
        "check": st.lists(CHECK, max_size=4),
    },
)


def _load(config_text: str) -> None:
    """Load a config next to the checklist: a Config whose checks describe themselves, or a one-line
    DeployError naming the config file."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "deploy.md").write_text(TEXT)
        path = Path(tmp) / "deploytui.toml"
        path.write_text(config_text, encoding="utf-8", errors="surrogatepass")
        checklist = parse_checklist(TEXT, Path(tmp) / "deploy.md")
        try:
            config = load_config(path, checklist)
            env = config.environment()  # reads the dotenv files the config names
            config.redactor(env)
        except DeployError as exc:
            assert exc.path is not None and Path(exc.path).is_relative_to(tmp), str(exc)
            assert "\n" not in str(exc)
            return
        engine = Engine(env=env, vars=config.vars, base_dir=Path(tmp))
        for spec in config.checks:
            assert "\n" not in engine.describe(spec)
            engine.is_action(spec)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENT)
def test_any_toml_shaped_config_loads_or_names_its_file_and_line(document: dict[str, Any]) -> None:
    _load(tomli_w.dumps(document))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("[]{}=\".,\n #\\abc1_-'${}:")), max_size=200))
def test_any_text_as_config_loads_or_names_its_file(text: str) -> None:
    _load(text)


def test_id_collisions_and_very_long_lines_in_a_checklist() -> None:
    long_title = "Very long " + "word " * 20_000
    text = (
        "# Same\n\n## Steps\n\n"
        + "- [ ] Same\n" * 5
        + f"- [ ] {long_title}\n" * 2
        + "## Steps\n\n- [ ] Same\n"
    )
    checklist = parse_checklist(text)
    ids = list(checklist.nodes)
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i.startswith("steps/same")] == [
        "steps/same",
        "steps/same-2",
        "steps/same-3",
        "steps/same-4",
        "steps/same-5",
    ]
    long_ids = [i for i in ids if i.startswith("steps/very-long")]
    assert len(long_ids) == 2 and all(len(i.split("/")[-1]) <= 48 for i in long_ids)
    assert "steps-2" in ids and "steps-2/same" in ids


# ------------------------------------------------------------------------------------ path traversal


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "..", "a/b", ".hidden", "x\x00y", ""])
def test_session_ids_are_names_never_paths(tmp_path: Path, bad: str) -> None:
    (tmp_path / "deploy.md").write_text(TEXT)
    store = SessionStore(tmp_path / "sessions")
    for call in (lambda: store.open(bad), lambda: store.recover(bad), lambda: store.toml_path(bad)):
        with pytest.raises(DeployError):
            call()
    if "\x00" not in bad and bad:
        proc = run_deploytui(
            "check", "deploy.md", "--session", bad, "--sessions-dir", str(tmp_path / "sessions"), cwd=tmp_path
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "etc").exists()


def test_log_names_and_crafted_log_paths_stay_inside_the_session(tmp_path: Path) -> None:
    path = tmp_path / "deploy.md"
    path.write_text(TEXT)
    (tmp_path / "outside.txt").write_text("private")
    store = SessionStore(tmp_path / "sessions")
    key = f"{ITEMS[2]}#0"
    with store.create(parse_checklist(TEXT, path), "alice") as live:
        for run_id in ("../../outside", "/etc/passwd", "..", "a/../../b", "\x00"):
            log = live.new_log(run_id)
            assert log.parent == live.logs_dir, log
        live.apply(RunStarted(ITEMS[2], key, "r1"))
        for bad in ("../../outside.txt", "/etc/passwd", str(tmp_path / "outside.txt"), "logs/../../x"):
            with pytest.raises(TransitionError, match="outside the session directory"):
                live.apply(RunFinished(ITEMS[2], key, "r1", Outcome.passed("ok"), log=bad))
        live.apply(RunFinished(ITEMS[2], key, "r1", Outcome.passed("ok"), log=str(live.new_log("r1"))))
        sid, events_path, toml_path = live.id, live.events_path, live.toml_path

    # A hand-crafted log entry, re-chained so the hash chain holds: refused on load, naming the line.
    lines = events_path.read_text().splitlines()
    crafted = json.loads(lines[-1])
    crafted["log"] = "../../outside.txt"
    lines[-1] = json.dumps(crafted, sort_keys=True, separators=(",", ":"))
    crafted_prev = json.loads(lines[-2])
    assert crafted["prev"] == line_hash(
        json.dumps(crafted_prev, sort_keys=True, separators=(",", ":")).encode()
    )
    events_path.write_text("\n".join(lines) + "\n")
    toml_path.unlink()  # a fresh checkpoint would be rebuilt from the (crafted) log
    (events_path.parent / "head.json").unlink()  # (and the head record would name the original line)
    with pytest.raises(DeployError) as info:
        store.load(sid)
    assert f"{events_path}:{len(lines)}" in str(info.value) and "outside the session directory" in str(
        info.value
    )
