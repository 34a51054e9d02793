"""Which check kinds exist: the built-ins (one module each under `deploytui.checks.kinds`) and any a
package adds through the `deploytui.checks` entry point group.

A new built-in kind is one file in `kinds/` plus one line in `BUILTIN_KINDS`. A plugin declares

    [project.entry-points."deploytui.checks"]
    mykind = "mypackage.mykind"

where the module defines `Kind`, a `CheckKind` subclass. Modules are imported only when a kind is used
(validating a binding of it, or running it), so `deploytui list` on the bundled bindings never imports a
heavy client library.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from typing import Any

from deploytui.checks.base import CheckKind

ENTRY_POINT_GROUP = "deploytui.checks"
"""Entry point group through which other packages add kinds."""

BUILTIN_KINDS: dict[str, str] = {
    "command": "deploytui.checks.kinds.command",
    "env": "deploytui.checks.kinds.env",
    "http": "deploytui.checks.kinds.http",
    "tls": "deploytui.checks.kinds.tls",
    "postgres": "deploytui.checks.kinds.postgres",
    "backup": "deploytui.checks.kinds.backup",
    "redis": "deploytui.checks.kinds.redis",
    "qdrant": "deploytui.checks.kinds.qdrant",
    "gemini": "deploytui.checks.kinds.gemini",
    "docker": "deploytui.checks.kinds.docker",
    "prometheus": "deploytui.checks.kinds.prometheus",
    "git": "deploytui.checks.kinds.git",
    "secrets_exposure": "deploytui.checks.kinds.secrets_exposure",
    "webhook": "deploytui.checks.kinds.webhook",
    "action": "deploytui.checks.kinds.action",
}
"""Kind name -> module. The module defines `Kind`, a `CheckKind` subclass."""

PROCESS_KINDS = frozenset({"qdrant", "gemini"})
"""The built-in kinds whose class says `process = True` (their runs go to a worker process), known
without importing the kind modules (~30 ms): `deploytui check` starts those workers before it loads
anything else. tests/integration/test_check_prestart.py holds this and the classes together."""


def runs_in_process(name: str) -> bool:
    """Whether `name`'s runs go to a worker process of their own (CheckKind.process); KeyError for an
    unknown kind, ImportError when a plugin's module cannot load (a built-in is not imported)."""
    if name in BUILTIN_KINDS:
        return name in PROCESS_KINDS
    return get_kind(name).process


@cache
def kind_modules() -> dict[str, str]:
    """Every kind this installation knows: the built-ins, then entry points (a built-in name wins)."""
    from importlib.metadata import entry_points

    modules = dict(BUILTIN_KINDS)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        modules.setdefault(point.name, point.value.split(":", 1)[0])
    return modules


def kind_names() -> list[str]:
    return sorted(kind_modules())


def get_kind(name: str) -> type[CheckKind]:
    """The class of a kind; KeyError for an unknown name, ImportError when its module cannot load.

    A built-in name wins over an entry point (as in `kind_modules`), so it is found without reading
    every installed package's entry points (~60 ms here: a kind's worker process starts with this)."""
    kind = _LOADED.get(name)
    if kind is None:
        module = importlib.import_module(BUILTIN_KINDS.get(name) or kind_modules()[name])
        kind = _LOADED[name] = module.Kind
    return kind


_LOADED: dict[str, type[CheckKind]] = {}
"""Kinds loaded so far: the engine asks several times a run (~15 us each through importlib)."""


class Registry:
    """The installed kinds, as the config loader (core) sees them: names, and what is wrong with a
    binding's parameters. Core cannot import checks, so the services layer hands this to it."""

    def names(self) -> list[str]:
        return kind_names()

    def problems(self, kind: str, params: Mapping[str, Any]) -> list[str] | None:
        """Sentences saying what is wrong with the binding (empty: valid); None when the kind's module is
        not installed in this build (its fields cannot be checked)."""
        try:
            kind_class = get_kind(kind)
        except ImportError:
            return None
        return kind_class.validate(params)

    def default_timeout(self, kind: str, params: Mapping[str, Any]) -> float | None:
        """The kind's own timeout for a binding that sets none (None: the config's)."""
        try:
            return get_kind(kind).default_timeout(params)
        except (KeyError, ImportError):
            return None


REGISTRY = Registry()
"""The one registry (stateless: the entry points are read once)."""
