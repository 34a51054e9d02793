"""The checklist and config a command works on, with every binding validated against the installed
check kinds: the one way both faces (and the tests) load a project.

Core's loader cannot know the kinds (they sit above it); this is where the registry is handed to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from deploytui.checks.registry import REGISTRY, get_kind
from deploytui.core import config as core_config
from deploytui.core.config import Config

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist


def load_config(path: str | Path, checklist: Checklist | None = None) -> Config:
    """deploytui.toml at `path`, its bindings validated (DeployError naming file and line)."""
    return core_config.load_config(path, checklist, kinds=REGISTRY)


def resolve(source: str | None, config: str | None) -> tuple[Checklist, Config]:
    """The checklist and config for a command's CHECKLIST|CONFIG argument and --config (see
    `deploytui.core.config.resolve` for the rules)."""
    return core_config.resolve(source, config, kinds=REGISTRY)


def unset_variables(config: Config) -> dict[str, list[str]]:
    """`${NAME}`s the config's checks use that nothing sets -> the checks using them (each kind's own
    variables, like backup's `${date}`, are not counted)."""

    def provided(kind: str) -> frozenset[str]:
        try:
            return get_kind(kind).provides
        except (KeyError, ImportError):
            return frozenset()

    return config.unset_variables(provided)
