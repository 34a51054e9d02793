"""kind = "secrets_exposure": the configured secrets' values appear nowhere they could leak from.

    [[check]]
    item = "pre-deployment/secrets-secured/api-keys-not-in-logs"
    kind = "secrets_exposure"
    containers = ["${BACKEND_CONTAINER:-rag-chatbot-backend}"]   # docker logs (stdout + stderr)
    urls = ["${API_URL:-http://localhost:8000}/", "${API_URL:-http://localhost:8000}/api/v1/health"]
    files = ["/var/log/rag-chatbot/*.log"]                        # globs; relative to the config's dir
    # names = ["GEMINI_API_KEY", "QDRANT_API_KEY"]                 # default: every [secrets] name
    # base_url = "unix:///var/run/docker.sock"                     # default: DOCKER_HOST

The search uses the same matcher as redaction (the value, its URL-encoded, base64 and hex forms, a URL's
password, a multi-line value across lines),
so a leak is reported by the secret's name only: "GEMINI_API_KEY appears in container X logs".
"""

from __future__ import annotations

import asyncio
import glob
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from deploytui.checks.base import CheckKind, import_client, own_deadline
from deploytui.checks.expect import exception_reason, network_reason
from deploytui.core.redact import Redactor, mask
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome
from deploytui.core.text import one_line

CHUNK_BYTES = 1024 * 1024
"""Files are scanned in chunks this size (with an overlap so a value across a boundary is still found)."""

MAX_SCAN_BYTES = 256 * 1024 * 1024
"""At most this much of one file or one container's logs is scanned (the end, where new lines are)."""

URL_BODY_BYTES = 1024 * 1024
"""Bytes of an HTTP answer searched."""

_MASK_RE = re.compile(re.escape(mask("NAME")).replace("NAME", r"([^\]\s]+)"))
"""What a masked value looks like after redaction: the capture is the secret's name."""


def found_names(text: str, redactor: Redactor) -> set[str]:
    """Names of the secrets whose values occur in `text` (markers already in the text do not count)."""
    if not text:
        return set()
    before = _count(text)
    after = _count(redactor.redact(text))
    # Only configured secrets count: a URL's password the redactor masks on sight is no secret of ours.
    configured = set(redactor.names)
    return {name for name, n in after.items() if n > before.get(name, 0) and name in configured}


def _count(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for m in _MASK_RE.finditer(text):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


class Kind(CheckKind):
    name: ClassVar[str] = "secrets_exposure"
    clients: ClassVar[tuple[str, ...]] = ("docker", "aiohttp")
    fields: ClassVar[frozenset[str]] = frozenset({"files", "urls", "containers", "names", "base_url"})
    summary: ClassVar[str] = "secret values appear in no file, HTTP answer or container log"

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> list[str]:
        problems = super().validate(params)
        for key in ("files", "urls", "containers", "names"):
            value = params.get(key)
            if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                problems.append(f"{key} must be a list of strings")
        if not any(params.get(k) for k in ("files", "urls", "containers")):
            problems.append("secrets_exposure needs at least one of files, urls, containers")
        return problems

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        where = []
        for key in ("containers", "urls", "files"):
            values = ctx.param(spec, key, []) or []
            if values:
                where.append(f"{key} {', '.join(str(v) for v in values)}")
        return "secrets absent from " + "; ".join(where)

    def redactor(self, spec: CheckSpec, ctx: CheckContext) -> Redactor:
        names = spec.params.get("names")
        if not names:
            return ctx.redactor
        own = Redactor()
        for name in names:
            own.add(str(name), ctx.env.get(str(name)))
        return own

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        redactor = self.redactor(spec, ctx)
        if not redactor.names:
            if spec.params.get("names"):
                return Outcome.error(f"none of {', '.join(spec.params['names'])} is set: nothing to look for")
            return Outcome.error("no secrets configured ([secrets] env lists none that is set)")
        deadline = asyncio.get_running_loop().time() + own_deadline(ctx.timeout)
        leaks: list[str] = []
        searched = 0

        def record(names: set[str], where: str) -> None:
            for name in sorted(names):
                leaks.append(f"{name} appears in {where}")
                ctx.emit(f"LEAK: {name} appears in {where}")

        for pattern in [str(f) for f in ctx.param(spec, "files", []) or []]:
            matches = sorted(glob.glob(str(ctx.path(pattern)), recursive=True))
            if not matches:
                ctx.emit(f"no file matches {pattern}")
            for path in matches:
                try:
                    names = await asyncio.to_thread(_scan_file, path, redactor)
                except OSError as exc:
                    return Outcome.error(f"cannot read {path}: {one_line(exc.strerror or str(exc), 100)}")
                searched += 1
                ctx.emit(f"searched {path}")
                record(names, path)

        urls = [str(u) for u in ctx.param(spec, "urls", []) or []]
        if urls:
            outcome = await self._scan_urls(urls, redactor, ctx, record)
            if outcome is not None:
                return outcome
            searched += len(urls)

        containers = [str(c) for c in ctx.param(spec, "containers", []) or []]
        if containers:
            base_url = str(ctx.param(spec, "base_url", "") or ctx.env.get("DOCKER_HOST") or "")
            budget = max(0.1, deadline - asyncio.get_running_loop().time())
            try:
                results = await asyncio.wait_for(
                    asyncio.to_thread(_scan_containers, containers, base_url, redactor, budget), budget
                )
            except TimeoutError:
                return Outcome.failed(f"timed out reading the logs of {', '.join(containers)}")
            except _DockerProblem as exc:
                return Outcome.failed(exc.reason)
            for container, names in results:
                searched += 1
                ctx.emit(f"searched logs of container {container}")
                record(names, f"container {container} logs")

        if leaks:
            extra = f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""
            return Outcome.failed(leaks[0] + extra, leaks=len(leaks), searched=searched)
        return Outcome.passed(
            f"no secret value found in {searched} places ({len(redactor.names)} secrets)",
            leaks=0,
            searched=searched,
        )

    async def _scan_urls(
        self, urls: list[str], redactor: Redactor, ctx: CheckContext, record: Callable[[set[str], str], None]
    ) -> Outcome | None:
        from deploytui.checks.kinds.http import (
            CLIENT_TIMEOUT_MARGIN,
            Request,
            RequestFailed,
            new_client,
            send,
        )

        await import_client("aiohttp")
        async with new_client(ctx.timeout + CLIENT_TIMEOUT_MARGIN) as client:
            for url in urls:
                try:
                    answer = await send(client, Request("GET", url), keep=URL_BODY_BYTES)
                except RequestFailed as exc:  # named by its URL: the scan reads several on one host
                    cause = exc.__cause__
                    return Outcome.failed((network_reason(cause, url) if cause else None) or exc.reason)
                head = "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
                text = head + "\n" + answer.text
                ctx.emit(f"searched {url} ({answer.status}, {len(answer.body)} bytes)")
                record(found_names(text, redactor), url)
        return None


class _DockerProblem(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _scan_file(path: str, redactor: Redactor) -> set[str]:
    """Names of secrets found in a file, scanned in overlapping chunks (the last MAX_SCAN_BYTES)."""
    overlap = redactor.longest * 4 + 16
    found: set[str] = set()
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - MAX_SCAN_BYTES))
        tail = ""
        while True:
            chunk = fh.read(CHUNK_BYTES)
            if not chunk:
                break
            text = tail + chunk.decode("utf-8", errors="replace")
            found |= found_names(text, redactor)
            tail = text[-overlap:]
    return found


def _scan_containers(
    containers: list[str], base_url: str, redactor: Redactor, budget: float
) -> list[tuple[str, set[str]]]:
    """(container, secret names in its logs) for each container; blocking (docker SDK)."""
    try:
        import docker
        import docker.errors
    except ImportError:
        raise _DockerProblem("the docker SDK is not installed (pip install docker)") from None
    target = base_url or "the local Docker daemon"
    try:
        client = (
            docker.DockerClient(base_url=base_url, timeout=max(1, int(budget)))
            if base_url
            else docker.from_env(timeout=max(1, int(budget)))
        )
        client.ping()
    except Exception as exc:  # noqa: BLE001 - docker wraps every transport error differently
        raise _DockerProblem(
            network_reason(exc, target) or f"cannot reach {target}: {exception_reason(exc)}"
        ) from None
    results: list[tuple[str, set[str]]] = []
    try:
        for name in containers:
            try:
                container = client.containers.get(name)
            except docker.errors.NotFound:
                raise _DockerProblem(f"container {name} not found") from None
            raw = container.logs(stdout=True, stderr=True, timestamps=False)
            data = raw[-MAX_SCAN_BYTES:] if isinstance(raw, bytes) else b""
            results.append((name, found_names(data.decode("utf-8", errors="replace"), redactor)))
    except _DockerProblem:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _DockerProblem(f"reading container logs failed: {exception_reason(exc)}") from None
    finally:
        client.close()
    return results
