"""The engine masks a run's output as a stream, not line by line: a secret with line breaks is masked
across the lines it spans in the log, the live batches and the evidence, also when a batch boundary
falls inside it; the log header masks it before the description is made one line; output held back for
a possible multi-line secret still arrives while the process runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from deploytui.core.checklist import Action
from deploytui.core.events import RunOutput
from deploytui.engine import BATCH_LINES
from tests.support.engine_helpers import Recorder, make_engine, spec

KEY = "ab12cd\nef34gh\nij56kl"
"""Its lines are too short to be masked one by one: only masking across lines hides them."""


def assert_hidden(text: str) -> None:
    for part in KEY.split("\n"):
        assert part not in text, (part, text[-2000:])


async def test_a_multi_line_secret_is_masked_across_lines_in_log_batches_and_evidence(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, secrets={"KEY": KEY})
    rec = Recorder()
    outcome = await engine.run_check(
        spec("command", run='echo before; printf "%s\\n" "$KEY"; echo after'), "ml", rec
    )
    assert rec.lines() == ["before", "[secret:KEY]", "after"]
    log = (tmp_path / "ml.log").read_text()
    assert "before\n[secret:KEY]\nafter\n" in log
    assert outcome.evidence == "before\n[secret:KEY]\nafter"
    assert_hidden(log + rec.text() + repr(outcome))


async def test_a_secret_split_by_a_batch_boundary_is_still_masked(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, secrets={"KEY": KEY})
    rec = Recorder()
    # The BATCH_LINES-th line is the secret's first: that batch is flushed by count, the rest follows.
    run = f'seq 1 {BATCH_LINES - 1}; printf "%s\\n" "$KEY"; echo after'
    outcome = await engine.run_check(spec("command", run=run, timeout=30), "split", rec)
    lines = rec.lines()
    assert lines[-2:] == ["[secret:KEY]", "after"] and len(lines) == BATCH_LINES + 1
    assert len([e for e in rec.events if isinstance(e, RunOutput)]) >= 2
    log = (tmp_path / "split.log").read_text()
    assert f"{BATCH_LINES - 1}\n[secret:KEY]\nafter\n" in log
    assert_hidden(log + rec.text() + repr(outcome))


async def test_the_header_masks_a_multi_line_secret_before_it_becomes_one_line(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, secrets={"KEY": KEY})
    await engine.run_check(spec("command", run="test -n '${KEY}'"), "hdr", Recorder())
    header = (tmp_path / "hdr.log").read_text().splitlines()[1]
    assert header == "# $ test -n '[secret:KEY]'"


async def test_an_action_header_and_output_mask_a_multi_line_secret(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, secrets={"KEY": KEY})
    action = Action("deploy/step", 0, "bash", f"cat <<'EOF'\n{KEY}\nEOF\n", line=3)
    rec = Recorder()
    await engine.run_action("deploy/step", action, "act", rec)
    log = (tmp_path / "act.log").read_text()
    assert "[secret:KEY]" in log.split("# started")[0]  # the command, in the header
    assert rec.lines() == ["[secret:KEY]"]
    assert_hidden(log + rec.text())


async def test_output_held_for_a_multi_line_secret_arrives_while_the_process_runs(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, secrets={"KEY": KEY})
    arrivals: list[tuple[float, list[str]]] = []

    def on_event(event: Any) -> None:
        if isinstance(event, RunOutput):
            arrivals.append((time.monotonic(), list(event.lines)))

    await engine.run_check(spec("command", run="echo one; sleep 0.6; echo two"), None, on_event)
    assert [lines for _, lines in arrivals] == [["one"], ["two"]]
    assert arrivals[1][0] - arrivals[0][0] >= 0.4  # "one" was not held until the end


async def test_a_secret_hidden_by_an_escape_sequence_is_masked_in_the_log(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, secrets={"TOKEN": "tok-Env-7f3a9c2e1b"})
    rec = Recorder()
    await engine.run_check(spec("command", run="printf 'tok-Env-\\033[0m7f3a9c2e1b\\nplain\\n'"), "esc", rec)
    output = (tmp_path / "esc.log").read_text().split("# started")[1]
    assert rec.lines() == ["[secret:TOKEN]", "plain"]
    assert "[secret:TOKEN]\nplain\n" in output and "7f3a9c2e1b" not in output
