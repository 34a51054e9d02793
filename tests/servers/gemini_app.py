"""A loopback server speaking the Gemini (Generative Language) REST API to the real `google-genai` client.

`genai.Client(api_key=..., http_options=HttpOptions(base_url="http://127.0.0.1:PORT"))` sends its real
requests here: `GET /{v}/models`, `GET /{v}/models/{model}`, `POST /{v}/models/{model}:generateContent`
(v is `v1` for google-genai >= 1.x by default, `v1beta` when asked for), key in `x-goog-api-key`
(or `?key=`). Answers follow the real API:

- good key: 200 with the model resource / a one-candidate generation;
- wrong key: 400 INVALID_ARGUMENT "API key not valid..." with google.rpc.ErrorInfo reason API_KEY_INVALID;
- a key in `suspended_keys`: 403 PERMISSION_DENIED "Permission denied: Consumer 'api_key:KEY' has been
  suspended." (the real message quotes the key: the check must redact it);
- no key: 403 PERMISSION_DENIED "Method doesn't allow unregistered callers...";
- unknown model: 404 NOT_FOUND.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SERVICE = "generativelanguage.googleapis.com"

MODELS: dict[str, dict[str, Any]] = {
    "gemini-2.0-flash": {
        "version": "2.0",
        "displayName": "Gemini 2.0 Flash",
        "description": "Gemini 2.0 Flash",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 8192,
        "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent"],
        "temperature": 1,
        "topP": 0.95,
        "topK": 40,
        "maxTemperature": 2,
    },
    "text-embedding-004": {
        "version": "004",
        "displayName": "Text Embedding 004",
        "description": "Obtain a distributed representation of a text.",
        "inputTokenLimit": 2048,
        "outputTokenLimit": 1,
        "supportedGenerationMethods": ["embedContent"],
    },
}
"""Models the server knows, as the real API describes them (name added per request)."""


def _status_error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """A google.rpc.Status error body, as Google APIs send it."""
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=code)


def _key_invalid() -> JSONResponse:
    message = "API key not valid. Please pass a valid API key."
    return _status_error(
        400,
        "INVALID_ARGUMENT",
        message,
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": SERVICE},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
        ],
    )


def _suspended(key: str) -> JSONResponse:
    return _status_error(
        403,
        "PERMISSION_DENIED",
        f"Permission denied: Consumer 'api_key:{key}' has been suspended.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "CONSUMER_SUSPENDED",
                "domain": "googleapis.com",
                "metadata": {"consumer": f"projects/{abs(hash(key)) % 10**12}", "service": SERVICE},
            }
        ],
    )


def _unregistered() -> JSONResponse:
    return _status_error(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity)."
        " Please use API Key or other form of API consumer identity to call this API.",
    )


def create_app(
    api_key: str,
    *,
    suspended_keys: Iterable[str] = (),
    models: dict[str, dict[str, Any]] | None = None,
    delay: float = 0.0,
    reply: str = "OK",
) -> Starlette:
    """The app; `delay` seconds before each answer simulates a slow API."""
    known = dict(MODELS if models is None else models)
    suspended = set(suspended_keys)

    def authorise(request: Request) -> Response | None:
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if not key:
            return _unregistered()
        if key in suspended:
            return _suspended(key)
        if key != api_key:
            return _key_invalid()
        return None

    def resource(model_id: str) -> dict[str, Any]:
        return {"name": f"models/{model_id}", **known[model_id]}

    async def list_models(request: Request) -> Response:
        if delay:
            await asyncio.sleep(delay)
        denied = authorise(request)
        if denied is not None:
            return denied
        return JSONResponse({"models": [resource(m) for m in known]})

    async def model(request: Request) -> Response:
        """GET models/{id} and POST models/{id}:generateContent (Starlette sees one path segment)."""
        if delay:
            await asyncio.sleep(delay)
        denied = authorise(request)
        if denied is not None:
            return denied
        version = request.path_params["version"]
        segment = request.path_params["model"]
        model_id, _, method = segment.partition(":")
        if request.method == "GET" and not method:
            if model_id not in known:
                return _status_error(
                    404, "NOT_FOUND", f"Model is not found: models/{model_id} for api version {version}"
                )
            return JSONResponse(resource(model_id))
        if request.method == "POST" and method == "generateContent":
            if model_id not in known or "generateContent" not in known[model_id].get(
                "supportedGenerationMethods", []
            ):
                return _status_error(
                    404,
                    "NOT_FOUND",
                    f"models/{model_id} is not found for API version {version}, or is not supported for"
                    " generateContent. Call ListModels to see the list of available models and their"
                    " supported methods.",
                )
            try:
                body = await request.json()
            except ValueError:
                return _status_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            if not body.get("contents"):
                return _status_error(
                    400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"
                )
            max_tokens = int(body.get("generationConfig", {}).get("maxOutputTokens") or 0)
            text = reply.split()[0] if max_tokens == 1 else reply
            return JSONResponse(
                {
                    "candidates": [
                        {
                            "content": {"parts": [{"text": text}], "role": "model"},
                            "finishReason": "MAX_TOKENS" if max_tokens == 1 else "STOP",
                            "index": 0,
                        }
                    ],
                    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
                    "modelVersion": model_id,
                    "responseId": uuid.uuid4().hex[:22],
                }
            )
        return _status_error(404, "NOT_FOUND", f"Method not found: {request.method} {request.url.path}")

    return Starlette(
        routes=[
            Route("/{version:str}/models", list_models),
            Route("/{version:str}/models/{model:str}", model, methods=["GET", "POST"]),
        ]
    )
