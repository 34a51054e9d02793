"""kind = "secrets_exposure": values of configured secrets found in files, HTTP answers and container logs,
reported by name only; and no secret value ever reaches events or logs of the run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploytui.checks.kinds.secrets_exposure import Kind
from deploytui.core.status import Status
from tests.servers.target_app import TargetServer
from tests.support.engine_helpers import Recorder, make_engine, run_one, spec

GEMINI = "AIzaSyD3-rQ8pVx0kL2mN4oP6qR8sT0uV2wX4y"
DB_URL = "postgresql://app:Zq8-w2Lr-pw@127.0.0.1:5432/rag"
SECRETS = {"GEMINI_API_KEY": GEMINI, "DATABASE_URL": DB_URL}


async def test_clean_files_and_urls_pass(tmp_path: Path, target_app: TargetServer) -> None:
    (tmp_path / "app.log").write_text("INFO started\nINFO healthy\n")
    outcome, _ = await run_one(
        "secrets_exposure",
        tmp_path=tmp_path,
        secrets=SECRETS,
        files=["*.log"],
        urls=[f"{target_app.url}/", f"{target_app.url}/api/v1/health"],
    )
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.values == {"leaks": 0, "searched": 3}


async def test_a_leak_in_a_file_is_reported_by_name(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text(f"INFO calling gemini with key={GEMINI}\n")
    outcome, rec = await run_one("secrets_exposure", tmp_path=tmp_path, secrets=SECRETS, files=["app.log"])
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"GEMINI_API_KEY appears in {tmp_path / 'app.log'}"
    assert GEMINI not in rec.text() and GEMINI not in repr(outcome)


async def test_the_password_part_of_a_url_secret_counts(tmp_path: Path) -> None:
    (tmp_path / "worker.log").write_text("connecting with password Zq8-w2Lr-pw\n")
    outcome, _ = await run_one("secrets_exposure", tmp_path=tmp_path, secrets=SECRETS, files=["worker.log"])
    assert outcome.reason == f"DATABASE_URL appears in {tmp_path / 'worker.log'}"


async def test_a_value_across_a_chunk_boundary_is_found(tmp_path: Path) -> None:
    from deploytui.checks.kinds.secrets_exposure import CHUNK_BYTES

    big = tmp_path / "big.log"
    big.write_bytes(b"x" * (CHUNK_BYTES - 10) + GEMINI.encode() + b"\n" + b"y" * 1000)
    outcome, _ = await run_one("secrets_exposure", tmp_path=tmp_path, secrets=SECRETS, files=["big.log"])
    assert outcome.status is Status.FAILED and outcome.reason.startswith("GEMINI_API_KEY appears in")


async def test_a_leaking_http_endpoint(target_app_factory: Callable[..., TargetServer]) -> None:
    app = target_app_factory(leak=GEMINI)
    url = f"{app.url}/api/v1/debug/config"
    outcome, rec = await run_one("secrets_exposure", secrets=SECRETS, urls=[url])
    assert (outcome.status, outcome.reason) == (Status.FAILED, f"GEMINI_API_KEY appears in {url}")
    assert GEMINI not in rec.text()


async def test_names_restricts_the_search(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text(f"key={GEMINI}\n")
    outcome, _ = await run_one(
        "secrets_exposure", tmp_path=tmp_path, secrets=SECRETS, files=["app.log"], names=["DATABASE_URL"]
    )
    assert outcome.status is Status.PASSED


async def test_no_secrets_configured_is_an_error(tmp_path: Path) -> None:
    outcome, _ = await run_one("secrets_exposure", tmp_path=tmp_path, files=["*.log"])
    assert outcome.status is Status.ERROR and outcome.reason.startswith("no secrets configured")


async def test_unreachable_url_and_docker(tmp_path: Path) -> None:
    from tests.servers.common import free_port

    port = free_port()
    outcome, _ = await run_one("secrets_exposure", secrets=SECRETS, urls=[f"http://127.0.0.1:{port}/"])
    assert outcome.reason == f"connection refused by http://127.0.0.1:{port}/"
    sock = tmp_path / "no-docker.sock"
    docker, _ = await run_one(
        "secrets_exposure", secrets=SECRETS, containers=["backend"], base_url=f"unix://{sock}"
    )
    assert docker.status is Status.FAILED and docker.reason.startswith(f"cannot reach unix://{sock}")


async def test_container_logs_via_the_docker_api(docker_engine: Any) -> None:
    leaky = docker_engine.run_container(
        "deploytui-secrets-leaky", ["sh", "-c", f"echo 'boot with key {GEMINI}'; sleep 300"]
    )
    clean = docker_engine.run_container("deploytui-secrets-clean", ["sh", "-c", "echo 'boot ok'; sleep 300"])
    try:
        import asyncio

        for _ in range(50):
            if b"boot" in leaky.logs() and b"boot" in clean.logs():
                break
            await asyncio.sleep(0.1)
        outcome, _ = await run_one(
            "secrets_exposure",
            secrets=SECRETS,
            containers=["deploytui-secrets-clean", "deploytui-secrets-leaky"],
            base_url=docker_engine.base_url,
            timeout=20,
        )
        assert (outcome.status, outcome.reason) == (
            Status.FAILED,
            "GEMINI_API_KEY appears in container deploytui-secrets-leaky logs",
        )
        ok, _ = await run_one(
            "secrets_exposure",
            secrets=SECRETS,
            containers=["deploytui-secrets-clean"],
            base_url=docker_engine.base_url,
            timeout=20,
        )
        assert ok.status is Status.PASSED, ok.reason
        missing, _ = await run_one(
            "secrets_exposure",
            secrets=SECRETS,
            containers=["no-such-container"],
            base_url=docker_engine.base_url,
            timeout=20,
        )
        assert missing.reason == "container no-such-container not found"
    finally:
        docker_engine.remove("deploytui-secrets-leaky")
        docker_engine.remove("deploytui-secrets-clean")


async def test_describe_never_needs_the_values(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, secrets=SECRETS)
    text = engine.describe(spec("secrets_exposure", files=["logs/*.log"], urls=["http://h/"]))
    assert text == "secrets absent from urls http://h/; files logs/*.log"
    rec = Recorder()
    await engine.run_check(spec("secrets_exposure", files=["nothing-here/*.log"]), None, rec)
    assert "no file matches nothing-here/*.log" in rec.lines()


def test_validation() -> None:
    assert Kind.validate({}) == ["secrets_exposure needs at least one of files, urls, containers"]
    assert Kind.validate({"files": "app.log"}) == ["files must be a list of strings"]
