"""Targets that misbehave: resets, names that do not resolve, a certificate for another host, a 50 MB body
or output, hung and trickling answers, all at once. Each check fails within its timeout with a precise
reason, memory stays bounded (peak RSS growth measured in a child process), and the engine stays
responsive: the well-behaved checks beside them finish at once.

(Hang and trickle alone, the 50 MB body's bound and the hostile body are in
tests/integration/test_check_http.py.)
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploytui.core.events import RunEnded
from deploytui.core.status import Status
from tests.servers.target_app import TargetServer, make_tls_files
from tests.support.engine_helpers import make_engine, run_one, spec

REPO = Path(__file__).resolve().parents[2]

UNRESOLVABLE = "nonexistent.invalid"
"""RFC 6761: `.invalid` never resolves; the local resolver answers NXDOMAIN at once (measured: < 0.1 s)."""


class ResetServer:
    """Accepts, reads what the client sends first, then resets the connection (SO_LINGER 0 → RST)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, name=f"reset-{self.port}", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(0.2)
            try:
                conn.recv(4096)
            except OSError:
                pass
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def reset_server() -> Iterator[ResetServer]:
    server = ResetServer()
    yield server
    server.stop()


def _targets(port: int) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("http", {"url": f"http://127.0.0.1:{port}/api/v1/health"}),
        ("tls", {"host": "127.0.0.1", "port": port}),
        ("redis", {"url": f"redis://127.0.0.1:{port}/0"}),
        ("postgres", {"url": f"postgresql://app@127.0.0.1:{port}/app"}),
        ("prometheus", {"url": f"http://127.0.0.1:{port}", "query": "up"}),
    ]


@pytest.mark.parametrize("index", range(5), ids=["http", "tls", "redis", "postgres", "prometheus"])
async def test_a_connection_reset_fails_at_once_saying_so(reset_server: ResetServer, index: int) -> None:
    kind, params = _targets(reset_server.port)[index]
    started = time.monotonic()
    outcome, _ = await run_one(kind, timeout=5, **params)
    assert outcome.status is Status.FAILED
    assert "reset" in outcome.reason or "closed the connection" in outcome.reason, outcome.reason
    assert f"127.0.0.1:{reset_server.port}" in outcome.reason
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("kind", ["http", "tls", "redis", "postgres", "prometheus"])
async def test_a_name_that_does_not_resolve_fails_at_once_naming_it(kind: str) -> None:
    params = {
        "http": {"url": f"http://{UNRESOLVABLE}/health"},
        "tls": {"host": UNRESOLVABLE},
        "redis": {"url": f"redis://{UNRESOLVABLE}:6379/0"},
        "postgres": {"url": f"postgresql://app@{UNRESOLVABLE}/app"},
        "prometheus": {"url": f"http://{UNRESOLVABLE}:9090", "query": "up"},
    }[kind]
    started = time.monotonic()
    outcome, _ = await run_one(kind, timeout=5, **params)
    assert outcome.status is Status.FAILED
    assert UNRESOLVABLE in outcome.reason
    assert "DNS lookup failed" in outcome.reason or "failed to resolve host" in outcome.reason, outcome.reason
    assert time.monotonic() - started < 3


async def test_http_to_a_certificate_for_another_host_fails_naming_the_mismatch(
    tmp_path: Path, target_app_factory: Callable[..., TargetServer]
) -> None:
    files = make_tls_files(tmp_path / "other", hostnames=("other.example",))
    app = target_app_factory(tls=files)
    outcome, _ = await run_one("http", url=f"{app.url}/api/v1/health", ca_file=str(files.ca_file))
    assert outcome.status is Status.FAILED
    assert "TLS" in outcome.reason and "mismatch" in outcome.reason.lower(), outcome.reason


def _peak_growth(
    kind: str, params: dict[str, Any], warm: dict[str, Any], timeout: float = 60
) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "support" / "rss_child.py"),
            kind,
            json.dumps(params),
            str(timeout),
            json.dumps(warm),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_memory_stays_bounded_on_a_50_mb_body_and_50_mb_of_output(target_app: TargetServer) -> None:
    body = _peak_growth(
        "http",
        {"url": f"{target_app.url}/misbehave/huge?mb=50", "expect": {"body_contains": "AAAA"}},
        {"url": f"{target_app.url}/misbehave/huge?mb=1"},
    )
    assert body["status"] == "passed" and body["growth_mb"] < 20, body
    quiet = {"run": "echo warm"}
    many_lines = _peak_growth("command", {"run": "seq 1 2000000"}, quiet)
    assert many_lines["status"] == "passed" and many_lines["growth_mb"] < 20, many_lines
    assert many_lines["log_bytes"] > 14_000_000  # every line kept on disk
    one_line = _peak_growth("command", {"run": "head -c 52428800 /dev/zero | tr '\\0' A"}, quiet)
    assert one_line["status"] == "passed" and one_line["growth_mb"] < 150, one_line
    assert one_line["log_bytes"] > 52_428_800  # the whole line on disk
    # Linear in the line's length (re-joining the line on every read made it quadratic: 3.5 s here).
    assert one_line["seconds"] < 3.0, one_line
    print(
        f"\npeak RSS growth: 50 MB body {body['growth_mb']} MB; 2M lines {many_lines['growth_mb']} MB;"
        f" one 50 MB line {one_line['growth_mb']} MB in {one_line['seconds']} s"
    )


async def test_the_engine_stays_responsive_while_every_target_misbehaves(
    tmp_path: Path, target_app: TargetServer, reset_server: ResetServer, hung_server: Any
) -> None:
    files = make_tls_files(tmp_path / "other", hostnames=("other.example",))
    engine = make_engine(tmp_path / "logs", concurrency=16)
    ended: dict[str, float] = {}
    started = time.monotonic()

    def on_event(event: Any) -> None:
        if isinstance(event, RunEnded):
            ended[event.item] = time.monotonic() - started

    bad = [
        ("hung", "http", {"url": f"{hung_server.url}/"}, "timed out after 1.5s"),
        ("hang", "http", {"url": f"{target_app.url}/misbehave/hang"}, "timed out after 1.5s"),
        (
            "trickle",
            "http",
            {"url": f"{target_app.url}/misbehave/trickle?seconds=60"},
            "timed out after 1.5s",
        ),
        ("reset", "http", {"url": f"http://127.0.0.1:{reset_server.port}/"}, "connection reset"),
        ("dns", "http", {"url": f"http://{UNRESOLVABLE}/"}, "DNS lookup failed"),
        ("tls", "tls", {"host": "127.0.0.1", "port": hung_server.port}, "timed out after 1.5s"),
        (
            "tls-name",
            "tls",
            {"host": "localhost", "port": reset_server.port, "ca_file": str(files.ca_file)},
            "connection reset",
        ),
        (
            "flood",
            "command",
            {"run": "head -c 20971520 /dev/zero | tr '\\0' A; sleep 5"},
            "timed out after 1.5s",
        ),
    ]
    good = [
        ("health", "http", {"url": f"{target_app.url}/api/v1/health"}),
        ("echo", "command", {"run": "echo fine"}),
    ]
    specs = [
        spec(kind, item=item, index=n, timeout=1.5, **params) for n, (item, kind, params, _) in enumerate(bad)
    ]
    specs += [
        spec(kind, item=item, index=len(bad) + n, **params) for n, (item, kind, params) in enumerate(good)
    ]
    outcomes = await engine.run_many(specs, on_event)
    by_item = {s.item: o for s, o in zip(specs, outcomes, strict=True)}
    for item, _, _, reason in bad:
        assert by_item[item].status is Status.FAILED and reason in by_item[item].reason, (item, by_item[item])
        assert ended[item] < 1.5 + 1.5, (item, ended[item])
    for item, _, _ in good:
        assert by_item[item].status is Status.PASSED, (item, by_item[item].reason)
        assert ended[item] < 1.0, (item, ended[item])
