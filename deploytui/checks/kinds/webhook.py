"""kind = "webhook": POST a Slack-compatible JSON message ({"text": ...}) and expect a 2xx answer.

    [[check]]
    item = "deployment-steps/4-smoke-testing/webhooks-trigger"
    kind = "webhook"
    url = "${SLACK_WEBHOOK_URL}"
    text = "deploytui: smoke test of the deployment webhook"
    # headers = { Authorization = "Bearer ${HOOK_TOKEN}" }
    # expect = { status = 200 }          # default: any 2xx

It sends a message, so it is an action: it runs only when the operator confirms it (never in
`deploytui check`). The URL usually embeds a token: list the variable under [secrets].
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from deploytui.checks.base import CheckKind, masked_url
from deploytui.checks.expect import check_status
from deploytui.checks.kinds.http import Kind as HttpKind
from deploytui.checks.kinds.http import Request, RequestFailed, send
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Outcome

DEFAULT_TEXT = "deploytui: webhook test"


class Kind(CheckKind):
    name: ClassVar[str] = "webhook"
    clients: ClassVar[tuple[str, ...]] = HttpKind.clients
    fields: ClassVar[frozenset[str]] = frozenset({"url", "text", "headers", "verify", "ca_file"})
    required: ClassVar[frozenset[str]] = frozenset({"url"})
    expect_fields: ClassVar[frozenset[str]] = frozenset({"status"})
    action: ClassVar[bool] = True
    summary: ClassVar[str] = "post a Slack-compatible message to a webhook (asks first: it sends a message)"

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> list[str]:
        problems = super().validate(params)
        if "headers" in params and not isinstance(params["headers"], Mapping):
            problems.append("headers must be a table")
        return problems

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        url = masked_url(str(ctx.param(spec, "url")))
        return f'POST {url} {{"text": {json.dumps(str(ctx.param(spec, "text", DEFAULT_TEXT)))}}}'

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        http = HttpKind()
        url = str(ctx.param(spec, "url")).strip()
        if not url.startswith(("http://", "https://")):
            return Outcome.error("url must start with http:// or https://")
        headers = {str(k): str(v) for k, v in (ctx.param(spec, "headers", {}) or {}).items()}
        headers.setdefault("Content-Type", "application/json")
        body = json.dumps({"text": str(ctx.param(spec, "text", DEFAULT_TEXT))}).encode()
        req = Request("POST", url, headers, body)
        try:
            async with http.client(spec, ctx, req) as client:
                answer = await send(client, req, ctx.emit)
        except RequestFailed as exc:
            return Outcome.failed(exc.reason)
        values: dict[str, Any] = {"status": answer.status, "ms": answer.ms}
        problem = check_status(answer.status, spec.expect.get("status", "2xx"))
        if problem:
            return Outcome.failed(f"webhook answered {problem}", **values)
        return Outcome.passed(f"webhook accepted the message ({answer.status})", **values)
