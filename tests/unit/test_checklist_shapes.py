"""Checklists written in other common shapes load with sensible ids (tests/fixtures/checklists/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploytui.core.checklist import Checklist, load_checklist

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checklists"


def load(name: str) -> Checklist:
    return load_checklist(FIXTURES / name)


def test_runbook_step_headings_with_fences_are_tickable_steps() -> None:
    c = load("runbook-steps.md")
    assert c.title == "Cache Failover Runbook"
    assert [(n.id, n.kind, n.step, len(n.actions)) for n in c.nodes.values()] == [
        ("step-1-confirm-the-primary-is-down", "item", True, 1),
        ("step-2-promote-the-replica", "item", True, 2),
        ("step-3-point-the-app-at-the-new-primary", "item", True, 1),
        ("step-4-tell-the-team", "section", False, 0),  # no fence: not a step
    ]
    assert [n.id for n in c.items()] == [
        "step-1-confirm-the-primary-is-down",
        "step-2-promote-the-replica",
        "step-3-point-the-app-at-the-new-primary",
    ]
    promote = c.node("step-2-promote-the-replica")
    assert [a.index for a in promote.actions] == [0, 1]
    assert promote.actions[1].code == "redis-cli -h cache-replica info replication | grep role\n"
    assert promote.description == "Run on the replica host:\n\nThen verify the role:"
    # Plain bullets under a step are its description, and the fence after them is still the step's.
    point = c.node("step-3-point-the-app-at-the-new-primary")
    assert point.description.splitlines() == [
        "- Update `REDIS_URL` in the deployment",
        "- Restart the backend",
    ]
    assert point.actions[0].line == 30
    assert c.description == "Use this when the primary Redis node is lost."


def test_star_and_plus_bullets_with_four_space_nesting_and_preticked_items() -> None:
    c = load("star-plus-4space.md")
    assert [(n.id, n.depth, n.checked) for n in c.items()] == [
        ("before/branch-cut", 1, True),
        ("before/changelog-drafted", 1, False),
        ("before/changelog-drafted/features-listed", 2, False),
        ("before/changelog-drafted/fixes-listed", 2, True),
        ("before/changelog-drafted/fixes-listed/security-fixes-called-out", 3, False),
        ("before/changelog-drafted/fixes-listed/cve-ids-linked", 3, False),
        ("before/version-bumped", 1, False),
        ("after/tag-pushed", 1, False),
        ("after/tag-pushed/signed-tag-verified", 2, False),
        ("after/release-notes-published", 1, True),
    ]
    assert c.node("before/version-bumped").actions[0].code == "bumpversion minor\n"
    signed = c.node("after/tag-pushed/signed-tag-verified").actions[0]
    assert (signed.lang, signed.code, signed.line) == ("sh", "git tag -v v1.2.0\n", 20)
    assert c.node("after/tag-pushed").actions == []


def test_unicode_titles_keep_their_letters_in_ids() -> None:
    c = load("i18n.md")
    assert [n.id for n in c.nodes.values()] == [
        "vorbereitung",
        "vorbereitung/datenbank-sicherung-erstellt",
        "vorbereitung/größe-der-übersetzungsdateien-geprüft",
        "vorbereitung/straße-gesperrt",
        "本番デプロイ",
        "本番デプロイ/データベースのバックアップ",
        "本番デプロイ/サービス再起動",
        "проверка-после-выпуска",
        "проверка-после-выпуска/журналы-без-ошибок",
        "проверка-после-выпуска/мониторинг-включён",
    ]
    assert c.node("本番デプロイ/サービス再起動").actions[0].code == "systemctl restart app\n"
    assert c.title == "Bereitstellung"


def test_duplicate_headings_and_items_get_numbered_among_siblings_only() -> None:
    c = load("duplicates.md")
    assert [n.id for n in c.nodes.values()] == [
        "checks",
        "checks/verify",
        "checks/verify-2",
        "checks/verify-3",
        "checks/verify-3/step",
        "checks/verify-3/step-2",
        "checks/verify-2-2",  # a literal "Verify-2" must not collide with the second "Verify"
        "checks-2",
        "checks-2/verify",  # same title under another parent: no suffix
        "section",  # heading "!!!" has no letters
        "section/item",
        "section/item-2",
    ]


def test_tables_quotes_and_front_matter_are_descriptions() -> None:
    c = load("tables-quotes.md")
    assert c.title == "Database Migration"
    assert [n.id for n in c.nodes.values()] == [
        "prepare",
        "prepare/replication-lag-below-1-s",
        "prepare/backup-taken",
        "migrate",
        "migrate/run-migrations",
    ]
    assert c.description == "> **Warning:** run during the maintenance window only."
    assert c.node("prepare").description.splitlines()[2] == "| db-1 | primary | 5432 |"
    lag = c.node("prepare/replication-lag-below-1-s")
    assert lag.description.startswith("> Check `pg_stat_replication` on the primary.\n\n| Metric | Limit |")
    assert lag.line == 17  # front matter is blanked, not removed: lines match the file
    assert c.node("prepare/backup-taken").actions[0].line == 25
    assert "owner" not in c.description


def test_checklist_without_signoff_gets_the_default_form() -> None:
    c = load("no-signoff.md")
    assert c.signoff_default
    assert [(f.key, f.kind, f.role, f.choices, f.line) for f in c.signoff] == [
        ("deployed-by", "text", "deployer", [], None),
        ("reviewed-by", "text", "reviewer", [], None),
        ("result", "choice", None, ["Success", "Rollback"], None),
        ("notes", "multiline", None, [], None),
    ]
    assert c.rollback_id is None
    assert [n.id for n in c.items()] == ["deploy/build", "deploy/ship"]


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.md")))
def test_every_fixture_has_unique_ids_and_consistent_links(name: str) -> None:
    c = load(name)
    for node in c.nodes.values():
        assert all(len(seg) <= 48 and seg for seg in node.id.split("/"))
        if node.parent is None:
            assert node.id in c.roots and node.depth == 0
        else:
            parent = c.node(node.parent)
            assert node.id in parent.children and node.depth == parent.depth + 1
            assert node.id.startswith(parent.id + "/")
        assert all(a.node_id == node.id for a in node.actions)
