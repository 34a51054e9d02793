"""Property tests: any text loads without an exception, ids are unique, and every fenced block in the
token stream is an action of exactly one node."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploytui.core.checklist import Checklist, load_checklist, parse_checklist
from deploytui.core.errors import DeployError
from deploytui.core.markdown import parse_markdown

WORDS = st.sampled_from(
    ["deploy", "Check", "API", "größe", "本番", "Журнал", "rollback", "Sign-off", "`code`", "**bold**",
     "[link](x)", "<b>", "&amp;", "x", "1.", "!!!", "[ ]", "[x]", "\\*", "| a |", ">", "~~~", "```"]
)
LINE_TEXT = st.lists(WORDS, min_size=0, max_size=5).map(" ".join)
INDENT = st.sampled_from([0, 1, 2, 3, 4, 6, 8, 12])


def _block(kind: str, indent: int, text: str, extra: int) -> str:
    pad = " " * indent
    if kind == "heading":
        return f"{'#' * (extra % 6 + 1)} {text}"
    if kind == "task":
        return f"{pad}{'-*+'[extra % 3]} [{' xX'[extra % 3]}] {text}"
    if kind == "ordered":
        return f"{pad}{extra % 12}{'.)'[extra % 2]} {text}"
    if kind == "bullet":
        return f"{pad}- {text}"
    if kind == "fence":
        fence = "```" if extra % 4 else "~~~~"
        closing = f"\n{pad}{fence}" if extra % 5 else ""  # sometimes left open to the end
        return f"{pad}{fence}{'bash' if extra % 2 else ''}\n{pad}{text}{closing}"
    if kind == "quote":
        return f"{pad}> {text}"
    if kind == "table":
        return f"{pad}| a | b |\n{pad}|---|---|\n{pad}| {text} | 1 |"
    if kind == "field":
        return f"- **{text or 'Deployed by'}:** ____"
    if kind == "frontmatter":
        return f"---\ntitle: {text}\n---"
    if kind == "hr":
        return "---"
    if kind == "blank":
        return ""
    return text


BLOCK = st.builds(
    _block,
    st.sampled_from(
        ["heading", "task", "task", "task", "ordered", "bullet", "fence", "fence", "quote", "table",
         "field", "frontmatter", "hr", "blank", "blank", "para"]
    ),
    INDENT,
    LINE_TEXT,
    st.integers(min_value=0, max_value=1000),
)
MARKDOWNISH = st.lists(BLOCK, max_size=40).map("\n".join)


def check_invariants(text: str) -> Checklist | None:
    try:
        c = parse_checklist(text)
    except DeployError as exc:
        # The only refusal: nesting beyond what the parser keeps (it would drop content silently).
        assert "nested" in exc.message and exc.line is not None
        return None
    fences = sorted(t.map[0] + 1 for t in parse_markdown(text.removeprefix("\ufeff")).tokens
                    if t.type == "fence" and t.map)
    actions = c.actions()
    assert sorted(a.line for a in actions) == fences, "every fence is exactly one node's action"
    assert len(actions) == len({(a.node_id, a.index) for a in actions})
    for node in c.nodes.values():
        assert [a.index for a in node.actions] == list(range(len(node.actions)))
        segments = node.id.split("/")
        assert all(0 < len(seg) <= 48 for seg in segments)
        if node.parent is None:
            assert node.depth == 0
        else:
            parent = c.nodes[node.parent]
            assert node.id == f"{parent.id}/{segments[-1]}" and node.depth == parent.depth + 1
            assert parent.rollback <= node.rollback
        assert len(set(node.children)) == len(node.children)
        if node.kind == "section":
            assert not node.step
    children = [cid for n in c.nodes.values() for cid in n.children]
    assert sorted(children + c.roots) == sorted(c.nodes), "each node is reachable exactly once"
    assert all(not n.rollback and n.kind == "item" for n in c.items())
    assert c.signoff and len({f.key for f in c.signoff}) == len(c.signoff)
    return c


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_loads(text: str) -> None:
    check_invariants(text)


@settings(max_examples=400, deadline=None)
@given(MARKDOWNISH)
def test_markdownish_text_loads_with_unique_ids_and_every_fence_attached(text: str) -> None:
    check_invariants(text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_load_or_give_a_one_line_error_naming_the_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.md"
        path.write_bytes(data)
        try:
            load_checklist(path)
        except DeployError as exc:
            assert exc.path == str(path)
            assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("-*+ [x]\n`~#>1.|_:\t\r\\<a")), max_size=300))
def test_dense_markdown_punctuation_loads(text: str) -> None:
    """Markers, fences, quotes and tables packed densely: the shapes most likely to confuse attachment."""
    check_invariants(text)
