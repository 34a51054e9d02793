"""The checklist as a tree: a status glyph per node, progress on sections, check/action markers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from deploytui.core.checklist import Checklist, Node
from deploytui.core.status import Status
from deploytui.tui.present import ACTION_MARK, CHECK_MARK, GLYPHS, ROLLBACK_MARK


@dataclass(frozen=True)
class NodeView:
    """What the tree shows for one node, computed by the screen from the session."""

    status: Status
    progress: tuple[int, int] | None = None
    """(complete, total) for a section; None for an item."""


class ChecklistTree(Tree[str], inherit_bindings=False):
    """Sections and items of a checklist; each tree node's data is the checklist node id."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "select_cursor",
            "Expand",
            show=False,
            id="tree.expand",
            tooltip="Expand or collapse the section",
        ),
        Binding("up,k", "cursor_up", "Up", show=False, id="tree.up", tooltip="Previous node"),
        Binding("down,j", "cursor_down", "Down", show=False, id="tree.down", tooltip="Next node"),
        Binding(
            "left,h",
            "collapse_or_parent",
            "Collapse",
            show=False,
            id="tree.collapse",
            tooltip="Collapse the section, or go to the parent",
        ),
        Binding("right,l", "expand_node", "Expand", show=False, id="tree.open", tooltip="Expand the section"),
        Binding("home", "scroll_home", "First", show=False, id="tree.first", tooltip="First node"),
        Binding("end", "scroll_end", "Last", show=False, id="tree.last", tooltip="Last node"),
        Binding("pageup", "page_up", "Page up", show=False, id="tree.page-up", tooltip="Page up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="tree.page-down", tooltip="Page down"),
    ]

    _bulk = False
    """True while build() adds nodes: the tree is invalidated once at the end, not per node. (A class
    default: Tree.__init__ invalidates before this class's __init__ body runs.)"""

    class NodeFocused(Message):
        """The cursor moved to a checklist node."""

        def __init__(self, tree: ChecklistTree, node_id: str) -> None:
            super().__init__()
            self.tree = tree
            self.node_id = node_id

        @property
        def control(self) -> ChecklistTree:
            return self.tree

    def __init__(
        self,
        checklist: Checklist,
        checks_per_item: dict[str, int],
        *,
        steps_per_item: dict[str, int] | None = None,
        redact: Callable[[str], str] = str,
        id: str | None = None,  # noqa: A002
    ) -> None:
        super().__init__(Text(checklist.title or "Checklist"), id=id)  # checklist text, not markup
        self.checklist = checklist
        self.checks_per_item = checks_per_item
        self.steps_per_item = steps_per_item or {}
        """World-changing bindings per item: marked `$` like a fenced block (x runs both)."""
        self.redact = redact
        """Masks secret values in titles (a checklist may quote one)."""
        self.show_root = False
        self.guide_depth = 3
        self._nodes_by_id: dict[str, TreeNode[str]] = {}
        self._node_view: Callable[[str], NodeView] = lambda node_id: NodeView(Status.PENDING)
        self._status_colors: dict[Status, str] = {}
        self.visible_ids: set[str] | None = None

    # -- building -------------------------------------------------------------------------------

    def build(
        self, view: Callable[[str], NodeView], colors: dict[Status, str], visible: set[str] | None = None
    ) -> None:
        """(Re)build the tree; `visible` limits it to those ids (a filter), ancestors kept."""
        self._node_view = view
        self._status_colors = colors
        self.visible_ids = visible
        if self._nodes_by_id and self._shown_by(visible) == self._nodes_by_id.keys():
            # The same nodes (a first filter keystroke matching everything, or Esc from such a filter):
            # only the expansion differs. A rebuild of 5,000 items is ~0.3 s (bench_scale.py).
            self._bulk = True
            try:
                for node_id, tree_node in self._nodes_by_id.items():
                    if tree_node.allow_expand:
                        wanted = self._expanded_in_build(self.checklist.node(node_id))
                        if wanted and not tree_node.is_expanded:
                            tree_node.expand()
                        elif not wanted and tree_node.is_expanded:
                            tree_node.collapse()
            finally:
                self._bulk = False
                self._invalidate()
            return
        keep = self.cursor_node.data if self.cursor_node is not None else None
        self.clear()
        self._nodes_by_id.clear()
        roots = [r for r in self.checklist.roots if r != self.checklist.rollback_id]
        if self.checklist.rollback_id:
            roots.append(self.checklist.rollback_id)  # set apart at the end
        self._bulk = True
        try:
            for root_id in roots:
                self._add(self.root, root_id)
        finally:
            self._bulk = False
            self._invalidate()
        if keep and keep in self._nodes_by_id:
            self.select_id(keep)

    def _shown_by(self, visible: set[str] | None) -> set[str]:
        """Ids a build with this filter shows: visible nodes whose ancestors are all visible."""
        shown: set[str] = set()
        for node_id, node in self.checklist.nodes.items():  # document order: parents first
            if (visible is None or node_id in visible) and (node.parent is None or node.parent in shown):
                shown.add(node_id)
        return shown

    def _expanded_in_build(self, node: Node) -> bool:
        """A built node with children starts expanded, but the rollback procedure when not filtering."""
        return self.visible_ids is not None or not (node.rollback and node.id == self.checklist.rollback_id)

    def _add(self, parent: TreeNode[str], node_id: str) -> None:
        node = self.checklist.node(node_id)
        if self.visible_ids is not None and node_id not in self.visible_ids:
            return
        label = self._label(node)
        if node.children:
            expand = self._expanded_in_build(node)
            tree_node = parent.add(label, data=node_id, expand=expand)
            for child in node.children:
                self._add(tree_node, child)
        else:
            tree_node = parent.add_leaf(label, data=node_id)
        self._nodes_by_id[node_id] = tree_node

    # -- labels ---------------------------------------------------------------------------------

    def _label(self, node: Node) -> Text:
        view = self._node_view(node.id)
        color = self._status_colors.get(view.status, "")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(GLYPHS[view.status] + " ", Style(color=color or None, bold=True))
        if node.id == self.checklist.rollback_id:
            text.append(ROLLBACK_MARK + " ", Style(bold=True))
        title_style = Style(bold=node.kind == "section")
        if node.rollback:
            title_style += Style(italic=True)
        text.append(self.redact(node.title), title_style)
        if view.progress is not None and view.progress[1]:
            done, total = view.progress
            text.append(f" {done}/{total}", Style(dim=True))
        checks = self.checks_per_item.get(node.id, 0)
        if checks:
            text.append(f" {CHECK_MARK}" + (str(checks) if checks > 1 else ""), Style(color=color or None))
        steps = len(node.actions) + self.steps_per_item.get(node.id, 0)
        if steps:
            text.append(f" {ACTION_MARK}" + (str(steps) if steps > 1 else ""), Style(dim=True))
        return text

    def refresh_labels(
        self, node_ids: Iterable[str] | None = None, colors: dict[Status, str] | None = None
    ) -> None:
        """Redraw the labels of these nodes and their ancestors (all nodes when None)."""
        if colors is not None:
            self._status_colors = colors
        if node_ids is None:
            targets: Iterable[str] = list(self._nodes_by_id)
        else:
            wanted: set[str] = set()
            for node_id in node_ids:
                current: str | None = node_id
                while current is not None and current not in wanted:
                    wanted.add(current)
                    current = self.checklist.node(current).parent
            targets = wanted
        changed = False
        for node_id in targets:
            tree_node = self._nodes_by_id.get(node_id)
            if tree_node is not None:
                # What TreeNode.set_label does, but for the repaint: it defers that with call_later, behind
                # the tree's queue, so the header (repainted at once) showed a run's end while the tree
                # still showed it running.
                tree_node._label = self.process_label(self._label(self.checklist.node(node_id)))
                tree_node._updates += 1
                changed = True
        if changed:
            self.refresh()

    def get_label_width(self, node: TreeNode[str]) -> int:
        """A label's width without rendering it. Textual's default renders every label each time the tree
        changes (a label redrawn, a node expanded): ~0.2 s per change on 5,000 items (bench_scale.py)."""
        prefix = 0
        if node.allow_expand:
            prefix = cell_len(self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE)
        return prefix + node._label.cell_len

    def _invalidate(self) -> None:
        """Textual invalidates the whole tree (line cache, a layout refresh) on every node added: 5,000
        times per rebuild of a 5,000-item tree. build() adds in bulk and invalidates once."""
        if not self._bulk:
            super()._invalidate()

    def process_label(self, label: str | Text) -> Text:
        """Our labels are one-line Text already: used as they are (Textual copies and splits every label
        into lines, a third of the cost of building a 5,000-node tree)."""
        if isinstance(label, Text) and "\n" not in label.plain:
            return label
        return super().process_label(label)

    # -- navigation -----------------------------------------------------------------------------

    @property
    def selected_id(self) -> str | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def select_id(self, node_id: str) -> bool:
        """Move the cursor to a node, expanding its ancestors (e.g. the collapsed rollback procedure)."""
        tree_node = self._nodes_by_id.get(node_id)
        if tree_node is None:
            return False
        parent = tree_node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        self.move_cursor(tree_node)
        self.scroll_to_node(tree_node, animate=False)
        return True

    def expand_id(self, node_id: str) -> None:
        tree_node = self._nodes_by_id.get(node_id)
        if tree_node is not None:
            tree_node.expand()

    def action_collapse_or_parent(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    def action_expand_node(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand:
            node.expand()

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(self.NodeFocused(self, event.node.data))
