"""The command-line face: one small module per command over `deploytui.services`. Imports textual only
for the TUI command."""

from __future__ import annotations

from deploytui.cli.main import main

__all__ = ["main"]
