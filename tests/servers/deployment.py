"""A whole rag-chatbot deployment on loopback, wired through the variables the bundled bindings read.

Shared by the `deployment` fixture of tests/integration/test_end_to_end.py, by scripts/demo_env.py
(which runs the same deployment outside pytest for a person to try the app against) and by
benchmarks/bench_critical_path.py. The pytest fixture starts the servers and passes them to
`wire_deployment`; outside pytest `start_deployment` starts them with the same functions. Everything made
here is undone by `stack`.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.servers.containers import (
    DockerEngine,
    GeminiServer,
    QdrantServer,
    start_docker_engine,
    start_gemini,
    start_qdrant,
)
from tests.servers.databases import (
    PostgresServer,
    PrometheusServer,
    RedisServer,
    _redis_binary,
    start_postgres,
    start_prometheus,
)
from tests.servers.target_app import WEBHOOK_TOKEN, TargetServer, TLSFiles, build_app, make_tls_files

ALEMBIC_HEAD = "3f2a1c9d8e7b"
"""The Alembic revision the deployment's database is at (ALEMBIC_HEAD says the same)."""

USER_ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
"""Where the deployment's own users come from (loopback addresses other than the jump box's): each sends
10 chat queries in the warm-up, within the app's limit per address."""


@dataclass
class Deployment:
    env: dict[str, str]
    """Every variable the bundled bindings read, set for this deployment."""
    redis: RedisServer
    app: TargetServer
    workdir: Path


def wire_deployment(
    workdir: Path,
    stack: contextlib.ExitStack,
    *,
    postgres: PostgresServer,
    make_redis: Callable[[], RedisServer],
    make_target: Callable[..., TargetServer],
    make_prometheus: Callable[..., PrometheusServer],
    docker: DockerEngine,
    qdrant: QdrantServer,
    gemini: GeminiServer,
    tls: TLSFiles,
) -> Deployment:
    """Start the app (plain and HTTPS), fill a database, a backup, a collection, a container, a git
    repository and a Prometheus with traffic, and return the environment that points the bindings at them."""
    redis = make_redis()
    app = make_target(redis_url=redis.url, answer_delay=0.05)
    public = make_target(redis_url=redis.url, tls=tls)

    db_name = f"rag_e2e_{uuid.uuid4().hex[:8]}"
    database_url = postgres.create_database(db_name)
    postgres.execute(
        "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
        f"INSERT INTO alembic_version VALUES ('{ALEMBIC_HEAD}');"
        "CREATE TABLE documents (id serial PRIMARY KEY, body text);"
        "INSERT INTO documents (body) VALUES ('deployment guide'), ('rollback plan');",
        database=db_name,
    )
    backups = workdir / "backups"
    backups.mkdir(exist_ok=True)
    subprocess.run(
        [
            str(Path(postgres.bin_dir) / "pg_dump"),
            "-Fc", "-f", str(backups / "production.dump"), database_url,
        ],
        check=True,
        capture_output=True,
    )

    collection = f"docs_{uuid.uuid4().hex[:8]}"
    qdrant.create_collection(collection, points=20, size=8)
    stack.callback(qdrant.delete_collection, collection)

    container = f"rag-chatbot-backend-{uuid.uuid4().hex[:6]}"
    # Runs until removed: a demo environment may stay up for hours.
    docker.run_container(
        container, "echo 'INFO backend started'; echo 'INFO ready'; while :; do sleep 3600; done"
    )
    stack.callback(docker.remove, container)

    repo = workdir / "app"
    repo.mkdir(exist_ok=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / ".gitignore").write_text(".env\n")
    subprocess.run([*git, "add", ".gitignore"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    (repo / ".env").write_text(f"GEMINI_API_KEY={gemini.api_key}\n")

    # The app has been serving traffic for a while: answers cached, requests counted and scraped (a
    # counter's rate needs increases between two scrapes, so traffic comes before and after the first).
    # Its users are other clients (127.0.0.2...): the app's per-IP rate limiter counts the jump box apart.
    def traffic() -> None:
        for user, address in enumerate(USER_ADDRESSES):
            transport = httpx.HTTPTransport(local_address=address)
            with httpx.Client(base_url=app.url, timeout=10, transport=transport) as client:
                for _ in range(5):
                    query = {"question": "warm the cache", "session_id": f"warm-{user}"}
                    client.post("/api/v1/chat/query", json=query)
                    client.get("/api/v1/health")

    traffic()
    prometheus = make_prometheus(targets=[f"127.0.0.1:{app.port}"])
    prometheus.wait_for_series('up{job="app"} == 1')
    traffic()
    prometheus.wait_for_series('sum(rate(http_requests_total{job="app"}[5m])) > 0')
    prometheus.wait_for_series('cache_hits_total{job="app"} > 30')
    prometheus.wait_for_series('rate(process_cpu_seconds_total{job="app"}[1m])')

    env = {
        "API_URL": app.url,
        "UI_URL": app.url,
        "PUBLIC_URL": public.url,
        "TLS_CA_FILE": str(tls.ca_file),
        "CORS_ORIGIN": "https://app.example.com",
        "ALLOWED_ORIGINS": "https://app.example.com",
        "DATABASE_URL": database_url,
        "ALEMBIC_HEAD": ALEMBIC_HEAD,
        "REDIS_URL": redis.url,
        "QDRANT_URL": qdrant.url,
        "QDRANT_API_KEY": qdrant.api_key or "",
        "QDRANT_COLLECTION": collection,
        "GEMINI_API_KEY": gemini.api_key,
        "GEMINI_MODEL": gemini.model,
        "GEMINI_BASE_URL": gemini.url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PROMETHEUS_URL": prometheus.url,
        "PROMETHEUS_JOB": "app",
        "GRAFANA_URL": f"{app.url}/grafana",
        "BACKEND_CONTAINER": container,
        "DOCKER_HOST": docker.base_url,
        "APP_DIR": str(repo),
        "BACKUP_PATH": str(backups / "*.dump"),
        "BACKUP_DIR": str(backups),
        "SLACK_WEBHOOK_URL": f"{app.url}/hooks/{WEBHOOK_TOKEN}",
    }
    return Deployment(env=env, redis=redis, app=app, workdir=workdir)


def start_deployment(workdir: Path, stack: contextlib.ExitStack) -> Deployment:
    """Outside pytest: start every server the deployment needs (as the fixtures do) and wire them.
    `workdir` should have a short path: the podman socket must stay under the 108-byte limit."""

    def make_redis() -> RedisServer:
        server = RedisServer(_redis_binary())
        stack.callback(server.cleanup)
        server.start()
        return server

    def make_target(tls: TLSFiles | None = None, **options: Any) -> TargetServer:
        server = TargetServer(build_app(tls=tls is not None, **options), tls=tls)
        stack.callback(server.stop)
        return server.start()

    def make_prometheus(**options: Any) -> PrometheusServer:
        server = start_prometheus(**options)
        stack.callback(server.cleanup)
        return server

    postgres = start_postgres()
    stack.callback(postgres.cleanup)
    docker = start_docker_engine(workdir / "podman")
    stack.callback(docker.shutdown)
    qdrant = start_qdrant("qdrant-demo-" + secrets.token_hex(12))
    stack.callback(qdrant.stop)
    gemini = start_gemini()
    stack.callback(gemini.stop)
    (workdir / "tls").mkdir(exist_ok=True)
    tls = make_tls_files(workdir / "tls")
    return wire_deployment(
        workdir,
        stack,
        postgres=postgres,
        make_redis=make_redis,
        make_target=make_target,
        make_prometheus=make_prometheus,
        docker=docker,
        qdrant=qdrant,
        gemini=gemini,
        tls=tls,
    )
