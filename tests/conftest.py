"""Fixtures shared by the whole suite. Server fixtures live in tests/servers/, one module per group."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.servers.databases",   # PostgreSQL, Redis, Prometheus
    "tests.servers.containers",  # podman Docker API, Qdrant REST, Gemini API
    "tests.servers.target_app",  # the rag-chatbot-shaped app under check
    "tests.support.kind_runners",  # run_kind: a kind in this process and in its worker process
]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections (kernel backlog) but never answers: a hung server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])
