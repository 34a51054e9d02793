"""kind = "env": environment variables are set, non-empty, not placeholders, long enough, of the right shape.

    [[check]]
    item = "pre-deployment/environment-variables-configured/database-url-set"
    kind = "env"
    names = ["DATABASE_URL"]
    expect = { scheme = "postgresql" }          # postgresql/postgres(+driver); redis/rediss; https; http
    # expect = { min_length = 32 }              # e.g. SECRET_KEY
    # expect = { not = "*" }                    # e.g. ALLOWED_ORIGINS (a comma list) must not allow "*"
    # expect = { placeholder = false }          # accept placeholder-looking values (default: rejected)

Values come from the environment the engine runs with (os.environ over the config's dotenv files).
Reasons name the variable, never its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from deploytui.checks.base import CheckKind
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome

SCHEME_ALIASES: dict[str, frozenset[str]] = {
    "postgresql": frozenset({"postgresql", "postgres"}),
    "postgres": frozenset({"postgresql", "postgres"}),
    "redis": frozenset({"redis", "rediss"}),
    "rediss": frozenset({"rediss"}),
    "https": frozenset({"https"}),
    "http": frozenset({"http", "https"}),
}
"""Schemes accepted for an expected scheme; a `+driver` suffix (postgresql+asyncpg) is ignored."""

PLACEHOLDER_WORDS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "todo",
        "fixme",
        "tbd",
        "placeholder",
        "dummy",
        "example",
        "your-api-key",
        "your_api_key",
        "yourapikey",
        "none",
        "null",
        "undefined",
        "secret",
        "password",
        "xxx",
        "...",
        "<>",
        "test",
        "sample",
    }
)
"""Whole values (case-insensitive) that are obviously not real."""

PLACEHOLDER_RE = re.compile(
    r"changeme|change[-_]me|your[-_ ](?:api[-_ ]?)?(?:key|secret|token|password)|replace[-_ ]?me"
    r"|<[^<>]{1,40}>|\{\{[^{}]*\}\}|(?:^|[^a-z0-9])x{3,}(?:[^a-z0-9]|$)|^todo\b|^example|^your[-_]",
    re.IGNORECASE,
)
"""Placeholder fragments anywhere in a value (`postgresql://<user>:<pw>@host`, `sk-xxxx`, `your-key`)."""


def is_placeholder(value: str) -> bool:
    text = value.strip()
    return text.lower() in PLACEHOLDER_WORDS or bool(PLACEHOLDER_RE.search(text))


def scheme_ok(value: str, expected: str | list[str]) -> bool:
    wanted: set[str] = set()
    for name in expected if isinstance(expected, list) else [expected]:
        wanted |= SCHEME_ALIASES.get(str(name).lower(), frozenset({str(name).lower()}))
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    scheme = parts.scheme.lower().split("+", 1)[0]
    return scheme in wanted and bool(parts.netloc or parts.path)


class Kind(CheckKind):
    name: ClassVar[str] = "env"
    fields: ClassVar[frozenset[str]] = frozenset({"names"})
    required: ClassVar[frozenset[str]] = frozenset({"names"})
    expect_fields: ClassVar[frozenset[str]] = frozenset({"scheme", "min_length", "not", "placeholder"})
    summary: ClassVar[str] = "environment variables set, non-empty, not placeholders, right scheme and length"

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> list[str]:
        problems = super().validate(params)
        names = params.get("names")
        if names is not None and not (
            isinstance(names, list) and names and all(isinstance(n, str) and n.strip() for n in names)
        ):
            problems.append('names must be a non-empty list of variable names, like names = ["DATABASE_URL"]')
        expect = params.get("expect")
        if isinstance(expect, Mapping) and "min_length" in expect:
            value = expect["min_length"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append("min_length must be a positive whole number")
        return problems

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        names = spec.params.get("names", [])
        return "environment: " + ", ".join(str(n) for n in names)

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        names = [str(n) for n in spec.params.get("names", [])]
        expect = dict(spec.expect)
        forbidden = expect.get("not")
        forbidden_values = (
            [str(f) for f in (forbidden if isinstance(forbidden, list) else [forbidden])]
            if (forbidden is not None)
            else []
        )
        for name in names:
            value = ctx.env.get(name)
            if value is None:
                return Outcome.failed(f"{name} is not set", checked=len(names))
            if not value.strip():
                return Outcome.failed(f"{name} is empty", checked=len(names))
            if expect.get("placeholder", False) is False and is_placeholder(value):
                return Outcome.failed(
                    f"{name} looks like a placeholder, not a real value", checked=len(names)
                )
            min_length = expect.get("min_length")
            if min_length is not None and len(value) < int(min_length):
                return Outcome.failed(
                    f"{name} is {len(value)} characters long, expected at least {int(min_length)}",
                    checked=len(names),
                )
            scheme = expect.get("scheme")
            if scheme is not None and not scheme_ok(value, scheme):
                wanted = " or ".join(scheme) if isinstance(scheme, list) else str(scheme)
                return Outcome.failed(f"{name} is not a {wanted} URL", checked=len(names))
            if forbidden_values:
                parts = {p.strip() for p in value.split(",")} | {value.strip()}
                for bad in forbidden_values:
                    if bad in parts:
                        return Outcome.failed(f"{name} must not be {bad!r}", checked=len(names))
            ctx.emit(f"{name}: set ({len(value)} characters)")
        return Outcome.passed(
            f"{', '.join(names)} set" if len(names) <= 3 else f"{len(names)} variables set",
            checked=len(names),
        )
