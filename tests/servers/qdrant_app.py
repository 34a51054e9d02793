"""A loopback server speaking the Qdrant REST API, for the real `qdrant-client` to talk to.

No Qdrant server binary can be installed here, so this ASGI app serves the REST endpoints the qdrant
check (and qdrant-client itself) uses, with Qdrant's own shapes:

- `GET /` (version, no auth, as Qdrant whitelists it), `/healthz`, `/readyz`, `/livez` (no auth);
- `GET /collections`, `GET /collections/{name}`, `GET /collections/{name}/exists`,
  `POST /collections/{name}/points/count` (API key required).

Collections and point counts are real: they live in `qdrant_client.QdrantClient(":memory:")`, the
client's own local engine, so `CollectionInfo` and counts are what qdrant-client computes itself.
Responses use Qdrant's envelope `{"result": ..., "status": "ok", "time": s}`, errors
`{"status": {"error": "..."}, "time": s}`; a missing or wrong `api-key` (or `Authorization: Bearer`)
gets 401 with Qdrant's messages (403 on Qdrant <= 1.9, selectable with `auth_failure_status`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

QDRANT_VERSION = "1.16.0"
"""Version the server claims at GET /: within one minor of qdrant-client, as a real deployment would be."""

WHITELIST = frozenset({"/", "/healthz", "/readyz", "/livez"})
"""Paths Qdrant answers without an API key (its actix auth middleware whitelist)."""


class QdrantStore:
    """The collections, held by qdrant-client's local in-memory engine (one lock: it is not thread-safe)."""

    def __init__(self) -> None:
        from qdrant_client import QdrantClient

        self._client = QdrantClient(":memory:")
        self._lock = threading.Lock()

    def create_collection(
        self, name: str, points: int, size: int, distance: str = "Cosine", vector_name: str | None = None
    ) -> None:
        """(Re)create `name` with `points` points of dimension `size` (deterministic vectors), under the
        unnamed vector or, with `vector_name`, a named one."""
        from qdrant_client import models

        params = models.VectorParams(size=size, distance=models.Distance(distance))
        with self._lock:
            if self._client.collection_exists(name):
                self._client.delete_collection(name)
            self._client.create_collection(
                name, vectors_config={vector_name: params} if vector_name else params
            )
            batch = 256
            for start in range(0, points, batch):
                ids = range(start, min(points, start + batch))
                structs = []
                for i in ids:
                    vector = [((i * 31 + d * 7) % 97 + 1) / 97.0 for d in range(size)]
                    structs.append(
                        models.PointStruct(
                            id=i, vector={vector_name: vector} if vector_name else vector, payload={"n": i}
                        )
                    )
                self._client.upsert(name, points=structs)

    def delete_collection(self, name: str) -> None:
        with self._lock:
            if self._client.collection_exists(name):
                self._client.delete_collection(name)

    def names(self) -> list[str]:
        with self._lock:
            return [c.name for c in self._client.get_collections().collections]

    def info(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            if not self._client.collection_exists(name):
                return None
            info = self._client.get_collection(name)
        return info.model_dump(mode="json", exclude_none=True)

    def count(self, name: str, exact: bool) -> int | None:
        with self._lock:
            if not self._client.collection_exists(name):
                return None
            return self._client.count(name, exact=exact).count


def create_app(
    store: QdrantStore,
    api_key: str | None,
    *,
    delay: float = 0.0,
    auth_failure_status: int = 401,
    version: str = QDRANT_VERSION,
) -> Any:
    """The ASGI app. `delay` seconds before every answer simulates an overloaded server."""

    def envelope(result: Any, started: float) -> JSONResponse:
        return JSONResponse({"result": result, "status": "ok", "time": time.monotonic() - started})

    def error(status: int, message: str, started: float) -> JSONResponse:
        return JSONResponse(
            {"status": {"error": message}, "time": time.monotonic() - started}, status_code=status
        )

    def not_found(name: str, started: float) -> JSONResponse:
        return error(404, f"Not found: Collection `{name}` doesn't exist!", started)

    async def root(request: Request) -> Response:
        return JSONResponse(
            {"title": "qdrant - vector search engine", "version": version, "commit": "0" * 40}
        )

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("healthz check passed")

    async def readyz(request: Request) -> Response:
        return PlainTextResponse("all shards are ready")

    async def collections(request: Request) -> Response:
        started = time.monotonic()
        names = await asyncio.to_thread(store.names)
        return envelope({"collections": [{"name": n} for n in names]}, started)

    async def collection(request: Request) -> Response:
        started = time.monotonic()
        name = request.path_params["name"]
        info = await asyncio.to_thread(store.info, name)
        return not_found(name, started) if info is None else envelope(info, started)

    async def exists(request: Request) -> Response:
        started = time.monotonic()
        names = await asyncio.to_thread(store.names)
        return envelope({"exists": request.path_params["name"] in names}, started)

    async def count(request: Request) -> Response:
        started = time.monotonic()
        name = request.path_params["name"]
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return error(400, "Json deserialize error: invalid JSON body", started)
        if body.get("filter"):
            return error(400, "Bad request: filters are not supported by this test server", started)
        counted = await asyncio.to_thread(store.count, name, bool(body.get("exact", True)))
        return not_found(name, started) if counted is None else envelope({"count": counted}, started)

    app = Starlette(
        routes=[
            Route("/", root),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/livez", healthz),
            Route("/collections", collections),
            Route("/collections/{name}", collection),
            Route("/collections/{name}/exists", exists),
            Route("/collections/{name}/points/count", count, methods=["POST"]),
        ]
    )

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        """Qdrant's auth middleware (plus the optional delay) in front of the routes."""
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if delay:
            await asyncio.sleep(delay)
        request = Request(scope)
        if api_key is not None and request.url.path not in WHITELIST:
            given = request.headers.get("api-key")
            if given is None:
                bearer = request.headers.get("authorization", "")
                given = bearer[len("Bearer ") :] if bearer.startswith("Bearer ") else None
            message = None
            if given is None:
                message = "Must provide an API key or an Authorization bearer token"
            elif given != api_key:
                message = "Invalid API key or JWT"
            if message is not None:
                await PlainTextResponse(message, status_code=auth_failure_status)(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded
