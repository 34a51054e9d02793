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
"""

from __future__ import annotations

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

from deploytui.core.record.parse import (
    ROLES,
    RecordData,
    canonicalise,
    render_data_block,
)

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
}
"""A symbol per status; the status word always follows, so marks stay distinct in black and white."""


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


def status_mark(status: Status) -> str:
    """`[x] ✅ **passed**`: a task box GitHub renders, a symbol, and the word."""
    box = "[x]" if status.is_complete else "[ ]"
    return f"{box} {MARKS[status]} **{status}**"


def _mark(status: Status) -> str:
    return f"{MARKS[status]} {status}"


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


def render_record(session: Session, checklist: Checklist | None, inputs: RecordInputs) -> str:
    """The record body of `session`: canonical Markdown, the data block last. Pure.

    `checklist` gives the tree of sections and the sign-off form; None (file missing or changed) lists
    the session's items by themselves. Every text that came from outside (output, reasons, notes, names)
    is escaped or fenced so it cannot change the document's structure.
    """
    out: list[str] = []
    title = session.checklist_title or (checklist.title if checklist else "") or "Deployment"
    result = session_result(session)
    counts = session.counts(checklist)
    signers = signers_of(session, checklist)
    labels = role_labels(checklist)

    out += [f"# Deployment record: {_title(title)}", ""]
    verdict = escape_inline(result) if result else "not finished"
    complete = sum(n for s, n in counts.items() if s.is_complete)
    total = sum(counts.values())
    out += [f"**Result: {verdict}** · {complete} of {total} items complete", ""]

    out += ["## Summary", "", "| | |", "|---|---|"]
    rows = [
        ("Checklist", code_span(session.checklist_path or "(not from a file)")),
        ("Checklist sha256", code_span(session.checklist_sha256)),
        ("Session", code_span(session.id)),
        ("Operator", escape_inline(session.operator) or "—"),
        ("Host", escape_inline(session.host) or "—"),
        ("Started", _when(session.started)),
        ("Finished", _when(session.finished or "") if session.finished else "not finished"),
        ("Duration", session_duration(session)),
        ("Result", verdict),
        ("Exported", f"{_when(inputs.exported_at)} by {escape_inline(inputs.tool)}"),
    ]
    people = session.people()
    if people and people != [session.operator]:
        rows.insert(4, ("People who acted", ", ".join(escape_inline(p) for p in people)))
    out += [f"| {name} | {value} |" for name, value in rows]
    out.append("")
    if session.resumes:
        out += ["Resumed:", ""]
        out += [
            f"- by {escape_inline(r.by)} at {_when(r.at)} on {escape_inline(r.host) or '—'}"
            for r in session.resumes
        ]
        out.append("")
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
    present = [f"{MARKS[s]} {s} {n}" for s, n in counts.items() if n]
    out += [f"**Items ({total}):** " + (" · ".join(present) if present else "none"), ""]
    out += ["Marks: " + " · ".join(_mark(s) for s in MARKS), ""]

    deployer = escape_inline(signers["deployer"]) or "(not named)"
    reviewer = escape_inline(signers["reviewer"])
    out.append(
        f"Signatures: the deployer **{deployer}** (sign-off “{escape_inline(labels['deployer'])}”) "
        "signs this record; "
        + (
            f"the reviewer **{reviewer}** (sign-off “{escape_inline(labels['reviewer'])}”) is expected to "
            "countersign it."
            if reviewer
            else f"no reviewer is named (sign-off “{escape_inline(labels['reviewer'])}” is empty), so none "
            "countersigns."
        )
    )
    out.append("")
    if inputs.checklist_note:
        out += [f"Note: {escape_inline(inputs.checklist_note)}", ""]

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
    for f in signoff_fields(checklist):
        value = session.signoff.get(f.key, "")
        label = escape_inline(f.label)
        role_note = {"deployer": " _(signs as deployer)_", "reviewer": " _(countersigns as reviewer)_"}.get(
            f.role or "", ""
        )
        if "\n" in value.strip():
            out += [f"- **{label}:**{role_note}", "", fenced(clean(value).strip("\n"), "text", "  "), ""]
        else:
            out.append(f"- **{label}:** {escape_inline(value) if value.strip() else '—'}{role_note}")
    if session.signoff_by:
        out.append(f"- Signed off in deploytui by {escape_inline(session.signoff_by)}")
    out.append("")

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
    out += [
        "",
        f"Event log: {code_span('events.jsonl')}, {inputs.events_count} events, "
        f"head {code_span(inputs.events_head)}.",
        "",
    ]

    data = RecordData(
        session=session.id,
        checklist_sha256=session.checklist_sha256,
        signers=signers,
        events_head=inputs.events_head,
        events_count=inputs.events_count,
        logs=dict(inputs.logs),
    )
    out.append(render_data_block(data))
    body = canonicalise("\n".join(out))
    return body


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
        if check.values:
            values = " · ".join(code_span(f"{k}={v}") for k, v in sorted(check.values.items()))
            out.append(f"{sub}  - measured: {values}")
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
