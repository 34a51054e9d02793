"""How statuses and nodes look on screen: one glyph per status (distinct without colour), labels."""

from __future__ import annotations

from deploytui.core.status import Status

GLYPHS: dict[Status, str] = {
    Status.PENDING: "○",
    Status.RUNNING: "▶",
    Status.PASSED: "✔",
    Status.FAILED: "✘",
    Status.ERROR: "⚠",
    Status.DONE: "☑",
    Status.SKIPPED: "»",
    Status.OVERRIDDEN: "⚑",
    Status.INTERRUPTED: "↯",
    Status.FLAKY: "≈",
    Status.BLOCKED: "⊘",
}
"""Each status has its own shape, so the tree reads the same in monochrome or to a colour-blind eye."""

CHECK_MARK = "◆"
"""Shown after an item that has bound checks (read-only: r runs them)."""

ACTION_MARK = "$"
"""Shown after a node that has world-changing steps (x runs them): fenced blocks, bound actions, webhooks
and dumps alike."""

ROLLBACK_MARK = "↺"
"""Shown before the rollback procedure's heading."""
