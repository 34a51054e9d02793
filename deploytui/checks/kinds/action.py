"""kind = "action": a command that changes the world (restart, flush, migrate). Runs only on confirmation.

    [[check]]
    item = "deployment-steps/2-deployment/run-database-migrations"
    kind = "action"
    run = "docker exec ${BACKEND_CONTAINER} alembic upgrade head"
    expect = { exit_code = 0 }

Same fields and expectations as kind = "command"; `deploytui check` never runs it, the TUI asks first,
showing `describe` (the exact command after substitution, secrets masked).
"""

from __future__ import annotations

from typing import ClassVar

from deploytui.checks.kinds.command import Kind as CommandKind


class Kind(CommandKind):
    name: ClassVar[str] = "action"
    action: ClassVar[bool] = True
    summary: ClassVar[str] = "run a command that changes the world, after the operator confirms it"
