"""Command palette provider: every command of the working screen, searchable by name and description."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


class DeployCommands(Provider):
    """The main screen's bindings (those that apply right now) as palette commands."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        from deploytui.tui.screens.main import MainScreen

        screen = self.screen
        if not isinstance(screen, MainScreen):
            return []
        commands: list[tuple[str, str, Callable[[], object]]] = []
        for binding in screen.BINDINGS:
            if not isinstance(binding, Binding) or binding.action == "help":
                continue
            if screen.check_action(binding.action, ()) is False:
                continue
            commands.append(
                (binding.description, binding.tooltip, partial(screen.run_action, binding.action))
            )
        return commands

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = max(matcher.match(name), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
