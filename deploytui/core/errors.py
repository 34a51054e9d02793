"""Errors the user can act on: each names a file and, where known, a line."""

from __future__ import annotations

from pathlib import Path


class DeployError(Exception):
    """A problem with the user's input (file, config, session): reported in one line, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        # One line, always: a message never carries a newline to the terminal.
        return (where + self.message).replace("\r", " ").replace("\n", " ")


class LockedError(DeployError):
    """The session is held by another process."""
