"""Worker processes started before a headless command loads the rest of deploytui.

`deploytui check` spends ~0.15 s importing deploytui and reading its checklist and config before it
knows which checks it will run, and a qdrant or gemini worker then spends about a second importing its
client (engine/workers.py). Started from nothing but the config's file name and its [[check]] kinds,
the workers import on the other core while this process loads (~0.1 s sooner on this 2-core machine).

    early = EarlyWorkers.for_checks(source, config)    # before the heavy imports
    ...
    pool = worker_pool(config, specs, early.take())    # the pool adopts those its checks use
    early.close()                                       # any not taken (an error on the way): killed

Only for a run of every bound check: with `--only` or `--failed` the checks are known only once the
checklist (or the session) is read, and a worker started for nothing would take the other core.
"""

from __future__ import annotations

import subprocess

from deploytui.core.config import bound_kinds, locate
from deploytui.engine.spawn import discard, process_kinds, spawn_worker


class EarlyWorkers:
    """Worker processes started ahead of their pool, owned here until a pool takes them."""

    def __init__(self, procs: dict[str, subprocess.Popen[bytes]] | None = None) -> None:
        self._procs = dict(procs or {})

    @classmethod
    def for_checks(cls, source: str | None, config: str | None) -> EarlyWorkers:
        """The workers a run of every check bound in the config these arguments name will use, started
        now (none when there is no config or it does not parse: loading it says why). A worker that
        cannot start is left to the pool, which tries again and says why."""
        found = locate(source, config)
        if found.path is None:
            return cls()
        procs = {}
        for kind in process_kinds(bound_kinds(found.path)):
            try:
                procs[kind] = spawn_worker(kind)
            except (OSError, ValueError):
                continue
        return cls(procs)

    def take(self) -> dict[str, subprocess.Popen[bytes]]:
        """The workers, handed over (the caller owns them now)."""
        procs, self._procs = self._procs, {}
        return procs

    def close(self) -> None:
        """Kill the workers not taken."""
        for proc in self.take().values():
            discard(proc)
