"""Which kinds run in a worker process, and starting one: light to import, so that a headless command
can start its workers before it loads the rest of deploytui (services/prestart.py); the engine's pool
(engine/workers.py) starts them the same way.

    proc = spawn_worker("qdrant")          # python -m deploytui.checks.worker qdrant, pipes, own group
    discard(proc)                          # a worker no run will use: killed and reaped at once
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from deploytui.checks.registry import runs_in_process

WORKER_MODULE = "deploytui.checks.worker"
"""What `python -m` runs to start a worker (deploytui/checks/worker.py)."""


def process_kinds(kinds: Iterable[str]) -> list[str]:
    """Those of `kinds` whose runs go to a worker process (CheckKind.process), sorted; an unknown kind
    or one that cannot load is left out (its run reports it)."""
    found = []
    for name in sorted(set(kinds)):
        try:
            if runs_in_process(name):
                found.append(name)
        except (KeyError, ImportError):
            continue
    return found


def _package_path() -> str | None:
    """The directory `deploytui` is imported from here, when the interpreter would not find it there by
    itself (a source checkout on PYTHONPATH or the current directory): the worker imports the same one.
    None for an installed package (a site-packages directory on PYTHONPATH would come before the
    standard library)."""
    import site

    import deploytui

    root = Path(deploytui.__file__).resolve().parent.parent
    installed = [*site.getsitepackages(), site.getusersitepackages()]
    if any(Path(p).resolve() == root for p in installed if p):
        return None
    return str(root)


def spawn_worker(kind: str, python: str | None = None) -> subprocess.Popen[bytes]:
    """`kind`'s worker process, started now under `python` (default: this interpreter), its three
    standard streams piped. OSError or ValueError when it cannot start."""
    env = dict(os.environ)
    source = _package_path()
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [python or sys.executable, "-m", WORKER_MODULE, kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        # Its own process group: the terminal's Ctrl-C reaches the engine, which ends it.
        start_new_session=True,
    )


def discard(proc: subprocess.Popen[bytes]) -> None:
    """End a worker no run will use (it may still be importing its client): killed, reaped, its pipes
    closed."""
    try:
        proc.kill()
    except OSError:
        pass
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
