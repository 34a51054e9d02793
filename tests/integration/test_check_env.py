"""kind = "env": presence, placeholders, length, URL scheme, forbidden values; reasons never show values."""

from __future__ import annotations

import pytest

from deploytui.checks.kinds.env import Kind, is_placeholder
from deploytui.core.status import Status
from tests.support.engine_helpers import run_one


async def run_env(env: dict[str, str], names: list[str], **expect: object) -> tuple[Status, str]:
    outcome, rec = await run_one("env", env=env, names=names, **({"expect": expect} if expect else {}))
    for value in env.values():
        if len(value) >= 4:
            assert value not in outcome.reason and value not in rec.text()
    return outcome.status, outcome.reason


async def test_set_variables_pass() -> None:
    env = {
        "DATABASE_URL": "postgresql://app:s3cr3t-pw@db.internal:5432/prod",
        "REDIS_URL": "rediss://cache:6380/0",
    }
    assert await run_env(env, ["DATABASE_URL"], scheme="postgresql") == (Status.PASSED, "DATABASE_URL set")
    assert (
        await run_env({"DATABASE_URL": "postgres://u:p4ss-word@h/db"}, ["DATABASE_URL"], scheme="postgresql")
    )[0] is (Status.PASSED)
    assert (
        await run_env(
            {"DATABASE_URL": "postgresql+asyncpg://u:p4ss-word@h/db"}, ["DATABASE_URL"], scheme="postgresql"
        )
    )[0] is Status.PASSED
    assert (await run_env(env, ["REDIS_URL"], scheme="redis"))[0] is Status.PASSED


async def test_missing_and_empty() -> None:
    assert await run_env({}, ["GEMINI_API_KEY"]) == (Status.FAILED, "GEMINI_API_KEY is not set")
    assert await run_env({"GEMINI_API_KEY": "  "}, ["GEMINI_API_KEY"]) == (
        Status.FAILED,
        "GEMINI_API_KEY is empty",
    )


@pytest.mark.parametrize(
    "value",
    [
        "changeme",
        "your-api-key",
        "xxx",
        "TODO",
        "<your key here>",
        "example-key-123",
        "sk-xxxx",
        "CHANGE_ME",
        "postgresql://<user>:<password>@localhost/db",
        "your_secret_key",
    ],
)
async def test_placeholders_fail_without_showing_the_value(value: str) -> None:
    status, reason = await run_env({"SECRET_KEY": value}, ["SECRET_KEY"])
    assert (status, reason) == (Status.FAILED, "SECRET_KEY looks like a placeholder, not a real value")


def test_real_looking_values_are_not_placeholders() -> None:
    assert not is_placeholder("AIzaSyD3-rQ8pVx0_kL2mN4oP6qR8sT0uV2wX4y")
    assert not is_placeholder("https://app.example.com,https://admin.example.com")
    assert not is_placeholder("postgresql://app:Zq8-w2Lr@10.0.0.5:5432/rag")


async def test_min_length() -> None:
    assert await run_env({"SECRET_KEY": "short-key-1"}, ["SECRET_KEY"], min_length=32) == (
        Status.FAILED,
        "SECRET_KEY is 11 characters long, expected at least 32",
    )
    assert (await run_env({"SECRET_KEY": "k" * 20 + "Q7-z" * 4}, ["SECRET_KEY"], min_length=32))[
        0
    ] is Status.PASSED


async def test_wrong_scheme() -> None:
    assert await run_env({"DATABASE_URL": "mysql://u:pw12@h/db"}, ["DATABASE_URL"], scheme="postgresql") == (
        Status.FAILED,
        "DATABASE_URL is not a postgresql URL",
    )
    assert await run_env({"REDIS_URL": "localhost:6379"}, ["REDIS_URL"], scheme="redis") == (
        Status.FAILED,
        "REDIS_URL is not a redis URL",
    )


async def test_forbidden_wildcard_origin() -> None:
    assert await run_env(
        {"ALLOWED_ORIGINS": "https://app.example.com, *"}, ["ALLOWED_ORIGINS"], **{"not": "*"}
    ) == (
        Status.FAILED,
        "ALLOWED_ORIGINS must not be '*'",
    )
    ok = await run_env({"ALLOWED_ORIGINS": "https://app.example.com"}, ["ALLOWED_ORIGINS"], **{"not": "*"})
    assert ok[0] is Status.PASSED


async def test_several_names_report_the_first_bad_one() -> None:
    env = {"QDRANT_URL": "https://q.internal:6333", "QDRANT_API_KEY": ""}
    assert await run_env(env, ["QDRANT_URL", "QDRANT_API_KEY"]) == (Status.FAILED, "QDRANT_API_KEY is empty")


def test_validation() -> None:
    assert Kind.validate({"names": []}) == [
        'names must be a non-empty list of variable names, like names = ["DATABASE_URL"]'
    ]
    assert Kind.validate({"names": ["A"], "expect": {"min_length": 0}}) == [
        "min_length must be a positive whole number"
    ]
    assert Kind.validate({"names": ["A"], "expect": {"scheme": "https", "not": "*"}}) == []
