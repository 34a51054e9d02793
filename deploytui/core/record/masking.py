"""Masking a session once more, with a given config's secrets, before its record is rendered.

Logs, evidence and events are masked when they are written, with the secrets the config had then.
`deploytui export --config F` masks again with F's: a session recorded under an older config (a secret
added since, or a value that was too short to mask then) is covered too.

    redactor = load_config(F).redactor()
    session = mask_session(store.load(session_id), redactor)
    inputs = mask_inputs(inputs, redactor)     # or build the inputs with the redactor (log excerpts)
    body = render_record(session, checklist, inputs)

Both work on copies, on every free-text field at any depth (titles, reasons, notes, evidence, values,
the sign-off, the result, why a status changed); ids, statuses, times, paths and hashes are left as they
are, so the rendered record stays a faithful, deterministic rendering of the same session.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from deploytui.core.record.render import RecordInputs
from deploytui.core.redact import Redactor

FREE_TEXT_FIELDS = frozenset(
    {
        "title",
        "checklist_title",
        "reason",
        "evidence",
        "text",
        "note",
        "why",
        "label",
        "result",
        "values",
        "signoff",
        "fields",
    }
)
"""Dataclass fields (of a Session, its items, checks, notes, history) that hold free text."""

T = TypeVar("T")


def mask_session(session: T, redactor: Redactor) -> T:
    """A copy of `session` with every free-text field masked (the session itself is not changed)."""
    masked: T = _masked(session, redactor, free=False)
    return masked


def mask_inputs(inputs: RecordInputs, redactor: Redactor) -> RecordInputs:
    """`inputs` with every log excerpt masked (each excerpt whole: a value across its lines)."""
    excerpts = {
        path: dataclasses.replace(excerpt, text=redactor.redact(excerpt.text))
        for path, excerpt in inputs.excerpts.items()
    }
    return dataclasses.replace(inputs, excerpts=excerpts)


def _masked(value: Any, redactor: Redactor, free: bool) -> Any:
    if type(value) is str:  # not a StrEnum status
        return redactor.redact(value) if free else value
    if isinstance(value, list):
        return [_masked(v, redactor, free) for v in value]
    if isinstance(value, tuple):
        return tuple(_masked(v, redactor, free) for v in value)
    if isinstance(value, dict):
        # Keys are ids and labels (item ids, check keys, sign-off labels): kept.
        return {k: _masked(v, redactor, free) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _masked(getattr(value, f.name), redactor, free or f.name in FREE_TEXT_FIELDS)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    return value
