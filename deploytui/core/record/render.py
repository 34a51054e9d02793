"""The signed Markdown record of a session: canonical form, signature trailers, machine-readable data.

Layout of a record file (README.md, "The sign-off and the record"):

    <body: Markdown, canonical>            <- the signed bytes, the same for every signer
    <!-- deploytui-signature v1 role=deployer -->
    ```sshsig
    -----BEGIN SSH SIGNATURE-----
    ...
    -----END SSH SIGNATURE-----
    ```
    <!-- deploytui-signature v1 role=reviewer -->
    ...                                    <- nothing after the last trailer

Canonical body: UTF-8, LF line ends, no trailing whitespace on any line, no control characters but TAB
and LF, no trailing empty lines, exactly one final LF, and no line that starts (after indentation) like
a signature marker or armor line: such a line is escaped with a backslash. The body ends with a fenced
JSON block ("record data") that `deploytui verify` reads: signers, event-log head, log hashes.

Pure: no I/O, no subprocess. Signing and verifying with ssh-keygen live in deploytui.signing.

Why one module (~760 lines): what the record states and what `verify` checks the text against
(`stated_problems`) must be written side by side, or they drift; canonical bytes and trailers are
in `parse.py`, the history of runs in `history.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from deploytui.core.durations import format_duration
from deploytui.core.session import Session
from deploytui.core.status import Status
from deploytui.core.text import (
    clean,
    clean_line,
    code_span,
    escape_inline,
    fenced,
    one_line,
    tail_lines,
    truncate_lines,
)

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist, SignoffField

from deploytui.core.record.history import RecordHistory, RunEntry
from deploytui.core.record.parse import (
    ROLES,
    RecordData,
    SignoffEntry,
    canonicalise,
    render_data_block,
)
from deploytui.core.record.timeline import timeline_lines

# --- rendering a session ---------------------------------------------------------------------------

EVIDENCE_LINES = 15
"""Lines of a run's output shown in the record (the last ones: where errors and verdicts are)."""

MARKS: dict[Status, str] = {
    Status.PASSED: "✅",
    Status.DONE: "☑️",
    Status.FAILED: "❌",
    Status.ERROR: "⛔",
    Status.SKIPPED: "⏭️",
    Status.OVERRIDDEN: "⚠️",
    Status.INTERRUPTED: "⏸️",
    Status.RUNNING: "⏳",
    Status.PENDING: "⬜",
    Status.FLAKY: "🔁",
    Status.BLOCKED: "🚫",
}
"""A symbol per status; the status word always follows, so marks stay distinct in black and white."""

LEGEND_WHEN_USED = frozenset({Status.FLAKY, Status.BLOCKED})
"""Marks the legend names only when the session uses them: a record rendered again from a session of
an earlier version (`verify --session`) keeps the bytes it was signed with."""


@dataclass(frozen=True)
class LogExcerpt:
    """The tail of one run's log, already redacted and cleaned of escapes and control characters."""

    text: str
    omitted: int
    """Lines before the excerpt that are left out."""


@dataclass
class RecordInputs:
    """What the record needs beside the session and the checklist, read from the session dir by the caller."""

    events_head: str
    events_count: int
    logs: dict[str, str] = field(default_factory=dict)
    """Every file under the session's logs/ (path relative to the session dir) -> sha256."""
    excerpts: dict[str, LogExcerpt] = field(default_factory=dict)
    """Log path (relative, as in the session) -> its excerpt."""
    exported_at: str = ""
    tool: str = "deploytui"
    checklist_note: str = ""
    """Why the checklist's structure is not used (file missing, or changed since the session), or ""."""
    history: RecordHistory | None = None
    """Every run, override, actor and interruption, from the session's events (None: none known)."""


def status_mark(status: Status) -> str:
    """`[x] ✅ **passed**`: a task box GitHub renders, a symbol, and the word."""
    box = "[x]" if status.is_complete else "[ ]"
    return f"{box} {MARKS[status]} **{status}**"


def _mark(status: Status) -> str:
    return f"{MARKS[status]} {status}"


def counts_used(session: Session, counts: dict[Status, int]) -> set[Status]:
    """Every status the record shows: of its items and of their checks and attempts."""
    used = {s for s, n in counts.items() if n}
    for state in session.items.values():
        used.add(state.status)
        for check in state.checks.values():
            used.add(check.status)
            used.update(a.status for a in check.attempts)
    return used


def _title(text: str) -> str:
    """A checklist title (trusted Markdown from the checklist) on one line, with no raw HTML."""
    return clean_line(text).replace("<", "\\<") or "(untitled)"


def _when(at: str) -> str:
    return escape_inline(at) if at else "—"


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def session_duration(session: Session) -> str:
    start = _parse_time(session.started)
    end = _parse_time(session.finished or session.updated)
    if start is None or end is None or end < start:
        return "—"
    text = format_duration((end - start).total_seconds())
    return text if session.finished else f"{text} (not finished)"


def signoff_fields(checklist: Checklist | None) -> list[SignoffField]:
    if checklist is not None:
        return list(checklist.signoff)
    from deploytui.core.checklist import default_signoff

    return default_signoff()


def signers_of(session: Session, checklist: Checklist | None) -> dict[str, str]:
    """Role -> the name the sign-off gives it ("" when empty). Without a deployer field, the operator."""
    fields = signoff_fields(checklist)
    signers = {}
    for role in ROLES:
        key = next((f.key for f in fields if f.role == role), None)
        value = session.signoff.get(key, "") if key else ""
        if not value and role == "deployer" and key is None:
            value = session.operator
        signers[role] = clean_line(value)
    return signers


def role_labels(checklist: Checklist | None) -> dict[str, str]:
    fields = signoff_fields(checklist)
    labels = {"deployer": "Deployed by", "reviewer": "Reviewed by"}
    for f in fields:
        if f.role in labels:
            labels[f.role] = clean_line(f.label)
    return labels


def session_result(session: Session) -> str:
    """The result the session finished with, else the sign-off's Result field, else ""."""
    if session.result:
        return clean_line(session.result)
    return clean_line(session.signoff.get("result", ""))


def is_rollback(result: str) -> bool:
    return "rollback" in result.lower().replace(" ", "").replace("-", "")


PAGE_ONE_END = "---"
"""The rule that ends page one (the summary) and starts the checklist."""

OPEN_ITEMS_SHOWN = 40
"""Open and failed items named one by one on page one (failures first); the rest are counted."""


def record_data(session: Session, checklist: Checklist | None, inputs: RecordInputs) -> RecordData:
    """The facts a record states, as its signed data block holds them."""
    counts = session.counts(checklist)
    fields = signoff_fields(checklist)
    statuses: dict[str, str] = {}
    for item_id in _listed_items(session, checklist):
        known = item_id in session.items
        statuses[item_id] = str(session.status_of(item_id, checklist) if known else Status.PENDING)
    return RecordData(
        session=session.id,
        checklist_sha256=session.checklist_sha256,
        signers=signers_of(session, checklist),
        events_head=inputs.events_head,
        events_count=inputs.events_count,
        logs=dict(inputs.logs),
        exported_at=inputs.exported_at,
        tool=inputs.tool,
        result=session_result(session),
        signed_off_by=clean_line(session.signoff_by),
        acknowledged_open=session.signoff_acknowledged,
        reviewers=session.signoff_reviewers,
        signoff=[
            SignoffEntry(f.key, clean_line(f.label), session.signoff.get(f.key, ""), f.role or "")
            for f in fields
        ],
        counts={str(s): n for s, n in counts.items() if n},
        statuses=statuses,
    )


def _listed_items(session: Session, checklist: Checklist | None) -> list[str]:
    """Every item id the record shows with a status: the session's, then checklist items it lacks."""
    ids = [i for i, s in session.items.items() if not (s.orphan and s.status is Status.PENDING)]
    if checklist is not None:
        ids += [n.id for n in checklist.nodes.values() if n.kind == "item" and n.id not in session.items]
    return ids


def _counts_of(data: RecordData) -> list[tuple[Status, int]]:
    return [(s, data.counts.get(str(s), 0)) for s in MARKS if data.counts.get(str(s), 0)]


def headline_lines(data: RecordData) -> list[str]:
    """The first lines under the title: the result as chosen and as measured. Rendered from the data
    block, so `verify` checks them against it."""
    counts = _counts_of(data)
    total = sum(n for _, n in counts)
    complete = sum(n for s, n in counts if s.is_complete)
    failed = sum(n for s, n in counts if s.is_bad)
    still_open = total - complete - failed
    who = escape_inline(data.signed_off_by) or "(nobody named)"
    if not data.result:
        first = f"**Result: not finished** · {complete} of {total} items complete"
    elif not failed and not still_open:
        first = f"**Result: {escape_inline(data.result)}**, signed off by {who} with every item complete."
    elif data.acknowledged_open == failed + still_open:
        first = (
            f"**Result: {escape_inline(data.result)}**, signed off with {failed} failed and {still_open} "
            f"open items acknowledged by {who}."
        )
    else:
        first = (
            f"**Result: {escape_inline(data.result)}**, signed off by {who} with {failed} failed and "
            f"{still_open} open items ({data.acknowledged_open} acknowledged at the sign-off)."
        )
    present = " · ".join(f"{MARKS[s]} {s} {n}" for s, n in counts) or "no items"
    return [first, "", f"Measured: {complete} of {total} items complete · {present}"]


def stated_rows(data: RecordData) -> list[tuple[str, str]]:
    """The rows of the summary table that come from the data block."""
    verdict = escape_inline(data.result) if data.result else "not finished"
    return [
        ("Checklist sha256", code_span(data.checklist_sha256)),
        ("Session", code_span(data.session)),
        ("Result", verdict),
        ("Exported", f"{_when(data.exported_at)} by {escape_inline(data.tool)}"),
    ]


def signatures_line(data: RecordData) -> str:
    labels = {"deployer": "Deployed by", "reviewer": "Reviewed by"}
    for entry in data.signoff:
        if entry.role in labels:
            labels[entry.role] = entry.label
    deployer = escape_inline(data.signers.get("deployer", "")) or "(not named)"
    reviewer = escape_inline(data.signers.get("reviewer", ""))
    head = (
        f"Signatures: the deployer **{deployer}** (sign-off “{escape_inline(labels['deployer'])}”) "
        "signs this record; "
    )
    if reviewer:
        return head + (
            f"the reviewer **{reviewer}** (sign-off “{escape_inline(labels['reviewer'])}”) is expected to "
            "countersign it, as another person with another key."
        )
    if data.reviewers == 0:
        return head + "no reviewer countersigns (the configuration declares `[signoff] reviewers = 0`)."
    return head + (
        f"a reviewer must countersign, and none is named (sign-off “{escape_inline(labels['reviewer'])}” "
        "is empty): the record does not verify until one is."
    )


def signoff_lines(data: RecordData) -> list[str]:
    """The sign-off section's lines after its heading, from the data block."""
    out: list[str] = []
    for entry in data.signoff:
        label = escape_inline(entry.label)
        role_note = {"deployer": " _(signs as deployer)_", "reviewer": " _(countersigns as reviewer)_"}.get(
            entry.role, ""
        )
        value = entry.value
        if "\n" in value.strip():
            out += [f"- **{label}:**{role_note}", "", fenced(clean(value).strip("\n"), "text", "  "), ""]
        else:
            out.append(f"- **{label}:** {escape_inline(value) if value.strip() else '—'}{role_note}")
    if data.signed_off_by:
        out.append(f"- Signed off in deploytui by {escape_inline(data.signed_off_by)}")
    out += ["", "The sign-off requires " + (
        "one reviewer signature beside the deployer's (four eyes)." if data.reviewers else
        "no reviewer signature (`[signoff] reviewers = 0`)."
    )]
    return out


def evidence_line(data: RecordData) -> str:
    return (
        f"Event log: {code_span('events.jsonl')}, {data.events_count} events, "
        f"head {code_span(data.events_head)}."
    )


def render_record(session: Session, checklist: Checklist | None, inputs: RecordInputs) -> str:
    """The record body of `session`: canonical Markdown, the data block last. Pure.

    Page one is the summary an auditor reads first: the result as chosen and as measured, the sign-off's
    acknowledgement, who acted, interruptions and resumes, overrides, and the failed and open items.
    Then the checklist with every run of each check, the sign-off, the evidence index and the data block.
    `checklist` gives the tree of sections and the sign-off form; None (file missing or changed) lists
    the session's items by themselves. Every text that came from outside (output, reasons, notes, names)
    is escaped or fenced so it cannot change the document's structure.
    """
    out: list[str] = []
    title = session.checklist_title or (checklist.title if checklist else "") or "Deployment"
    data = record_data(session, checklist, inputs)
    history = inputs.history or RecordHistory()

    out += [f"# Deployment record: {_title(title)}", ""]
    out += headline_lines(data)
    out.append("")
    stated = dict(stated_rows(data))
    rows = [
        ("Checklist", code_span(session.checklist_path or "(not from a file)")),
        ("Checklist sha256", stated["Checklist sha256"]),
        ("Session", stated["Session"]),
        ("Operator", escape_inline(session.operator) or "—"),
        ("Host", escape_inline(session.host) or "—"),
        ("Started", _when(session.started)),
        ("Finished", _when(session.finished or "") if session.finished else "not finished"),
        ("Duration", session_duration(session)),
        ("Result", stated["Result"]),
        ("Exported", stated["Exported"]),
    ]
    out += ["## Summary", "", "| | |", "|---|---|"]
    out += [f"| {name} | {value} |" for name, value in rows]
    out += ["", signatures_line(data), ""]
    cut = session.interrupted_actions()
    if cut:
        out += ["## Interrupted world-changing steps", ""]
        out.append(
            "They started and never ended: they may have partly run. Check before running them again."
        )
        out.append("")
        for item_id, run in cut:
            out.append(
                f"- {code_span(item_id)} · {escape_inline(run.label or 'action')} started by "
                f"{escape_inline(run.by)} at {_when(run.started)} on {escape_inline(run.host) or '—'}, "
                f"last seen running at {_when(run.at)}: {code_span(one_line(run.command, 200))}"
                + (f" · log {code_span(run.log)}" if run.log else "")
            )
        out.append("")
    if inputs.checklist_note:
        out += [f"Note: {escape_inline(inputs.checklist_note)}", ""]
    _render_page_one(out, session, checklist, history)
    out += [PAGE_ONE_END, ""]
    # Right after page one: the shape of the run (what ran when, where the operator waited).
    out += ["## Timeline", ""]
    shape = timeline_lines(session, history)
    out += [fenced("\n".join(shape)), ""] if len(shape) > 1 else [*shape, ""]
    used = counts_used(session, session.counts(checklist))
    out += ["Marks: " + " · ".join(_mark(s) for s in MARKS if s not in LEGEND_WHEN_USED or s in used), ""]

    out += ["## Checklist", ""]
    if checklist is not None:
        for root in checklist.roots:
            node = checklist.nodes[root]
            if node.rollback:
                continue
            _render_node(out, session, checklist, inputs, root, heading_level=3, indent="")
        orphans = [s for s in session.items.values() if s.orphan and s.status is not Status.PENDING]
        if orphans:
            out += ["### Items no longer in the checklist", ""]
            for state in orphans:
                _render_item(out, session, None, inputs, state.id, indent="")
            out.append("")
    else:
        for state in session.items.values():
            if state.parent is None and not state.rollback:
                _render_item(out, session, None, inputs, state.id, indent="")
        out.append("")

    out += ["## Sign-off", ""]
    out += signoff_lines(data)
    out.append("")

    result = data.result
    verdict = stated["Result"]
    rollback_ids = [s.id for s in session.items.values() if s.rollback and not s.orphan]
    if is_rollback(result):
        out += ["## Rollback", ""]
        if checklist is not None and checklist.rollback_id is not None:
            node = checklist.nodes[checklist.rollback_id]
            out += [f"{_title(node.title)} — {_mark(session.status_of(node.id, checklist))}", ""]
            for child in node.children:
                _render_node(out, session, checklist, inputs, child, heading_level=3, indent="")
        else:
            for item_id in rollback_ids:
                if session.items[item_id].parent is None:
                    _render_item(out, session, None, inputs, item_id, indent="")
        out.append("")
    elif rollback_ids:
        out += ["## Rollback", "", f"Not used (result: {verdict}).", ""]

    out += ["## Evidence index", ""]
    if inputs.logs:
        out += ["| Log file | sha256 |", "|---|---|"]
        out += [f"| {code_span(path)} | {code_span(sha)} |" for path, sha in sorted(inputs.logs.items())]
    else:
        out.append("No log files.")
    out += ["", evidence_line(data), ""]

    out.append(render_data_block(data))
    return canonicalise("\n".join(out))


def _render_page_one(
    out: list[str], session: Session, checklist: Checklist | None, history: RecordHistory
) -> None:
    out += ["## Who acted", ""]
    if history.actors:
        for actor in history.actors:
            span = actor.first if actor.first == actor.last else f"{actor.first} to {actor.last}"
            plural = "s" if actor.changes != 1 else ""
            out.append(f"- {escape_inline(actor.name)}: {actor.changes} change{plural}, {_when(span)}")
    else:
        who = escape_inline(session.operator) or "—"
        out.append(f"- {who} started the session at {_when(session.started)}")
    if history.signed_off:
        out.append(f"- signed off by {escape_inline(history.signed_off_by)} at {_when(history.signed_off)}")
    if history.finished:
        out.append(f"- finished by {escape_inline(history.finished_by)} at {_when(history.finished)}")
    out.append("")

    out += ["## Interruptions and resumes", ""]
    if not history.interruptions:
        out.append("None: no check was running when a process ended.")
    for gap in history.interruptions:
        checks = ", ".join(code_span(f"{item} {key}") for item, key in gap.checks[:3])
        more = f" and {len(gap.checks) - 3} more" if len(gap.checks) > 3 else ""
        line = f"- {_when(gap.at)}: the process had died while {len(gap.checks)} check(s) ran"
        line += f" ({checks}{more})"
        line += (
            f"; resumed by {escape_inline(gap.resumed_by)} at {_when(gap.resumed_at)}" if gap.resumed_by
            else "; not resumed since"
        )
        out.append(line)
    out.append("")

    out += ["## Overrides", ""]
    if not history.overrides:
        out.append("None.")
    for entry in history.overrides:
        state = session.items.get(entry.item)
        name = _title(state.title) if state and state.title else code_span(entry.item)
        line = f"- {name} · {code_span(entry.item)} by {escape_inline(entry.by)} at {_when(entry.at)}: "
        line += escape_inline(entry.note.replace("\n", " "))
        if entry.discarded:
            line += f" — discarded: {escape_inline(entry.discarded)}"
        out.append(line)
    out.append("")

    ids = session.counted_ids(checklist)
    opened = [(i, session.status_of(i, checklist)) for i in ids]
    bad = [(i, s) for i, s in opened if s.is_bad]
    rest = [(i, s) for i, s in opened if not s.is_bad and not s.is_complete]
    out += [f"## Failed and open items ({len(bad)} failed, {len(rest)} open)", ""]
    if not bad and not rest:
        out.append("None: every item is complete.")
    shown = bad[:OPEN_ITEMS_SHOWN]
    for item_id, status in shown:
        state = session.items[item_id]
        title = _title(_item_title(session, checklist, item_id))
        line = f"- {status_mark(status)} — {title} · {code_span(item_id)}"
        if state.reason:
            line += f": {escape_inline(state.reason)}"
        out.append(line)
    if len(bad) > len(shown):
        out.append(f"- and {len(bad) - len(shown)} more failed (see the checklist below)")
    groups: dict[str, list[str]] = {}
    for item_id, _status in rest:
        groups.setdefault(_section_of(session, checklist, item_id), []).append(
            _title(_item_title(session, checklist, item_id))
        )
    for section, titles in groups.items():
        where = f" in {section}" if section else ""
        out.append(f"- {MARKS[Status.PENDING]} open{where} ({len(titles)}): " + " · ".join(titles))
    out.append("")


def _item_title(session: Session, checklist: Checklist | None, item_id: str) -> str:
    state = session.items.get(item_id)
    if state is not None and state.title:
        return state.title
    if checklist is not None and item_id in checklist.nodes:
        return checklist.nodes[item_id].title
    return item_id


def _section_of(session: Session, checklist: Checklist | None, item_id: str) -> str:
    """The title of the top-level section an item is in ("" without the checklist)."""
    if checklist is None or item_id not in checklist.nodes:
        return ""
    node = checklist.nodes[item_id]
    while node.parent is not None and checklist.nodes[node.parent].parent is not None:
        node = checklist.nodes[node.parent]
    top = checklist.nodes[node.parent] if node.parent is not None else node
    return _title(top.title)


def _render_node(
    out: list[str], session: Session, checklist: Checklist, inputs: RecordInputs, node_id: str,
    heading_level: int, indent: str,
) -> None:
    node = checklist.nodes[node_id]
    if node.kind == "item":
        _render_item(out, session, checklist, inputs, node_id, indent)
        return
    if out and out[-1] != "":
        out.append("")
    hashes = "#" * min(heading_level, 6)
    status = session.status_of(node_id, checklist)
    out += [f"{hashes} {_title(node.title)} — {_mark(status)}", ""]
    for child in node.children:
        child_node = checklist.nodes[child]
        if child_node.rollback and not node.rollback:
            continue
        _render_node(out, session, checklist, inputs, child, heading_level + 1, indent)
    if out and out[-1] != "":
        out.append("")


def _render_item(
    out: list[str], session: Session, checklist: Checklist | None, inputs: RecordInputs, item_id: str,
    indent: str,
) -> None:
    state = session.items.get(item_id)
    sub = indent + "  "
    if state is None:
        title = checklist.nodes[item_id].title if checklist else item_id
        out.append(f"{indent}- {status_mark(Status.PENDING)} — {_title(title)} · {code_span(item_id)}")
        out.append(f"{sub}- not in this session")
        return
    status = session.status_of(item_id, checklist)
    title = state.title
    if not title:
        title = checklist.nodes[item_id].title if checklist and item_id in checklist.nodes else item_id
    out.append(f"{indent}- {status_mark(status)} — {_title(title)} · {code_span(item_id)}")
    if state.by or state.at:
        line = f"{sub}- by {escape_inline(state.by) or '—'} at {_when(state.at)}"
        if state.duration_ms:
            line += f" · {format_duration(state.duration_ms / 1000)}"
        out.append(line)
    if state.status is Status.SKIPPED and state.reason:
        out.append(f"{sub}- skipped because: {escape_inline(state.reason)}")
    for note in state.notes:
        head = f"{sub}- note by {escape_inline(note.by)} at {_when(note.at)}:"
        text = clean(note.text).strip("\n")
        if "\n" in text:
            out += [head, "", fenced(text, "text", sub + "  "), ""]
        else:
            out.append(f"{head} {escape_inline(text)}")
    for check in state.checks.values():
        label = check.label or check.key
        kind = f" ({escape_inline(check.kind)})" if check.kind else ""
        line = f"{sub}- check {code_span(label)}{kind}: {_mark(check.status)}"
        if check.reason:
            line += f" — {escape_inline(check.reason)}"
        if check.duration_ms:
            line += f" · {format_duration(check.duration_ms / 1000)}"
        if check.at:
            line += f" · at {_when(check.at)}"
        out.append(line)
        runs = inputs.history.runs.get((item_id, check.key), []) if inputs.history else []
        if len(runs) > 1 or any(r.end != str(check.status) for r in runs):
            out.append(f"{sub}  - runs ({len(runs)}): " + " · ".join(
                _run_summary(n, run) for n, run in enumerate(runs, start=1)
            ))
        if check.values:
            values = " · ".join(code_span(f"{k}={v}") for k, v in sorted(check.values.items()))
            out.append(f"{sub}  - measured: {values}")
        for number, attempt in enumerate(check.attempts, start=1):
            line = f"{sub}  - attempt {attempt.number or number}: {_mark(attempt.status)}"
            if attempt.reason:
                line += f" — {escape_inline(attempt.reason)}"
            line += f" · {format_duration(attempt.duration_ms / 1000)}"
            if attempt.started_ms:
                line += f" · at +{format_duration(attempt.started_ms / 1000)}"
            out.append(line)
        _render_evidence(out, inputs, check.log, check.evidence, sub + "  ")
    for run in state.actions:
        name = f"action #{run.index + 1}" if run.index >= 0 else f"action {code_span(run.label or run.check)}"
        if not run.started:  # recorded before ActionStarted existed
            out.append(
                f"{sub}- {name} run by {escape_inline(run.by)} at {_when(run.at)}: exit code {run.exit_code}"
            )
        else:
            if run.state == "ended" and run.index >= 0:
                how = f"exit code {run.exit_code}"
            else:
                how = escape_inline(run.summary())
            out.append(
                f"{sub}- {name} started by {escape_inline(run.by)} at {_when(run.started)} on "
                f"{escape_inline(run.host) or '—'} in {code_span(run.cwd)}: {how}"
            )
            digest = code_span(run.command_sha256[:16])
            out.append(f"{sub}  - ran: {code_span(one_line(run.command, 500))} (sha256 {digest}…)")
        _render_evidence(out, inputs, run.log, "", sub + "  ")
    earlier = [h for h in state.history[:-1] if h.status is not Status.RUNNING]
    if earlier:
        # Nothing is silently erased: every earlier run, override and cancellation stays in the record.
        out.append(f"{sub}- before that:")
        for h in earlier:
            out.append(
                f"{sub}  - {_when(h.at)} by {escape_inline(h.by)}: {h.previous} → {h.status}"
                f" ({escape_inline(one_line(h.why, 300))})"
            )
    if checklist is not None and item_id in checklist.nodes:
        for child in checklist.nodes[item_id].children:
            _render_item(out, session, checklist, inputs, child, sub)
    else:
        for child in session.children_of(item_id):
            _render_item(out, session, None, inputs, child, sub)


def _run_summary(number: int, run: RunEntry) -> str:
    end = run.end or "still running"
    text = f"#{number} {escape_inline(end)} at {_when(run.ended_at or run.started)}"
    if run.end.startswith("cancelled") and run.ended_by:
        text += f" by {escape_inline(run.ended_by)}"
    if run.log:
        text += f" ({code_span(run.log)})"
    return text


def _render_evidence(out: list[str], inputs: RecordInputs, log: str, evidence: str, indent: str) -> None:
    excerpt = inputs.excerpts.get(log) if log else None
    if excerpt is not None:
        text, omitted = excerpt.text, excerpt.omitted
        source = f"the last {EVIDENCE_LINES} lines of {code_span(log)}" if omitted else code_span(log)
    elif evidence.strip():
        text, omitted = tail_lines(truncate_lines(clean(evidence)), EVIDENCE_LINES)
        source = "the check's evidence" + (f" (last {EVIDENCE_LINES} lines)" if omitted else "")
    else:
        if log:
            out.append(f"{indent}- log {code_span(log)} (not available)")
        return
    text = text.strip("\n")
    if not text.strip():
        out.append(f"{indent}- evidence: {source} is empty")
        return
    suffix = f", {omitted} earlier lines left out" if omitted else ""
    out += [f"{indent}- evidence, {source}{suffix}:", "", fenced(text, "text", indent + "  "), ""]


# --- checking what a body states against its data block -----------------------------------------------

_FENCE_RE = re.compile(r"^(`{3,}|~{3,})")
_ITEM_LINE_RE = re.compile(r"^\s*- (\[[ x]\] \S+ \*\*([a-z]+)\*\*) — .* · `([^`\s]+)`(?:: .*)?$")


def stated_problems(body: str, data: RecordData) -> list[tuple[int, str]]:
    """Where the text of a body says something its signed data block does not (1-based line, what):
    the result and its acknowledgement, the summary rows, the signatures sentence, the counts, the
    sign-off section, every item's status, the event-log line. Empty when they agree."""
    lines = body.split("\n")
    problems: list[tuple[int, str]] = []

    def block(expected: list[str], start: int, what: str) -> None:
        expected = [canonicalise(part).rstrip("\n") for text in expected for part in text.split("\n")]
        for offset, want in enumerate(expected):
            got = lines[start + offset] if start + offset < len(lines) else "(end of the record)"
            if got != want:
                problems.append((start + offset + 1, f"{what} says {got!r}; the signed data says {want!r}"))
                return

    head = next((i for i, line in enumerate(lines) if line.startswith("**Result:")), None)
    if head is None:
        problems.append((1, "no result line"))
    else:
        block(headline_lines(data), head, "the result")
    for name, value in stated_rows(data):
        prefix = f"| {name} |"
        found = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        if len(found) != 1:
            problems.append((1, f"the summary has {len(found)} {name!r} rows"))
        else:
            block([f"{prefix} {value} |"], found[0], f"the {name} row")
    sig = [i for i, line in enumerate(lines) if line.startswith("Signatures: ")]
    if len(sig) != 1:
        problems.append((1, f"{len(sig)} signatures sentences"))
    else:
        block([signatures_line(data)], sig[0], "the signatures sentence")
    signoff = [i for i, line in enumerate(lines) if line == "## Sign-off"]
    if len(signoff) != 1:
        problems.append((1, f"{len(signoff)} sign-off sections"))
    else:
        expected = [part for text in signoff_lines(data) for part in text.split("\n")]
        block(["", *expected, ""], signoff[0] + 1, "the sign-off")
        after = signoff[0] + 2 + len(expected) + 1
        if after < len(lines) and not lines[after].startswith("## "):
            what = f"the sign-off has more lines than the signed data: {lines[after]!r}"
            problems.append((after + 1, what))
    ev = [i for i, line in enumerate(lines) if line.startswith("Event log: ")]
    if len(ev) != 1:
        problems.append((1, f"{len(ev)} event-log lines"))
    else:
        block([evidence_line(data)], ev[0], "the event-log line")
    fence = ""
    for number, line in enumerate(lines, start=1):
        # Evidence, notes and the data block are fenced: what they hold is text, not a statement.
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                fence = ""
            continue
        opening = _FENCE_RE.match(stripped)
        if opening:
            fence = opening.group(1)
            continue
        m = _ITEM_LINE_RE.match(line)
        if not m:
            continue
        item, word = m.group(3), m.group(2)
        want = data.statuses.get(item)
        if want is None:
            problems.append((number, f"item {item} is not in the signed data"))
        elif word != want or m.group(1) != status_mark(Status(want)):
            problems.append((number, f"item {item} is shown {word}; the signed data says {want}"))
    return problems
