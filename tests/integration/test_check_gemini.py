"""The gemini check against a loopback Gemini API server, through the real google-genai client."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from deploytui.checks.kinds.gemini import Kind
from deploytui.core.redact import Redactor
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Status
from tests.servers.common import free_port
from tests.servers.containers import GeminiServer
from tests.support.kind_runners import KindRunner


def spec(**params: Any) -> CheckSpec:
    return CheckSpec(item="pre-deployment/gemini-api-key-valid", kind="gemini", index=0, params=params)


def ctx(timeout: float = 5.0, secrets: dict[str, str] | None = None) -> CheckContext:
    return CheckContext(redactor=Redactor(secrets), timeout=timeout, env={})


async def test_good_key_and_model_pass_with_measured_values(
    gemini_server: GeminiServer, run_kind: KindRunner
) -> None:
    outcome = await run_kind(
        spec(api_key=gemini_server.api_key, model=gemini_server.model, base_url=gemini_server.url), ctx()
    )
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.reason == "API key accepted, model available (gemini-2.0-flash)"
    assert outcome.values["model"] == "gemini-2.0-flash"
    assert outcome.values["display_name"] == "Gemini 2.0 Flash"
    assert outcome.values["input_token_limit"] == 1048576
    assert isinstance(outcome.values["latency_ms"], int)
    assert "generate_ms" not in outcome.values  # generation is off by default


async def test_without_model_the_key_is_checked_by_listing(
    gemini_server: GeminiServer, run_kind: KindRunner
) -> None:
    outcome = await run_kind(spec(api_key=gemini_server.api_key, base_url=gemini_server.url), ctx())
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.values["models"] == 2
    assert outcome.reason == "API key accepted, 2 models available"


async def test_generate_true_generates_one_token(gemini_server: GeminiServer, run_kind: KindRunner) -> None:
    outcome = await run_kind(
        spec(
            api_key=gemini_server.api_key,
            model=gemini_server.model,
            base_url=gemini_server.url,
            generate=True,
        ),
        ctx(),
    )
    assert outcome.status is Status.PASSED, outcome.reason
    assert "generated one token" in outcome.reason
    assert isinstance(outcome.values["generate_ms"], int)


async def test_invalid_key_is_rejected_with_the_api_reason(
    gemini_server: GeminiServer, run_kind: KindRunner
) -> None:
    bad = "AIzaBADBADBADBADBADBADBADBADBADBAD"
    outcome = await run_kind(spec(api_key=bad, model=gemini_server.model, base_url=gemini_server.url), ctx())
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith(
        "API key rejected (400 INVALID_ARGUMENT API_KEY_INVALID): API key not valid"
    )
    assert outcome.values["http_status"] == 400


async def test_suspended_key_is_rejected_and_never_shown(
    gemini_server: GeminiServer, run_kind: KindRunner
) -> None:
    """Google's 403 message quotes the key itself: the reason must mask it."""
    key = gemini_server.suspended_key
    outcome = await run_kind(spec(api_key=key, model=gemini_server.model, base_url=gemini_server.url), ctx())
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("API key rejected (403 PERMISSION_DENIED CONSUMER_SUSPENDED)")
    assert "has been suspended" in outcome.reason
    assert key not in outcome.reason and key not in str(outcome.values)
    assert "api_key:[secret:api_key]" in outcome.reason


async def test_secret_from_config_is_masked_with_its_name(
    gemini_server: GeminiServer, run_kind: KindRunner
) -> None:
    key = gemini_server.suspended_key
    outcome = await run_kind(
        spec(api_key="${GEMINI_API_KEY}", base_url=gemini_server.url),
        CheckContext(redactor=Redactor({"GEMINI_API_KEY": key}), env={"GEMINI_API_KEY": key}),
    )
    assert outcome.status is Status.FAILED
    assert "[secret:GEMINI_API_KEY]" in outcome.reason and key not in outcome.reason


async def test_unknown_model_is_not_found_not_a_key_problem(
    gemini_server: GeminiServer, run_kind: KindRunner
) -> None:
    outcome = await run_kind(
        spec(api_key=gemini_server.api_key, model="gemini-9.9-nope", base_url=gemini_server.url), ctx()
    )
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("model 'gemini-9.9-nope' not found (404 NOT_FOUND)")


async def test_model_without_generation_fails_generate(
    gemini_server: GeminiServer, run_kind: KindRunner
) -> None:
    outcome = await run_kind(
        spec(
            api_key=gemini_server.api_key,
            model="text-embedding-004",
            base_url=gemini_server.url,
            generate=True,
        ),
        ctx(),
    )
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("model 'text-embedding-004' does not support generateContent")


async def test_server_down_is_unreachable_not_a_key_problem(run_kind: KindRunner) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    outcome = await run_kind(spec(api_key="AIzaSomething1234", model="gemini-2.0-flash", base_url=url), ctx())
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"Gemini API unreachable: connection refused by {url}"


async def test_slow_api_times_out_with_the_step(gemini_factory: Any, run_kind: KindRunner) -> None:
    slow = gemini_factory(delay=3.0)
    outcome = await run_kind(
        spec(api_key=slow.api_key, model=slow.model, base_url=slow.url), ctx(timeout=1.0)
    )
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"Gemini API at {slow.url} did not answer within 900ms (trying to get model)"


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A listener that accepts connections and never answers: a hung upstream."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    listener.close()


async def test_hung_socket_times_out(hung_port: int, run_kind: KindRunner) -> None:
    url = f"http://127.0.0.1:{hung_port}"
    outcome = await run_kind(spec(api_key="AIzaSomething1234", base_url=url), ctx(timeout=0.5))
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith(f"Gemini API at {url} did not answer within")
    assert "(trying to list models)" in outcome.reason


def test_validation() -> None:
    assert Kind.validate({"api_key": "${GEMINI_API_KEY}", "model": "gemini-2.0-flash"}) == []
    assert any("needs field 'api_key'" in p for p in Kind.validate({"model": "m"}))
    assert any(
        "generate must be true or false" in p for p in Kind.validate({"api_key": "k", "generate": "yes"})
    )
    assert any(
        "generate = true needs a model" in p for p in Kind.validate({"api_key": "k", "generate": True})
    )


def test_importing_the_kind_does_not_import_google_genai() -> None:
    code = "import deploytui.checks.kinds.gemini, sys; print('google.genai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


async def test_through_the_engine_a_slow_api_ends_with_the_kinds_reason(
    gemini_factory: Any, tmp_path: Any
) -> None:
    """The kind's own deadline ends before the engine's, so the reason names what was being done."""
    from deploytui.engine import Engine

    slow = gemini_factory(delay=5.0)
    engine = Engine(log_dir=tmp_path, env={})
    outcome = await engine.run_check(
        CheckSpec(
            item="pre-deployment/gemini-api-key-valid",
            kind="gemini",
            index=0,
            params={"api_key": slow.api_key, "model": slow.model, "base_url": slow.url},
            timeout=1.0,
        ),
        "run-gemini-1",
        lambda event: None,
    )
    assert outcome.status is Status.FAILED
    assert outcome.reason.endswith("(trying to get model)")
    assert slow.api_key not in outcome.reason


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("generativelanguage.googleapis.com", "must be an http:// or https:// URL"),
        ("http://[bad", "is not a valid URL"),
    ],
)
async def test_bad_base_url_is_a_config_error(url: str, message: str, run_kind: KindRunner) -> None:
    outcome = await run_kind(spec(api_key="AIzaSomething1234", base_url=url), ctx())
    assert outcome.status is Status.ERROR
    assert message in outcome.reason


def test_an_empty_base_url_is_described_as_the_default_it_uses() -> None:
    # The bundled bindings say `base_url = "${GEMINI_BASE_URL:-}"`: unset, the run uses the default, and
    # `check --dry-run` must say so instead of ending in "at ".
    text = Kind().describe(spec(api_key="k", model="gemini-2.0-flash", base_url=""), ctx())
    assert text == "gemini model gemini-2.0-flash at https://generativelanguage.googleapis.com/"
