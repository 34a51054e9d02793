"""`--help` explains itself: every argument and option of every command has a description, and every
command's help ends with one example."""

from __future__ import annotations

import argparse

import pytest

from deploytui.cli.main import build_parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_argument_is_described_and_the_help_ends_with_an_example(name: str) -> None:
    parser = _commands()[name]
    undescribed = [
        action.dest
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert undescribed == []
    text = parser.format_help()
    assert "example:" in text, text
    example = text.rsplit("example:", 1)[1].strip()
    assert example.startswith("deploytui "), example


def test_the_app_options_are_described_too() -> None:
    parser = build_parser(with_commands=False)
    assert [a.dest for a in parser._actions if not (a.help or "").strip()] == []
