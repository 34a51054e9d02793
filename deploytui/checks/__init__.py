"""Check kinds. Each kind lives in its own module and imports its client library inside `run`."""

from __future__ import annotations

from deploytui.checks.base import KIND_MODULES, CheckContext, CheckKind, CheckSpec, get_kind, kind_names

__all__ = ["KIND_MODULES", "CheckContext", "CheckKind", "CheckSpec", "get_kind", "kind_names"]
