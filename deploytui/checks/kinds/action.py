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

from collections.abc import Mapping
from typing import Any, ClassVar

from deploytui.checks.kinds.command import Kind as CommandKind
from deploytui.core.spec import DEFAULT_ACTION_TIMEOUT


class Kind(CommandKind):
    name: ClassVar[str] = "action"
    action: ClassVar[bool] = True
    summary: ClassVar[str] = "run a command that changes the world, after the operator confirms it"

    @classmethod
    def default_timeout(cls, params: Mapping[str, Any]) -> float | None:
        """Minutes, like a fenced block: a migration or a restart must not be killed after a check's 10 s."""
        return DEFAULT_ACTION_TIMEOUT
