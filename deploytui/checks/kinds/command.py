"""kind = "command": run a program or a shell line; expect an exit code and (no) matching output.

    [[check]]
    item = "deployment-steps/3-health-checks/logs-show-no-errors"
    kind = "command"
    run = "docker logs ${BACKEND_CONTAINER}"      # a string runs in /bin/sh -c; a list runs as argv
    cwd = "${APP_DIR}"                             # optional, relative to the config's directory
    env = { LC_ALL = "C" }                         # optional, added to the environment
    expect = { exit_code = 0, stdout_absent = "ERROR" }

stdout and stderr are merged and streamed live; stdout_contains / stdout_absent are regular
expressions (or lists of them) matched line by line against the whole output, however long.
The process runs in its own session: a timeout or a cancel kills its whole process group.

`run_process` is shared with actions (fenced blocks, kind = "action").
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import shlex
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from deploytui.checks.base import CheckKind
from deploytui.checks.expect import status_matches
from deploytui.core.spec import CheckContext, CheckSpec, MissingVariable
from deploytui.core.status import Outcome
from deploytui.core.text import cap, clean
from deploytui.core.threads import no_pause

READ_CHUNK = 16384
"""Bytes read from the process pipe at a time. Its lines are handled in one go without yielding to the
event loop: 64 KiB of short lines (~9,000) held the TUI's keys up to 40 ms; 16 KiB keeps a slice near
10 ms at the same throughput (benchmarks/bench_streaming.py)."""

MAX_LINE_CHARS = 16 * 1024 * 1024
"""A line without a newline longer than this is passed on in pieces (memory stays bounded)."""

TERM_GRACE_SECONDS = 0.5
"""After SIGTERM to a process group, how long before SIGKILL."""

EXIT_POLL_SECONDS = 0.05
"""How often the exit of a process whose output is still open is looked at."""

DRAIN_SECONDS = 0.3
"""After the main process exits, how long output still held by leftover children is read."""


@dataclass
class ProcessResult:
    exit_code: int
    lines: int


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """Kill the process group: TERM, a short grace, then KILL."""
    _kill_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), TERM_GRACE_SECONDS)
    except TimeoutError:
        pass
    _kill_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(proc.wait(), TERM_GRACE_SECONDS)


async def run_process(
    argv: Sequence[str],
    *,
    cwd: str | Path | None,
    env: Mapping[str, str],
    emit: Callable[[str], None],
    on_line: Callable[[str], None] | None = None,
    pause: Callable[[], None] = no_pause,
) -> ProcessResult:
    """Run argv (stdout+stderr merged) in a new session; every output line goes to `emit` and `on_line`.

    Bytes are decoded as UTF-8 with errors="replace". Cancellation kills the whole process group.
    `pause` is called after each chunk read (CheckContext.pause: a flood of output shares the GIL with
    the app's thread in the TUI).
    """
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=str(cwd) if cwd is not None else None,
        env=dict(env),
        start_new_session=True,
    )
    assert proc.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    # The line being read, in pieces: joining only when it ends (or grows past MAX_LINE_CHARS) keeps a
    # long line linear (re-joining it on every 64 KiB read was quadratic: ~3.5 s and 180 ms event-loop
    # stalls for a 50 MB line).
    pending: list[str] = []
    pending_chars = 0
    count = 0

    def deliver(line: str) -> None:
        nonlocal count
        count += 1
        emit(line)
        if on_line is not None:
            on_line(line)

    async def pump() -> None:
        nonlocal pending_chars
        assert proc.stdout is not None
        while True:
            chunk = await proc.stdout.read(READ_CHUNK)
            text = decoder.decode(chunk, final=not chunk)
            if text:
                pieces = text.split("\n")
                rest = pieces.pop()
                if pieces:
                    pieces[0] = "".join(pending) + pieces[0]
                    pending.clear()
                    pending_chars = 0
                for line in pieces:
                    deliver(line[:-1] if line.endswith("\r") else line)
                if rest:
                    pending.append(rest)
                    pending_chars += len(rest)
                while pending_chars > MAX_LINE_CHARS:
                    joined = "".join(pending)
                    deliver(joined[:MAX_LINE_CHARS])
                    joined = joined[MAX_LINE_CHARS:]
                    pending[:] = [joined] if joined else []
                    pending_chars = len(joined)
            if not chunk:
                return
            # read() returns at once while the pipe has data: yield, so a flood cannot starve the loop,
            # nor (pause) the app's thread of the GIL.
            pause()
            await asyncio.sleep(0)

    reader = asyncio.ensure_future(pump())
    try:
        # asyncio's proc.wait() also waits for the pipes to close, which a background child can keep
        # open forever: watch the exit status itself, then drain what is left for a moment.
        while not reader.done() and proc.returncode is None:
            await asyncio.wait({reader}, timeout=EXIT_POLL_SECONDS)
        if not reader.done():
            await asyncio.wait({reader}, timeout=DRAIN_SECONDS)
            if not reader.done():
                _kill_group(proc.pid, signal.SIGKILL)
                await asyncio.wait({reader}, timeout=DRAIN_SECONDS)
                reader.cancel()
        else:
            reader.result()
        if proc.returncode is None:
            await proc.wait()
    except BaseException:
        reader.cancel()
        await _terminate(proc)
        raise
    partial = "".join(pending)
    if partial:
        deliver(partial)
    # Leftover children of the group (a check only reads; nothing it started may outlive it).
    _kill_group(proc.pid, signal.SIGKILL)
    code = proc.returncode if proc.returncode is not None else -1
    return ProcessResult(exit_code=code, lines=count)


def shell_argv(command: str) -> list[str]:
    return ["/bin/sh", "-c", command]


def action_argv(lang: str, code: str) -> list[str]:
    """argv that runs a fenced block; ValueError for a language we do not run."""
    lang = (lang or "").strip().lower()
    if lang in ("", "bash", "sh", "shell", "console", "zsh", "shell-session"):
        if lang in ("console", "shell-session"):
            code = "\n".join(line[2:] if line.startswith("$ ") else line for line in code.splitlines())
        bash = shutil.which("bash")
        return [bash, "-c", code] if bash else ["/bin/sh", "-c", code]
    if lang in ("python", "py", "python3"):
        return ["python3", "-c", code]
    raise ValueError(f"cannot run a {lang!r} block (only shell and python blocks run)")


def _patterns(value: Any, field_name: str) -> list[re.Pattern[str]]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        try:
            out.append(re.compile(str(item)))
        except re.error as exc:
            raise ValueError(f"{field_name}: bad regular expression {item!r}: {exc}") from None
    return out


class Kind(CheckKind):
    name: ClassVar[str] = "command"
    fields: ClassVar[frozenset[str]] = frozenset({"run", "cwd", "env"})
    required: ClassVar[frozenset[str]] = frozenset({"run"})
    expect_fields: ClassVar[frozenset[str]] = frozenset({"exit_code", "stdout_contains", "stdout_absent"})
    summary: ClassVar[str] = "run a program or shell line; expect its exit code and output"

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> list[str]:
        problems = super().validate(params)
        run = params.get("run")
        if run is not None and not (
            (isinstance(run, str) and run.strip())
            or (isinstance(run, list) and run and all(isinstance(a, str) for a in run))
        ):
            problems.append("run must be a shell line (string) or a non-empty list of strings")
        env = params.get("env")
        if env is not None and not isinstance(env, Mapping):
            problems.append("env must be a table, like env = { LC_ALL = \"C\" }")
        expect = params.get("expect")
        if isinstance(expect, Mapping):
            for key in ("stdout_contains", "stdout_absent"):
                if key in expect:
                    try:
                        _patterns(expect[key], key)
                    except ValueError as exc:
                        problems.append(str(exc))
        return problems

    def argv(self, spec: CheckSpec, ctx: CheckContext) -> list[str]:
        """argv to execute. A list is substituted element by element (no shell: values stay whole). A shell
        line is not substituted: the shell expands ${NAME} and ${NAME:-default} itself from the
        environment (where [vars] are exported), so a value holding `&`, `;` or quotes stays one word
        when quoted in the line and can never inject a command. It is still checked for unset variables.
        """
        raw = spec.params.get("run")
        if isinstance(raw, list):
            return [str(a) for a in ctx.substitute(raw)]
        ctx.substitute(str(raw))  # MissingVariable for ${NAME} without a value: "NAME is not set"
        return shell_argv(str(raw))

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        run = ctx.param(spec, "run")
        text = run if isinstance(run, str) else shlex.join(str(a) for a in run)
        cwd = ctx.param(spec, "cwd")
        return f"$ {text}" + (f"  (in {cwd})" if cwd else "")

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        argv = self.argv(spec, ctx)
        cwd_param = ctx.param(spec, "cwd")
        cwd = ctx.path(str(cwd_param)) if cwd_param else ctx.base_dir
        if not Path(cwd).is_dir():
            return Outcome.error(f"working directory {cwd} does not exist")
        env = dict(ctx.env)
        for name in ctx.vars:
            try:
                env[name] = ctx.lookup(name)
            except MissingVariable:
                continue  # a var this command may not use; the line itself was checked above
        for key, value in (ctx.param(spec, "env", {}) or {}).items():
            env[str(key)] = str(value)
        expect = ctx.substitute(dict(spec.expect))
        expected_code = expect.get("exit_code", 0)
        contains = _patterns(expect.get("stdout_contains", []), "stdout_contains")
        absent = _patterns(expect.get("stdout_absent", []), "stdout_absent")
        found = [False] * len(contains)
        forbidden: list[str] = []

        def on_line(line: str) -> None:
            for i, pattern in enumerate(contains):
                if not found[i] and pattern.search(line):
                    found[i] = True
            if not forbidden:
                for pattern in absent:
                    if pattern.search(line):
                        forbidden.append(f"{pattern.pattern!r}: {cap(clean(line).strip(), 160)}")
                        break

        try:
            result = await run_process(
                argv, cwd=cwd, env=env, emit=ctx.emit, on_line=on_line, pause=ctx.pause
            )
        except FileNotFoundError:
            return Outcome.error(f"command not found: {argv[0]}")
        except PermissionError:
            return Outcome.error(f"not executable: {argv[0]}")
        values: dict[str, Any] = {"exit_code": result.exit_code, "lines": result.lines}
        if not status_matches(result.exit_code, expected_code):
            if result.exit_code < 0:
                reason = f"killed by signal {-result.exit_code}"
            else:
                reason = f"exit code {result.exit_code}, expected {expected_code}"
            return Outcome.failed(reason, **values)
        if forbidden:
            return Outcome.failed(f"output has a line matching {forbidden[0]}", **values)
        missing = [p.pattern for p, ok in zip(contains, found, strict=True) if not ok]
        if missing:
            return Outcome.failed(f"output never matched {missing[0]!r}", **values)
        return Outcome.passed(f"exit {result.exit_code}, {result.lines} lines of output", **values)

