"""The system under check: a small ASGI app shaped like the seed's rag-chatbot, served by uvicorn on loopback.

Fixtures (names and attributes are a contract other test modules rely on):

- `target_app` -> `TargetServer` (session): in-memory cache and rate limiter, plain HTTP. `.url`
  ("http://127.0.0.1:PORT"), `.port`, `.app` (the `ChatbotApp`: `.requests_total()`, `.leak`), `.stop()`.
- `target_app_factory(redis_url=None, tls=None, leak=None, ..., injection="safe", rate_limit=RATE_LIMIT,
  rate_window=RATE_WINDOW, start_after=0.0)` -> a fresh `TargetServer` (stopped at test end). `tls` is a
  `TLSFiles` from `make_tls_files`. `start_after`: the server listens only that many seconds after
  `start()` returns (a service coming up after `compose up`); `.wait_listening()` waits for it.
- `tls_files` (session) -> `TLSFiles`: a CA and a leaf cert for localhost/127.0.0.1 (`.ca_file`,
  `.cert_file`, `.key_file`, `.not_after`), made with `cryptography` in a temp dir.
- `target_app_tls` (session) -> `TargetServer` over HTTPS with `tls_files` (`.url` "https://localhost:PORT").
- `hung_server` (session) -> `HungServer`: accepts TCP connections and never answers (`.url`, `.port`).

Routes (what the bindings in deploytui/checklists/rag-chatbot.toml expect of a healthy deployment):

    GET  /                      the UI page (<div id="chat-widget">)
    GET  /api/v1/health         {"status": "ok", "version": ...}
    POST /api/v1/chat/query     {"question", "session_id", "mode": "general"|"selection", "selected_text"}
                                422 on bad JSON / fields, x-cache: MISS on the first identical question,
                                HIT from the second on (BYPASS when Redis is down). SQL-injection-like
                                input per `injection`: "safe" answers it like any question (bound
                                parameters), "reject" answers 400, "vulnerable" answers 500 with the text
                                of a psycopg syntax error, "leaky" answers 200 showing that error.
    POST /api/v1/chat/feedback  {"session_id", "rating"}: 204
    every POST under /api/v1/chat/ counts against one per-client-IP sliding-window limiter (RATE_LIMIT
    per RATE_WINDOW seconds): over it, 429 with Retry-After (seconds until the oldest counted request
    leaves the window), before any validation. A burst so leaves a ~RATE_WINDOW window of 429s for every
    chat request from that address (other clients, e.g. from 127.0.0.2, have their own).
    GET  /metrics               Prometheus text format (requests, latency histogram, cache, process)
    GET  /grafana/api/health    Grafana's health answer (stands in for Grafana)
    GET  /api/v1/debug/config   leaks `leak` when the app was built with one (secrets_exposure tests)
    POST /hooks/<token>         a Slack-like incoming webhook (WEBHOOK_TOKEN; messages in `hook_messages`)
    misbehaviour: /misbehave/slow?ms=N, /misbehave/error (500), /misbehave/hang (never answers),
                  /misbehave/trickle?seconds=N (one byte a second), /misbehave/huge?mb=N (N MB body),
                  /misbehave/hostile (ANSI, OSC, CR, NUL, invalid UTF-8), /misbehave/status?code=N,
                  /misbehave/fail-first?n=N&key=K (503 for the first N calls with that key, then 200)

Rate limiting and caching use Redis when a redis URL is given (failing open, x-cache: BYPASS, when Redis
is down: the app stays up, the rate limiter and cache silently stop working) and memory otherwise.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import json
import math
import os
import re
import resource
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers.common import free_port, wait_until

RATE_LIMIT = 20
"""Chat POSTs allowed per client IP in any RATE_WINDOW seconds (a sliding window)."""

RATE_WINDOW = 10.0
"""Seconds of the rate limiter's sliding window."""

CHAT_PREFIX = "/api/v1/chat/"
"""POSTs under this path share the rate limiter."""

PSYCOPG_ERROR = (
    'psycopg.errors.SyntaxError: unterminated quoted string at or near "\'; DROP TABLE users; --"\n'
    "LINE 1: SELECT id, body FROM documents WHERE body ILIKE '%1' OR '1'='1'; DROP..."
)
"""What a vulnerable app leaks when the question reaches its SQL unescaped."""

ANSWER_DELAY = 0.15
"""Seconds an uncached answer takes (stands in for retrieval + LLM): a cache hit is much faster."""

CACHE_TTL = 300
"""Seconds an answer stays cached."""

ALLOWED_ORIGINS = ("https://app.example.com",)
"""Origins the app's CORS policy allows."""

APP_VERSION = "1.4.2"

WEBHOOK_TOKEN = "T0001-B0001-hooktoken"
"""The token of the app's Slack-like webhook: POST /hooks/<token>."""

_SQLI_RE = re.compile(
    r"('|\")\s*(or|and)\s+[\w'\"]+\s*=\s*[\w'\"]+|;\s*(drop|delete|insert|update|alter)\s|union\s+select|--\s*$",
    re.IGNORECASE,
)
"""Input the app rejects with 400 (a real app would use bound parameters; this one also refuses)."""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# ------------------------------------------------------------------------------------------ app state


class _MemoryStore:
    """The in-memory stand-in for Redis: values with a TTL, and the limiter's log of requests per key."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[float, str]] = {}
        self.logs: dict[str, list[float]] = {}

    async def get(self, key: str) -> str | None:
        entry = self.values.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    async def set(self, key: str, value: str, ttl: int) -> None:
        self.values[key] = (time.monotonic() + ttl, value)

    async def admit(self, key: str, now: float, window: float, limit: int) -> float | None:
        """Sliding-window log: None when the request is admitted (and counted), else the time of the
        oldest counted request (it leaves the window at oldest + window)."""
        log = self.logs.setdefault(key, [])
        log[:] = [t for t in log if t > now - window]
        if len(log) < limit:
            log.append(now)
            return None
        return log[0]


_ADMIT_LUA = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
  return ''
end
return redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
"""
"""The sliding-window limiter in one atomic step (a burst's concurrent requests cannot slip past it)."""


class _RedisStore:
    """Counters and cache in Redis (redis.asyncio), one client per event loop."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self.client = aioredis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)

    async def get(self, key: str) -> str | None:
        value = await self.client.get(key)
        return value.decode() if isinstance(value, bytes) else value

    async def set(self, key: str, value: str, ttl: int) -> None:
        await self.client.set(key, value, ex=ttl)

    async def admit(self, key: str, now: float, window: float, limit: int) -> float | None:
        import uuid

        oldest = await self.client.eval(_ADMIT_LUA, 1, key, now, window, limit, uuid.uuid4().hex)
        if isinstance(oldest, bytes):
            oldest = oldest.decode()
        return float(oldest) if oldest else None


class Metrics:
    """Counters exposed at /metrics in the Prometheus text format."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.buckets: dict[float, int] = dict.fromkeys(LATENCY_BUCKETS, 0)
        self.count = 0
        self.sum = 0.0
        self.cache_hits = 0
        self.cache_misses = 0
        self.started = time.time()

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        with self.lock:
            key = (method, path, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            self.count += 1
            self.sum += seconds
            for bound in LATENCY_BUCKETS:
                if seconds <= bound:
                    self.buckets[bound] += 1

    def render(self) -> str:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        try:
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            rss = usage.ru_maxrss * 1024
        lines = [
            "# HELP http_requests_total Requests served.",
            "# TYPE http_requests_total counter",
        ]
        with self.lock:
            for (method, path, status), n in sorted(self.requests.items()):
                lines.append(f'http_requests_total{{method="{method}",path="{path}",status="{status}"}} {n}')
            lines += [
                "# HELP http_request_duration_seconds Request latency.",
                "# TYPE http_request_duration_seconds histogram",
            ]
            for bound in LATENCY_BUCKETS:
                lines.append(f'http_request_duration_seconds_bucket{{le="{bound}"}} {self.buckets[bound]}')
            lines.append(f'http_request_duration_seconds_bucket{{le="+Inf"}} {self.count}')
            lines.append(f"http_request_duration_seconds_sum {self.sum:.6f}")
            lines.append(f"http_request_duration_seconds_count {self.count}")
            lines += [
                "# TYPE cache_hits_total counter",
                f"cache_hits_total {self.cache_hits}",
                "# TYPE cache_misses_total counter",
                f"cache_misses_total {self.cache_misses}",
            ]
        lines += [
            "# TYPE process_resident_memory_bytes gauge",
            f"process_resident_memory_bytes {rss}",
            "# TYPE process_cpu_seconds_total counter",
            f"process_cpu_seconds_total {usage.ru_utime + usage.ru_stime:.3f}",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {self.started:.3f}",
        ]
        return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------------- the app

UI_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>RAG Chatbot</title></head>
<body><main><h1>RAG Chatbot</h1>
<div id="chat-widget" data-api="/api/v1/chat/query"></div></main></body></html>
"""

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]

KNOWN_PATHS = ("/", "/api/v1/health", "/api/v1/chat/query", "/metrics")


class ChatbotApp:
    """The ASGI application. Build with `build_app(...)`."""

    def __init__(
        self,
        redis_url: str | None,
        leak: str | None,
        tls: bool,
        answer_delay: float,
        injection: str = "safe",
        rate_limit: int = RATE_LIMIT,
        rate_window: float = RATE_WINDOW,
    ) -> None:
        if injection not in ("safe", "reject", "vulnerable", "leaky"):
            raise ValueError(f"injection must be safe, reject, vulnerable or leaky, not {injection!r}")
        self.redis_url = redis_url
        self.leak = leak
        self.tls = tls
        self.answer_delay = answer_delay
        self.injection = injection
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.fail_counts: dict[str, int] = {}
        self.limited: list[tuple[float, str]] = []
        """(time, path) of every request answered 429."""
        self.metrics = Metrics()
        self.memory = _MemoryStore()
        self.hook_messages: list[dict[str, Any]] = []
        self.closing = False
        """Set when the server stops: endpoints that never answer give up, so shutdown is quick."""
        self._redis: dict[int, _RedisStore] = {}
        self.asgi = self._build()

    def requests_total(self) -> int:
        return self.metrics.count

    def store(self) -> _MemoryStore | _RedisStore:
        if self.redis_url is None:
            return self.memory
        loop_id = id(asyncio.get_running_loop())
        if loop_id not in self._redis:
            self._redis[loop_id] = _RedisStore(self.redis_url)
        return self._redis[loop_id]

    def _build(self) -> Any:
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.middleware.cors import CORSMiddleware
        from starlette.routing import Route

        routes = [
            Route("/", self.ui),
            Route("/api/v1/health", self.health),
            Route("/api/v1/chat/query", self.chat_query, methods=["POST"]),
            Route("/api/v1/chat/feedback", self.chat_feedback, methods=["POST"]),
            Route("/metrics", self.metrics_endpoint),
            Route("/grafana/api/health", self.grafana_health),
            Route("/api/v1/debug/config", self.debug_config),
            Route("/hooks/{token}", self.webhook, methods=["POST"]),
            Route("/misbehave/slow", self.slow),
            Route("/misbehave/error", self.error),
            Route("/misbehave/status", self.status),
            Route("/misbehave/hang", self.hang),
            Route("/misbehave/trickle", self.trickle),
            Route("/misbehave/huge", self.huge),
            Route("/misbehave/hostile", self.hostile),
            Route("/misbehave/fail-first", self.fail_first),
        ]
        middleware = [
            Middleware(
                CORSMiddleware,
                allow_origins=list(ALLOWED_ORIGINS),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Content-Type"],
                max_age=600,
            )
        ]
        app = Starlette(routes=routes, middleware=middleware)
        return _ObserveMiddleware(_RateLimitMiddleware(app, self), self.metrics, self.tls)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(scope, receive, send)

    # ---- routes

    async def ui(self, request: Any) -> Any:
        from starlette.responses import HTMLResponse

        return HTMLResponse(UI_PAGE)

    async def health(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse({"status": "ok", "version": APP_VERSION})

    async def grafana_health(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse({"commit": "0000000", "database": "ok", "version": "10.4.2"})

    async def metrics_endpoint(self, request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        return PlainTextResponse(self.metrics.render(), media_type="text/plain; version=0.0.4")

    async def debug_config(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        if self.leak is None:
            return JSONResponse({"debug": False})
        return JSONResponse({"debug": True, "gemini_api_key": self.leak})

    async def webhook(self, request: Any) -> Any:
        """Slack-like webhook: WEBHOOK_TOKEN accepts {"text": ...}; other tokens get 404 no_service."""
        from starlette.responses import PlainTextResponse

        if request.path_params["token"] != WEBHOOK_TOKEN:
            return PlainTextResponse("no_service", status_code=404)
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
            return PlainTextResponse("no_text", status_code=400)
        self.hook_messages.append(payload)
        return PlainTextResponse("ok")

    async def chat_query(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        try:
            payload = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"detail": "request body is not valid JSON"}, status_code=422)
        problems = _validate_query(payload)
        if problems:
            return JSONResponse({"detail": problems}, status_code=422)
        question: str = payload["question"]
        session_id: str = payload["session_id"]
        mode: str = payload.get("mode", "general")
        selected: str = payload.get("selected_text", "")
        if _SQLI_RE.search(question) or _SQLI_RE.search(selected):
            if self.injection == "reject":
                return JSONResponse({"detail": "input rejected"}, status_code=400)
            if self.injection == "vulnerable":
                return JSONResponse({"detail": PSYCOPG_ERROR}, status_code=500)
            if self.injection == "leaky":
                return JSONResponse({"answer": f"Sorry, something went wrong: {PSYCOPG_ERROR}", "mode": mode})

        store = self.store()
        limiter_up = request.scope.get("state", {}).get("limiter_up", True)

        key = "cache:" + hashlib.sha256(f"{mode}\0{question}\0{selected}".encode()).hexdigest()
        cached: str | None = None
        cache_state = "MISS"
        try:
            cached = await store.get(key)
        except Exception:  # noqa: BLE001 - no cache when Redis is down
            cache_state = "BYPASS"
        if cached is not None:
            self.metrics.cache_hits += 1
            body = json.loads(cached)
            body["cached"] = True
            body["session_id"] = session_id
            return JSONResponse(body, headers={"x-cache": "HIT"})
        if cache_state == "MISS":
            self.metrics.cache_misses += 1
        await asyncio.sleep(self.answer_delay)
        body = _answer(question, mode, selected)
        if cache_state == "MISS":
            try:
                await store.set(key, json.dumps(body), CACHE_TTL)
            except Exception:  # noqa: BLE001
                cache_state = "BYPASS"
        body["cached"] = False
        body["session_id"] = session_id
        headers = {"x-cache": cache_state}
        if not limiter_up:
            headers["x-ratelimit"] = "unavailable"
        return JSONResponse(body, headers=headers)

    async def chat_feedback(self, request: Any) -> Any:
        from starlette.responses import JSONResponse, Response

        try:
            payload = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"detail": "request body is not valid JSON"}, status_code=422)
        if not isinstance(payload, dict) or not isinstance(payload.get("session_id"), str):
            return JSONResponse({"detail": [{"loc": "session_id", "msg": "required"}]}, status_code=422)
        return Response(status_code=204)

    async def admit(self, client: str) -> tuple[bool, float | None, bool]:
        """The per-IP limiter: (admitted, seconds until a slot frees when not, limiter reachable)."""
        now = time.time()
        try:
            oldest = await self.store().admit(f"rl:{client}", now, self.rate_window, self.rate_limit)
        except Exception:  # noqa: BLE001 - the limiter fails open when Redis is down
            return True, None, False
        if oldest is None:
            return True, None, True
        return False, max(1.0, math.ceil(oldest + self.rate_window - now)), True

    # ---- misbehaviour

    async def fail_first(self, request: Any) -> Any:
        """503 for the first `n` calls with a `key`, then 200: a service that settles (flaky probes)."""
        from starlette.responses import JSONResponse

        key = request.query_params.get("key", "")
        n = int(request.query_params.get("n", "1"))
        calls = self.fail_counts.get(key, 0) + 1
        self.fail_counts[key] = calls
        if calls <= n:
            return JSONResponse({"status": "starting", "call": calls}, status_code=503)
        return JSONResponse({"status": "ok", "call": calls})

    async def slow(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        ms = int(request.query_params.get("ms", "300"))
        await asyncio.sleep(ms / 1000)
        return JSONResponse({"status": "healthy", "slept_ms": ms})

    async def error(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse({"detail": "internal server error"}, status_code=500)

    async def status(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        code = int(request.query_params.get("code", "200"))
        return JSONResponse({"status": code}, status_code=code)

    async def hang(self, request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        while not self.closing:  # the client waits until it gives up; the server's stop ends it
            await asyncio.sleep(0.05)
        return PlainTextResponse("shutting down", status_code=503)

    async def trickle(self, request: Any) -> Any:
        from starlette.responses import StreamingResponse

        seconds = int(request.query_params.get("seconds", "60"))

        async def drip() -> Any:
            for _ in range(seconds):
                if self.closing:
                    return
                yield b"x"
                await asyncio.sleep(1)

        return StreamingResponse(drip(), media_type="text/plain")

    async def huge(self, request: Any) -> Any:
        from starlette.responses import StreamingResponse

        mb = int(request.query_params.get("mb", "50"))
        chunk = b"A" * (1024 * 1024)

        async def body() -> Any:
            for _ in range(mb):
                yield chunk

        size = {"content-length": str(mb * len(chunk))}
        return StreamingResponse(body(), media_type="text/plain", headers=size)

    async def hostile(self, request: Any) -> Any:
        from starlette.responses import Response

        return Response(HOSTILE_BYTES, media_type="text/plain")


HOSTILE_BYTES = (
    b"\x1b[2J\x1b[H\x1b[31mred alert\x1b[0m\n"
    b"\x1b]0;pwned title\x07\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\\n"
    b"progress 10%\rprogress 100%\n"
    b"nul\x00byte and bell\x07 and backspace\x08\n"
    b"invalid utf8 \xff\xfe\xc3\x28 end\n"
    b"status: healthy\n"
)
"""A body (and command output) meant to break terminals, parsers and decoders."""


def _validate_query(payload: Any) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    if not isinstance(payload, dict):
        return [{"loc": "body", "msg": "expected a JSON object"}]
    question = payload.get("question")
    if not isinstance(question, str) or not question.strip():
        problems.append({"loc": "question", "msg": "a non-empty string is required"})
    elif len(question) > 2000:
        problems.append({"loc": "question", "msg": "at most 2000 characters"})
    if not isinstance(payload.get("session_id"), str) or not payload["session_id"].strip():
        problems.append({"loc": "session_id", "msg": "a non-empty string is required"})
    mode = payload.get("mode", "general")
    if mode not in ("general", "selection"):
        problems.append({"loc": "mode", "msg": "must be 'general' or 'selection'"})
    selected = payload.get("selected_text")
    if mode == "selection" and not (isinstance(selected, str) and selected):
        problems.append({"loc": "selected_text", "msg": "required in selection mode"})
    return problems


def _answer(question: str, mode: str, selected: str) -> dict[str, Any]:
    topic = selected[:60] if mode == "selection" else question[:60]
    return {
        "answer": f"Here is what the documentation says about: {topic}",
        "mode": mode,
        "sources": [{"title": "Deployment guide", "url": "https://docs.example.com/deploy", "score": 0.92}],
    }


class _RateLimitMiddleware:
    """Every POST under CHAT_PREFIX passes the app's per-IP limiter first (before any validation)."""

    def __init__(self, app: Any, owner: ChatbotApp) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith(CHAT_PREFIX):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        admitted, retry_after, up = await self.owner.admit(client[0] if client else "unknown")
        if not admitted:
            self.owner.limited.append((time.monotonic(), scope["path"]))
            body = json.dumps({"detail": "rate limit exceeded"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(int(retry_after or 1)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["limiter_up"] = up
        await self.app(scope, receive, send)


class _ObserveMiddleware:
    """Counts requests for /metrics and adds the security headers to every answer."""

    def __init__(self, app: Any, metrics: Metrics, tls: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.headers = list(SECURITY_HEADERS)
        if tls:
            self.headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = list(message.get("headers", [])) + self.headers
            await send(message)

        path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if not scope["path"].startswith("/metrics"):
                self.metrics.observe(scope["method"], path, status, time.monotonic() - started)


def build_app(
    redis_url: str | None = None,
    leak: str | None = None,
    tls: bool = False,
    answer_delay: float = ANSWER_DELAY,
    injection: str = "safe",
    rate_limit: int = RATE_LIMIT,
    rate_window: float = RATE_WINDOW,
) -> ChatbotApp:
    return ChatbotApp(
        redis_url=redis_url,
        leak=leak,
        tls=tls,
        answer_delay=answer_delay,
        injection=injection,
        rate_limit=rate_limit,
        rate_window=rate_window,
    )


# ------------------------------------------------------------------------------------------------ TLS


@dataclass
class TLSFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path
    not_after: dt.datetime
    hostnames: tuple[str, ...]


def make_tls_files(
    directory: Path,
    hostnames: tuple[str, ...] = ("localhost", "127.0.0.1"),
    days: int = 90,
    expired: bool = False,
) -> TLSFiles:
    """A throwaway CA and a leaf certificate it signed, for `hostnames` (DNS names and IPs)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "deploytui test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    if expired:
        not_before, not_after = now - dt.timedelta(days=30), now - dt.timedelta(days=1)
    else:
        not_before, not_after = now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)
    sans: list[x509.GeneralName] = []
    for name in hostnames:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return TLSFiles(ca_file, cert_file, key_file, not_after, tuple(hostnames))


# ---------------------------------------------------------------------------------------- the servers


class TargetServer:
    """uvicorn serving a ChatbotApp on 127.0.0.1:PORT from a background thread."""

    def __init__(self, app: ChatbotApp, tls: TLSFiles | None = None, start_after: float = 0.0) -> None:
        import uvicorn

        self.app = app
        self.tls = tls
        self.start_after = start_after
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="error",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            ssl_certfile=str(tls.cert_file) if tls else None,
            ssl_keyfile=str(tls.key_file) if tls else None,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name=f"target-app-{self.port}", daemon=True)
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}" if self.tls else f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        if self.start_after > 0 and self._stopping.wait(self.start_after):
            return  # stopped before it ever listened
        self.server.run()

    def start(self) -> TargetServer:
        """Serve; returns once listening, or at once with `start_after` (then it listens that much later)."""
        self.thread.start()
        if self.start_after <= 0:
            self.wait_listening()
        return self

    def wait_listening(self, timeout: float = 15.0) -> None:
        wait_until(lambda: self.server.started, timeout + self.start_after, f"target app on port {self.port}")

    def stop(self) -> None:
        self.app.closing = True
        self._stopping.set()
        self.server.should_exit = True
        self.thread.join(10)


class HungServer:
    """Accepts TCP connections and never answers (nor closes them until stopped)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, name=f"hung-{self.port}", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.held.append(conn)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(2)
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture(scope="session")
def target_app() -> Iterator[TargetServer]:
    server = TargetServer(build_app()).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_files() -> Iterator[TLSFiles]:
    with tempfile.TemporaryDirectory(prefix="deploytui-tls-") as tmp:
        yield make_tls_files(Path(tmp))


@pytest.fixture(scope="session")
def target_app_tls(tls_files: TLSFiles) -> Iterator[TargetServer]:
    server = TargetServer(build_app(tls=True), tls=tls_files).start()
    yield server
    server.stop()


@pytest.fixture
def target_app_factory() -> Iterator[Callable[..., TargetServer]]:
    started: list[TargetServer] = []

    def make(
        redis_url: str | None = None,
        tls: TLSFiles | None = None,
        leak: str | None = None,
        answer_delay: float = ANSWER_DELAY,
        injection: str = "safe",
        rate_limit: int = RATE_LIMIT,
        rate_window: float = RATE_WINDOW,
        start_after: float = 0.0,
    ) -> TargetServer:
        app = build_app(
            redis_url=redis_url,
            leak=leak,
            tls=tls is not None,
            answer_delay=answer_delay,
            injection=injection,
            rate_limit=rate_limit,
            rate_window=rate_window,
        )
        server = TargetServer(app, tls=tls, start_after=start_after).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def hung_server() -> Iterator[HungServer]:
    server = HungServer()
    yield server
    server.stop()
