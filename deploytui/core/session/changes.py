"""The changes a session takes: an operator's tick, skip or note, an engine's run result, the program's own
marks (interruption, checklist drift). Each is a request: `Session.event_for` checks it against the rules
and answers with the event that records it (events.py), or a TransitionError saying why it is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from deploytui.core.errors import DeployError
from deploytui.core.status import Outcome

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist

HEARTBEAT_SECONDS = 5.0
"""While anything runs, the session logs a heartbeat at most this often (one for all runs)."""

SYSTEM = "deploytui"
"""The `by` of changes made by the program itself (check results, interruption, checklist drift)."""


class TransitionError(DeployError):
    """A change refused by the rules (the message says why and what to do instead)."""


Clock = Callable[[], datetime]
"""What tells the store the time (an aware datetime): `utc_now`, or a fixed clock in tests, so that
timestamps and session ids, and so every byte of a session's files, are the same on any day."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_time(moment: datetime) -> str:
    """`moment` as an ISO-8601 UTC string with milliseconds, e.g. 2026-11-25T09:15:00.123Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    """The current time as an ISO-8601 UTC string with milliseconds, e.g. 2026-11-25T09:15:00.123Z."""
    return iso_time(utc_now())


@dataclass(frozen=True)
class Tick:
    item: str
    by: str


@dataclass(frozen=True)
class Untick:
    item: str
    by: str


@dataclass(frozen=True)
class Skip:
    item: str
    by: str
    reason: str


@dataclass(frozen=True)
class Override:
    item: str
    by: str
    note: str


@dataclass(frozen=True)
class AddNote:
    item: str
    by: str
    text: str


@dataclass(frozen=True)
class RunStarted:
    item: str
    check_key: str
    run_id: str
    by: str = SYSTEM
    kind: str = ""
    label: str = ""
    log: str = ""


@dataclass(frozen=True)
class RunFinished:
    item: str
    check_key: str
    run_id: str
    outcome: Outcome
    log: str = ""
    """Path of the run's log, relative to the session dir (LiveSession.new_log gives one)."""
    by: str = SYSTEM
    kind: str = ""


@dataclass(frozen=True)
class RunCancelled:
    item: str
    check_key: str
    run_id: str
    by: str


@dataclass(frozen=True)
class ActionStarted:
    """A world-changing step is about to start (applied before its process is spawned)."""

    item: str
    check_key: str
    run_id: str
    command: str
    cwd: str
    host: str
    pid: int
    by: str
    label: str = ""
    log: str = ""


@dataclass(frozen=True)
class ActionRan:
    item: str
    action_index: int
    run_id: str
    exit_code: int
    log: str
    by: str
    cancelled: bool = False


@dataclass(frozen=True)
class Heartbeat:
    """Something runs and the session is alive (at most one per HEARTBEAT_SECONDS)."""

    by: str = SYSTEM


@dataclass(frozen=True)
class Resume:
    """The session is opened for write again, by `by`, on `host`."""

    by: str
    host: str
    pid: int = 0


@dataclass(frozen=True)
class SignOff:
    fields: Mapping[str, str]
    by: str
    acknowledged_open: int = 0
    """How many counted items were still open (failed, pending...) when the operator acknowledged them
    and signed off: the record says so beside the result."""
    reviewers: int = 1
    """Reviewer signatures the record needs (`[signoff] reviewers` of the config: 1, or 0 to declare that
    no one countersigns)."""


@dataclass(frozen=True)
class Finish:
    result: str
    by: str


@dataclass(frozen=True)
class RecordExported:
    """The session's record was written to a file: where (an absolute path), the sha256 of its body (the
    signed bytes), and whether it was signed as deployer when written. Taken by a finished session too:
    it says where the record went and changes no status."""

    path: str
    body_sha256: str
    by: str
    signed: bool = False


@dataclass(frozen=True)
class MarkInterrupted:
    """Every check still `running` in a reopened session died with its process, and every action that
    started and never ended may have partly run."""

    by: str = SYSTEM
    last_seen: str = ""
    """The last moment the session knew they ran (its last event's time: the store passes it)."""


@dataclass(frozen=True)
class ItemSpec:
    """What the session keeps about a checklist item: enough to derive statuses without the checklist."""

    id: str
    title: str = ""
    parent: str | None = None
    """The parent *item* (a nested task item's owner), None under a section."""
    rollback: bool = False


@dataclass(frozen=True)
class Rebase:
    """The checklist changed since the session started: adopt its new sha256 and items (mapped by id)."""

    checklist_path: str
    checklist_sha256: str
    checklist_title: str
    items: tuple[ItemSpec, ...]
    by: str = SYSTEM


Change = (
    Tick
    | Untick
    | Skip
    | Override
    | AddNote
    | RunStarted
    | RunFinished
    | RunCancelled
    | ActionStarted
    | ActionRan
    | Heartbeat
    | Resume
    | SignOff
    | Finish
    | MarkInterrupted
    | Rebase
    | RecordExported
)
"""Every change a session takes (`Session.event_for` matches on it)."""


def item_specs(checklist: Checklist) -> tuple[ItemSpec, ...]:
    """The tickable nodes of a checklist (rollback steps included), in document order."""
    specs: list[ItemSpec] = []
    for node in checklist.nodes.values():
        if node.kind != "item":
            continue
        parent = node.parent
        parent_item = parent if parent is not None and checklist.nodes[parent].kind == "item" else None
        specs.append(ItemSpec(node.id, node.title, parent_item, bool(node.rollback)))
    return tuple(specs)

