"""kind = "webhook": a Slack-compatible message reaches a real loopback webhook; failures say why."""

from __future__ import annotations

from deploytui.checks.kinds.webhook import Kind
from deploytui.core.status import Status
from tests.servers.common import free_port
from tests.servers.target_app import WEBHOOK_TOKEN, TargetServer
from tests.support.engine_helpers import make_engine, run_one, spec


async def test_message_is_delivered(target_app: TargetServer) -> None:
    before = len(target_app.app.hook_messages)
    outcome, _ = await run_one(
        "webhook", url=f"{target_app.url}/hooks/{WEBHOOK_TOKEN}", text="deploy 1.4.2 smoke test"
    )
    assert (outcome.status, outcome.reason) == (Status.PASSED, "webhook accepted the message (200)")
    assert target_app.app.hook_messages[before:] == [{"text": "deploy 1.4.2 smoke test"}]


async def test_bad_token_and_refused(target_app: TargetServer) -> None:
    outcome, _ = await run_one("webhook", url=f"{target_app.url}/hooks/wrong-token")
    assert (outcome.status, outcome.reason) == (Status.FAILED, "webhook answered status 404, expected 2xx")
    port = free_port()
    refused, _ = await run_one("webhook", url=f"http://127.0.0.1:{port}/hooks/x")
    assert refused.reason == f"connection refused by 127.0.0.1:{port}"


async def test_webhook_is_an_action_and_its_url_token_is_masked() -> None:
    assert Kind.action
    url = f"https://hooks.example.com/services/{WEBHOOK_TOKEN}"
    engine = make_engine(secrets={"SLACK_WEBHOOK_URL": url})
    described = engine.describe(spec("webhook", url="${SLACK_WEBHOOK_URL}", text="hi"))
    assert WEBHOOK_TOKEN not in described
    assert described == 'POST [secret:SLACK_WEBHOOK_URL] {"text": "hi"}'
    assert engine.is_action(spec("webhook", url="${SLACK_WEBHOOK_URL}"))
