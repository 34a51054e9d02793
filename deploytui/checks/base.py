"""The check protocol and the mechanics every kind shares (timeouts, URL masking, type checks).

A kind is a subclass of `CheckKind` in its own module under `deploytui.checks.kinds`, named in the
registry (`deploytui.checks.registry`). Importing that module must stay cheap: heavy clients
(qdrant_client, google.genai, docker, psycopg...) are imported inside `run`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from deploytui.core.redact import Redactor
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome

COMMON_FIELDS = frozenset({"item", "kind", "timeout", "name", "expect"})
"""Keys every [[check]] may carry, whatever its kind."""


@dataclass(frozen=True)
class Field:
    """One key a kind's [[check]] table may carry: its type, whether it is required, what it is for.

    A kind declares `schema = {"paths": Field("string list", required=True, doc=...)}` and the base
    class derives the allowed keys, the required ones and the type problems from it."""

    type: str
    """One of FIELD_TYPES."""
    required: bool = False
    doc: str = ""

    def problem(self, key: str, value: Any) -> str | None:
        """Why `value` is not of this field's type (None: it is)."""
        ok, example = FIELD_TYPES[self.type]
        return None if ok(value) else f"{key} must be {example}"


FIELD_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "number": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "string list": (
        lambda v: isinstance(v, list) and bool(v) and all(isinstance(x, str) and x.strip() for x in v),
        'a non-empty list of strings, like ["a", "b"]',
    ),
    "table": (lambda v: isinstance(v, Mapping), "a table, like { key = value }"),
}
"""Field types a schema may name: (the test, how the error message says it)."""


@dataclass(frozen=True)
class Footprint:
    """What a run touches on the target, as the engine's scheduler sees it (beside the config's own
    `exclusive` and `resource`). Resources are names like an URL's origin ("http://127.0.0.1:8000")."""

    uses: frozenset[str] = frozenset()
    """Resources the run shares with other users (an HTTP check uses its URL's origin)."""
    holds: frozenset[str] = frozenset()
    """Resources the run needs alone: nothing else using or holding one of them runs meanwhile."""
    burst: bool = False
    """A load probe (an HTTP burst): it runs after the other checks on what it holds, and they wait
    out its cooldown (and the target's Retry-After) after it."""


class CheckKind:
    """Base of every check kind. Subclasses set the class attributes and implement `run`."""

    name: ClassVar[str] = ""
    fields: ClassVar[frozenset[str]] = frozenset()
    """Keys allowed in the [[check]] table besides COMMON_FIELDS."""
    required: ClassVar[frozenset[str]] = frozenset()
    expect_fields: ClassVar[frozenset[str]] = frozenset()
    """Keys allowed inside `expect = {...}`."""
    schema: ClassVar[Mapping[str, Field]] = {}
    """The kind's own keys, declared (a kind with a schema need not list `fields`/`required`)."""
    provides: ClassVar[frozenset[str]] = frozenset()
    """Variables the kind fills in itself when it runs (`${date}` in a backup's file name)."""
    action: ClassVar[bool] = False
    """True when running it changes the world: it then runs only on the operator's confirmation."""
    summary: ClassVar[str] = ""
    clients: ClassVar[tuple[str, ...]] = ()
    """The client modules its runs import (`qdrant_client`). The engine imports those of a whole batch
    before any check of the batch that has clients starts: an import holds the GIL for up to seconds,
    and a check timed meanwhile (a Redis PING, an HTTP latency) would measure the import, not its target.
    Name also what building the first client imports (httpx's transport: httpcore, h2): ~100 ms each."""
    process: ClassVar[bool] = False
    """Its runs go to a worker process of its own (`deploytui.checks.worker`), one per engine, started
    as soon as a batch uses the kind: its client takes seconds of CPU to import and build (qdrant_client
    ~1.8 s, google.genai ~1.4 s here), which in the engine's process ran on one core, under the one GIL,
    while everything else waited. The worker imports `clients` at once, on the other core."""

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> list[str]:
        """Problems with a binding's parameters, as readable sentences (empty: valid)."""
        problems: list[str] = []
        allowed = cls.fields | frozenset(cls.schema) | COMMON_FIELDS
        for key in params:
            if key not in allowed:
                names = ", ".join(sorted(allowed - {"item", "kind"}))
                problems.append(f"unknown field {key!r} for kind {cls.name!r} (allowed: {names})")
        required = cls.required | {k for k, f in cls.schema.items() if f.required}
        for key in sorted(required):
            if key not in params:
                problems.append(f"kind {cls.name!r} needs field {key!r}")
        for key, f in cls.schema.items():
            if key in params and (problem := f.problem(key, params[key])) is not None:
                problems.append(problem)
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

    @classmethod
    def default_timeout(cls, params: Mapping[str, Any]) -> float | None:
        """The timeout of a binding that sets none, when this kind has its own; None: the config's
        ([defaults] timeout). World-changing commands (an action, a dump) say DEFAULT_ACTION_TIMEOUT."""
        return None

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        """One line saying what this check does, variables substituted (secrets masked by the caller)."""
        return f"{self.name} check"

    def footprint(self, spec: CheckSpec, ctx: CheckContext) -> Footprint:
        """What the run touches (variables substituted; MissingVariable when one is not set). Default:
        nothing the scheduler needs to know of."""
        return Footprint()

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


MAX_MS = 86_400_000
"""The largest latency bound (max_ms, p95_ms...) a check accepts: a day, like every duration."""


def milliseconds_problems(expect: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """For a kind's `validate`: a sentence for each of `keys` in `expect` that is not a latency bound
    in milliseconds (a finite number above zero, at most a day; a ${VAR} is checked when it runs)."""
    import math

    problems: list[str] = []
    for key in keys:
        if key not in expect:
            continue
        value = expect[key]
        if isinstance(value, str) and "${" in value:
            continue
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if not (math.isfinite(number) and 0 < number <= MAX_MS):
            problems.append(
                f"expect.{key} must be a number of milliseconds above 0 and at most {MAX_MS}"
                f" (a day), got {str(value)[:40]}"
            )
    return problems


OWN_TIMEOUT_MARGIN = 0.25
"""Seconds (at most 10 % of the budget) a kind's own deadline ends before the engine's: the kind then
reports what it was doing when time ran out ("timed out after 1s running the query") instead of the
engine's bare "timed out"."""


def own_deadline(timeout: float) -> float:
    """The seconds a kind gives itself within a run budget of `timeout` seconds."""
    return max(0.05, timeout - min(OWN_TIMEOUT_MARGIN, timeout * 0.1))


def url_origin(url: str) -> str | None:
    """`scheme://host:port` of an URL (lowercase, the port always written), or None if it has none."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        if not scheme or not host:
            return None
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        return None
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


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
    """Text cleaner masking the config's secrets and the password written inline in `url`: the
    redactor learns it (as it learns every URL a check reads through `ctx.param`)."""
    redactor.learn_urls(url)
    return redactor.redact


def mask_outcome(outcome: Outcome, mask: Callable[[str], str]) -> Outcome:
    """`outcome` with its reason and text values passed through `mask` (changed in place, returned).

    A kind holding a secret URL calls it once on the way out: reasons and measured values may quote the
    server, a query's answer or the URL itself.
    """
    outcome.reason = mask(outcome.reason)
    outcome.values = {k: mask(v) if isinstance(v, str) else v for k, v in outcome.values.items()}
    return outcome


async def outcome_of(run: Awaitable[Any]) -> Outcome:
    """Await a kind's run (or an action's body): every failure becomes an Outcome, never an exception
    but cancellation. The one place the engine and a kind's worker process both turn failures into
    reasons."""
    import asyncio

    from deploytui.checks.expect import exception_reason
    from deploytui.core.spec import MissingVariable

    try:
        outcome = await run
    except MissingVariable as exc:
        return Outcome.error(f"{exc.name} is not set")
    except KeyError as exc:
        return Outcome.error(f"internal error: missing key {exc}")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a kind's bug is an error status, never a crash
        return Outcome.error(exception_reason(exc))
    if not isinstance(outcome, Outcome):
        return Outcome.error(f"check returned {type(outcome).__name__}, not an Outcome")
    return outcome


async def import_client(*modules: str) -> None:
    """Import client libraries in a worker thread: qdrant_client takes ~1 s and google.genai ~0.6 s to
    import, and an import on the event loop would freeze the TUI (and every other running check) that long.
    """
    import asyncio

    for module in modules:
        if not _imported(module):
            await asyncio.to_thread(importlib.import_module, module)


def _imported(module: str) -> bool:
    """Imported already and done initialising (a module another thread is still importing is in
    sys.modules half-made; its spec says so, and `import_module` waits for it). A thread hop per check
    for a module loaded long ago cost ~0.6 ms of each parallel HTTP check."""
    loaded = sys.modules.get(module)
    return loaded is not None and not getattr(getattr(loaded, "__spec__", None), "_initializing", False)
