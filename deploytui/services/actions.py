"""World-changing steps: which ones a node has, what exactly each will run, and running one (both faces).

A node's steps are its fenced blocks (in document order) and then its bound world-changing checks
(`kind = "action"`, a webhook, a backup in dump mode; `services.runs.is_world_changing`), in config order.
A fenced block changes the world unless a binding of its item says `read_only = true`.

`describe(engine, step)` is what the confirmation shows and what ActionStarted records: the command
after substitution (or the HTTP method, URL and body), secrets masked, with the absolute working
directory and the host. `run_step(...)` runs one through the engine with the session recording it:
ActionStarted (fsynced) before the process is spawned, its end when it ends, a heartbeat every few
seconds while it runs.
"""

from __future__ import annotations

import asyncio
import difflib
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from deploytui.core.checklist import Action, Checklist
from deploytui.core.config import Config
from deploytui.core.errors import DeployError
from deploytui.core.events import EngineEvent, action_key
from deploytui.core.spec import CheckSpec
from deploytui.core.status import Outcome
from deploytui.engine import Engine, new_run_id
from deploytui.services.runs import EventSink, RunRecorder, heartbeat, is_world_changing


@dataclass(frozen=True)
class Step:
    """One step of a node the operator runs on purpose: a fenced block or a world-changing binding."""

    node_id: str
    key: str
    """`<item>!action<index>` for a fenced block, the binding's key (`<item>#<index>`) otherwise."""
    label: str
    action: Action | None = None
    spec: CheckSpec | None = None
    world_changing: bool = True

    @property
    def kind(self) -> str:
        if self.spec is not None:
            return self.spec.kind
        return (self.action.lang if self.action is not None else "") or "shell"


@dataclass(frozen=True)
class Description:
    """Exactly what a step will run, as the operator confirms it (secrets masked)."""

    command: str
    cwd: str
    """Absolute."""
    host: str
    world_changing: bool


def steps_of(checklist: Checklist, config: Config, node_id: str) -> list[Step]:
    """The node's own steps (not its descendants'): fenced blocks, then world-changing bindings."""
    node = checklist.node(node_id)
    bound = [s for s in config.checks if s.item == node_id]
    read_only = any(s.read_only for s in bound)
    steps = [
        Step(
            node_id,
            action_key(node_id, a.index),
            f"command {a.index + 1} ({a.lang or 'shell'}, line {a.line})",
            action=a,
            world_changing=not read_only,
        )
        for a in node.actions
    ]
    steps += [Step(node_id, s.key, s.label, spec=s) for s in bound if is_world_changing(s)]
    return steps


def describe(engine: Engine, step: Step) -> Description:
    if step.action is not None:
        command = engine.describe_action(step.action)
    else:
        assert step.spec is not None
        command = engine.describe(step.spec)
    return Description(command, str(engine.cwd), socket.gethostname(), step.world_changing)


def step_context(step: Step) -> str:
    """Where a step sits and what it is, for the confirmation: `item  ·  label  ·  kind`, the kind left
    out when the label already says it (`… · action`, not `… · action · action`; `command 1 (bash, line
    52)`, not `… · bash`)."""
    parts = [step.node_id, step.label]
    if step.kind.lower() not in step.label.lower():
        parts.append(step.kind)
    return "  ·  ".join(parts)


def step_choice(step: Step, what: Description, limit: int = 80) -> str:
    """One line of the chooser of a node's steps: the label, then the first line of what it runs, without
    the interpreter the label already names (`command 1 (bash, line 52)  ·  pg_dump …`)."""
    first = what.command.splitlines()[0] if what.command else ""
    interpreter, sep, rest = first.partition(": ")
    if sep and interpreter and " " not in interpreter and interpreter.lower() in step.label.lower():
        first = rest
    if len(first) > limit:
        first = first[: limit - 1] + "…"
    return f"{step.label}  ·  {first}" if first else step.label


def select_steps(checklist: Checklist, config: Config, ids: Sequence[str]) -> list[Step]:
    """`deploytui run ITEM...`: every step of each item, in the order given (`ITEM:N`: its N-th step
    only). DeployError for an unknown id (with the closest ones) or an item with no step."""
    steps: list[Step] = []
    for raw in ids:
        node_id, _, number = raw.strip().partition(":")
        node_id = node_id.strip("/")
        if node_id not in checklist.nodes:
            close = difflib.get_close_matches(node_id, list(checklist.nodes), n=2, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise DeployError(f"no item {node_id!r} in the checklist{hint} (see `deploytui list`)")
        found = steps_of(checklist, config, node_id)
        if not found:
            raise DeployError(
                f"{node_id}: nothing to run there (no fenced block, no action, webhook or backup bound)"
            )
        if number:
            if not number.isdigit() or not 1 <= int(number) <= len(found):
                raise DeployError(f"{raw}: {node_id} has {len(found)} step(s): use :1 to :{len(found)}")
            found = [found[int(number) - 1]]
        steps.extend(found)
    return steps


async def run_step(
    engine: Engine,
    recorder: RunRecorder,
    step: Step,
    on_event: EventSink | None = None,
    run_id: str | None = None,
    group: str | None = None,
) -> Outcome:
    """Run one step (after the operator confirmed it), recorded in the session as it goes."""
    recorder.attach(engine)
    run_id = run_id or new_run_id()

    def handle(event: EngineEvent) -> None:
        recorder.record(event)
        if on_event is not None:
            on_event(event)

    beating = asyncio.ensure_future(heartbeat(recorder))
    try:
        if step.action is not None:
            return await engine.run_action(step.node_id, step.action, run_id, handle, group=group)
        assert step.spec is not None
        return await engine.run_check(step.spec, run_id, handle, group=group)
    finally:
        beating.cancel()
