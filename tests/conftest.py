"""Fixtures shared by the whole suite. Server fixtures live in tests/servers/, one module per group."""

from __future__ import annotations

pytest_plugins = [
    "tests.servers.databases",   # PostgreSQL, Redis, Prometheus
    "tests.servers.containers",  # podman Docker API, Qdrant REST, Gemini API
    "tests.servers.target_app",  # the rag-chatbot-shaped app under check
]
