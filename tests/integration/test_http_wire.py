"""What the http kind's client puts on the wire and reads back, against a raw loopback server that
shows the request it got: who it says it is, what it accepts, a repeated header, a gzip body, a header
value it must refuse to send."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator

import pytest

from deploytui import __version__
from deploytui.core.status import Status
from tests.support.engine_helpers import run_one


class WireServer:
    """Answers every request with its head echoed as JSON, gzip-encoded, with a header sent twice."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        lines = head.decode("latin-1").split("\r\n")[1:]
        seen = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
        body = gzip.compress(json.dumps({"status": "healthy", "request": seen}).encode())
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"X-Served-By: a\r\nX-Served-By: b\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def wire() -> AsyncIterator[WireServer]:
    server = WireServer()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield server


async def test_the_request_names_deploytui_and_the_answer_is_read_as_the_target_sent_it(
    wire: WireServer,
) -> None:
    outcome, _ = await run_one(
        "http",
        url=f"http://127.0.0.1:{wire.port}/api/v1/health",
        expect={
            "status": 200,
            "json": {
                "status": "healthy",
                "request.user-agent": f"deploytui/{__version__}",
                "request.accept-encoding": "gzip, deflate",  # what the kind decodes: never br or zstd
            },
            "headers": {"x-served-by": "a, b"},  # a repeated header: its values joined, none lost
        },
    )
    assert outcome.status is Status.PASSED, outcome.reason
    assert wire.heads[0].startswith(b"GET /api/v1/health HTTP/1.1\r\n")


async def test_a_header_value_with_a_line_break_is_not_sent_and_says_why(wire: WireServer) -> None:
    outcome, _ = await run_one(
        "http",
        url=f"http://127.0.0.1:{wire.port}/api/v1/health",
        headers={"X-Token": "abc\r\nX-Injected: 1"},
    )
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith(f"request to 127.0.0.1:{wire.port} not sent: "), outcome.reason
    assert not wire.heads  # nothing reached the target


async def test_a_url_that_cannot_be_parsed_says_so() -> None:
    outcome, _ = await run_one("http", url="http://[::1/health")
    assert (outcome.status, outcome.reason) == (Status.FAILED, "not a valid URL: 'http://[::1/health'")
