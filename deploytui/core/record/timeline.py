"""The record's timeline: the shape of a deployment at a glance, as text a terminal and a diff both show.

A Gantt-like block in a fenced code block, at most ~78 columns wide: one row per check (every run of it)
and per item's world-changing steps, on one time axis from the session's start to its last event, and a
last row marking where nothing ran (`.`: the operator was reading, deciding, waiting) and where the
operator made a change (`^`: a tick, a skip, a note, the sign-off...). The longest waits are listed below.

Pure and deterministic: built only from the session's events (its state and `history_of`), never the wall
clock, so `verify --session` renders the same bytes again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from deploytui.core.durations import format_duration
from deploytui.core.record.history import RecordHistory
from deploytui.core.session import Session

LABEL_WIDTH = 26
"""Characters of a row's label (the item id, cut at the front: its last segments say the most)."""

BAR_WIDTH = 50
"""Columns of the time axis: with the label, a row fits in 78 columns."""

ROWS_SHOWN = 40
"""Rows drawn at most (checks and actions in the order they first ran); the rest are counted."""

GAPS_SHOWN = 3
"""Longest waits listed under the chart."""

STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
"""Seconds a column may stand for: the smallest that fits the session in BAR_WIDTH columns."""

RUN_MARKS = {"passed": "█", "flaky": "█", "failed": "X", "error": "X"}
"""A check run's columns by how it ended; anything else (blocked, cancelled, interrupted) is `░`."""

ACTION_MARK = "#"
IDLE_MARK = "."
ACTED_MARK = "^"

LEGEND = [
    "█ check passed · X failed or error · ░ cancelled, interrupted or blocked",
    "# action ran · . nothing ran · ^ operator change",
]


@dataclass(frozen=True)
class _Row:
    label: str
    spans: list[tuple[float, float, str]]
    """(start, end) in seconds from the session's start, and the mark."""


def _seconds(text: str, origin: datetime) -> float | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when - origin).total_seconds()


def _label(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= LABEL_WIDTH else "…" + text[-(LABEL_WIDTH - 1) :]


def _clock(origin: datetime, seconds: float) -> str:
    return (origin + timedelta(seconds=seconds)).strftime("%H:%M:%S")


def timeline_lines(session: Session, history: RecordHistory) -> list[str]:
    """The timeline section's lines (without its heading)."""
    try:
        origin = datetime.fromisoformat(session.started.replace("Z", "+00:00"))
    except ValueError:
        return ["No timeline: the session's start time is unreadable."]

    rows: list[tuple[float, _Row]] = []
    checks_of: dict[str, int] = {}
    for item, _check in history.runs:
        checks_of[item] = checks_of.get(item, 0) + 1
    for (item, check), runs in history.runs.items():
        spans = []
        for run in runs:
            start = _seconds(run.started, origin)
            if start is None:
                continue
            end = _seconds(run.ended_at, origin)
            spans.append((start, end if end is not None else start, RUN_MARKS.get(run.end, "░")))
        if spans:
            suffix = f" {check.rpartition('#')[2]}" if checks_of[item] > 1 else ""
            rows.append((min(s[0] for s in spans), _Row(_label(item + suffix), spans)))
    for state in session.items.values():
        spans = []
        for action in state.actions:
            start = _seconds(action.started or action.at, origin)
            end = _seconds(action.at, origin)
            if start is not None:
                spans.append((start, end if end is not None and end >= start else start, ACTION_MARK))
        if spans:
            rows.append((min(s[0] for s in spans), _Row(_label(f"▶ {state.id}"), spans)))
    if not rows:
        return ["No check or action ran in this session."]
    rows.sort(key=lambda r: r[0])  # stable: checks before actions at the same moment

    acted = [t for t in (_seconds(at, origin) for at in history.acted) if t is not None]
    busy = sorted((s, e) for _, row in rows for s, e, _mark in row.spans)
    end = max([e for _s, e in busy] + acted + [_seconds(session.updated, origin) or 0.0, 0.0])
    step = next((s for s in STEPS if end / s < BAR_WIDTH), STEPS[-1])
    columns = min(BAR_WIDTH, int(end // step) + 1)

    def col(seconds: float) -> int:
        return min(columns - 1, max(0, int(seconds // step)))

    def cols(start: float, stop: float) -> range:
        """The columns a span covers, its end excluded (a run ending on a column's edge stays left)."""
        return range(col(start), max(col(start), col(stop - 1e-6)) + 1)

    lines = [
        f"{_clock(origin, 0)} to {_clock(origin, end)} UTC ({format_duration(end)}), one column = "
        f"{format_duration(step)}",
        "",
    ]
    ruler = "".join(f"{_clock(origin, c * step):<10}" for c in range(0, columns, 10))
    lines.append(" " * (LABEL_WIDTH + 1) + ruler)
    for _first, row in rows[:ROWS_SHOWN]:
        bar = [" "] * columns
        for start, stop, mark in row.spans:
            for c in cols(start, stop):
                if bar[c] in (" ", "░") or mark == "X":
                    bar[c] = mark
        lines.append(f"{row.label:<{LABEL_WIDTH}} " + "".join(bar))
    if len(rows) > ROWS_SHOWN:
        lines.append(f"{'… and ' + str(len(rows) - ROWS_SHOWN) + ' more':<{LABEL_WIDTH}}")
    used = [False] * columns
    for start, stop in busy:
        for c in cols(start, stop):
            used[c] = True
    operator = [" " if u else IDLE_MARK for u in used]
    for t in acted:
        operator[col(t)] = ACTED_MARK
    lines.append(f"{'operator':<{LABEL_WIDTH}} " + "".join(operator))
    lines += ["", *LEGEND]

    gaps = _gaps(busy, end)
    if gaps:
        lines += ["", "Longest waits (nothing ran):"]
        for start, stop in gaps[:GAPS_SHOWN]:
            lines.append(
                f"- {format_duration(stop - start)}: {_clock(origin, start)} to {_clock(origin, stop)}"
            )
    return [line.rstrip() for line in lines]


def _gaps(busy: list[tuple[float, float]], end: float) -> list[tuple[float, float]]:
    """Stretches of at least a second in which no check or action ran, longest first (then earliest)."""
    gaps = []
    reached = 0.0
    for start, stop in busy:
        if start - reached >= 1:
            gaps.append((reached, start))
        reached = max(reached, stop)
    if end - reached >= 1:
        gaps.append((reached, end))
    return sorted(gaps, key=lambda g: (-(g[1] - g[0]), g[0]))
