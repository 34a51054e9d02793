"""Gemini: the API key is accepted and the configured model exists; optionally a one-token generation.
Uses the real `google-genai` client.

    [[check]]
    item = "pre-deployment/external-services-verified/gemini-api-key-valid"
    kind = "gemini"
    api_key = "${GEMINI_API_KEY}"
    model = "gemini-2.0-flash"     # omitted: the key is checked by listing models
    generate = false               # true: also generate one token (costs a request against the quota)
    # base_url = "http://127.0.0.1:8080"   # tests and proxies; default: the real API

Reasons: "API key rejected" (400 API_KEY_INVALID, 401, 403 PERMISSION_DENIED), "model ... not found",
"Gemini API unreachable" (network), "quota exhausted" (429), "Gemini API error" (5xx), timed out.
Values: model, display_name, input_token_limit, latency_ms, models (when listing), generate_ms.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from deploytui.checks.base import CheckKind, import_client, own_deadline, type_problems
from deploytui.checks.expect import (
    Stopwatch,
    exception_chain,
    exception_reason,
    http_timed_out,
    network_reason,
)
from deploytui.core.durations import format_duration
from deploytui.core.redact import Redactor
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome, Scalar, Status
from deploytui.core.text import one_line

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/"
"""The real Gemini API."""

GENERATE_PROMPT = "Reply with the single word OK."
"""Prompt of the optional one-token generation (max_output_tokens = 1)."""

KEY_REJECTED_CODES = frozenset({400, 401, 403})
"""HTTP codes meaning the key itself was refused (a 400 counts only with a key-related reason)."""


def _error_reasons(details: Any) -> list[str]:
    """The google.rpc.ErrorInfo reasons of an error body, e.g. ["API_KEY_INVALID"]."""
    error = details.get("error") if isinstance(details, Mapping) else None
    if isinstance(details, list) and details and isinstance(details[0], Mapping):
        error = details[0].get("error")
    if not isinstance(error, Mapping):
        return []
    found = []
    for item in error.get("details") or []:
        if isinstance(item, Mapping) and isinstance(item.get("reason"), str):
            found.append(item["reason"])
    return found


class Kind(CheckKind):
    name = "gemini"
    clients: ClassVar[tuple[str, ...]] = (
        "google.genai", "httpcore2", "google.auth.aio.credentials", "truststore"
    )
    process = True
    summary = "Gemini API key accepted and model available (optionally a one-token generation)"
    fields: ClassVar[frozenset[str]] = frozenset({"api_key", "model", "generate", "base_url", "api_version"})
    required: ClassVar[frozenset[str]] = frozenset({"api_key"})

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> list[str]:
        problems = super().validate(params)
        problems += type_problems(
            params, strings=("api_key", "model", "base_url", "api_version"), booleans=("generate",)
        )
        if params.get("generate") is True and not params.get("model"):
            problems.append("generate = true needs a model")
        return problems

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        model = ctx.param(spec, "model")
        what = f"model {model}" if model else "list models"
        if ctx.param(spec, "generate", False) is True:
            what += " + one-token generation"
        return f"gemini {what} at {ctx.param(spec, 'base_url') or DEFAULT_BASE_URL}"

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        api_key = str(ctx.param(spec, "api_key") or "").strip()
        if not api_key:
            return Outcome.error("api_key is empty")
        model = str(ctx.param(spec, "model") or "").strip() or None
        base_url = str(ctx.param(spec, "base_url") or DEFAULT_BASE_URL)
        problem = _url_problem(base_url)
        if problem:
            return Outcome.error(f"base_url {base_url!r} {problem}")
        api_version = ctx.param(spec, "api_version")
        generate = ctx.param(spec, "generate", False) is True
        # The key must never show, even written literally in the config; Google's own messages may quote
        # it ("Consumer 'api_key:AIza...' has been suspended").
        local = Redactor({"api_key": api_key})

        def scrub(text: str) -> str:
            return local.redact(ctx.redactor.redact(text))

        loop = asyncio.get_running_loop()
        budget = own_deadline(ctx.timeout)
        deadline_at = loop.time() + budget
        values: dict[str, Scalar] = {}
        step = "load google-genai"
        host = base_url.rstrip("/")

        def timed_out() -> Outcome:
            return Outcome(
                Status.FAILED,
                f"Gemini API at {host} did not answer within {format_duration(budget)} (trying to {step})",
                values,
            )

        try:
            async with asyncio.timeout_at(deadline_at):
                await import_client("google.genai")
        except TimeoutError:
            return timed_out()

        from google import genai
        from google.genai import errors, types

        options = types.HttpOptions(
            base_url=base_url,
            api_version=api_version or None,
            timeout=max(1, math.ceil((deadline_at - loop.time()) * 1000)),
            # One attempt: a check reports what it saw; it never waits out a retry schedule.
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        try:
            # In a worker thread: the client builds three SSL contexts (~0.5 s here), which on the event
            # loop stalled every check timed meanwhile.
            client = await asyncio.to_thread(genai.Client, api_key=api_key, http_options=options)
        except ValueError as exc:
            return Outcome.error(f"cannot set up the Gemini client: {scrub(one_line(str(exc), 200))}")

        step = "get model" if model else "list models"

        def api_failure(exc: Any) -> Outcome:
            code = int(exc.code or 0)
            status = str(exc.status or "")
            message = scrub(one_line(str(exc.message or ""), 200))
            reasons = _error_reasons(exc.details)
            label = " ".join(p for p in (str(code), status, *reasons[:1]) if p)
            values["http_status"] = code
            if code in (401, 403) or (code == 400 and any("API_KEY" in r for r in reasons)):
                return Outcome(Status.FAILED, f"API key rejected ({label}): {message}", values)
            if code == 400 and "api key" in message.lower():
                return Outcome(Status.FAILED, f"API key rejected ({label}): {message}", values)
            if code == 404 and model:
                return Outcome(Status.FAILED, f"model {model!r} not found ({label}): {message}", values)
            if code == 429:
                return Outcome(Status.FAILED, f"Gemini quota exhausted ({label}): {message}", values)
            if code >= 500:
                return Outcome(
                    Status.FAILED, f"Gemini API error ({label}) trying to {step}: {message}", values
                )
            return Outcome(Status.FAILED, f"Gemini API answered {label} trying to {step}: {message}", values)

        try:
            async with asyncio.timeout_at(deadline_at):
                with Stopwatch() as sw:
                    if model:
                        info = await client.aio.models.get(model=model)
                    else:
                        pager = await client.aio.models.list(config=types.ListModelsConfig(page_size=50))
                        names = [m.name or "" for m in pager.page]
                values["latency_ms"] = sw.ms
                if model:
                    values["model"] = str(info.name or model).removeprefix("models/")
                    if info.display_name:
                        values["display_name"] = info.display_name
                    if info.input_token_limit:
                        values["input_token_limit"] = int(info.input_token_limit)
                    ctx.emit(f"model {info.name} ({info.display_name or 'no display name'}) in {sw.ms} ms")
                    actions = info.supported_actions or []
                    if generate and actions and "generateContent" not in actions:
                        return Outcome(
                            Status.FAILED,
                            f"model {model!r} does not support generateContent"
                            f" (it supports: {', '.join(actions)})",
                            values,
                        )
                else:
                    values["models"] = len(names)
                    ctx.emit(f"{len(names)} models listed in {sw.ms} ms")
                if generate and model:
                    step = "generate one token"
                    with Stopwatch() as gen:
                        response = await client.aio.models.generate_content(
                            model=model,
                            contents=GENERATE_PROMPT,
                            config=types.GenerateContentConfig(max_output_tokens=1, temperature=0),
                        )
                    values["generate_ms"] = gen.ms
                    text = scrub(one_line(response.text or "", 80))
                    ctx.emit(f"generated {text!r} in {gen.ms} ms")
                    if not response.candidates:
                        feedback = scrub(one_line(str(response.prompt_feedback or "no candidates"), 160))
                        return Outcome(
                            Status.FAILED, f"model {model!r} generated nothing: {feedback}", values
                        )
        except TimeoutError:
            return timed_out()
        except errors.APIError as exc:
            return api_failure(exc)
        except Exception as exc:  # noqa: BLE001 - httpx/aiohttp transport errors, classified below
            if http_timed_out(exc):
                return timed_out()
            reason = network_reason(exc, host)
            if reason is not None:
                return Outcome(Status.FAILED, f"Gemini API unreachable: {reason}", values)
            if _is_transport_error(exc):
                return Outcome(
                    Status.FAILED, f"Gemini API unreachable at {host}: {scrub(exception_reason(exc))}", values
                )
            raise
        finally:
            try:
                await client.aio.aclose()
            except Exception:  # noqa: BLE001 - closing must not mask the outcome
                pass

        if model:
            done = "API key accepted, model available"
            if generate:
                done += f", generated one token in {values['generate_ms']} ms"
            return Outcome(Status.PASSED, f"{done} ({values.get('model', model)})", values)
        return Outcome(Status.PASSED, f"API key accepted, {values['models']} models available", values)


def _url_problem(url: str) -> str | None:
    """Why `url` cannot be the API's base URL, or None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL"
    return None


def _is_transport_error(exc: BaseException) -> bool:
    import httpx

    return any(isinstance(e, (httpx.TransportError, OSError)) for e in exception_chain(exc))
