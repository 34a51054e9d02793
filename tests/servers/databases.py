"""Throwaway PostgreSQL, Redis and Prometheus servers on loopback (session-scoped fixtures).

Fixtures (names are a contract other test modules rely on):

- `postgres_server` -> `PostgresServer`: `.url` ("postgresql://postgres@127.0.0.1:PORT/postgres", trust auth
  for the superuser), `.port`, `.dsn`, `.bin_dir`, `.stop()`, `.start()`, `.create_database(name)` -> url,
  `.url_for(database, user, password)`, `.execute(sql, database=...)`. A login role `APP_USER` with password
  `APP_PASSWORD` exists and must authenticate with that password over TCP (scram-sha-256), so auth
  failures are real. A test that stops it uses `postgres_restart_guard` (restarts it afterwards; data kept).
- `redis_server` -> `RedisServer`: `.url` ("redis://127.0.0.1:PORT/0"), `.port`, `.stop()`, `.start()`,
  `.running`. Data is not persisted: a restart empties it. A test that stops it must use
  `redis_restart_guard` (function-scoped), which starts it again afterwards so later tests find it up.
- `redis_factory(password=None, tls=False)` -> a fresh `RedisServer` of its own (stopped at session
  end); with `tls` its url is "rediss://..." and `.ca_file` is the self-signed certificate to trust.
- `prometheus_server` -> `PrometheusServer`: `.url` ("http://127.0.0.1:PORT"), `.port`, `.target` (the
  `MetricsTarget` it scrapes as job "app"), `.add_target(address, job, labels)` (file service discovery;
  Prometheus 2.42 applies new targets every 5 s, so a first sample takes ~5-6 s), `.query(promql)`,
  `.wait_for_series(promql)`, `.rules_file`. The fixture returns only once the first sample of
  `up{job="app"}` is queryable, and /api/v1/rules holds one alerting rule.
- `prometheus_factory(targets=None, rules=True)` -> another `PrometheusServer` (its own metrics target
  when `targets` is None). Returned as soon as it is ready; call `.wait_for_series(...)` for samples.
- `metrics_target` -> the `MetricsTarget` of `prometheus_server` (a loopback /metrics endpoint whose
  exposition text a test may replace with `.set_text(...)`).

All servers bind 127.0.0.1 on random free ports, keep their files in temp dirs, wait for readiness,
and fail with the tail of their log when they do not come up.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.servers.common import free_port, log_tail, port_open, require_binary, stop_process, wait_until

STARTUP_TIMEOUT = 30.0
"""Seconds a server may take to become ready before the fixture fails with its log tail."""

FIRST_SAMPLE_TIMEOUT = 40.0
"""Seconds Prometheus may take to store its first scraped sample (measured here: about 6 s)."""

APP_USER = "app"
APP_PASSWORD = "app-Secret-9xQ"
"""A password-authenticated role in the throwaway PostgreSQL (the superuser uses trust)."""

PG_HBA = """\
# Written by the deploytui test fixture: trust for the superuser, passwords for every other role.
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, so no server outlives it."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _wait_ready(
    predicate: Callable[[], bool],
    proc: subprocess.Popen[bytes] | None,
    timeout: float,
    what: str,
    interval: float = 0.05,
) -> None:
    """`wait_until`, but fail at once when the server process has exited."""

    def check() -> bool:
        if proc is not None and proc.poll() is not None:
            raise _Exited(f"the server process exited with status {proc.returncode}")
        return predicate()

    try:
        wait_until(check, timeout, what, interval)
    except _Exited as exc:
        raise RuntimeError(f"{what}: {exc}") from None


class _Exited(BaseException):
    """Raised inside a readiness poll to stop it (a BaseException: `wait_until` retries Exceptions)."""


# --------------------------------------------------------------------------------------------------
# PostgreSQL


def _postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/N/bin with initdb (skips or fails naming the package)."""

    def version(path: str) -> int:
        try:
            return int(Path(path).parent.parent.name)
        except ValueError:
            return 0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True)
    # /usr/local/bin/initdb may be a symlink into the versioned dir, where pg_ctl and pg_dump live too.
    return Path(require_binary("initdb", "postgresql", *candidates)).resolve().parent


class PostgresServer:
    """A PostgreSQL cluster in a temp dir, owned by the `postgres` user when the tests run as root."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="deploytui-pg-", dir="/tmp"))
        self.data_dir = self.base / "data"
        self.log_path = self.base / "postgres.log"
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            # root may not run initdb or postgres: the cluster belongs to the postgres user.
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root needs the 'postgres' user to own the test cluster")
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return self.url_for()

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def url_for(self, database: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = STARTUP_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_postgres, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    def _fail(self, what: str, proc: subprocess.CompletedProcess[str] | None = None) -> None:
        output = (proc.stdout + proc.stderr).strip() if proc else ""
        raise RuntimeError(
            f"PostgreSQL {what} failed (port {self.port}, dir {self.base})\n{output}\n"
            f"--- {self.log_path} (tail) ---\n{log_tail(self.log_path)}"
        )

    def init(self) -> None:
        proc = self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
        )
        if proc.returncode != 0:
            self._fail("initdb", proc)
        # Written as the owner would: the file must stay readable by the server.
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(PG_HBA)
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(hba, entry.pw_uid, entry.pw_gid)

    @property
    def running(self) -> bool:
        return port_open(self.port)

    def start(self) -> None:
        """Start the server (again) on the same port; returns once it accepts connections."""
        if self.running:
            return
        options = (
            # fsync off: fast and still crash-safe against `stop()` (-m immediate), which kills the
            # processes but not the OS page cache. synchronous_commit stays on for that reason.
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c full_page_writes=off"
        )
        proc = self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-o",
            options,
            "-w",
            "-t",
            str(int(STARTUP_TIMEOUT)),
            "start",
        )
        if proc.returncode != 0:
            self._fail("start", proc)
        wait_until(lambda: port_open(self.port), STARTUP_TIMEOUT, f"PostgreSQL on port {self.port}")

    def stop(self) -> None:
        """Stop at once (no checkpoint: the data is throwaway)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        proc = self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"
        )
        if proc.returncode != 0 and (self.data_dir / "postmaster.pid").exists():
            self._kill_postmaster()
        wait_until(lambda: not port_open(self.port), 10, f"PostgreSQL on port {self.port} to stop")

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run SQL as the superuser (autocommit); the rows of the last statement, if any."""
        import psycopg

        with psycopg.connect(self.url_for(database), autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str, owner: str = "postgres") -> str:
        """A new database (dropped first if it exists); its superuser URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner))
            )
        return self.url_for(name)

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """A fresh cluster, running, with the application role; `cleanup()` stops it and removes its files."""
    server = PostgresServer(_postgres_bin_dir())
    try:
        server.init()
        server.start()
        server.execute(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}'")
    except BaseException:
        server.cleanup()
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def postgres_restart_guard(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """For a test that stops `postgres_server`: it is running again (data kept) when the test ends."""
    yield postgres_server
    postgres_server.start()


# --------------------------------------------------------------------------------------------------
# Redis


class RedisServer:
    """A redis-server without persistence; `stop()` and `start()` keep the port (data is lost)."""

    def __init__(self, binary: str, password: str | None = None, tls: bool = False) -> None:
        self.binary = binary
        self.password = password
        self.tls = tls
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="deploytui-redis-"))
        self.log_path = self.dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ca_file: Path | None = None
        """With `tls`: the self-signed certificate (for 127.0.0.1) clients must trust."""
        if tls:
            self.ca_file, self._key_file = _self_signed_cert(self.dir)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self) -> Any:
        """A synchronous redis-py client for test setup."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries: redis-py 8 retries failed commands three times with backoff by default.
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_timeout=5,
            retry=Retry(NoBackoff(), 0),
            ssl=self.tls,
            ssl_ca_certs=str(self.ca_file) if self.tls else None,
        )

    def start(self) -> None:
        if self.running:
            return
        args = [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--logfile",
            str(self.log_path),
            "--daemonize",
            "no",
        ]
        if self.password:
            args += ["--requirepass", self.password]
        if self.tls:
            args[args.index("--port") + 1] = "0"
            args += [
                "--tls-port", str(self.port), "--tls-cert-file", str(self.ca_file),
                "--tls-key-file", str(self._key_file), "--tls-auth-clients", "no",
            ]  # fmt: skip
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )

        def ready() -> bool:
            with self.client() as client:
                return bool(client.ping())

        try:
            _wait_ready(ready, self.proc, STARTUP_TIMEOUT, f"redis-server on port {self.port}")
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n--- {self.log_path} (tail) ---\n{log_tail(self.log_path)}") from None

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 (subjectAltName IP), made with the openssl CLI."""
    openssl = require_binary("openssl", "openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    proc = subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"openssl could not make a test certificate: {proc.stderr.strip()}")
    return cert, key


def _redis_binary() -> str:
    return require_binary("redis-server", "redis-server")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(_redis_binary())
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis_restart_guard(redis_server: RedisServer) -> Iterator[RedisServer]:
    """For a test that stops `redis_server`: it is running again (empty) when the test ends."""
    yield redis_server
    redis_server.start()


@pytest.fixture(scope="session")
def redis_factory() -> Iterator[Callable[..., RedisServer]]:
    """`redis_factory(password=None, tls=False)`: a separate Redis of the test's own (stats, auth, TLS).

    With `tls` it listens only for TLS ("rediss://" url) and `.ca_file` is the certificate to trust.
    """
    started: list[RedisServer] = []
    binary: list[str] = []

    def make(password: str | None = None, tls: bool = False) -> RedisServer:
        if not binary:
            binary.append(_redis_binary())
        server = RedisServer(binary[0], password=password, tls=tls)
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.cleanup()


# --------------------------------------------------------------------------------------------------
# Prometheus and the /metrics endpoint it scrapes

DEFAULT_METRICS = """\
# HELP app_ready Whether the app is ready to serve.
# TYPE app_ready gauge
app_ready 1
# HELP http_requests_total Requests served, by handler and status.
# TYPE http_requests_total counter
http_requests_total{handler="/api/v1/chat/query",status="200"} 990
http_requests_total{handler="/api/v1/chat/query",status="500"} 10
http_requests_total{handler="/api/v1/health",status="200"} 500
# HELP http_request_duration_seconds Request latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1"} 600
http_request_duration_seconds_bucket{le="0.5"} 900
http_request_duration_seconds_bucket{le="1"} 950
http_request_duration_seconds_bucket{le="2"} 990
http_request_duration_seconds_bucket{le="+Inf"} 1000
http_request_duration_seconds_sum 420
http_request_duration_seconds_count 1000
"""
"""What `MetricsTarget` serves until a test sets other text: an app with a 1 % error rate."""

ALERT_RULES = """\
groups:
  - name: deploytui-test
    rules:
      - alert: HighErrorRate
        expr: sum(rate(http_requests_total{status=~"5.."}[1m])) > 100
        for: 1m
        labels:
          severity: page
        annotations:
          summary: More than 100 errors per second
"""


class MetricsTarget:
    """A loopback HTTP server answering GET /metrics with Prometheus text exposition."""

    def __init__(self, text: str = DEFAULT_METRICS) -> None:
        self._text = text
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = target.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics-target", daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def text(self) -> str:
        with self._lock:
            return self._text

    def set_text(self, text: str) -> None:
        with self._lock:
            self._text = text

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class PrometheusServer:
    """A Prometheus scraping every second: job "app" (static targets) plus file-discovered targets."""

    def __init__(self, binary: str, targets: list[str], rules: bool = True) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="deploytui-prom-"))
        self.log_path = self.dir / "prometheus.log"
        self.sd_dir = self.dir / "targets"
        self.sd_dir.mkdir()
        self.rules_file: Path | None = self.dir / "rules.yml" if rules else None
        self.targets = list(targets)
        self.target: MetricsTarget | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._extra = 0
        self.first_sample_seconds: float | None = None
        """Seconds from ready to the first queryable sample (set by the `prometheus_server` fixture)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        # JSON is YAML: no YAML library needed to write the config.
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": "app", "static_configs": [{"targets": self.targets}]},
                {
                    "job_name": "discovered",
                    "file_sd_configs": [{"files": [str(self.sd_dir / "*.json")], "refresh_interval": "1s"}],
                },
            ],
        }
        if self.rules_file is not None:
            self.rules_file.write_text(ALERT_RULES)
            config["rule_files"] = [str(self.rules_file)]
        path = self.dir / "prometheus.yml"
        path.write_text(json.dumps(config, indent=2))
        return path

    def start(self) -> None:
        """Start and wait for /-/ready (samples arrive later: see `wait_for_series`)."""
        if self.proc is not None and self.proc.poll() is None:
            return
        config = self._write_config()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                preexec_fn=_die_with_parent,
            )

        def ready() -> bool:
            import httpx

            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200

        self._wait(ready, STARTUP_TIMEOUT, f"prometheus /-/ready on port {self.port}")

    def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            _wait_ready(predicate, self.proc, timeout, what, interval=0.1)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n--- {self.log_path} (tail) ---\n{log_tail(self.log_path)}") from None

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result vector of an instant query (raises on a Prometheus error)."""
        import httpx

        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"query {promql!r} failed: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for_series(self, promql: str, timeout: float = FIRST_SAMPLE_TIMEOUT) -> list[dict[str, Any]]:
        """Poll until `promql` returns at least one series; the series."""
        found: list[list[dict[str, Any]]] = []

        def has_series() -> bool:
            result = self.query(promql)
            if result:
                found.append(result)
            return bool(result)

        self._wait(has_series, timeout, f"a sample for {promql!r} in Prometheus on port {self.port}")
        return found[-1]

    def add_target(self, address: str, job: str, labels: dict[str, str] | None = None) -> None:
        """Scrape `address` (host:port serving /metrics) as `job`; first sample after ~5-6 s."""
        self._extra += 1
        group = [{"targets": [address], "labels": {"job": job, **(labels or {})}}]
        tmp = self.sd_dir / f".{self._extra}.tmp"
        tmp.write_text(json.dumps(group))
        os.replace(tmp, self.sd_dir / f"target-{self._extra}.json")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)
            self.proc = None

    def cleanup(self) -> None:
        try:
            self.stop()
            if self.target is not None:
                self.target.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _prometheus_binary() -> str:
    return require_binary("prometheus", "prometheus")


def start_prometheus(targets: list[str] | None = None, rules: bool = True) -> PrometheusServer:
    """A Prometheus scraping `targets` (or a MetricsTarget of its own), ready; `cleanup()` removes it."""
    return _make_prometheus(_prometheus_binary(), targets, rules)


def _make_prometheus(binary: str, targets: list[str] | None, rules: bool) -> PrometheusServer:
    own_target = MetricsTarget() if targets is None else None
    server = PrometheusServer(
        binary, [own_target.address] if own_target else list(targets or []), rules=rules
    )
    server.target = own_target
    try:
        server.start()
    except BaseException:
        server.cleanup()
        raise
    return server


@pytest.fixture(scope="session")
def prometheus_server() -> Iterator[PrometheusServer]:
    server = _make_prometheus(_prometheus_binary(), None, rules=True)
    try:
        started = time.monotonic()
        server.wait_for_series('up{job="app"}')
        server.first_sample_seconds = time.monotonic() - started
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def metrics_target(prometheus_server: PrometheusServer) -> Iterator[MetricsTarget]:
    """The /metrics endpoint `prometheus_server` scrapes; its default text is restored after the test."""
    assert prometheus_server.target is not None
    yield prometheus_server.target
    prometheus_server.target.set_text(DEFAULT_METRICS)


@pytest.fixture(scope="session")
def prometheus_factory() -> Iterator[Callable[..., PrometheusServer]]:
    """`prometheus_factory(targets=None, rules=True)`: another Prometheus, ready (no samples yet)."""
    started: list[PrometheusServer] = []

    def make(targets: list[str] | None = None, rules: bool = True) -> PrometheusServer:
        server = _make_prometheus(_prometheus_binary(), targets, rules)
        started.append(server)
        return server

    yield make
    for server in started:
        server.cleanup()
