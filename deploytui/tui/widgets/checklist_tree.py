"""The checklist as a tree: a status glyph per node, progress on sections, check/action markers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Span, Text
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Tree
from textual.widgets._tree import _TreeLine
from textual.widgets.tree import TreeNode

from deploytui.core.checklist import Checklist, Node
from deploytui.core.status import Status
from deploytui.tui.present import ACTION_MARK, CHECK_MARK, GLYPHS, ROLLBACK_MARK
from deploytui.tui.widgets.own_size import OwnSize


@functools.cache
def _style(color: str | None, bold: bool | None = None, italic: bool | None = None) -> Style:
    """The few styles labels use, made once each."""
    return Style(color=color, bold=bold, italic=italic)


_DIM = Style(dim=True)


@dataclass(frozen=True)
class NodeView:
    """What the tree shows for one node, computed by the screen from the session."""

    status: Status
    progress: tuple[int, int] | None = None
    """(complete, total) for a section; None for an item."""


class ChecklistTree(OwnSize, Tree[str], inherit_bindings=False):
    """Sections and items of a checklist; each tree node's data is the checklist node id. Its size is its
    column's: a rebuild (a filter keystroke, a section expanded) repaints it, not the screen (OwnSize: the
    screen's layout after a filter keystroke took 20-40 ms on 5,000 items; bench_scale.py)."""

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

    _pass_style: Style | None = None
    """The widget's style during one render_lines pass (None outside one)."""

    class NodeFocused(Message):
        """The cursor moved to a checklist node. `jump`: moved there by `select_id` (a jump to a node,
        not a step of a held key: the screen shows it at once rather than when the cursor rests)."""

        def __init__(self, tree: ChecklistTree, node_id: str, jump: bool = False) -> None:
            super().__init__()
            self.tree = tree
            self.node_id = node_id
            self.jump = jump

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
        self._widths: dict[int, tuple[Text, int]] = {}
        """Tree node id -> (its label, that label's width): get_label_width (set before show_root: its
        watcher measures the root)."""
        self.show_root = False
        self.guide_depth = 3
        self._nodes_by_id: dict[str, TreeNode[str]] = {}
        """The tree nodes shown (under the filter), by checklist node id."""
        self._pool: dict[str, TreeNode[str]] = {}
        """Every checklist node's tree node, shown or not (build)."""
        self._node_view: Callable[[str], NodeView] = lambda node_id: NodeView(Status.PENDING)
        self._status_colors: dict[Status, str] = {}
        self.visible_ids: set[str] | None = None
        self._jumped_to: str | None = None
        """The node select_id last moved the cursor to, until its highlight is handled."""

    # -- building -------------------------------------------------------------------------------

    def build(
        self, view: Callable[[str], NodeView], colors: dict[Status, str], visible: set[str] | None = None
    ) -> None:
        """(Re)build the tree; `visible` limits it to those ids (a filter), ancestors kept.

        Every checklist node gets its tree node (and label) once, on the first build; a filter then only
        relinks which of them each parent lists (a node hidden keeps its tree node and label, kept current
        by refresh_labels): a rebuild of 5,000 items made ~5,000 tree nodes and labels per filter
        keystroke (~0.3 s; bench_scale.py)."""
        self._node_view = view
        self._status_colors = colors
        self.visible_ids = visible
        keep = self.cursor_node.data if self.cursor_node is not None else None
        if not self._pool:
            self._create_all()
        shown = self._shown_by(visible)
        pool = self._pool
        nodes = self.checklist.nodes
        if shown == self._nodes_by_id.keys() and all(
            pool[node_id]._expanded == self._expanded_in_build(nodes[node_id])
            for node_id in shown
            if nodes[node_id].children
        ):
            return  # the same tree (a first keystroke matching everything): nothing to relink or lay out
        # Only the shown parents are relinked (a hidden one is out of reach of the root, and is relinked
        # when it shows again): their children gathered in one pass over the shown nodes, in document
        # order. Relinking every parent took most of a narrowing keystroke on 5,000 items (4,550 parents).
        children: dict[str, list[TreeNode[str]]] = {}
        for node_id in nodes:  # document order: a parent's children in theirs
            if node_id in shown:
                parent_id = nodes[node_id].parent
                if parent_id is not None:
                    children.setdefault(parent_id, []).append(pool[node_id])
        for node_id in shown:
            node = nodes[node_id]
            if node.children:
                tree_node = pool[node_id]
                tree_node._children = children.get(node_id, [])
                tree_node._expanded = self._expanded_in_build(node)
        self.root._children = [pool[r] for r in self._roots() if r in shown]
        self._nodes_by_id = {node_id: pool[node_id] for node_id in nodes if node_id in shown}
        self._invalidate()
        if keep and keep in self._nodes_by_id:
            self.select_id(keep)

    def _roots(self) -> list[str]:
        roots = [r for r in self.checklist.roots if r != self.checklist.rollback_id]
        if self.checklist.rollback_id:
            roots.append(self.checklist.rollback_id)  # set apart at the end
        return roots

    def _create_all(self) -> None:
        """A tree node for every checklist node, in document order (build() links them)."""
        self.clear()
        self._bulk = True
        try:
            for root_id in self._roots():
                self._add(self.root, root_id)
        finally:
            self._bulk = False

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
        label = self._label(node)
        if node.children:
            tree_node = parent.add(label, data=node_id, expand=self._expanded_in_build(node))
            for child in node.children:
                self._add(tree_node, child)
        else:
            tree_node = parent.add_leaf(label, data=node_id)
        self._pool[node_id] = tree_node

    # -- labels ---------------------------------------------------------------------------------

    def _label(self, node: Node) -> Text:
        """The node's label, its plain text and spans made at once (Text.append per part, and a Style
        object per part per node, were most of the cost of labelling 5,000 nodes; bench_scale.py)."""
        view = self._node_view(node.id)
        color = self._status_colors.get(view.status, "") or None
        parts: list[tuple[str, Style]] = [(GLYPHS[view.status] + " ", _style(color, True))]
        if node.id == self.checklist.rollback_id:
            parts.append((ROLLBACK_MARK + " ", _style(None, True)))
        title_style = _style(None, node.kind == "section", True if node.rollback else None)
        parts.append((self.redact(node.title), title_style))
        if view.progress is not None and view.progress[1]:
            done, total = view.progress
            parts.append((f" {done}/{total}", _DIM))
        checks = self.checks_per_item.get(node.id, 0)
        if checks:
            parts.append((f" {CHECK_MARK}" + (str(checks) if checks > 1 else ""), _style(color)))
        steps = len(node.actions) + self.steps_per_item.get(node.id, 0)
        if steps:
            parts.append((f" {ACTION_MARK}" + (str(steps) if steps > 1 else ""), _DIM))
        spans = []
        start = 0
        for part, style in parts:
            end = start + len(part)
            spans.append(Span(start, end, style))
            start = end
        return Text("".join(part for part, _style_ in parts), no_wrap=True, overflow="ellipsis", spans=spans)

    def refresh_labels(
        self, node_ids: Iterable[str] | None = None, colors: dict[Status, str] | None = None
    ) -> None:
        """Redraw the labels of these nodes and their ancestors (all nodes when None)."""
        if colors is not None:
            self._status_colors = colors
        if node_ids is None:
            targets: Iterable[str] = list(self._pool)
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
            tree_node = self._pool.get(node_id)
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
        label = node._label
        known = self._widths.get(node._id)
        if known is None or known[0] is not label:
            # Kept per label: rich caches 4,096 strings' widths, and a 5,000-node tree's relayout (each
            # filter keystroke) measured every label again.
            known = (label, label.cell_len)
            self._widths[node._id] = known
        return prefix + known[1]

    def _build(self) -> None:
        """Tree._build (the lines of the expanded tree, their widths) without its recursive closure: that
        closure is a reference cycle holding every line of the build (5,050 lines and their paths) until
        a full collection finds it, each of which then took ~40 ms (the filter relinks and relays out;
        bench_scale.py). Same lines, same order, same widths and cursor."""
        lines: list[_TreeLine[str]] = []
        stack: list[tuple[list[TreeNode[str]], TreeNode[str], bool]] = []
        if self.show_root:
            stack.append(([], self.root, True))
        else:
            stack.extend(([], node, True) for node in reversed(self.root._children))
        while stack:
            path, node, last = stack.pop()
            child_path = [*path, node]
            node._line = len(lines)
            lines.append(_TreeLine(child_path, last))
            if node._expanded:
                children = node._children
                final = len(children) - 1
                stack.extend((child_path, children[i], i == final) for i in range(final, -1, -1))
        self._tree_lines_cached = lines
        guide_depth, show_root = self.guide_depth, self.show_root
        if lines:
            measure = self.get_label_width
            width = max(measure(line.node) + line._get_guide_width(guide_depth, show_root) for line in lines)
        else:
            width = self.size.width
        self.virtual_size = Size(width, len(lines))
        if self.cursor_line != -1:
            if self.cursor_node is not None:
                self.cursor_line = self.cursor_node._line
            if self.cursor_line >= len(lines):
                self.cursor_line = -1

    def render_lines(self, crop: Region) -> list[Strip]:
        """Tree.render_lines with the widget's style worked out once per pass: Tree.render_line asks for
        `rich_style` on every line, which walks the ancestors' styles each time (~0.25 ms here), and a
        cursor move that scrolls redraws every visible line (~7 ms of a move on 5,000 items;
        bench_scale.py under cProfile)."""
        self._tree_lines  # noqa: B018 - build the lines (and so the scroll range) before drawing any
        self._pass_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._pass_style = None

    def render_line(self, y: int) -> Strip:
        style = self._pass_style
        if style is None:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        return self._render_line(y + scroll_y, scroll_x, scroll_x + self.size.width, style)

    def _invalidate(self) -> None:
        """Tree._invalidate without its layout of the whole screen: the tree's size is its column's, and
        the lines (built again lazily: on idle, or by whatever reads them first) set its virtual size,
        which moves the scrollbar (OwnSize). Textual also invalidates on every node added: build() adds
        in bulk and invalidates once."""
        if self._bulk:
            return
        self._clear_line_cache()
        self._updates += 1
        self.root._reset()
        self.refresh()

    def notify_style_update(self) -> None:
        """Tree's invalidates the lines too, and building them again (~20-35 ms on 5,000 items) came in
        every first frame, when the stylesheet is applied to the new tree: styles change how lines look
        (the line cache), not which lines there are."""
        super(Tree, self).notify_style_update()  # what Tree.notify_style_update calls, not its _invalidate
        self._line_cache.clear()
        self._updates += 1
        self.refresh()

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
            if not parent.is_expanded and parent is not self.root:
                # Only the collapsed: TreeNode.expand posts NodeExpanded and invalidates the whole tree
                # even for a node open already, ten times for a node ten deep (each filter keystroke
                # that moved the cursor; bench_scale.py).
                parent.expand()
            parent = parent.parent
        self._jumped_to = node_id
        self._tree_lines  # noqa: B018 - lay the lines out first: a relinked node's _line is its old one
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
        jump, self._jumped_to = event.node.data == self._jumped_to, None
        if event.node.data is not None:
            self.post_message(self.NodeFocused(self, event.node.data, jump=jump))
