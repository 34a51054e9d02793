"""Qdrant: the server answers (its version), the API key is accepted, a collection exists with enough
points of the right vector size. Uses the real `qdrant-client` over REST.

    [[check]]
    item = "deployment-steps/3-health-checks/qdrant-reachable"
    kind = "qdrant"
    url = "${QDRANT_URL}"
    api_key = "${QDRANT_API_KEY}"
    collection = "documents"
    points_min = 1000          # or expect = { points_min = 1000, vector_size = 768 }
    vector_size = 768

Reasons: unreachable, unauthorized (401/403), collection missing, too few points, wrong vector size,
timed out. Values: version, points, vector_size, latency_ms.
"""

from __future__ import annotations

import asyncio
import math
import threading
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

from deploytui.checks.base import CheckKind, import_client, own_deadline, type_problems
from deploytui.checks.expect import Stopwatch, exception_reason, http_timed_out, network_reason
from deploytui.core.durations import format_duration
from deploytui.core.redact import Redactor
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Scalar, Status
from deploytui.core.text import one_line

THRESHOLDS = ("points_min", "vector_size")
"""Expectations that may be written as fields or inside `expect = {...}`."""

_WARNINGS = threading.Lock()
"""`warnings.catch_warnings` swaps process-wide state: one client build at a time holds it."""


def _int_setting(spec: CheckSpec, ctx: CheckContext, name: str) -> int | None:
    """A whole-number expectation from the field or from `expect` (field wins); ValueError when malformed."""
    raw = ctx.param(spec, name) if name in spec.params else ctx.substitute(spec.expect.get(name))
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ValueError(f"{name} must be a whole number, got {raw!r}")
    try:
        value = int(str(raw).strip()) if isinstance(raw, str) else int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0 or (isinstance(raw, float) and not raw.is_integer()):
        raise ValueError(f"{name} must be a whole number >= 0, got {raw!r}")
    return value


def _vector_sizes(vectors: Any) -> dict[str, int]:
    """Sizes of a collection's vectors: {"": n} for the single unnamed vector, else one per name."""
    if vectors is None:
        return {}
    size = getattr(vectors, "size", None)
    if isinstance(size, int):
        return {"": size}
    if isinstance(vectors, Mapping):
        return {str(name): int(v.size) for name, v in vectors.items() if getattr(v, "size", None) is not None}
    return {}


class Kind(CheckKind):
    name = "qdrant"
    clients: ClassVar[tuple[str, ...]] = ("qdrant_client", "httpcore", "h2.connection")
    process = True
    summary = "Qdrant reachable, API key accepted, collection present with enough points of the right size"
    fields: ClassVar[frozenset[str]] = frozenset({"url", "api_key", "collection", "vector", *THRESHOLDS})
    required: ClassVar[frozenset[str]] = frozenset({"url"})
    expect_fields: ClassVar[frozenset[str]] = frozenset(THRESHOLDS)

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> list[str]:
        problems = super().validate(params)
        problems += type_problems(params, strings=("url", "api_key", "collection", "vector"))
        expect = params.get("expect")
        for key in THRESHOLDS:
            for source in (params, expect if isinstance(expect, Mapping) else {}):
                value = source.get(key)
                if value is not None and (
                    isinstance(value, bool)
                    or not isinstance(value, (int, str))
                    or (isinstance(value, int) and value < 0)
                ):
                    problems.append(f"{key} must be a whole number >= 0")
        if (
            "vector" in params
            and "vector_size" not in params
            and not (isinstance(expect, Mapping) and "vector_size" in expect)
        ):
            problems.append("vector names which vector to size-check: it needs vector_size")
        if any(k in params or (isinstance(expect, Mapping) and k in expect) for k in THRESHOLDS) and (
            "collection" not in params
        ):
            problems.append("points_min and vector_size need a collection")
        return problems

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        url = ctx.param(spec, "url", "")
        collection = ctx.param(spec, "collection")
        return f"qdrant {url}" + (f" collection {collection}" if collection else "")

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        url = str(ctx.param(spec, "url") or "").strip()
        if not url:
            return Outcome.error("url is empty")
        api_key = str(ctx.param(spec, "api_key") or "") or None
        collection = ctx.param(spec, "collection")
        vector_name = ctx.param(spec, "vector")
        try:
            points_min = _int_setting(spec, ctx, "points_min")
            vector_size = _int_setting(spec, ctx, "vector_size")
        except ValueError as exc:
            return Outcome.error(str(exc))

        # The key must never show, even when the config holds it literally rather than as a [secret].
        local = Redactor({"api_key": api_key} if api_key else None)

        def scrub(text: str) -> str:
            return local.redact(ctx.redactor.redact(text))

        loop = asyncio.get_running_loop()
        budget = own_deadline(ctx.timeout)
        deadline_at = loop.time() + budget
        values: dict[str, Scalar] = {}
        step = "load qdrant-client"

        def timed_out() -> Outcome:
            return Outcome(
                Status.FAILED,
                f"Qdrant at {url} did not answer within {format_duration(budget)} (trying to {step})",
                values,
            )

        try:
            async with asyncio.timeout_at(deadline_at):
                await import_client("qdrant_client")
        except TimeoutError:
            return timed_out()

        from qdrant_client import AsyncQdrantClient
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        def build() -> tuple[AsyncQdrantClient, bool]:
            # In a worker thread: building the client loads the CA store and deep-copies its schema
            # (~0.4 s here), and on the event loop that stalled every check timed meanwhile.
            with _WARNINGS, warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                built = AsyncQdrantClient(
                    url=url,
                    api_key=api_key,
                    timeout=max(1, math.ceil(deadline_at - loop.time())),
                    check_compatibility=False,
                )
            return built, any("insecure connection" in str(w.message) for w in caught)

        try:
            client, insecure = await asyncio.to_thread(build)
        except (ValueError, TypeError) as exc:
            return Outcome.error(f"bad Qdrant url {url!r}: {scrub(one_line(str(exc), 160))}")
        if insecure:
            ctx.emit("warning: the API key is sent over plain http")

        step = "reach"

        def failure_from(exc: BaseException) -> Outcome:
            if isinstance(exc, UnexpectedResponse):
                code = exc.status_code or 0
                body = scrub(one_line(exc.content.decode("utf-8", "replace"), 160))
                if code in (401, 403):
                    hint = "API key rejected" if api_key else "an API key is required"
                    return Outcome(Status.FAILED, f"Qdrant unauthorized ({code}): {hint}: {body}", values)
                if code == 404 and collection and step == "read the collection":
                    return Outcome(Status.FAILED, f"collection {collection!r} missing on {url}", values)
                return Outcome(
                    Status.FAILED, f"Qdrant answered {code} while trying to {step}: {body}", values
                )
            cause = exc.source if isinstance(exc, ResponseHandlingException) else exc
            if http_timed_out(cause):
                return timed_out()
            reason = network_reason(cause, url)
            if reason is not None:
                return Outcome(Status.FAILED, f"Qdrant unreachable: {reason}", values)
            return Outcome(
                Status.FAILED, f"Qdrant unreachable at {url}: {scrub(exception_reason(cause))}", values
            )

        try:
            async with asyncio.timeout_at(deadline_at):
                with Stopwatch() as sw:
                    info = await client.info()
                values["version"] = str(info.version)
                values["latency_ms"] = sw.ms
                ctx.emit(f"qdrant {info.version} at {url} answered in {sw.ms} ms")

                # Every later call needs the key: the version endpoint is open on a real Qdrant.
                step = "list collections"
                listing = await client.get_collections()
                names = sorted(c.name for c in listing.collections)
                values["collections"] = len(names)
                ctx.emit(f"{len(names)} collections: {', '.join(names) or '(none)'}")
                if not collection:
                    return Outcome(
                        Status.PASSED,
                        f"Qdrant {info.version} reachable"
                        + (", API key accepted" if api_key else "")
                        + f", {len(names)} collections",
                        values,
                    )
                if collection not in names:
                    return Outcome(
                        Status.FAILED,
                        f"collection {collection!r} missing on {url} (has: {', '.join(names) or 'none'})",
                        values,
                    )

                step = "read the collection"
                details = await client.get_collection(collection)
                step = "count points"
                counted = await client.count(collection, exact=True)
        except TimeoutError:
            return timed_out()
        except (UnexpectedResponse, ResponseHandlingException, OSError) as exc:
            return failure_from(exc)
        except Exception as exc:  # noqa: BLE001 - httpx errors not wrapped by the client
            if http_timed_out(exc) or network_reason(exc, url) is not None:
                return failure_from(exc)
            raise
        finally:
            try:
                await client.close()
            except Exception:  # noqa: BLE001 - closing a half-open client must not mask the outcome
                pass

        points = int(counted.count)
        values["points"] = points
        sizes = _vector_sizes(details.config.params.vectors)
        ctx.emit(
            f"collection {collection}: {points} points, status {details.status}, vectors {sizes or 'none'}"
        )
        problems: list[str] = []
        if points_min is not None and points < points_min:
            problems.append(
                f"collection {collection!r} has too few points: {points}, expected >= {points_min}"
            )
        if vector_size is not None:
            key = vector_name or ("" if "" in sizes else (next(iter(sizes)) if len(sizes) == 1 else None))
            if key is None or key not in sizes:
                wanted = f"vector {vector_name!r}" if vector_name else "an unnamed vector"
                problems.append(
                    f"collection {collection!r} has no {wanted} (vectors: {', '.join(sizes) or 'none'})"
                )
            else:
                values["vector_size"] = sizes[key]
                if sizes[key] != vector_size:
                    label = f"vector {key!r} size" if key else "vector size"
                    problems.append(
                        f"collection {collection!r} has wrong {label}: {sizes[key]}, expected {vector_size}"
                    )
        elif len(sizes) == 1:
            values["vector_size"] = next(iter(sizes.values()))
        if problems:
            return Outcome(Status.FAILED, "; ".join(problems), values)
        size_text = f", vector size {values['vector_size']}" if "vector_size" in values else ""
        return Outcome(
            Status.PASSED, f"Qdrant {info.version}: {collection!r} has {points} points{size_text}", values
        )
