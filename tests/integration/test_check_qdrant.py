"""The qdrant check against a loopback Qdrant REST server, through the real qdrant-client."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from deploytui.checks.kinds.qdrant import Kind
from deploytui.core.redact import Redactor
from deploytui.core.spec import CheckContext, CheckSpec
from deploytui.core.status import Status
from tests.servers.common import free_port
from tests.servers.containers import QdrantServer
from tests.support.kind_runners import KindRunner

COLLECTION = "rag-documents"


def spec(**params: Any) -> CheckSpec:
    return CheckSpec(item="deployment-steps/qdrant-reachable", kind="qdrant", index=0, params=params)


def ctx(timeout: float = 5.0, **secrets: str) -> CheckContext:
    return CheckContext(redactor=Redactor(secrets), timeout=timeout, env={})


@pytest.fixture(scope="module")
def qdrant(qdrant_server: QdrantServer) -> QdrantServer:
    qdrant_server.create_collection(COLLECTION, points=120, size=8)
    return qdrant_server


async def test_passes_with_version_points_and_size_measured(
    qdrant: QdrantServer, run_kind: KindRunner
) -> None:
    outcome = await run_kind(
        spec(url=qdrant.url, api_key=qdrant.api_key, collection=COLLECTION, points_min=100, vector_size=8),
        ctx(),
    )
    assert outcome.status is Status.PASSED, outcome.reason
    assert outcome.values["version"] == qdrant.version
    assert outcome.values["points"] == 120
    assert outcome.values["vector_size"] == 8
    assert isinstance(outcome.values["latency_ms"], int)
    assert qdrant.api_key and qdrant.api_key not in outcome.reason


async def test_expectations_may_sit_in_expect_table(qdrant: QdrantServer, run_kind: KindRunner) -> None:
    outcome = await run_kind(
        spec(url=qdrant.url, api_key=qdrant.api_key, collection=COLLECTION, expect={"points_min": 500}), ctx()
    )
    assert outcome.status is Status.FAILED
    assert "too few points: 120, expected >= 500" in outcome.reason


async def test_reachable_without_collection_counts_collections(
    qdrant: QdrantServer, run_kind: KindRunner
) -> None:
    outcome = await run_kind(spec(url=qdrant.url, api_key=qdrant.api_key), ctx())
    assert outcome.status is Status.PASSED, outcome.reason
    assert int(outcome.values["collections"]) >= 1
    assert "API key accepted" in outcome.reason


async def test_server_down_is_unreachable(run_kind: KindRunner) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    outcome = await run_kind(spec(url=url, api_key="whatever-key", collection=COLLECTION), ctx())
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"Qdrant unreachable: connection refused by {url}"


async def test_wrong_key_is_unauthorized_and_never_shown(qdrant: QdrantServer, run_kind: KindRunner) -> None:
    wrong = "wrong-key-0123456789"
    outcome = await run_kind(spec(url=qdrant.url, api_key=wrong, collection=COLLECTION), ctx())
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("Qdrant unauthorized (401): API key rejected")
    assert "Invalid API key" in outcome.reason
    assert wrong not in outcome.reason and wrong not in str(outcome.values)
    # The version endpoint is open on Qdrant: reachability was still measured.
    assert outcome.values["version"] == qdrant.version


async def test_missing_key_says_one_is_required(qdrant: QdrantServer, run_kind: KindRunner) -> None:
    outcome = await run_kind(spec(url=qdrant.url, collection=COLLECTION), ctx())
    assert outcome.status is Status.FAILED
    assert "Qdrant unauthorized (401): an API key is required" in outcome.reason


async def test_forbidden_from_older_qdrant_is_unauthorized_too(
    qdrant_factory: Any, run_kind: KindRunner
) -> None:
    old = qdrant_factory(auth_failure_status=403, version="1.9.7")
    outcome = await run_kind(spec(url=old.url, api_key="not-the-key", collection=COLLECTION), ctx())
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("Qdrant unauthorized (403): API key rejected")


async def test_missing_collection_is_named(qdrant: QdrantServer, run_kind: KindRunner) -> None:
    outcome = await run_kind(spec(url=qdrant.url, api_key=qdrant.api_key, collection="nope"), ctx())
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("collection 'nope' missing on")
    assert COLLECTION in outcome.reason


async def test_too_few_points(qdrant: QdrantServer, run_kind: KindRunner) -> None:
    outcome = await run_kind(
        spec(url=qdrant.url, api_key=qdrant.api_key, collection=COLLECTION, points_min=121), ctx()
    )
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"collection '{COLLECTION}' has too few points: 120, expected >= 121"
    assert outcome.values["points"] == 120


async def test_empty_collection_fails_points_min(qdrant: QdrantServer, run_kind: KindRunner) -> None:
    qdrant.create_collection("empty-one", points=0, size=4)
    outcome = await run_kind(
        spec(url=qdrant.url, api_key=qdrant.api_key, collection="empty-one", points_min=1), ctx()
    )
    assert outcome.status is Status.FAILED
    assert "too few points: 0" in outcome.reason


async def test_wrong_vector_size(qdrant: QdrantServer, run_kind: KindRunner) -> None:
    outcome = await run_kind(
        spec(url=qdrant.url, api_key=qdrant.api_key, collection=COLLECTION, vector_size=768), ctx()
    )
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"collection '{COLLECTION}' has wrong vector size: 8, expected 768"


async def test_slow_server_times_out_with_its_own_reason(qdrant_factory: Any, run_kind: KindRunner) -> None:
    slow = qdrant_factory(delay=3.0)
    outcome = await run_kind(spec(url=slow.url, api_key=slow.api_key), ctx(timeout=1.0))
    assert outcome.status is Status.FAILED
    assert outcome.reason == f"Qdrant at {slow.url} did not answer within 900ms (trying to reach)"


async def test_configured_secret_is_masked_with_its_name(qdrant: QdrantServer, run_kind: KindRunner) -> None:
    wrong = "secret-from-env-42"
    outcome = await run_kind(
        spec(url=qdrant.url, api_key="${QDRANT_API_KEY}", collection=COLLECTION),
        CheckContext(redactor=Redactor({"QDRANT_API_KEY": wrong}), env={"QDRANT_API_KEY": wrong}),
    )
    assert outcome.status is Status.FAILED
    assert wrong not in outcome.reason


def test_validation_names_bad_fields() -> None:
    assert Kind.validate({"url": "http://x"}) == []
    problems = Kind.validate({"url": "http://x", "points_min": -1, "colection": "x"})
    assert any("unknown field 'colection'" in p for p in problems)
    assert any("points_min must be a whole number" in p for p in problems)
    assert any("need a collection" in p for p in problems)
    assert any("needs field 'url'" in p for p in Kind.validate({}))


def test_importing_the_kind_does_not_import_qdrant_client() -> None:
    code = "import deploytui.checks.kinds.qdrant, sys; print('qdrant_client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


async def test_through_the_engine(qdrant: QdrantServer, tmp_path: Any) -> None:
    from deploytui.engine import Engine

    engine = Engine(redactor=Redactor({"QDRANT_API_KEY": qdrant.api_key or ""}), log_dir=tmp_path, env={})
    binding = spec(url=qdrant.url, api_key="${QDRANT_API_KEY}", collection=COLLECTION, points_min=1)
    outcome = await engine.run_check(
        binding,
        "run-qdrant-1",
        lambda event: None,
    )
    engine_env_outcome = outcome
    assert engine_env_outcome.status is Status.ERROR  # the variable is not set in this engine's env
    assert engine_env_outcome.reason == "QDRANT_API_KEY is not set"

    engine.env = {"QDRANT_API_KEY": qdrant.api_key or ""}
    outcome = await engine.run_check(
        binding,
        "run-qdrant-2",
        lambda event: None,
    )
    assert outcome.status is Status.PASSED, outcome.reason
    log = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert f"collection {COLLECTION}: 120 points" in log


async def test_server_without_auth_does_not_claim_a_key_was_accepted(
    qdrant_factory: Any, run_kind: KindRunner
) -> None:
    open_server = qdrant_factory(auth=False)
    outcome = await run_kind(spec(url=open_server.url), ctx())
    assert outcome.status is Status.PASSED, outcome.reason
    assert "API key" not in outcome.reason


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1:1", "http://[bad"])
async def test_bad_url_is_a_config_error(url: str, run_kind: KindRunner) -> None:
    outcome = await run_kind(spec(url=url), ctx())
    assert outcome.status is Status.ERROR
    assert outcome.reason.startswith(f"bad Qdrant url {url!r}")


async def test_named_vectors_are_size_checked_by_name(qdrant: QdrantServer, run_kind: KindRunner) -> None:
    qdrant.create_collection("named", points=5, size=8, vector_name="dense")
    base = {"url": qdrant.url, "api_key": qdrant.api_key, "collection": "named"}

    outcome = await run_kind(spec(**base, vector_size=8), ctx())  # the only vector, whatever its name
    assert outcome.status is Status.PASSED, outcome.reason

    outcome = await run_kind(spec(**base, vector="dense", vector_size=16), ctx())
    assert outcome.status is Status.FAILED
    assert outcome.reason == "collection 'named' has wrong vector 'dense' size: 8, expected 16"

    outcome = await run_kind(spec(**base, vector="sparse", vector_size=8), ctx())
    assert outcome.status is Status.FAILED
    assert outcome.reason == "collection 'named' has no vector 'sparse' (vectors: dense)"
