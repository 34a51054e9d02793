"""A check binding as the config declares it, and the `${NAME}` substitution every check uses.

Pure: the config (core) builds `CheckSpec`s, the engine builds a `CheckContext` for each run, and the
kinds (checks/) read their parameters through it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from deploytui.core.redact import Redactor
from deploytui.core.threads import no_pause

VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
"""`${NAME}` or `${NAME:-default}`: [vars] first, then the environment, then the default (shell-like:
an empty environment value also takes the default)."""


VAR_DEPTH_MAX = 16
"""How deep [vars] may reference each other: deeper is a cycle, left unexpanded."""


class MissingVariable(Exception):
    """A ${name} in a check has no value in [vars] nor in the environment."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not set")
        self.name = name


DEFAULT_ACTION_TIMEOUT = 1800.0
"""Seconds a world-changing step that runs a command may take when nothing sets its timeout: a fenced
block, a bound `kind = "action"` or a backup dump (builds, migrations and dumps take minutes; a check's
default of seconds would kill them half-way)."""


DEFAULT_POLL_INTERVAL = 2.0
"""Seconds between the attempts of a `within` check, and of a `retry`, when the config does not say."""


@dataclass(frozen=True)
class Retry:
    """`retry = { attempts = 3, interval = "2s" }`: how often a check that should pass at once is tried."""

    attempts: int
    """Tries in all, the first included (at least 2)."""
    interval: float = DEFAULT_POLL_INTERVAL


@dataclass(frozen=True)
class CheckSpec:
    """One [[check]] binding from deploytui.toml, validated, variables not yet substituted."""

    item: str
    kind: str
    index: int
    """Position among the config's [[check]] tables (0-based): with `item`, the check's identity."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Every key of the table except item/kind/timeout/name."""
    timeout: float = 10.0
    timeout_set: bool = False
    """The binding's table sets `timeout` itself (it wins over every default)."""
    name: str = ""
    line: int | None = None
    source: str | None = None
    # Order, isolation and time (deploytui.toml; the engine's scheduler reads them).
    after: tuple[str, ...] = ()
    """Keys of the checks this one waits for; if one of them does not pass, this one ends `blocked`."""
    exclusive: bool = False
    """Nothing else runs while this check runs."""
    resource: str = ""
    """Checks naming the same resource never overlap (`${VAR}` allowed; a URL means its origin)."""
    cooldown: float | None = None
    """After this (exclusive, resource or burst) check, seconds other checks on its resource wait (or the
    target's Retry-After, whichever is longer). None: not set."""
    within: float | None = None
    """Poll until the check passes, at most this many seconds in all (readiness: a pass is `passed`)."""
    interval: float = DEFAULT_POLL_INTERVAL
    """Seconds between two polls of a `within` check."""
    retry: Retry | None = None
    """Retry a failed check; a pass after a failed attempt is `flaky`."""
    read_only: bool = False
    """The binding only reads (meaningful on a fenced block's binding: it may run without confirmation)."""

    @property
    def key(self) -> str:
        """Stable id of this check within the config: `<item>#<index>`."""
        return f"{self.item}#{self.index}"

    @property
    def label(self) -> str:
        return self.name or self.kind

    @property
    def expect(self) -> Mapping[str, Any]:
        value = self.params.get("expect", {})
        return value if isinstance(value, Mapping) else {}


@dataclass
class CheckContext:
    """What a running check may use. Built by the engine for each run."""

    vars: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    redactor: Redactor = field(default_factory=Redactor)
    emit: Callable[[str], None] = lambda line: None
    """Send one line of live output (the engine batches, redacts and writes it to the run's log)."""
    base_dir: Path = field(default_factory=Path.cwd)
    """Directory relative paths in a check resolve against (the config's)."""
    session_started: datetime | None = None
    """Start of the session: docker log checks look at lines since then."""
    timeout: float = 10.0
    pause: Callable[[], None] = no_pause
    """Called by work that can hog the CPU (a flood of output, between chunks): in the TUI it naps now and
    then so that the app's thread gets the GIL (core.threads.sharing); headless, it does nothing."""

    def lookup(self, name: str, default: str | None = None) -> str:
        """[vars], then the environment, then `default`; MissingVariable when none has a value.

        A var may reference other vars and the environment (`url = "${scheme}://${HOST}"`): its value
        is expanded in turn (config loading rejects cycles; VAR_DEPTH_MAX stops one built by hand).
        """
        if name in self.vars:
            return self._expand_var(name, 0)
        value = self.env.get(name)
        if value is None or value == "":
            if default is not None:
                return default
            raise MissingVariable(name)
        return value

    def _expand_var(self, name: str, depth: int) -> str:
        raw = str(self.vars[name])
        if depth >= VAR_DEPTH_MAX or "${" not in raw:
            return raw

        def one(m: re.Match[str]) -> str:
            ref, default = m.group(1), m.group(2)
            if ref in self.vars:
                return self._expand_var(ref, depth + 1)
            return self.lookup(ref, default)

        return VAR_RE.sub(one, raw)

    def substitute(self, value: Any) -> Any:
        """Replace ${name} and ${name:-default} in strings, lists and tables (the password of a URL in
        the result is learned by the redactor). Raises MissingVariable."""
        if isinstance(value, str):
            text = VAR_RE.sub(lambda m: self.lookup(m.group(1), m.group(2)), value)
            # Every URL a kind reads goes through here: its password is masked from now on, wherever
            # the kind, its client library or the server puts it (one place no new kind can forget).
            self.redactor.learn_urls(text)
            return text
        if isinstance(value, list):
            return [self.substitute(v) for v in value]
        if isinstance(value, Mapping):
            return {k: self.substitute(v) for k, v in value.items()}
        return value

    def param(self, spec: CheckSpec, key: str, default: Any = None) -> Any:
        """A parameter of the check with variables substituted."""
        if key not in spec.params:
            return default
        return self.substitute(spec.params[key])

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p
