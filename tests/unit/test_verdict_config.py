"""deploytui.toml's order, isolation and time keys (after, exclusive, resource, cooldown, within,
interval, retry, read_only): what they load to, and each mistake as one line naming file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deploytui.core.errors import DeployError
from deploytui.core.spec import Retry
from deploytui.services.project import load_config

CHECKLIST = """# Deploy

## Steps

- [ ] Compose up
- [ ] API healthy
- [ ] Migrations at head
- [ ] Smoke query
- [ ] Rate limiting works
- [ ] Manual sign
"""
UP, HEALTH, MIGRATE, SMOKE, LIMIT = (
    "steps/compose-up",
    "steps/api-healthy",
    "steps/migrations-at-head",
    "steps/smoke-query",
    "steps/rate-limiting-works",
)

HEAD = """checklist = "deploy.md"
"""


def write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "deploy.md").write_text(CHECKLIST)
    path = tmp_path / "deploytui.toml"
    path.write_text(HEAD + textwrap.dedent(body).lstrip("\n"))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(DeployError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    found = [n for n, line in enumerate(path.read_text().splitlines(), start=1) if needle in line]
    return found[occurrence - 1]


GOOD = f"""
[[check]]
item = "{UP}"
kind = "command"
run = "true"
within = "2m"
interval = "5s"

[[check]]
item = "{HEALTH}"
name = "health answers"
kind = "http"
url = "http://127.0.0.1:8000/health"
after = ["{UP}"]
retry = {{ attempts = 3, interval = "500ms" }}

[[check]]
item = "{MIGRATE}"
kind = "command"
run = "true"
after = ["health answers"]
resource = "database"
read_only = true

[[check]]
item = "{LIMIT}"
kind = "http"
url = "http://127.0.0.1:8000/chat"
burst = 30
exclusive = true
cooldown = "12s"

[[check]]
item = "{SMOKE}"
kind = "command"
run = "true"
after = "{HEALTH}"
retry = {{ attempts = 2 }}
"""


def test_order_isolation_and_time_keys_load_and_never_reach_the_kind(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    up, health, migrate, limit, smoke = config.checks
    assert (up.within, up.interval, up.retry, up.after) == (120.0, 5.0, None, ())
    # `after` names an item (all its checks) or a check's name, resolved to check keys
    assert health.after == (up.key,) and migrate.after == (health.key,) and smoke.after == (health.key,)
    assert health.retry == Retry(3, 0.5) and smoke.retry == Retry(2, 2.0)
    assert (migrate.resource, migrate.read_only, migrate.exclusive) == ("database", True, False)
    assert (limit.exclusive, limit.cooldown) == (True, 12.0)
    assert health.within is None and health.interval == 2.0 and health.cooldown is None
    for spec in config.checks:
        assert not {"after", "within", "interval", "retry", "resource", "exclusive", "cooldown",
                    "read_only"} & set(spec.params)


@pytest.mark.parametrize(
    ("body", "needle", "message"),
    [
        ('after = ["steps/api-helthy"]', "after =",
         "after: no check or item 'steps/api-helthy'; did you mean 'steps/api-healthy'?"),
        ('after = ["steps/manual-sign"]', "after =",
         "after: 'steps/manual-sign' has no [[check]] bound to it"),
        ("after = []", "after =", "after must be a list of item ids or check names"),
        ("after = [3]", "after =", "after must be a list of item ids or check names"),
        ('exclusive = "yes"', "exclusive =", "exclusive must be true or false"),
        ("read_only = 1", "read_only =", "read_only must be true or false"),
        ('resource = ""', "resource =", "resource must be a name"),
        ('cooldown = "5s"', "cooldown =", "cooldown applies after an exclusive, resource or burst check"),
        ('within = "soon"', "within =", "within: expected a duration"),
        ('within = "0s"', "within =", "within must be more than zero"),
        ('interval = "1s"', "interval =", "interval is the pause between polls of a within check"),
        ('within = "2s"\ninterval = "5s"', "interval =", "interval is longer than within"),
        ('retry = 3', "retry =", "retry must be a table, like retry = { attempts = 3"),
        ("retry = { attempts = 1 }", "retry =", "retry.attempts must be a whole number from 2 to 20"),
        ("retry = { attempts = 50 }", "retry =", "retry.attempts must be a whole number from 2 to 20"),
        ("retry = { attempts = 3, every = 2 }", "retry =", "unknown key 'every' in retry"),
        ('retry = { attempts = 3, interval = "-1s" }', "retry =", "retry.interval:"),
        ('retry = { attempts = 2 }\nwithin = "1m"', "retry =", "use either within"),
    ],
)
def test_each_bad_key_is_one_line_naming_file_and_line(
    tmp_path: Path, body: str, needle: str, message: str
) -> None:
    path = write(
        tmp_path,
        f"""
        [[check]]
        item = "{HEALTH}"
        kind = "command"
        run = "true"

        [[check]]
        item = "{SMOKE}"
        kind = "command"
        run = "true"
        """
        + "\n".join(body.splitlines()) + "\n",
    )
    got = error_of(path)
    assert got.startswith(f"{path}:{line_of(path, needle)}: {message}"), got


def test_a_check_waiting_for_itself_or_in_a_cycle_is_an_error_naming_the_cycle(tmp_path: Path) -> None:
    itself = write(
        tmp_path, f'[[check]]\nitem = "{HEALTH}"\nkind = "command"\nrun = "true"\nafter = ["{HEALTH}"]\n'
    )
    line = line_of(itself, "after =")
    assert error_of(itself) == f"{itself}:{line}: after: {HEALTH} cannot wait for itself"
    cycle = write(
        tmp_path,
        f"""
        [[check]]
        item = "{UP}"
        kind = "command"
        run = "true"
        after = ["smoke"]

        [[check]]
        item = "{HEALTH}"
        kind = "command"
        run = "true"
        after = ["{UP}"]

        [[check]]
        item = "{SMOKE}"
        name = "smoke"
        kind = "command"
        run = "true"
        after = ["{HEALTH}"]
        """,
    )
    assert error_of(cycle) == (
        f"{cycle}:{line_of(cycle, 'after =')}: after: checks wait for each other in a cycle: "
        f"{UP} -> {SMOKE} (smoke) -> {HEALTH} -> {UP}"
    )


def test_the_bundled_rate_limit_checks_are_exclusive_with_a_cooldown_and_health_accepts_ok() -> None:
    from deploytui.core.checklist import bundled_checklist_path, load_checklist
    from deploytui.core.config import bundled_bindings_path

    config = load_config(bundled_bindings_path(), load_checklist(bundled_checklist_path()))
    bursts = [c for c in config.checks if "burst" in c.params]
    assert {c.item for c in bursts} == {
        "deployment-steps/4-smoke-testing/rate-limiting-works",
        "deployment-steps/7-security-verification/rate-limiting-active",
    }
    assert all(c.exclusive and c.cooldown == 12.0 for c in bursts)
    (health,) = config.checks_for("deployment-steps/3-health-checks/api-health-check-passes")
    assert health.expect == {
        "status": 200,
        "max_ms": 2000,
        "json_if_present": {"status": ["ok", "healthy", "pass", "up"]},
    }
    (sqli,) = config.checks_for("deployment-steps/7-security-verification/sql-injection-protection")
    assert sqli.expect["status"] == ["2xx", "4xx"] and "psycopg" in sqli.expect["body_absent"]
    # every binding says which seed line it proves, on the line above its [[check]]
    text = bundled_bindings_path().read_text().splitlines()
    seed = bundled_checklist_path().read_text().splitlines()
    headers = [n for n, line in enumerate(text) if line.strip() == "[[check]]"]
    assert len(headers) == len(config.checks)
    for n, spec in zip(headers, config.checks, strict=True):
        comment = text[n - 1]
        assert comment.startswith("# Proves rag-chatbot.md line "), (n, comment)
        number = int(comment.split("line ", 1)[1].split(":", 1)[0])
        node = next(node for node in load_checklist(bundled_checklist_path()).nodes.values()
                    if node.id == spec.item)
        assert number == node.line and seed[number - 1].strip() in comment
