"""The system under check: a small ASGI app shaped like the seed's rag-chatbot, served by uvicorn on loopback.

Fixtures (names and attributes are a contract other test modules rely on):

- `target_app` -> `TargetServer` (session): in-memory cache and rate limiter, plain HTTP. `.url`
  ("http://127.0.0.1:PORT"), `.port`, `.app` (the `ChatbotApp`: `.requests_total()`, `.leak`), `.stop()`.
- `target_app_factory(redis_url=None, tls=None, leak=None, ...)` -> a fresh `TargetServer` (stopped at
  test end). `tls` is a `TLSFiles` from `make_tls_files`.
- `tls_files` (session) -> `TLSFiles`: a CA and a leaf cert for localhost/127.0.0.1 (`.ca_file`,
  `.cert_file`, `.key_file`, `.not_after`), made with `cryptography` in a temp dir.
- `target_app_tls` (session) -> `TargetServer` over HTTPS with `tls_files` (`.url` "https://localhost:PORT").
- `hung_server` (session) -> `HungServer`: accepts TCP connections and never answers (`.url`, `.port`).

Routes (what the bindings in deploytui/checklists/rag-chatbot.toml expect of a healthy deployment):

    GET  /                      the UI page (<div id="chat-widget">)
    GET  /api/v1/health         {"status": "healthy", "version": ...}
    POST /api/v1/chat/query     {"question", "session_id", "mode": "general"|"selection", "selected_text"}
                                422 on bad JSON / fields, 400 on SQL-injection-like input, 429 over the
                                rate limit (RATE_LIMIT per RATE_WINDOW per client and session_id),
                                x-cache: HIT|MISS|BYPASS
    GET  /metrics               Prometheus text format (requests, latency histogram, cache, process)
    GET  /grafana/api/health    Grafana's health answer (stands in for Grafana)
    GET  /api/v1/debug/config   leaks `leak` when the app was built with one (secrets_exposure tests)
    POST /hooks/<token>         a Slack-like incoming webhook (WEBHOOK_TOKEN; messages in `hook_messages`)
    misbehaviour: /misbehave/slow?ms=N, /misbehave/error (500), /misbehave/hang (never answers),
                  /misbehave/trickle?seconds=N (one byte a second), /misbehave/huge?mb=N (N MB body),
                  /misbehave/hostile (ANSI, OSC, CR, NUL, invalid UTF-8), /misbehave/status?code=N

Rate limiting and caching use Redis when a redis URL is given (failing open, x-cache: BYPASS, when Redis
is down: the app stays up, the rate limiter and cache silently stop working) and memory otherwise.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import json
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

RATE_LIMIT = 10
"""Chat queries allowed per client and session_id in one RATE_WINDOW."""

RATE_WINDOW = 10
"""Seconds of one rate-limit window. A window opens at the first request of a client and session_id (the
counter's expiry is set then), not at a wall-clock boundary: a burst is never split between two windows by
the second it happens to start in, so what a burst probe sees does not depend on the clock."""

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
    """The in-memory stand-in for Redis: counters with expiry and values with TTL."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[float, str]] = {}

    async def incr(self, key: str, ttl: int) -> int:
        now = time.monotonic()
        expires, value = self.values.get(key, (now + ttl, "0"))
        if expires < now:
            expires, value = now + ttl, "0"
        count = int(value) + 1
        self.values[key] = (expires, str(count))
        return count

    async def get(self, key: str) -> str | None:
        entry = self.values.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    async def set(self, key: str, value: str, ttl: int) -> None:
        self.values[key] = (time.monotonic() + ttl, value)


class _RedisStore:
    """Counters and cache in Redis (redis.asyncio), one client per event loop."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self.client = aioredis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)

    async def incr(self, key: str, ttl: int) -> int:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, ttl, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def get(self, key: str) -> str | None:
        value = await self.client.get(key)
        return value.decode() if isinstance(value, bytes) else value

    async def set(self, key: str, value: str, ttl: int) -> None:
        await self.client.set(key, value, ex=ttl)


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

    def __init__(self, redis_url: str | None, leak: str | None, tls: bool, answer_delay: float) -> None:
        self.redis_url = redis_url
        self.leak = leak
        self.tls = tls
        self.answer_delay = answer_delay
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
        return _ObserveMiddleware(app, self.metrics, self.tls)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(scope, receive, send)

    # ---- routes

    async def ui(self, request: Any) -> Any:
        from starlette.responses import HTMLResponse

        return HTMLResponse(UI_PAGE)

    async def health(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse({"status": "healthy", "version": APP_VERSION})

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
            return JSONResponse({"detail": "input rejected"}, status_code=400)

        store = self.store()
        client = request.client.host if request.client else "unknown"
        try:
            count = await store.incr(f"rl:{client}:{session_id}", RATE_WINDOW)
            limiter_up = True
        except Exception:  # noqa: BLE001 - the limiter fails open when Redis is down
            count, limiter_up = 0, False
        if count > RATE_LIMIT:
            return JSONResponse(
                {"detail": "rate limit exceeded"}, status_code=429, headers={"retry-after": str(RATE_WINDOW)}
            )

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

    # ---- misbehaviour

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
) -> ChatbotApp:
    return ChatbotApp(redis_url=redis_url, leak=leak, tls=tls, answer_delay=answer_delay)


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

    def __init__(self, app: ChatbotApp, tls: TLSFiles | None = None) -> None:
        import uvicorn

        self.app = app
        self.tls = tls
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
        self.thread = threading.Thread(target=self.server.run, name=f"target-app-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}" if self.tls else f"http://127.0.0.1:{self.port}"

    def start(self) -> TargetServer:
        self.thread.start()
        wait_until(lambda: self.server.started, 15, f"target app on port {self.port}")
        return self

    def stop(self) -> None:
        self.app.closing = True
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
    ) -> TargetServer:
        server = TargetServer(
            build_app(redis_url=redis_url, leak=leak, tls=tls is not None, answer_delay=answer_delay), tls=tls
        ).start()
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
