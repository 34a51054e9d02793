"""The record: safe text, canonical form, trailers, the data block, and rendering a real session."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from deploytui.core import text as textsafe
from deploytui.core.checklist import Checklist, parse_checklist
from deploytui.core.record import (
    LogExcerpt,
    RecordData,
    RecordFormatError,
    RecordInputs,
    add_signature,
    build_trailer,
    canonical_problem,
    canonicalise,
    parse_record,
    parse_record_data,
    render_data_block,
    render_record,
)
from deploytui.core.session import (
    AddNote,
    Finish,
    Override,
    RunFinished,
    RunStarted,
    Session,
    SignOff,
    Skip,
    Tick,
)
from deploytui.core.status import Outcome, Status
from deploytui.storage.fs import LiveSession, SessionStore

CHECKLIST = """\
# Release checklist

Release of the chat service.

## Pre-flight

- [ ] Tests passing
- [ ] Config ready
  - [ ] Database URL set
  - [ ] Redis URL set
- [ ] Backups verified

## Deploy

- [ ] Image pushed
- [ ] Health check passes

## Rollback Plan

1. Revert the image
2. Restore the database

## Sign-off

- **Deployed by:** _____________
- **Reviewed by:** _____________
- **Result:** [ ] Success [ ] Rollback

**Notes:** ____________________
"""

HOSTILE_OUTPUT = (
    "\x1b[31mERROR\x1b[0m connection refused\n"
    "\x1b]0;pwned title\x07\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\\n"
    "```\n"
    "``````````\n"
    "~~~\n"
    "# Forged heading\n"
    "<!-- deploytui-signature v1 role=reviewer -->\n"
    "   <!-- deploytui-signature v1 role=deployer -->\n"
    "-----BEGIN SSH SIGNATURE-----\n"
    "U1NIU0lHAAAAAQ==\n"
    "-----END SSH SIGNATURE-----\n"
    "<script>alert(1)</script>\n"
    "| forged | table |\n"
    "progress 10%\rprogress 55%\rprogress 100%\n"
    "bell\x07 backspace\x08 nul\x00 del\x7f c1\x9b31m\n"
    "bidi \u202eevil\u202c zero\u200bwidth\n"
    "trailing spaces   \n"
    "last line: all done"
)
"""Output a misbehaving server or command could print: escapes, fences, markers, HTML, controls."""


def titles(checklist: Checklist) -> dict[str, str]:
    return {node.title: node.id for node in checklist.nodes.values()}


@dataclass
class BuiltSession:
    store: SessionStore
    session_id: str
    session_dir: Path
    checklist_path: Path
    ids: dict[str, str]


def build_session(tmp_path: Path, result: str = "Success", reviewer: str = "bob", deployer: str = "alice",
                  hostile: str = HOSTILE_OUTPUT) -> BuiltSession:
    """A real session on disk (store, hash-chained events, logs) with every kind of entry a record shows."""
    checklist_path = tmp_path / "release.md"
    checklist_path.write_text(CHECKLIST)
    from deploytui.core.checklist import load_checklist

    checklist = load_checklist(checklist_path)
    ids = titles(checklist)
    store = SessionStore(tmp_path / "sessions")
    live: LiveSession = store.create(checklist, "alice", host="jump-1")
    try:
        live.apply(Tick(ids["Tests passing"], "alice"))
        live.apply(AddNote(ids["Tests passing"], "alice", "CI run 4711 *green*"))
        for title, run, outcome, output in [
            ("Database URL set", "run-db", Outcome(Status.PASSED, "DATABASE_URL is set (postgresql)",
                                                 {"scheme": "postgresql"}), "checking env\nok\n"),
            ("Redis URL set", "run-redis", Outcome(Status.FAILED, "REDIS_URL scheme is http, not redis",
                                                   {"scheme": "http"}), hostile),
            ("Health check passes", "run-health", Outcome(Status.PASSED, "HTTP 200 in 12 ms",
                                                          {"status": 200, "ms": 12.5}),
             "".join(f"GET /health -> 200 ({i})\n" for i in range(40))),
        ]:
            log = live.new_log(run)
            log.write_text(output)
            live.apply(RunStarted(ids[title], "check-1", run, kind="http", label=f"probe {title}"))
            live.apply(RunFinished(ids[title], "check-1", run, outcome, log=str(log), kind="http"))
        note = "known: the proxy speaks http\n```\n# not a heading"
        live.apply(Override(ids["Redis URL set"], "carol", note))
        live.apply(Skip(ids["Backups verified"], "alice", "done by the DBA <dba@example.com> **yesterday**"))
        live.apply(Tick(ids["Image pushed"], "alice"))
        live.apply(SignOff({"deployed-by": deployer, "reviewed-by": reviewer, "result": result,
                            "notes": "smooth\n<!-- deploytui-signature v1 role=deployer -->"}, "alice"))
        live.apply(Finish(result, "alice"))
        return BuiltSession(store, live.id, live.dir, checklist_path, ids)
    finally:
        live.close()


# --- textsafe -----------------------------------------------------------------------------------------


def test_clean_removes_escapes_controls_and_invisible_characters() -> None:
    """Output cannot recolour, retitle, hyperlink, beep or reorder: only its printable text remains."""
    text = textsafe.clean(HOSTILE_OUTPUT)
    assert "\x1b" not in text and "\x07" not in text and "\x00" not in text and "\x9b" not in text
    assert "\u202e" not in text and "\u200b" not in text
    assert "ERROR connection refused" in text
    assert "pwned" not in text  # an OSC title is not text
    assert "link" in text
    assert "progress 100%" in text and "progress 10%" not in text  # what the terminal finally showed
    assert all(ord(c) >= 32 or c in "\t\n" for c in text)


def test_clean_makes_unicode_line_breaks_real() -> None:
    """U+2028 and friends are line breaks to some readers: they become LFs, so lines are what they seem."""
    assert textsafe.clean("a\u2028b\x85c\x0cd") == "a\nb\nc\nd"
    assert textsafe.clean_line("a\nb\tc\r\n") == "a b c"


def test_fence_is_longer_than_any_backtick_run() -> None:
    assert textsafe.fence_for("plain") == "```"
    assert textsafe.fence_for("x ```` y `") == "`````"
    block = textsafe.fenced("```\n``````\nend", "text", "  ")
    assert block.splitlines()[0] == "  ```````text"
    tokens = MarkdownIt("commonmark").parse(block)
    assert [t.type for t in tokens] == ["fence"]
    assert tokens[0].content == "```\n``````\nend\n"


def test_marker_like_lines_are_escaped() -> None:
    for line in ["<!-- deploytui-signature v1 role=x -->", "  <!--deploytui-signature",
                 "<!-- DEPLOYTUI-SIGNATURE", "-----BEGIN SSH SIGNATURE-----",
                 "\t-----END SSH SIGNATURE-----"]:
        escaped = textsafe.escape_marker_line(line)
        assert not textsafe.is_marker_like(escaped), line
        assert escaped.lstrip().startswith("\\")
        assert textsafe.escape_marker_line(escaped) == escaped
    assert textsafe.escape_marker_line("<!-- a comment -->") == "<!-- a comment -->"


def test_escape_inline_keeps_untrusted_text_inert() -> None:
    """A reason or note cannot become emphasis, a link, HTML, a comment, code or a table cell."""
    hostile = "**bold** _em_ [link](http://x) <b>html</b> <!-- hide `code` a|b &amp; ~~strike~~ \\"
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    rendered = md.render(textsafe.escape_inline(hostile))
    for tag in ("<strong>", "<em>", "<a ", "<b>", "<code>", "<s>", "<!--"):
        assert tag not in rendered, tag
    assert "&amp;amp;" in rendered  # the entity stays literal text
    assert textsafe.escape_inline("DATABASE_URL") == "DATABASE_URL"


def test_code_span_survives_backticks() -> None:
    span = textsafe.code_span("a ``b`` c")
    tokens = MarkdownIt("commonmark").parseInline(span)[0].children
    assert tokens is not None and tokens[0].type == "code_inline" and tokens[0].content == "a ``b`` c"


# --- canonical form and trailers -----------------------------------------------------------------------


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_canonicalise_is_idempotent_and_canonical(text: str) -> None:
    once = canonicalise(text)
    assert canonicalise(once) == once
    if once:
        assert canonical_problem(once) is None
        assert once.endswith("\n") and not once.endswith("\n\n")
        assert all(not line.endswith((" ", "\t")) for line in once.split("\n"))
        assert not any(textsafe.is_marker_like(line) for line in once.split("\n"))


@pytest.mark.parametrize(
    ("body", "line", "what"),
    [
        ("a \nb\n", 1, "trailing whitespace"),
        ("a\nb\x01\n", 2, "control character"),
        ("a\nb", 2, "no final line feed"),
        ("a\n\n", 2, "empty lines at the end"),
        ("a\r\nb\n", 1, "control character"),
    ],
)
def test_canonical_problem_names_the_line(body: str, line: int, what: str) -> None:
    problem = canonical_problem(body)
    assert problem is not None and problem[0] == line and what in problem[1]


ARMOR = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\n"


def test_trailers_parse_back() -> None:
    body = "# Record\n\ntext\n"
    record = body + build_trailer("deployer", ARMOR) + build_trailer("reviewer", ARMOR)
    parsed = parse_record(record)
    assert parsed.body == body
    found = [(t.role, t.armor, t.line) for t in parsed.trailers]
    assert found == [("deployer", ARMOR, 4), ("reviewer", ARMOR, 10)]
    assert parse_record(record.replace("\n", "\r\n")).body == body  # CRLF files parse the same


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r + "appended\n", "text after the last signature"),
        (lambda r: r + "\n", "text after the last signature"),
        (lambda r: r.replace("# Record\n", "# Record\n<!-- deploytui-signature v1 role=deployer -->\n"),
         "expected ```sshsig"),
        (lambda r: r.replace("text\n", "text\n  <!-- deploytui-signature v1 role=reviewer -->\n"),
         "malformed signature marker"),
        (lambda r: r + build_trailer("deployer", ARMOR), "a second deployer signature"),
        (lambda r: r.replace("role=deployer", "role=admin"), "unknown signer role"),
        (lambda r: r.replace("v1 role", "v2 role"), "unsupported signature format"),
        (lambda r: r.replace("U1NIU0lHAAAAAQ==", "U1NI U0lH"), "not base64"),
        (lambda r: r.rstrip("\n"), "no final line feed"),
        (lambda r: r.replace("text\n", "text \n"), "not canonical: trailing whitespace"),
        (lambda r: r.replace("text\n", "te\rxt\n"), "not canonical: control character"),
    ],
)
def test_record_structure_is_strict(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    record = "# Record\n\ntext\n" + build_trailer("deployer", ARMOR)
    parse_record(record)
    with pytest.raises(RecordFormatError, match=message):
        parse_record(mutate(record))


def test_add_signature_refuses_a_second_signature_of_a_role() -> None:
    record = add_signature("# R\n", "deployer", ARMOR)
    record = add_signature(record, "reviewer", ARMOR)
    with pytest.raises(RecordFormatError, match="already has a reviewer"):
        add_signature(record, "reviewer", ARMOR)


def test_data_block_round_trips_and_cannot_close_its_fence() -> None:
    data = RecordData("s-1", "ab" * 32, {"deployer": "Ann `x` Łukasz", "reviewer": ""}, "cd" * 32, 7,
                      {"logs/a```.log": "ef" * 32, "logs/odd\x85\x9b\u2028\x1b.log": "01" * 32})
    body = canonicalise("# R\n\n" + render_data_block(data))
    assert "```" not in body.split("```json\n", 1)[1].rsplit("\n```", 1)[0]
    assert parse_record_data(body) == data
    assert "Łukasz" in body  # readable, not \u-escaped
    with pytest.raises(RecordFormatError, match="data block"):
        parse_record_data("# R\n")


# --- rendering ------------------------------------------------------------------------------------------


def _memory_session(result: str = "Success") -> tuple[Session, Checklist, RecordInputs]:
    checklist = parse_checklist(CHECKLIST)
    ids = titles(checklist)
    session = Session.new("s-mem", checklist, "alice", "jump-1", at="2026-11-25T09:00:00.000Z")
    session.apply(Tick(ids["Tests passing"], "alice"), at="2026-11-25T09:01:00.000Z")
    session.apply(RunStarted(ids["Redis URL set"], "k", "r1", kind="redis"), at="2026-11-25T09:02:00.000Z")
    failed = Outcome(Status.FAILED, "PING timed out", {"ms": 2000})
    session.apply(RunFinished(ids["Redis URL set"], "k", "r1", failed, log="logs/r1.log", kind="redis"),
                  at="2026-11-25T09:02:02.000Z")
    session.apply(Skip(ids["Backups verified"], "bob", "nightly job verified"), at="2026-11-25T09:03:00.000Z")
    session.apply(SignOff({"deployed-by": "alice", "reviewed-by": "bob", "result": result}, "alice"),
                  at="2026-11-25T09:10:00.000Z")
    session.apply(Finish(result, "alice"), at="2026-11-25T10:05:03.000Z")
    inputs = RecordInputs(
        events_head="9" * 64, events_count=session.seq, logs={"logs/r1.log": "1" * 64},
        excerpts={"logs/r1.log": LogExcerpt(textsafe.clean(HOSTILE_OUTPUT), 120)},
        exported_at="2026-11-25T10:06:00Z",
    )
    return session, checklist, inputs


def test_record_shows_summary_items_signoff_and_index() -> None:
    session, checklist, inputs = _memory_session()
    body = render_record(session, checklist, inputs)
    assert canonical_problem(body) is None
    for expected in [
        "# Deployment record: Release checklist",
        "| Checklist sha256 | `" + checklist.sha256 + "` |",
        "| Session | `s-mem` |", "| Operator | alice |", "| Host | jump-1 |",
        "| Started | 2026-11-25T09:00:00.000Z |", "| Finished | 2026-11-25T10:05:03.000Z |",
        "| Duration | 1h05m |", "| Result | Success |",
        "- [x] ☑️ **done** — Tests passing",
        "by alice at 2026-11-25T09:01:00.000Z",
        "- [ ] ❌ **failed** — Redis URL set",
        "check `k` (redis): ❌ failed — PING timed out",
        "measured: `ms=2000`",
        "evidence, the last 15 lines of `logs/r1.log`, 120 earlier lines left out:",
        "- [x] ⏭️ **skipped** — Backups verified", "skipped because: nightly job verified",
        "- **Deployed by:** alice _(signs as deployer)_",
        "the reviewer **bob** (sign-off “Reviewed by”) is expected to countersign",
        "| `logs/r1.log` | `" + "1" * 64 + "` |",
        f"Event log: `events.jsonl`, {session.seq} events, head `{'9' * 64}`.",
    ]:
        assert expected in body, expected
    counts = body.split("Measured: ", 1)[1].split("\n", 1)[0]
    # Session.counts counts parent items too ("Config ready" derives failed from its child).
    assert counts == "2 of 7 items complete · ☑️ done 1 · ❌ failed 2 · ⏭️ skipped 1 · ⬜ pending 3"
    data = parse_record_data(body)
    assert data.signers == {"deployer": "alice", "reviewer": "bob"}
    assert (data.events_count, data.events_head, data.session) == (session.seq, "9" * 64, "s-mem")
    assert "## Rollback\n\nNot used (result: Success)." in body
    assert "Revert the image" not in body


def test_rollback_section_appears_when_result_is_rollback() -> None:
    session, checklist, inputs = _memory_session("Rollback")
    body = render_record(session, checklist, inputs)
    rollback = body.split("## Rollback\n", 1)[1].split("\n## ", 1)[0]
    assert "Revert the image" in rollback and "Restore the database" in rollback


def test_hostile_evidence_cannot_forge_structure() -> None:
    """Fences, headings, markers, armor, HTML and tables in output stay text inside one long fence."""
    session, checklist, inputs = _memory_session()
    body = render_record(session, checklist, inputs)
    assert not any(textsafe.is_marker_like(line) for line in body.split("\n"))
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
    headings = [t for t in tokens if t.type == "heading_open"]
    heading_lines = [body.split("\n")[t.map[0]] for t in headings if t.map]
    assert not any("Forged" in line for line in heading_lines)
    assert [t.type for t in tokens if t.type in ("html_block", "html_inline")] == []
    evidence = [t for t in tokens if t.type == "fence" and "Forged heading" in t.content]
    assert len(evidence) == 1
    fence = evidence[0].content
    for piece in ("```", "# Forged heading", "\\<!-- deploytui-signature", "\\-----BEGIN SSH SIGNATURE-----",
                  "<script>", "last line: all done"):
        assert piece in fence, piece
    assert parse_record(body).trailers == []


def test_render_without_checklist_lists_session_items() -> None:
    """The checklist file is gone or changed: the record still lists every item from the session."""
    session, _checklist, inputs = _memory_session()
    inputs.checklist_note = "the checklist changed since the session"
    body = render_record(session, None, inputs)
    assert canonical_problem(body) is None
    assert "Note: the checklist changed since the session" in body
    assert "Database URL set" in body and "❌ **failed** — Redis URL set" in body
    assert parse_record_data(body).signers["reviewer"] == "bob"


def test_export_of_a_real_session_reads_logs_and_chain(tmp_path: Path) -> None:
    from deploytui.services.records import export_text
    from deploytui.storage.fs import read_events

    built = build_session(tmp_path)
    body = export_text(built.session_id, sessions_dir=built.store.dir)
    data = parse_record_data(body)
    log = read_events(built.session_dir / "events.jsonl")
    assert (data.events_count, data.events_head) == (log.count, log.head)
    assert sorted(data.logs) == ["logs/run-db.log", "logs/run-health.log", "logs/run-redis.log"]
    import hashlib

    assert data.logs["logs/run-redis.log"] == hashlib.sha256(
        (built.session_dir / "logs/run-redis.log").read_bytes()).hexdigest()
    assert "GET /health -> 200 (39)" in body and "GET /health -> 200 (24)" not in body  # the last 15 lines
    assert "25 earlier lines left out" in body
    assert "known: the proxy speaks http" in body
    assert "done by the DBA \\<dba@example.com\\> \\*\\*yesterday\\*\\*" in body
    assert json.loads(body.split("```json\n", 1)[1].rsplit("\n```", 1)[0])["session"] == built.session_id
    assert Counter(line.startswith("<!--") for line in body.split("\n"))[True] == 0
