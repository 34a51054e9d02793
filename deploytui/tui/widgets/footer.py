"""The footer: Textual's, made to fit. Textual's lists every shown key in order and cuts what passes the
right edge, so at 80 columns a long row of keys pushed `? Help` and `q Quit` off the screen. Here the
screen ranks its actions (`footer_actions()`, most important first): keys it does not rank are left out,
and the lowest ranked are dropped until the rest fit; every key still works and is in help and the
palette."""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from textual import events
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PALETTE_EXTRA_CELLS = 2
"""The palette key's border and right padding, beyond the cells every key takes."""


def key_cells(key: FooterKey) -> int:
    """Cells one key takes in the (non-compact) footer: ` key ` then `description `."""
    if not key.description:
        return cell_len(key.key_display)
    return cell_len(key.key_display) + 2 + cell_len(key.description) + 1


def fit(keys: list[FooterKey], ranked: list[str], width: int) -> list[FooterKey]:
    """The keys to show, in their order: those whose action is ranked, dropping the lowest ranked until
    they fit in `width` cells."""
    rank = {action: i for i, action in enumerate(ranked)}
    kept = [k for k in keys if k.action in rank]
    total = sum(key_cells(k) for k in kept)
    for key in sorted(kept, key=lambda k: rank[k.action], reverse=True):
        if total <= width:
            break
        kept.remove(key)
        total -= key_cells(key)
    return kept


class DeployFooter(Footer):
    """A footer that always fits the keys that matter most on the current screen."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._composed_width = 0

    def compose(self) -> Iterable[Widget]:
        ranked = getattr(self.screen, "footer_actions", None)
        widgets = list(super().compose())
        if ranked is None:
            yield from widgets
            return
        width = self.size.width or self.app.size.width
        self._composed_width = width
        keys = [w for w in widgets if isinstance(w, FooterKey) and not w.has_class("-command-palette")]
        palette = [w for w in widgets if isinstance(w, FooterKey) and w.has_class("-command-palette")]
        room = width - sum(key_cells(p) + PALETTE_EXTRA_CELLS for p in palette)
        shown = set(map(id, fit(keys, ranked(), room)))
        for widget in widgets:
            if widget in keys and id(widget) not in shown:
                continue
            yield widget

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._composed_width and getattr(self.screen, "footer_actions", None):
            self.call_after_refresh(self.recompose)
