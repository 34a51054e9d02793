"""The checklist loader on the seed checklist and on bad input (DESIGN.md "Checklist model")."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from deploytui.core.checklist import (
    MAX_CHECKLIST_BYTES,
    bundled_checklist_path,
    load_checklist,
    parse_checklist,
    slugify,
)
from deploytui.core.errors import DeployError
from deploytui.core.markdown import MAX_NESTING

SEED_ITEM_IDS = [
    "pre-deployment/all-tests-passing",
    "pre-deployment/code-review-completed",
    "pre-deployment/code-review-completed/security-review",
    "pre-deployment/code-review-completed/performance-review",
    "pre-deployment/code-review-completed/architecture-review",
    "pre-deployment/dependencies-updated",
    "pre-deployment/environment-variables-configured",
    "pre-deployment/environment-variables-configured/database-url-set",
    "pre-deployment/environment-variables-configured/redis-url-set",
    "pre-deployment/environment-variables-configured/qdrant-credentials-set",
    "pre-deployment/environment-variables-configured/gemini-api-key-set",
    "pre-deployment/environment-variables-configured/secret-key-generated",
    "pre-deployment/environment-variables-configured/allowed-origins-set",
    "pre-deployment/secrets-secured",
    "pre-deployment/secrets-secured/env-not-committed",
    "pre-deployment/secrets-secured/api-keys-not-in-logs",
    "pre-deployment/secrets-secured/credentials-in-secrets-manager",
    "pre-deployment/secrets-secured/database-password-changed",
    "pre-deployment/database-ready",
    "pre-deployment/database-ready/migrations-tested-locally",
    "pre-deployment/database-ready/backup-strategy-in-place",
    "pre-deployment/database-ready/connection-string-verified",
    "pre-deployment/external-services-verified",
    "pre-deployment/external-services-verified/qdrant-cluster-accessible",
    "pre-deployment/external-services-verified/gemini-api-key-valid",
    "pre-deployment/external-services-verified/redis-accessible",
    "pre-deployment/external-services-verified/database-accessible",
    "deployment-steps/1-pre-deployment/create-backup-of-production-database",
    "deployment-steps/1-pre-deployment/notify-team-of-deployment",
    "deployment-steps/1-pre-deployment/enable-maintenance-mode-optional",
    "deployment-steps/1-pre-deployment/set-deployment-start-time",
    "deployment-steps/2-deployment/build-docker-image",
    "deployment-steps/2-deployment/push-to-registry",
    "deployment-steps/2-deployment/deploy-to-production",
    "deployment-steps/2-deployment/run-database-migrations",
    "deployment-steps/2-deployment/verify-services-are-running",
    "deployment-steps/3-health-checks/api-health-check-passes",
    "deployment-steps/3-health-checks/database-connection-works",
    "deployment-steps/3-health-checks/external-services-accessible",
    "deployment-steps/3-health-checks/external-services-accessible/qdrant-reachable",
    "deployment-steps/3-health-checks/external-services-accessible/gemini-api-responding",
    "deployment-steps/3-health-checks/external-services-accessible/redis-connected",
    "deployment-steps/3-health-checks/logs-show-no-errors",
    "deployment-steps/4-smoke-testing/general-query-works",
    "deployment-steps/4-smoke-testing/selection-query-works",
    "deployment-steps/4-smoke-testing/rate-limiting-works",
    "deployment-steps/4-smoke-testing/caching-works",
    "deployment-steps/4-smoke-testing/error-handling-works",
    "deployment-steps/4-smoke-testing/webhooks-trigger",
    "deployment-steps/5-monitoring-setup/prometheus-collecting-metrics",
    "deployment-steps/5-monitoring-setup/grafana-dashboards-loaded",
    "deployment-steps/5-monitoring-setup/alerts-configured",
    "deployment-steps/5-monitoring-setup/log-aggregation-active",
    "deployment-steps/5-monitoring-setup/apm-instrumentation-working",
    "deployment-steps/6-performance-validation/response-time-2-seconds",
    "deployment-steps/6-performance-validation/memory-usage-stable",
    "deployment-steps/6-performance-validation/cpu-usage-80",
    "deployment-steps/6-performance-validation/database-queries-optimized",
    "deployment-steps/7-security-verification/https-tls-enabled",
    "deployment-steps/7-security-verification/api-keys-not-exposed",
    "deployment-steps/7-security-verification/cors-properly-configured",
    "deployment-steps/7-security-verification/rate-limiting-active",
    "deployment-steps/7-security-verification/input-validation-working",
    "deployment-steps/7-security-verification/sql-injection-protection",
    "deployment-steps/7-security-verification/xss-protection-enabled",
    "deployment-steps/8-user-testing/end-to-end-test-passed",
    "deployment-steps/8-user-testing/ui-loads-correctly",
    "deployment-steps/8-user-testing/chatwidget-renders",
    "deployment-steps/8-user-testing/message-submission-works",
    "deployment-steps/8-user-testing/results-display-correctly",
    "deployment-steps/8-user-testing/citations-show-properly",
    "deployment-steps/9-documentation/api-docs-updated",
    "deployment-steps/9-documentation/deployment-guide-updated",
    "deployment-steps/9-documentation/troubleshooting-guide-updated",
    "deployment-steps/9-documentation/version-bump-completed",
    "deployment-steps/9-documentation/changelog-updated",
    "deployment-steps/10-post-deployment/monitor-error-rate-1",
    "deployment-steps/10-post-deployment/monitor-response-time-p95-2s",
    "deployment-steps/10-post-deployment/monitor-uptime-99-9",
    "deployment-steps/10-post-deployment/check-user-feedback",
    "deployment-steps/10-post-deployment/review-analytics",
    "deployment-steps/10-post-deployment/validate-backups-work",
    "post-deployment-validation/day-1/all-services-running",
    "post-deployment-validation/day-1/no-error-spikes",
    "post-deployment-validation/day-1/performance-metrics-normal",
    "post-deployment-validation/day-1/user-queries-working",
    "post-deployment-validation/week-1/error-rate-stable",
    "post-deployment-validation/week-1/response-times-consistent",
    "post-deployment-validation/week-1/cache-hit-rates-good-30",
    "post-deployment-validation/week-1/database-performing-well",
    "post-deployment-validation/month-1/uptime-99-9",
    "post-deployment-validation/month-1/no-critical-bugs",
    "post-deployment-validation/month-1/performance-optimized",
    "post-deployment-validation/month-1/analytics-collected",
]
SEED_SECTION_IDS = [
    "pre-deployment",
    "deployment-steps",
    "deployment-steps/1-pre-deployment",
    "deployment-steps/2-deployment",
    "deployment-steps/3-health-checks",
    "deployment-steps/4-smoke-testing",
    "deployment-steps/5-monitoring-setup",
    "deployment-steps/6-performance-validation",
    "deployment-steps/7-security-verification",
    "deployment-steps/8-user-testing",
    "deployment-steps/9-documentation",
    "deployment-steps/10-post-deployment",
    "rollback-plan",
    "post-deployment-validation",
    "post-deployment-validation/day-1",
    "post-deployment-validation/week-1",
    "post-deployment-validation/month-1",
]
SEED_FENCES = {
    8: "pre-deployment/all-tests-passing",
    18: "pre-deployment/dependencies-updated",
    52: "deployment-steps/1-pre-deployment/create-backup-of-production-database",
    62: "deployment-steps/2-deployment/build-docker-image",
    67: "deployment-steps/2-deployment/push-to-registry",
    72: "deployment-steps/2-deployment/deploy-to-production",
    78: "deployment-steps/2-deployment/run-database-migrations",
    83: "deployment-steps/2-deployment/verify-services-are-running",
    89: "deployment-steps/3-health-checks/api-health-check-passes",
    94: "deployment-steps/3-health-checks/database-connection-works",
    106: "deployment-steps/3-health-checks/logs-show-no-errors",
    120: "deployment-steps/5-monitoring-setup/prometheus-collecting-metrics",
    131: "deployment-steps/6-performance-validation/response-time-2-seconds",
    176: "rollback-plan/quick-rollback-5-minutes",
    183: "rollback-plan/container-rollback",
    189: "rollback-plan/database-rollback",
}


@pytest.fixture(scope="module")
def seed():
    return load_checklist(bundled_checklist_path())


def test_seed_items_are_exactly_the_94_task_items_in_document_order(seed) -> None:
    assert [n.id for n in seed.items()] == SEED_ITEM_IDS
    assert len(SEED_ITEM_IDS) == 94
    assert all(n.origin == "task" and not n.checked for n in seed.items())


def test_seed_sections_follow_the_heading_tree(seed) -> None:
    assert [n.id for n in seed.nodes.values() if n.kind == "section"] == SEED_SECTION_IDS
    assert seed.title == "Deployment Checklist"
    assert "deployment-checklist" not in seed.nodes  # the single # title is the name, not a node
    assert seed.roots == [
        "pre-deployment",
        "deployment-steps",
        "rollback-plan",
        "post-deployment-validation",
    ]
    health = seed.node("deployment-steps/3-health-checks")
    assert (health.depth, health.parent, health.line) == (1, "deployment-steps", 87)


def test_seed_nested_task_items_are_children(seed) -> None:
    env = seed.node("pre-deployment/environment-variables-configured")
    assert len(env.children) == 6
    assert env.children[0] == "pre-deployment/environment-variables-configured/database-url-set"
    assert seed.node(env.children[0]).depth == env.depth + 1 == 2
    assert len(seed.node("pre-deployment/code-review-completed").children) == 3
    assert [n.id for n in seed.leaves_under("pre-deployment/code-review-completed")] == [
        "pre-deployment/code-review-completed/security-review",
        "pre-deployment/code-review-completed/performance-review",
        "pre-deployment/code-review-completed/architecture-review",
    ]


def test_seed_every_fence_is_an_action_of_the_node_written_above_it(seed) -> None:
    found = {a.line: a.node_id for n in seed.nodes.values() for a in n.actions}
    assert found == SEED_FENCES
    deploy = seed.node("deployment-steps/2-deployment/deploy-to-production")
    (action,) = deploy.actions
    assert (action.index, action.lang, action.node_id) == (0, "bash", deploy.id)
    assert action.code == (
        "docker-compose -f docker-compose.prod.yml pull\ndocker-compose -f docker-compose.prod.yml up -d\n"
    )
    query = seed.node("deployment-steps/3-health-checks/database-connection-works").actions[0]
    assert query.code.startswith("curl -X POST http://localhost:8000/api/v1/chat/query \\\n")
    assert len(seed.actions()) == 16


def test_seed_rollback_plan_is_four_numbered_steps_outside_progress(seed) -> None:
    assert seed.rollback_id == "rollback-plan"
    plan = seed.node("rollback-plan")
    assert plan.rollback and plan.kind == "section"
    steps = [seed.node(c) for c in plan.children]
    assert [s.title for s in steps] == [
        "Quick Rollback (< 5 minutes)",
        "Container Rollback",
        "Database Rollback",
        "Full Rollback",
    ]
    assert [s.number for s in steps] == ["1", "2", "3", "4"]
    assert all(s.kind == "item" and s.rollback and s.origin == "ordered" for s in steps)
    assert [len(s.actions) for s in steps] == [1, 1, 1, 0]
    assert steps[3].description.splitlines() == [
        "- Stop new deployment",
        "- Restore from backup",
        "- Revert to previous version",
        "- Notify stakeholders",
    ]
    assert plan.description == "If issues occur:"
    assert not any(n.rollback for n in seed.items())


def test_seed_signoff_form_comes_from_the_document(seed) -> None:
    assert not seed.signoff_default
    form = [(f.key, f.label, f.kind, f.choices, f.role, f.line) for f in seed.signoff]
    assert form == [
        ("deployed-by", "Deployed by", "text", [], "deployer", 223),
        ("reviewed-by", "Reviewed by", "text", [], "reviewer", 224),
        ("date", "Date", "date", [], None, 225),
        ("time", "Time", "time", [], None, 226),
        ("result", "Result", "choice", ["Success", "Rollback"], None, 227),
        ("notes", "Notes", "multiline", [], None, 229),
    ]
    # The sign-off section is the form, not part of the tree ("Last Updated" is not a field).
    assert not [n for n in seed.nodes.values() if "sign" in n.id]


def test_seed_description_and_sha256(seed) -> None:
    data = bundled_checklist_path().read_bytes()
    assert seed.sha256 == hashlib.sha256(data).hexdigest()
    assert seed.description == "Pre-deployment verification checklist for production deployment."
    assert seed.path == bundled_checklist_path()


def test_descendants_in_document_order(seed) -> None:
    desc = seed.descendants("deployment-steps/3-health-checks")
    assert [n.id.rsplit("/", 1)[1] for n in desc] == [
        "api-health-check-passes",
        "database-connection-works",
        "external-services-accessible",
        "qdrant-reachable",
        "gemini-api-responding",
        "redis-connected",
        "logs-show-no-errors",
    ]
    with pytest.raises(KeyError):
        seed.node("no/such/id")


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("API health check passes", "api-health-check-passes"),
        ("3. Health Checks", "3-health-checks"),
        ("  --Response time < 2 seconds--  ", "response-time-2-seconds"),
        ("Größe prüfen", "größe-prüfen"),
        ("本番 デプロイ", "本番-デプロイ"),
        ("Журналы без ошибок", "журналы-без-ошибок"),
        ("नमस्ते दुनिया", "नमस्ते-दुनिया"),  # combining vowel signs stay inside the word
        ("!!!", ""),
        ("x" * 60, "x" * 48),
        ("a" * 47 + " b", "a" * 47),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_front_matter_is_ignored_and_line_numbers_stay_true() -> None:
    text = "---\ntitle: x\n- [ ] not an item\n---\n# T\n\n## S\n- [ ] Real\n"
    c = parse_checklist(text)
    assert list(c.nodes) == ["s", "s/real"]
    assert c.node("s/real").line == 8
    assert c.title == "T"


def test_crlf_and_bom_are_read_with_true_line_numbers(tmp_path: Path) -> None:
    p = tmp_path / "win.md"
    p.write_bytes("\ufeff# Win\r\n\r\n## Go\r\n- [ ] First\r\n  ```sh\r\n  echo hi\r\n  ```\r\n".encode())
    c = load_checklist(p)
    item = c.node("go/first")
    assert (item.line, item.actions[0].line, item.actions[0].code) == (4, 5, "echo hi\n")
    assert c.title == "Win"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DeployError) as err:
        load_checklist(tmp_path / "nope.md")
    assert str(err.value) == f"{tmp_path / 'nope.md'}: no such checklist file"


def test_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="is a directory") as err:
        load_checklist(tmp_path)
    assert err.value.path == str(tmp_path)


def test_binary_garbage_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bin.md"
    p.write_bytes(b"# ok\n\nline\n\x00\x01\x02garbage")
    with pytest.raises(DeployError, match="NUL byte") as err:
        load_checklist(p)
    assert (err.value.path, err.value.line) == (str(p), 4)


def test_non_utf8_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "latin1.md"
    p.write_bytes("# Titel\n\n- [ ] Größe\n".encode("latin-1"))
    with pytest.raises(DeployError, match="not UTF-8") as err:
        load_checklist(p)
    assert err.value.line == 3
    assert str(err.value).startswith(f"{p}:3: ")


def test_huge_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "huge.md"
    p.write_bytes(b"- [ ] x\n" * (MAX_CHECKLIST_BYTES // 8 + 1))
    with pytest.raises(DeployError, match="too large") as err:
        load_checklist(p)
    assert err.value.path == str(p)


def test_nesting_deeper_than_the_parser_limit_is_an_error_not_silent_loss() -> None:
    # markdown-it drops everything after content nested past its limit; we must say so instead.
    text = "## S\n" + ">" * (MAX_NESTING + 5) + " deep\n\n- [ ] after\n"
    with pytest.raises(DeployError, match="nested more than") as err:
        parse_checklist(text, Path("deep.md"))
    assert err.value.line == 2


def test_ten_list_levels_load_fully() -> None:
    # CommonMark's default nesting limit (20 token levels) would silently drop the 10th level.
    text = "".join("  " * d + f"- [ ] Level {d}\n" for d in range(12)) + "\n## After\n- [ ] Tail\n"
    c = parse_checklist(text)
    assert [n.depth for n in c.items()] == [*range(12), 1]
    assert "after/tail" in c.nodes


def test_empty_and_heading_only_documents() -> None:
    empty = parse_checklist("")
    assert (empty.nodes, empty.roots, empty.signoff_default, empty.title) == ({}, [], True, "Checklist")
    assert [f.key for f in empty.signoff] == ["deployed-by", "reviewed-by", "result", "notes"]
    only = parse_checklist("# Just a title\n")
    assert only.title == "Just a title" and only.nodes == {}


def test_fence_before_any_section_becomes_a_preamble_step() -> None:
    c = parse_checklist("# Restart cache\n\n```bash\nsystemctl restart redis\n```\n")
    (node,) = c.nodes.values()
    assert (node.id, node.kind, node.step, node.origin) == ("restart-cache", "item", True, "preamble")
    assert node.actions[0].code == "systemctl restart redis\n"
    assert c.items() == [node]


def test_fence_outside_list_goes_to_nearest_item_above_by_indentation() -> None:
    text = (
        "## S\n\n```sh\necho section\n```\n\n"
        "- [ ] A\n  - [ ] A1\n\n```sh\necho top-level\n```\n"
        "- [ ] B\n  - [ ] B1\n\n  ```sh\n  echo inside-b\n  ```\n"
    )
    c = parse_checklist(text)
    owners = {a.code.split()[1]: a.node_id for a in c.actions()}
    assert owners == {"section": "s", "top-level": "s/a", "inside-b": "s/b"}


def test_inline_code_is_never_an_action_and_keeps_backticks() -> None:
    c = parse_checklist("## S\n- [ ] Run `make test` and **check** [logs](http://x)\n")
    (item,) = c.items()
    assert item.title == "Run `make test` and check logs"
    assert item.actions == []
    assert item.id == "s/run-make-test-and-check-logs"


def test_a_task_marker_must_start_the_item() -> None:
    c = parse_checklist("## S\n- [ ] Real\n- Not [ ] a task\n- [x]no-space\n- [ ]\n")
    assert [(n.id, n.title) for n in c.items()] == [("s/real", "Real"), ("s/item", "")]
    assert "Not [ ] a task" in c.node("s").description


def test_ordered_entries_are_items_only_where_no_task_items_are() -> None:
    text = "## Mixed\n- [ ] Task\n\n1. just a numbered note\n\n## Procedure\n1. Stop\n2. Start\n   1. Sub\n"
    c = parse_checklist(text)
    assert [n.id for n in c.items()] == [
        "mixed/task",
        "procedure/stop",
        "procedure/start",
        "procedure/start/sub",
    ]


def test_approval_section_with_task_items_stays_a_section() -> None:
    c = parse_checklist("## Approvals\n- [ ] QA approved\n- [ ] PM approved\n")
    assert [n.id for n in c.items()] == ["approvals/qa-approved", "approvals/pm-approved"]
    assert c.signoff_default


def test_signoff_field_kinds_and_roles() -> None:
    text = (
        "## Approval\n\n**Approved by:** ______\n\n**Ticket:** ____\n\n**Date/Time:** ____\n\n"
        "**Outcome**: [ ] Go [x] No-go [ ] Postponed\n\n**Comments:** ___\n\n"
        "Deployer: ____\n\n**Owner:** Alice\n"
    )
    c = parse_checklist(text)
    assert [(f.key, f.kind, f.role, f.choices) for f in c.signoff] == [
        ("approved-by", "text", "reviewer", []),
        ("ticket", "text", None, []),
        ("date-time", "date", None, []),
        ("outcome", "choice", None, ["Go", "No-go", "Postponed"]),
        ("comments", "multiline", None, []),
        ("deployer", "text", "deployer", []),
    ]
    assert c.nodes == {}


def test_big_checklist_loads_whole_and_deep() -> None:
    """5,000 items, 10 levels, 500 fences: structure only here (the timing lives in benchmarks)."""
    lines = ["# Big", ""]
    n = 0
    for s in range(50):
        lines += [f"## Section {s}", ""]
        for chain in range(10):
            for d in range(10):
                n += 1
                pad = "  " * d
                lines.append(f"{pad}- [ ] Item {s}.{chain}.{d}")
                if n % 10 == 0:
                    lines += [f"{pad}  ```bash", f"{pad}  echo {n}", f"{pad}  ```"]
    c = parse_checklist("\n".join(lines) + "\n")
    assert len(c.items()) == 5000
    assert len(c.actions()) == 500
    assert max(node.depth for node in c.nodes.values()) == 10
    assert all(a.node_id.endswith("-9") for a in c.actions())  # each fence sits under a 10th-level item


def test_rollback_and_signoff_headings_match_whole_words() -> None:
    assert parse_checklist("## Payroll backend\n- [ ] x\n").rollback_id is None
    nested = parse_checklist("## Deploy\n- [ ] Ship\n### Roll-back steps\n1. Revert\n")
    assert nested.rollback_id == "deploy/roll-back-steps"
    assert [n.id for n in nested.items()] == ["deploy/ship"]
    assert nested.node("deploy/roll-back-steps/revert").rollback
    assert parse_checklist("## Design offsite\n**Deployed by:** ___\n").signoff_default
    assert not parse_checklist("## Approvals\n**Deployed by:** ___\n").signoff_default
