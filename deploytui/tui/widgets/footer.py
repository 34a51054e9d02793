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

    async def recompose(self) -> None:
        """Show the keys that apply now, re-using the keys shown: Textual removes every key and mounts
        new ones (~10-20 widgets, 26-66 ms on the 2-core machine, each time the cursor rests on a node
        with other keys; a key pressed meanwhile waited for it). Here each shown key takes the binding in
        its place, and only the difference is mounted or removed. Anything but plain keys (a key group)
        is recomposed as Textual does."""
        if not self.is_attached:
            await super().recompose()
            return
        made = list(self.compose())
        new = [w for w in made if type(w) is FooterKey]
        old = [w for w in self.children if type(w) is FooterKey]
        if len(new) != len(made) or len(old) != len(self.children):
            await super().recompose()
            return
        old_palette = [w for w in old if w.has_class("-command-palette")]
        new_palette = [w for w in new if w.has_class("-command-palette")]
        old_keys = [w for w in old if not w.has_class("-command-palette")]
        new_keys = [w for w in new if not w.has_class("-command-palette")]
        if len(old_palette) != len(new_palette):
            await super().recompose()
            return
        pairs = [*zip(old_keys, new_keys, strict=False), *zip(old_palette, new_palette, strict=True)]
        for shown, wanted in pairs:
            _take(shown, wanted)
        extra = old_keys[len(new_keys) :]
        if extra:
            await self.remove_children(extra)
        more = new_keys[len(old_keys) :]
        if more:
            if old_palette:
                await self.mount(*more, before=old_palette[0])
            else:
                await self.mount(*more)
        self.refresh(layout=True)


def _take(shown: FooterKey, wanted: FooterKey) -> None:
    """A mounted key shows another binding (what FooterKey.__init__ set on `wanted`)."""
    if (shown.key, shown.key_display, shown.description, shown.action, shown._disabled) == (
        wanted.key,
        wanted.key_display,
        wanted.description,
        wanted.action,
        wanted._disabled,
    ) and shown.tooltip == wanted.tooltip:
        return
    shown.key = wanted.key
    shown.key_display = wanted.key_display
    shown.description = wanted.description
    shown.action = wanted.action
    shown._disabled = wanted._disabled
    shown.set_class(wanted._disabled, "-disabled")
    shown.tooltip = wanted.tooltip
    shown.refresh(layout=True)
