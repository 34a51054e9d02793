"""`deploytui list`: the checklist's nodes with their stable ids, actions and bound checks.

Text: an indented tree, one node a line (marks depend on the node's kind, never on a session's status).
JSON: `{"checklist": {"path", "sha256"}, "nodes": [{"id", "title", "kind", "depth", "line", "parent",
"actions": [{"index", "lang", "line", "code"}], "checks": [{"kind", "key"}]}]}` (README.md, "Other commands").
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from typing import Any, TextIO

from deploytui.core.checklist import Checklist, Node
from deploytui.core.config import Config
from deploytui.core.text import clean_line, plural
from deploytui.services.project import resolve, unset_variables


def run(args: argparse.Namespace) -> int:
    checklist, config = resolve(getattr(args, "source", None), getattr(args, "config", None))
    out: TextIO = sys.stdout
    if isinstance(out, io.TextIOWrapper):
        # A checklist's titles may hold any Unicode; a non-UTF-8 terminal gets "?" rather than a traceback.
        out.reconfigure(errors="replace")
    warn_unset(config)
    if getattr(args, "format", "text") == "json":
        json.dump(to_json(checklist, config), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(render_text(checklist, config))
    return 0


def _checks(config: Config, node: Node) -> list[dict[str, str]]:
    return [{"kind": spec.kind, "key": spec.key} for spec in config.checks_for(node.id)]


def to_json(checklist: Checklist, config: Config) -> dict[str, Any]:
    """The `list --format json` document."""
    return {
        "checklist": {"path": str(checklist.path) if checklist.path else None, "sha256": checklist.sha256},
        "nodes": [
            {
                "id": node.id,
                "title": node.title,
                "kind": node.kind,
                "depth": node.depth,
                "line": node.line,
                "parent": node.parent,
                "actions": [
                    {"index": a.index, "lang": a.lang, "line": a.line, "code": a.code} for a in node.actions
                ],
                "checks": _checks(config, node),
            }
            for node in checklist.nodes.values()
        ],
    }


def mark(node: Node) -> str:
    """The kind of a node at a glance: `+` section, `[ ]`/`[x]` task (as written), `1.` numbered
    step, `>` heading step (a runbook step or the preamble's commands)."""
    if node.kind == "section":
        return "+"
    if node.origin == "task":
        return "[x]" if node.checked else "[ ]"
    if node.origin == "ordered":
        return f"{node.number}."
    return ">"


def render_text(checklist: Checklist, config: Config) -> str:
    """The readable tree: `<mark> <title>  <id>  [n actions] [checks: kind, ...]`, two spaces a level."""
    lines = [clean_line(checklist.title)]
    where = str(checklist.path) if checklist.path else "(text)"
    lines.append(f"  {clean_line(where)}  sha256 {checklist.sha256[:16]}")
    if config.path is not None:
        lines.append(f"  config {clean_line(str(config.path))}")
    lines.append("")
    for node in checklist.nodes.values():
        parts = [f"{'  ' * node.depth}{mark(node)} {clean_line(node.title) or '(untitled)'}", node.id]
        if node.actions:
            parts.append(f"[{plural(len(node.actions), 'action')}]")
        specs = config.checks_for(node.id)
        if specs:
            parts.append(f"[checks: {', '.join(spec.label for spec in specs)}]")
        if node.rollback and node.id == checklist.rollback_id:
            parts.append("(rollback procedure: outside progress)")
        lines.append("  ".join(parts))
    items = checklist.items()
    lines.append("")
    lines.append(
        f"{plural(len(items), 'item')}, {plural(len(checklist.actions()), 'action')}, "
        f"{plural(len(config.checks), 'check')} bound"
    )
    form = ", ".join(
        f"{clean_line(f.label)} ({' | '.join(f.choices)})" if f.choices else clean_line(f.label)
        for f in checklist.signoff
    )
    lines.append(f"sign-off{' (default)' if checklist.signoff_default else ''}: {form}")
    return "\n".join(lines) + "\n"


def warn_unset(config: Config, err: TextIO | None = None) -> None:
    """One stderr line naming every `${NAME}` the checks use that nothing sets (they would end `error`)."""
    unset = unset_variables(config)
    if unset:
        names = ", ".join(
            f"${{{name}}} ({len(keys)} check{'s' if len(keys) != 1 else ''})"
            for name, keys in sorted(unset.items())
        )
        (err or sys.stderr).write(
            f"deploytui: warning: not set in [vars], the environment or env files: {names}\n"
        )
