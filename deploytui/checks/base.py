"""The check protocol, the registry of kinds, and the mechanics every kind shares.

A kind is a subclass of `CheckKind` in its own module under `deploytui.checks`, named in
`KIND_MODULES`. Importing that module must stay cheap: heavy clients (qdrant_client, google.genai,
docker, psycopg...) are imported inside `run`.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from deploytui.core.redact import Redactor
from deploytui.core.status import Outcome

KIND_MODULES: dict[str, str] = {
    "command": "deploytui.checks.command",
    "env": "deploytui.checks.env",
    "http": "deploytui.checks.http",
    "tls": "deploytui.checks.tls",
    "postgres": "deploytui.checks.postgres",
    "backup": "deploytui.checks.backup",
    "redis": "deploytui.checks.redis",
    "qdrant": "deploytui.checks.qdrant",
    "gemini": "deploytui.checks.gemini",
    "docker": "deploytui.checks.docker",
    "prometheus": "deploytui.checks.prometheus",
    "git": "deploytui.checks.git",
    "secrets_exposure": "deploytui.checks.secrets_exposure",
    "webhook": "deploytui.checks.webhook",
    "action": "deploytui.checks.action",
}
"""Kind name -> module. The module defines `Kind`, a `CheckKind` subclass."""

COMMON_FIELDS = frozenset({"item", "kind", "timeout", "name", "expect"})
"""Keys every [[check]] may carry, whatever its kind."""

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
"""`${NAME}` or `${NAME:-default}`: [vars] first, then the environment, then the default (shell-like:
an empty environment value also takes the default)."""


VAR_DEPTH_MAX = 16
"""How deep [vars] may reference each other: deeper is a cycle, left unexpanded."""


class MissingVariable(Exception):
    """A ${name} in a check has no value in [vars] nor in the environment."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not set")
        self.name = name


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
    name: str = ""
    line: int | None = None
    source: str | None = None

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

        return _VAR_RE.sub(one, raw)

    def substitute(self, value: Any) -> Any:
        """Replace ${name} and ${name:-default} in strings, lists and tables. Raises MissingVariable."""
        if isinstance(value, str):
            return _VAR_RE.sub(lambda m: self.lookup(m.group(1), m.group(2)), value)
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


class CheckKind:
    """Base of every check kind. Subclasses set the class attributes and implement `run`."""

    name: ClassVar[str] = ""
    fields: ClassVar[frozenset[str]] = frozenset()
    """Keys allowed in the [[check]] table besides COMMON_FIELDS."""
    required: ClassVar[frozenset[str]] = frozenset()
    expect_fields: ClassVar[frozenset[str]] = frozenset()
    """Keys allowed inside `expect = {...}`."""
    action: ClassVar[bool] = False
    """True when running it changes the world: it then runs only on the operator's confirmation."""
    summary: ClassVar[str] = ""

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> list[str]:
        """Problems with a binding's parameters, as readable sentences (empty: valid)."""
        problems: list[str] = []
        allowed = cls.fields | COMMON_FIELDS
        for key in params:
            if key not in allowed:
                names = ", ".join(sorted(allowed - {"item", "kind"}))
                problems.append(f"unknown field {key!r} for kind {cls.name!r} (allowed: {names})")
        for key in sorted(cls.required):
            if key not in params:
                problems.append(f"kind {cls.name!r} needs field {key!r}")
        expect = params.get("expect")
        if expect is not None:
            if not isinstance(expect, Mapping):
                problems.append("expect must be a table, like expect = { status = 200 }")
            else:
                for key in expect:
                    if key not in cls.expect_fields:
                        problems.append(
                            f"unknown expectation {key!r} for kind {cls.name!r}"
                            f" (allowed: {', '.join(sorted(cls.expect_fields)) or 'none'})"
                        )
        return problems

    @classmethod
    def is_action(cls, params: Mapping[str, Any]) -> bool:
        """Whether this binding changes the world (then it runs only on confirmation, never headless).

        `action` for most kinds; a kind with a read-only mode (backup with `verify_only = true`) decides
        from its parameters.
        """
        return cls.action

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        """One line saying what this check does, variables substituted (secrets masked by the caller)."""
        return f"{self.name} check"

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        raise NotImplementedError


def type_problems(
    params: Mapping[str, Any], *, strings: Iterable[str] = (), booleans: Iterable[str] = ()
) -> list[str]:
    """For a kind's `validate`: a sentence for each key present in `params` with the wrong type."""
    problems: list[str] = []
    for key in strings:
        if key in params and not isinstance(params[key], str):
            problems.append(f"{key} must be a string")
    for key in booleans:
        if key in params and not isinstance(params[key], bool):
            problems.append(f"{key} must be true or false")
    return problems


def kind_names() -> list[str]:
    return sorted(KIND_MODULES)


def get_kind(name: str) -> type[CheckKind]:
    """The class of a kind; KeyError for an unknown name."""
    module_name = KIND_MODULES[name]
    module = importlib.import_module(module_name)
    kind: type[CheckKind] = module.Kind
    return kind


OWN_TIMEOUT_MARGIN = 0.25
"""Seconds (at most 10 % of the budget) a kind's own deadline ends before the engine's: the kind then
reports what it was doing when time ran out ("timed out after 1s running the query") instead of the
engine's bare "timed out"."""


def own_deadline(timeout: float) -> float:
    """The seconds a kind gives itself within a run budget of `timeout` seconds."""
    return max(0.05, timeout - min(OWN_TIMEOUT_MARGIN, timeout * 0.1))


def masked_url(url: str) -> str:
    """`url` with its password, if any, shown as `***`: for descriptions and reasons."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return "<unparsable URL>"


def url_masker(url: str, redactor: Redactor) -> Callable[[str], str]:
    """Text cleaner masking the config's secrets and also a password written inline in `url`."""
    from urllib.parse import urlsplit

    own = Redactor()
    try:
        own.add("password", urlsplit(url).password)
    except ValueError:
        pass
    return lambda text: redactor.redact(own.redact(text))


def mask_outcome(outcome: Outcome, mask: Callable[[str], str]) -> Outcome:
    """`outcome` with its reason and text values passed through `mask` (changed in place, returned).

    A kind holding a secret URL calls it once on the way out: reasons and measured values may quote the
    server, a query's answer or the URL itself.
    """
    outcome.reason = mask(outcome.reason)
    outcome.values = {k: mask(v) if isinstance(v, str) else v for k, v in outcome.values.items()}
    return outcome


async def import_client(*modules: str) -> None:
    """Import client libraries in a worker thread: qdrant_client takes ~1 s and google.genai ~0.6 s to
    import, and an import on the event loop would freeze the TUI (and every other running check) that long.
    """
    import asyncio

    for module in modules:
        await asyncio.to_thread(importlib.import_module, module)
