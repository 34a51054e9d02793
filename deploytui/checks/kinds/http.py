"""kind = "http": a request (or samples, a burst, a repeat, a CORS preflight) and expectations on the answers.

    [[check]]
    item = "deployment-steps/3-health-checks/api-health-check-passes"
    kind = "http"
    url = "${API_URL:-http://localhost:8000}/api/v1/health"
    method = "GET"                                   # default GET
    headers = { Accept = "application/json" }        # optional
    json = { question = "test" }                     # or body = "raw text"
    expect = { status = 200, max_ms = 2000, json = { status = "healthy" }, body_contains = "healthy",
               headers = { x-content-type-options = "nosniff", server = false, x-frame-options = true } }

Modes (at most one):
- samples = 20          N sequential requests; values p50_ms/p95_ms/max_ms and latencies_ms (each
                        sample's ms, space-separated); expect p95_ms / p50_ms
- burst = 30            a rate-limit check: one request alone (it must not be limited already), then the
                        other N-1 at once; passes when the limiter engages during its own burst (a 429)
- repeat = 2            the same request twice; the second must be a cache hit: expect cache_header =
                        "x-cache: HIT" (or a table), or cache_speedup = 2.0 (first_ms / second_ms at least)
- cors = { allowed = "https://app.example.com", disallowed = "https://evil.example", method = "POST" }
                        OPTIONS preflights: the allowed origin is echoed, the disallowed one is not

`status` accepts an int, a list, or a class like "4xx" (a class never matches 429). `json` paths are
dotted (`data.items.0.id`). `json_one_of = { status = ["ok", "healthy"] }`: the field is one of these
(strings compare regardless of case); `json_if_present = { status = [...] }`: the same, but only when the
body is JSON and has the field.

A 429 is the verdict of a burst only: any other check answered 429 (unless its `status` names 429)
ends `error: rate limited by the target (429, Retry-After 8 s)`, which the engine may wait out and retry.
Only the first BODY_KEEP_BYTES of a body are read. TLS: `verify = false`, or `ca_file = "ca.pem"`.

Why ~770 lines: one kind with five modes (a request, samples, a burst, a repeat, a CORS preflight) that
share one client, one TLS setup, one footprint on the target's origin and one way to judge statuses.
"""

from __future__ import annotations

import asyncio
import errno
import json as jsonlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from deploytui import __version__
from deploytui.checks.base import CheckKind, Footprint, import_client, milliseconds_problems, url_origin
from deploytui.checks.expect import (
    RATE_LIMITED,
    Stopwatch,
    check_status,
    exception_chain,
    exception_reason,
    fmt_number,
    names_status,
    network_reason,
    parse_retry_after,
    percentile,
    rate_limited_reason,
)
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Status
from deploytui.core.text import one_line

BODY_KEEP_BYTES = 1024 * 1024
"""Bytes of a response body read and kept; the rest is not read (a 50 MB answer cannot fill memory)."""

BODY_EMIT_LINES = 30
"""Lines of a response body shown in the live output (and so in the evidence)."""

CLIENT_TIMEOUT_MARGIN = 5.0
"""The client's own timeout: the check's timeout plus this (the engine's deadline fires first, its reason)."""

MAX_CONNECTIONS = 200
"""Connections one check's client opens at once (a burst of 1,000 goes out 200 at a time)."""

USER_AGENT = f"deploytui/{__version__}"
"""What each request says it is (a target's access log then names the checklist run)."""

_SSL_CONTEXTS: dict[tuple[bool, str], ssl.SSLContext | bool] = {}
"""SSL contexts by (verify, ca_file): building one costs milliseconds, and checks run by the dozen."""


def shared_ssl_context(verify: bool, ca_file: str) -> ssl.SSLContext | bool:
    """The process-wide SSL context for (verify, ca_file): False when not verifying."""
    key = (verify, ca_file)
    if key not in _SSL_CONTEXTS:
        if not verify:
            _SSL_CONTEXTS[key] = False
        else:
            context = ssl.create_default_context(cafile=ca_file or None)
            _SSL_CONTEXTS[key] = context
    return _SSL_CONTEXTS[key]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    ms: int
    truncated: bool = False
    reason_phrase: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def retry_after(self) -> float | None:
        """Seconds the Retry-After header asks for (None when absent or unreadable)."""
        return parse_retry_after(self.headers.get("retry-after"), self.headers.get("date"))


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    query: dict[str, str] | None = None
    """Query parameters, encoded by the client (a `+` in PromQL stays a plus)."""


@dataclass
class Client:
    """One check's HTTP client (aiohttp: ~0.2 ms of CPU a request here, where httpx took ~1.3 ms, which
    made 50 checks at once cost a fifth more than the target's own delay)."""

    session: Any  # aiohttp.ClientSession, imported off the event loop (import_client)
    follow_redirects: bool = False

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()


def new_client(
    timeout: float,
    *,
    verify: bool = True,
    ca_file: str = "",
    follow_redirects: bool = False,
    headers: Mapping[str, str] | None = None,
) -> Client:
    """A client for the kinds that speak HTTP in the engine's process (http, webhook, prometheus,
    secrets_exposure); `aiohttp` imported already (import_client), on the running event loop."""
    import aiohttp

    session = aiohttp.ClientSession(
        # Always the cached context: building one costs ~13 ms of CPU, and checks run by the dozen.
        connector=aiohttp.TCPConnector(ssl=shared_ssl_context(verify, ca_file), limit=MAX_CONNECTIONS),
        timeout=aiohttp.ClientTimeout(total=timeout),
        auto_decompress=False,  # _decode_body undoes gzip/deflate of the kept bytes only
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate", **(headers or {})},
    )
    return Client(session, follow_redirects)


async def send(
    client: Client, req: Request, emit: Any | None = None, keep: int = BODY_KEEP_BYTES
) -> Answer:
    """The answer to `req` (at most `keep` bytes of its body read); RequestFailed saying why not. Every
    kind that speaks HTTP in the engine's process sends through here."""
    import aiohttp

    try:
        with Stopwatch() as sw:
            async with client.session.request(
                req.method,
                req.url,
                headers=req.headers,
                data=req.content,
                params=req.query,
                allow_redirects=client.follow_redirects,
            ) as resp:
                chunks: list[bytes] = []
                size = 0
                truncated = False
                async for chunk in resp.content.iter_any():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= keep:
                        truncated = True
                        break
                raw = b"".join(chunks)[:keep]
                headers = _merged_headers(resp.headers.items())
                answer = Answer(
                    status=resp.status,
                    headers=headers,
                    body=_decode_body(raw, headers.get("content-encoding", ""), keep),
                    ms=0,
                    truncated=truncated,
                    reason_phrase=resp.reason or "",
                )
        answer.ms = sw.ms
    except TimeoutError as exc:  # aiohttp's own timeouts (ServerTimeoutError is one)
        raise RequestFailed(f"timed out waiting for {req.url}") from exc
    except aiohttp.InvalidURL as exc:
        raise RequestFailed(f"not a valid URL: {one_line(req.url, 120)!r}") from exc
    except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
        target = _target(req.url)
        reason = network_reason(exc, target)
        if reason is not None:
            raise RequestFailed(reason, _refused(exc)) from exc
        cause = exception_reason(exc)
        raise RequestFailed(f"request to {target} failed: {cause}", cause=cause) from exc
    except ValueError as exc:  # a header value with a line break, a URL yarl cannot parse
        raise RequestFailed(f"request to {_target(req.url)} not sent: {exception_reason(exc)}") from exc
    if emit is not None:
        _emit_answer(emit, req, answer)
    return answer


def _emit_answer(emit: Any, req: Request, answer: Answer) -> None:
    emit(f"> {req.method} {req.url}")
    emit(
        f"< {answer.status} {answer.reason_phrase} ({answer.ms} ms, {len(answer.body)} bytes"
        f"{', truncated' if answer.truncated else ''})"
    )
    for name in ("content-type", "x-cache", "access-control-allow-origin", "retry-after"):
        if name in answer.headers:
            emit(f"< {name}: {answer.headers[name]}")
    lines = answer.text.splitlines()
    for line in lines[:BODY_EMIT_LINES]:
        emit(line)
    if len(lines) > BODY_EMIT_LINES:
        emit(f"… {len(lines) - BODY_EMIT_LINES} more lines")


def _merged_headers(items: Any) -> dict[str, str]:
    """Response headers by lower-case name; a repeated header's values joined with ", " (RFC 9110 5.3)."""
    merged: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


class RequestFailed(Exception):
    """A request could not get an answer; `reason` says why in one line; `unreached`: the connection was
    refused, so the target saw no request (no cooldown is owed for it)."""

    def __init__(self, reason: str, unreached: bool = False, cause: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreached = unreached
        self.cause = cause
        """Not a network failure: the exception's type and message (a kind may say its own phase)."""


def _refused(exc: BaseException) -> bool:
    """The connection was refused (nothing listens): the request never reached the target."""
    return any(
        isinstance(e, ConnectionRefusedError) or (isinstance(e, OSError) and e.errno == errno.ECONNREFUSED)
        for e in exception_chain(exc)
    )


def get_path(data: Any, path: str) -> tuple[bool, Any]:
    """Follow a dotted path (`a.b.0.c`) into parsed JSON: (found, value)."""
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif (
            isinstance(current, list)
            and part.lstrip("-").isdigit()
            and -len(current) <= int(part) < len(current)
        ):
            current = current[int(part)]
        else:
            return False, None
    return True, current


def _show(value: Any) -> str:
    return one_line(
        jsonlib.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value), 80
    )


LATENCIES_KEPT = 500
"""Sample latencies kept in a samples check's values (`latencies_ms`, space-separated ms, in order): the
detail pane draws their distribution; p50/p95/max are computed over every sample."""


class Kind(CheckKind):
    name: ClassVar[str] = "http"
    clients: ClassVar[tuple[str, ...]] = ("aiohttp",)
    fields: ClassVar[frozenset[str]] = frozenset(
        {
            "url",
            "method",
            "headers",
            "json",
            "body",
            "verify",
            "ca_file",
            "follow_redirects",
            "samples",
            "burst",
            "repeat",
            "cors",
        }
    )
    required: ClassVar[frozenset[str]] = frozenset({"url"})
    expect_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "status",
            "max_ms",
            "body_contains",
            "body_absent",
            "json",
            "headers",
            "p50_ms",
            "p95_ms",
            "cache_header",
            "cache_speedup",
            "json_one_of",
            "json_if_present",
        }
    )
    summary: ClassVar[str] = (
        "HTTP request(s): status, latency, body, JSON fields, headers, rate limit, cache, CORS"
    )

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> list[str]:
        problems = super().validate(params)
        modes = [m for m in ("samples", "burst", "repeat", "cors") if m in params]
        if len(modes) > 1:
            problems.append(f"use at most one of samples, burst, repeat, cors (got {', '.join(modes)})")
        for key in ("samples", "burst", "repeat"):
            if key in params:
                value = params[key]
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
                    problems.append(f"{key} must be a whole number from 1 to 1000")
        if "repeat" in params and params["repeat"] == 1:
            problems.append("repeat must be at least 2 (the second answer is compared with the first)")
        if "json" in params and "body" in params:
            problems.append("use either json or body, not both")
        cors = params.get("cors")
        if cors is not None:
            if not isinstance(cors, Mapping) or not ({"allowed", "disallowed"} & set(cors)):
                problems.append(
                    'cors must be a table like { allowed = "https://app.example.com", '
                    'disallowed = "https://evil.example" }'
                )
            elif set(cors) - {"allowed", "disallowed", "method"}:
                problems.append(
                    f"unknown cors keys: {', '.join(sorted(set(cors) - {'allowed', 'disallowed', 'method'}))}"
                )
        for key in ("headers",):
            if key in params and not isinstance(params[key], Mapping):
                problems.append(f"{key} must be a table")
        expect = params.get("expect")
        if isinstance(expect, Mapping):
            if "json" in expect and not isinstance(expect["json"], Mapping):
                problems.append(
                    'expect.json must be a table of dotted paths, like json = { status = "healthy" }'
                )
            for key in ("json_one_of", "json_if_present"):
                table = expect.get(key)
                if table is None:
                    continue
                if not isinstance(table, Mapping) or not table or not all(
                    _is_choice(v) or (isinstance(v, list) and v and all(_is_choice(c) for c in v))
                    for v in table.values()
                ):
                    problems.append(
                        f"expect.{key} must be a table of dotted paths and the values allowed, like"
                        f' {key} = {{ status = ["ok", "healthy"] }}'
                    )
            if "headers" in expect and not isinstance(expect["headers"], Mapping):
                problems.append(
                    "expect.headers must be a table: name = true (present), false (absent) or a value"
                )
            if ("cache_header" in expect or "cache_speedup" in expect) and "repeat" not in params:
                problems.append("cache_header and cache_speedup need repeat = 2")
            if ("p95_ms" in expect or "p50_ms" in expect) and "samples" not in params:
                problems.append("p95_ms and p50_ms need samples = N")
            problems += milliseconds_problems(expect, ("max_ms", "p50_ms", "p95_ms"))
        return problems

    # ------------------------------------------------------------------ building

    def request(self, spec: CheckSpec, ctx: CheckContext) -> Request:
        url = str(ctx.param(spec, "url")).strip()
        method = str(ctx.param(spec, "method", "GET")).upper()
        headers = {str(k): str(v) for k, v in (ctx.param(spec, "headers", {}) or {}).items()}
        content: bytes | None = None
        if "json" in spec.params:
            content = jsonlib.dumps(ctx.param(spec, "json")).encode()
            headers.setdefault("Content-Type", "application/json")
            if method == "GET":
                method = "POST"
        elif "body" in spec.params:
            content = str(ctx.param(spec, "body")).encode()
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {one_line(url, 80)!r}")
        return Request(method, url, headers, content)

    def footprint(self, spec: CheckSpec, ctx: CheckContext) -> Footprint:
        """Every request goes to the URL's origin; a burst holds it alone (nothing else on the origin runs
        during it, and it runs after the other checks on it)."""
        origin = url_origin(str(ctx.param(spec, "url", "")))
        if origin is None:
            return Footprint()
        if "burst" in spec.params:
            return Footprint(holds=frozenset({origin}), burst=True)
        return Footprint(uses=frozenset({origin}))

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        req = self.request(spec, ctx)
        mode = ""
        for key in ("samples", "burst", "repeat"):
            if key in spec.params:
                mode = f" ({key} {spec.params[key]})"
        if "cors" in spec.params:
            mode = " (CORS preflight)"
        return f"{req.method} {req.url}{mode}"

    def client(self, spec: CheckSpec, ctx: CheckContext, req: Request) -> Client:
        """A client for one check's requests (its connections are re-used by samples, repeat, a burst).
        Built on the running event loop."""
        verify = ctx.param(spec, "verify", True)
        ca_file = ctx.param(spec, "ca_file", "") or ""
        if ca_file:
            path = ctx.path(str(ca_file))
            if not path.is_file():
                raise RequestFailed(f"CA file {path} does not exist")
            ca_file = str(path)
        return new_client(
            ctx.timeout + CLIENT_TIMEOUT_MARGIN,
            verify=bool(verify),
            ca_file=ca_file,
            follow_redirects=bool(ctx.param(spec, "follow_redirects", False)),
        )

    # ---------------------------------------------------------------------- runs

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        await import_client(*self.clients)  # ~0.15 s: on the event loop it froze the app as a run started
        try:
            req = self.request(spec, ctx)
        except ValueError as exc:
            return Outcome.error(str(exc))
        expect = ctx.substitute(dict(spec.expect))
        try:
            async with self.client(spec, ctx, req) as client:
                if "cors" in spec.params:
                    return await self._cors(client, req, ctx.param(spec, "cors"), ctx)
                if "samples" in spec.params:
                    return await self._samples(client, req, int(spec.params["samples"]), expect, ctx)
                if "burst" in spec.params:
                    return await self._burst(client, req, int(spec.params["burst"]), ctx)
                if "repeat" in spec.params:
                    return await self._repeat(client, req, int(spec.params["repeat"]), expect, ctx)
                answer = await send(client, req, ctx.emit)
        except RequestFailed as exc:
            return Outcome.failed(exc.reason)
        values: dict[str, Any] = {"status": answer.status, "ms": answer.ms, "bytes": len(answer.body)}
        refused = self.refused(answer, expect, values)
        if refused is not None:
            return refused
        problem = self.judge(answer, expect)
        if problem:
            return Outcome.failed(problem, **values)
        return Outcome.passed(f"{answer.status} in {answer.ms} ms", **values)

    @staticmethod
    def refused(
        answer: Answer, expect: Mapping[str, Any], values: Mapping[str, Any] | None = None
    ) -> Outcome | None:
        """An answer that is no verdict: a 429 (the target's rate limiter) to a check whose `status` does
        not name 429. The outcome is an error carrying the Retry-After, which the engine may wait out."""
        if answer.status != RATE_LIMITED or names_status(expect.get("status", 200), RATE_LIMITED):
            return None
        wait = answer.retry_after
        found = dict(values or {})
        if wait is not None:
            found["retry_after_s"] = round(wait, 3)
        return Outcome(
            Status.ERROR, rate_limited_reason(wait), found, rate_limited=True, retry_after=wait
        )

    def judge(self, answer: Answer, expect: Mapping[str, Any], check_latency: bool = True) -> str | None:
        """The first unmet expectation of one answer, as a reason; None when all hold."""
        expected_status = expect.get("status", 200)
        status_problem = check_status(answer.status, expected_status)
        if status_problem:
            return status_problem
        max_ms = expect.get("max_ms")
        if check_latency and max_ms is not None and answer.ms > float(max_ms):
            return f"slow: answered in {answer.ms} ms, expected at most {fmt_number(float(max_ms))} ms"
        text = answer.text
        contains = expect.get("body_contains")
        for needle in (
            contains if isinstance(contains, list) else ([contains] if contains is not None else [])
        ):
            if str(needle) not in text:
                return f"body does not contain {one_line(str(needle), 80)!r}" + (
                    f" (only the first {BODY_KEEP_BYTES // 1024} KiB were read)" if answer.truncated else ""
                )
        absent = expect.get("body_absent")
        for needle in absent if isinstance(absent, list) else ([absent] if absent is not None else []):
            if str(needle) in text:
                return f"body contains {one_line(str(needle), 80)!r}"
        wanted_json = expect.get("json")
        if isinstance(wanted_json, Mapping) and wanted_json:
            try:
                data = jsonlib.loads(text)
            except ValueError:
                return "body is not JSON" + (" (truncated)" if answer.truncated else "")
            for path, wanted in wanted_json.items():
                found, value = get_path(data, str(path))
                if not found:
                    return f"JSON has no field {path!r}"
                if value != wanted:
                    return f"JSON field {path!r} is {_show(value)}, expected {_show(wanted)}"
        for key, optional in (("json_one_of", False), ("json_if_present", True)):
            table = expect.get(key)
            if not isinstance(table, Mapping) or not table:
                continue
            try:
                data = jsonlib.loads(text)
            except ValueError:
                if optional:
                    continue
                return "body is not JSON" + (" (truncated)" if answer.truncated else "")
            for path, allowed in table.items():
                choices = allowed if isinstance(allowed, list) else [allowed]
                found, value = get_path(data, str(path))
                if not found:
                    if optional:
                        continue
                    return f"JSON has no field {path!r}"
                if not any(_same_choice(value, choice) for choice in choices):
                    wanted_text = ", ".join(_show(c) for c in choices)
                    return f"JSON field {path!r} is {_show(value)}, expected one of {wanted_text}"
        wanted_headers = expect.get("headers")
        if isinstance(wanted_headers, Mapping):
            for name, wanted in wanted_headers.items():
                key = str(name).lower()
                present = key in answer.headers
                if wanted is True and not present:
                    return f"header {key} missing"
                if wanted is False and present:
                    return f"header {key} present: {one_line(answer.headers[key], 80)}"
                if not isinstance(wanted, bool):
                    if not present:
                        return f"header {key} missing, expected {one_line(str(wanted), 80)!r}"
                    if answer.headers[key].strip() != str(wanted).strip():
                        got = one_line(answer.headers[key], 80)
                        return f"header {key} is {got!r}, expected {one_line(str(wanted), 80)!r}"
        return None

    async def _samples(
        self, client: Any, req: Request, n: int, expect: Mapping[str, Any], ctx: CheckContext
    ) -> Outcome:
        times: list[float] = []
        for i in range(n):
            answer = await send(client, req, ctx.emit if i == 0 else None)
            ctx.emit(f"sample {i + 1}/{n}: {answer.status} in {answer.ms} ms")
            refused = self.refused(answer, expect, {"samples": i + 1})
            if refused is not None:
                return refused
            problem = self.judge(answer, expect, check_latency=False)
            if problem:
                return Outcome.failed(f"sample {i + 1} of {n}: {problem}", samples=i + 1)
            times.append(answer.ms)
        p50, p95 = percentile(times, 50), percentile(times, 95)
        values: dict[str, Any] = {
            "samples": n,
            "p50_ms": int(p50),
            "p95_ms": int(p95),
            "max_ms": int(max(times)),
            "latencies_ms": " ".join(str(round(t)) for t in times[:LATENCIES_KEPT]),
        }
        for key, measured in (("p95_ms", p95), ("p50_ms", p50)):
            if key in expect and measured > float(expect[key]):
                label = key[:3]
                return Outcome.failed(
                    f"slow: {label} {int(measured)} ms over {n} requests, expected at most "
                    f"{fmt_number(float(expect[key]))} ms",
                    **values,
                )
        if "max_ms" in expect and max(times) > float(expect["max_ms"]):
            return Outcome.failed(
                f"slow: slowest of {n} requests took {int(max(times))} ms, expected at most "
                f"{fmt_number(float(expect['max_ms']))} ms",
                **values,
            )
        return Outcome.passed(f"p50 {int(p50)} ms, p95 {int(p95)} ms over {n} requests", **values)

    async def _burst(self, client: Any, req: Request, n: int, ctx: CheckContext) -> Outcome:
        """A rate-limit check that counts only its own 429s: one request alone first, which must not be
        limited (a limiter already engaged by someone else proves nothing about this burst), then the
        other n-1 at once. Passes when the limiter engages during the burst."""
        values: dict[str, Any] = {"burst": n}
        try:
            first = await send(client, req, ctx.emit)
        except RequestFailed as exc:
            outcome = Outcome.failed(exc.reason, **values)
            outcome.unreached = exc.unreached
            return outcome
        values["first_status"] = first.status
        if first.status == RATE_LIMITED:
            wait = first.retry_after
            if wait is not None:
                values["retry_after_s"] = round(wait, 3)
            limited = rate_limited_reason(wait).removeprefix("rate limited by the target ")
            return Outcome(
                Status.ERROR,
                f"already rate limited before its burst {limited}: the limit was used up by other"
                " requests, so this burst cannot show it engage",
                values,
                rate_limited=True,
                retry_after=wait,
            )

        async def one() -> Answer | RequestFailed:
            try:
                return await send(client, req)
            except RequestFailed as exc:
                return exc

        answers = [first, *await asyncio.gather(*(one() for _ in range(n - 1)))]
        failures = [a for a in answers if isinstance(a, RequestFailed)]
        got = [a for a in answers if isinstance(a, Answer)]
        counts: dict[int, int] = {}
        for a in got:
            counts[a.status] = counts.get(a.status, 0) + 1
        summary = ", ".join(f"{code}×{count}" for code, count in sorted(counts.items()))
        ctx.emit(
            f"burst of {n}: {summary or 'no answers'}" + (f", {len(failures)} failed" if failures else "")
        )
        waits = [w for w in (a.retry_after for a in got if a.status == RATE_LIMITED) if w is not None]
        wait = max(waits) if waits else None
        values |= {"limited": counts.get(RATE_LIMITED, 0), "statuses": summary}
        if wait is not None:
            values["retry_after_s"] = round(wait, 3)
        server_errors = sum(count for code, count in counts.items() if code >= 500)
        if server_errors:
            return Outcome.failed(
                f"{server_errors} of {n} requests answered 5xx during the burst ({summary})", **values
            )
        if failures:
            return Outcome.failed(f"{len(failures)} of {n} requests failed: {failures[0].reason}", **values)
        if not counts.get(RATE_LIMITED):
            return Outcome.failed(
                f"no 429 in a burst of {n} requests: rate limiting is not active ({summary})", **values
            )
        after = f", Retry-After {fmt_number(round(wait, 1))} s" if wait is not None else ""
        outcome = Outcome.passed(
            f"rate limited: the first request answered {first.status}, then {counts[RATE_LIMITED]} of {n}"
            f" answered 429{after}",
            **values,
        )
        outcome.retry_after = wait
        return outcome

    async def _repeat(
        self, client: Any, req: Request, n: int, expect: Mapping[str, Any], ctx: CheckContext
    ) -> Outcome:
        answers: list[Answer] = []
        for i in range(n):
            answer = await send(client, req, ctx.emit)
            refused = self.refused(answer, expect)
            if refused is not None:
                return refused
            problem = self.judge(answer, expect, check_latency=False)
            if problem:
                return Outcome.failed(f"request {i + 1} of {n}: {problem}")
            answers.append(answer)
        first, last = answers[0], answers[-1]
        speedup = first.ms / max(last.ms, 1)
        values: dict[str, Any] = {"first_ms": first.ms, "second_ms": last.ms, "speedup": round(speedup, 2)}
        header = expect.get("cache_header")
        if header is not None:
            wanted = _header_pairs(header)
            for name, value in wanted.items():
                got = last.headers.get(name)
                if got is None:
                    return Outcome.failed(f"not a cache hit: header {name} missing on request {n}", **values)
                if got.strip().lower() != value.strip().lower():
                    return Outcome.failed(
                        f"not a cache hit: {name} is {one_line(got, 40)!r} on request {n}, "
                        f"expected {value!r}",
                        **values,
                    )
        if "cache_speedup" in expect and speedup < float(expect["cache_speedup"]):
            return Outcome.failed(
                f"not a cache hit: request {n} took {last.ms} ms after {first.ms} ms "
                f"(speedup {speedup:.1f}×, expected {fmt_number(float(expect['cache_speedup']))}×)",
                **values,
            )
        if header is None and "cache_speedup" not in expect:
            return Outcome.error("repeat needs expect.cache_header or expect.cache_speedup")
        return Outcome.passed(f"cache hit: {first.ms} ms then {last.ms} ms", **values)

    async def _cors(self, client: Any, req: Request, cors: Mapping[str, Any], ctx: CheckContext) -> Outcome:
        method = str(cors.get("method", req.method if req.method != "OPTIONS" else "GET")).upper()
        values: dict[str, Any] = {}

        async def preflight(origin: str) -> Answer:
            headers = {"Origin": origin, "Access-Control-Request-Method": method}
            if req.headers.get("Content-Type"):
                headers["Access-Control-Request-Headers"] = "content-type"
            return await send(client, Request("OPTIONS", req.url, headers), ctx.emit)

        allowed = cors.get("allowed")
        if allowed:
            answer = await preflight(str(allowed))
            refused = self.refused(answer, {})
            if refused is not None:
                return refused
            acao = answer.headers.get("access-control-allow-origin")
            values["allowed_status"] = answer.status
            if answer.status >= 500:
                return Outcome.failed(f"CORS preflight from {allowed} answered {answer.status}", **values)
            if acao is None:
                return Outcome.failed(
                    f"CORS does not allow {allowed}: no access-control-allow-origin", **values
                )
            if acao.strip() not in (str(allowed), "*"):
                return Outcome.failed(
                    f"CORS does not allow {allowed}: access-control-allow-origin is {one_line(acao, 80)!r}",
                    **values,
                )
        disallowed = cors.get("disallowed")
        if disallowed:
            answer = await preflight(str(disallowed))
            refused = self.refused(answer, {})
            if refused is not None:
                return refused
            acao = answer.headers.get("access-control-allow-origin")
            values["disallowed_status"] = answer.status
            if acao is not None and acao.strip() in (str(disallowed), "*"):
                return Outcome.failed(
                    f"CORS allows {disallowed}: access-control-allow-origin is {one_line(acao, 80)!r}",
                    **values,
                )
        parts = []
        if allowed:
            parts.append(f"allows {allowed}")
        if disallowed:
            parts.append(f"refuses {disallowed}")
        return Outcome.passed("CORS " + " and ".join(parts), **values)


def _is_choice(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _same_choice(value: Any, choice: Any) -> bool:
    """A JSON value against one allowed value: strings regardless of case, others exactly."""
    if isinstance(value, str) and isinstance(choice, str):
        return value.strip().lower() == choice.strip().lower()
    return bool(value == choice) and type(value) is type(choice)


def _header_pairs(value: Any) -> dict[str, str]:
    """`"x-cache: HIT"` or `{ x-cache = "HIT" }` -> {"x-cache": "HIT"}."""
    if isinstance(value, Mapping):
        return {str(k).lower(): str(v) for k, v in value.items()}
    name, _, wanted = str(value).partition(":")
    return {name.strip().lower(): wanted.strip()}


def _target(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or url
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{host}:{port}"
    except ValueError:
        return url


def _decode_body(raw: bytes, encoding: str, keep: int = BODY_KEEP_BYTES) -> bytes:
    """Undo gzip/deflate of a kept body (bounded: at most `keep` bytes come out)."""
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "deflate"):
        import zlib

        try:
            wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
            return zlib.decompressobj(wbits).decompress(raw, keep)
        except zlib.error:
            return raw
    return raw


__all__ = ["Answer", "Client", "Kind", "Request", "RequestFailed", "get_path", "new_client", "send"]
