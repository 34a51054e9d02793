"""Sign-off: the rules of finishing a session, once for the form (TUI) and the headless command.

- which items are still open (the same items, and so the same number, as the header leaves open);
- what a field starts with (saved value, else today's date/time, else the operator as deployer);
- which choice is the result, and whether it is a rollback (`core.record.is_rollback`: the record and
  the form must agree that "Roll back" is one);
- what must be true to finish: open items acknowledged, a result chosen, the deployer named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from deploytui.core.checklist import Checklist, SignoffField
from deploytui.core.errors import DeployError
from deploytui.core.record import is_rollback
from deploytui.core.session import Finish, Session, SignOff
from deploytui.core.status import BAD, Status
from deploytui.storage.base import LiveSession

__all__ = [
    "OpenItem",
    "checklist_of",
    "finish",
    "headless_fields",
    "is_rollback",
    "open_items",
    "parse_sets",
    "prefill",
    "problem",
    "result_of",
    "save",
]


@dataclass(frozen=True)
class OpenItem:
    id: str
    title: str
    status: Status


def open_items(session: Session, checklist: Checklist) -> list[OpenItem]:
    """Items that count for progress and are not complete, failures first, pending last."""
    rows = [
        OpenItem(node_id, checklist.nodes[node_id].title, status)
        for node_id in session.counted_ids(checklist)
        if not (status := session.status_of(node_id, checklist)).is_complete
    ]
    rows.sort(key=lambda r: (r.status not in BAD, r.status is Status.PENDING))
    return rows


def prefill(f: SignoffField, session: Session, operator: str, now: datetime) -> str:
    """What a field of the form starts with."""
    saved = session.signoff.get(f.key)
    if saved:
        return saved
    if f.kind == "date":
        return now.strftime("%Y-%m-%d")
    if f.kind == "time":
        return now.strftime("%H:%M %Z") if now.tzinfo else now.strftime("%H:%M")
    if f.role == "deployer":
        return operator
    return ""


def result_of(checklist: Checklist, fields: Mapping[str, str]) -> str:
    """The chosen result: the first choice field with a value ("" when none is chosen)."""
    for f in checklist.signoff:
        if f.kind == "choice" and fields.get(f.key):
            return fields[f.key]
    return ""


def problem(checklist: Checklist, fields: Mapping[str, str], open_count: int, acknowledged: bool) -> str:
    """Why the session cannot be finished with these fields ("" when it can)."""
    if open_count and not acknowledged:
        return f"{open_count} item(s) are still open: acknowledge them to sign off with them as they are"
    if not result_of(checklist, fields):
        return "Choose a result."
    deployer = next((f for f in checklist.signoff if f.role == "deployer"), None)
    if deployer is not None and not fields.get(deployer.key):
        return f"{deployer.label} is empty."
    return ""


def save(live: LiveSession, fields: Mapping[str, str], operator: str) -> None:
    """Record the form's fields (without finishing). DeployError when the session refuses."""
    live.apply(SignOff(dict(fields), operator))


def finish(
    live: LiveSession,
    checklist: Checklist,
    fields: Mapping[str, str],
    operator: str,
    *,
    acknowledged: bool,
    reviewers: int = 1,
) -> str:
    """Save the fields and finish the session with their result; returns the result. DeployError
    saying what is missing (see `problem`) or why the session refuses. The sign-off records how many
    items were open (acknowledged) and how many reviewers the record needs (`[signoff] reviewers`)."""
    open_count = len(open_items(live.session, checklist))
    why = problem(checklist, fields, open_count, acknowledged)
    if why:
        raise DeployError(why)
    result = result_of(checklist, fields)
    if not live.session.finished:
        live.apply(SignOff(dict(fields), operator, acknowledged_open=open_count, reviewers=reviewers))
        live.apply(Finish(result.lower(), operator))
    return result


def checklist_of(session: Session) -> Checklist:
    """The checklist a session was run with, read from its file: the sign-off form is the checklist's.
    DeployError when the file is gone or changed since (open the session in deploytui to adopt it)."""
    from pathlib import Path

    from deploytui.core.checklist import load_checklist

    if not session.checklist_path:
        raise DeployError(f"session {session.id} was not run from a checklist file: sign it off in deploytui")
    path = Path(session.checklist_path)
    if not path.is_file():
        raise DeployError(f"the checklist of session {session.id} is no longer there", path=path)
    checklist = load_checklist(path)
    if checklist.sha256 != session.checklist_sha256:
        raise DeployError(
            f"the checklist changed since session {session.id} started: open the session in deploytui "
            "once to adopt the change, then sign off",
            path=path,
        )
    return checklist


def parse_sets(checklist: Checklist, sets: list[str]) -> dict[str, str]:
    """`LABEL=VALUE` assignments as field key -> value. A label is the form's own (or its key), matched
    without regard to case; a choice takes one of its choices (any case). DeployError naming what is
    wrong and what the form has."""
    fields = {f.key: f for f in checklist.signoff}
    by_label = {" ".join(f.label.split()).casefold(): f for f in checklist.signoff}
    by_label.update({f.key.casefold(): f for f in checklist.signoff})
    known = ", ".join(f'"{f.label}"' for f in checklist.signoff)
    out: dict[str, str] = {}
    for assignment in sets:
        label, sep, value = assignment.partition("=")
        if not sep:
            raise DeployError(f"--set {assignment!r}: write LABEL=VALUE, e.g. \"Deployed by=alice\"")
        f = by_label.get(" ".join(label.split()).casefold().rstrip(":"))
        if f is None:
            raise DeployError(f"--set {assignment!r}: the sign-off has no field {label.strip()!r} ({known})")
        value = value.strip()
        if f.kind == "choice":
            choice = next((c for c in f.choices if c.casefold() == value.casefold()), None)
            if choice is None:
                raise DeployError(
                    f"--set {assignment!r}: {f.label} is one of {', '.join(f.choices)}"
                )
            value = choice
        out[fields[f.key].key] = value
    return out


def headless_fields(
    checklist: Checklist, session: Session, operator: str, now: datetime, sets: Mapping[str, str]
) -> dict[str, str]:
    """Every field of the form as `deploytui signoff` fills it: what is set, else what the form starts
    with (`prefill`: saved values, today's date and time, the operator as deployer)."""
    fields = {f.key: prefill(f, session, operator, now) for f in checklist.signoff}
    fields.update(sets)
    return fields
