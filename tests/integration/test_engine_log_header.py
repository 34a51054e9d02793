"""A run's log file: the header lines all start with "# ", so the output that follows is exactly the
command's (the streaming benchmark counts a 2,000,000-line flood in it; a multi-line action's command
used to leave lines in the header that read like output, and a trailing newline a blank one)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from deploytui.core.checklist import Action
from deploytui.engine import Engine


def test_a_multi_line_action_log_holds_header_lines_then_exactly_the_output(tmp_path: Path) -> None:
    engine = Engine(log_dir=tmp_path / "logs", base_dir=tmp_path)
    action = Action("deploy/step", 0, "bash", "echo one\necho two\nseq 1 3\n", line=3)
    outcome = asyncio.run(engine.run_action("deploy/step", action, "r1", lambda event: None))
    assert outcome.values.get("exit_code") == 0
    lines = (tmp_path / "logs" / "r1.log").read_text(encoding="utf-8").splitlines()
    header = [line for line in lines if line.startswith("# ")]
    output = [line for line in lines if not line.startswith("# ")]
    assert output == ["one", "two", "1", "2", "3"]
    assert any("echo two" in line for line in header)  # the whole command is in the header
    assert lines[: len(lines) - len(output) - 1] == header[:-1]  # header first, the verdict last
