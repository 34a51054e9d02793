"""Session-scoped loopback servers for the docker, qdrant and gemini checks.

Fixtures (names and attributes are a contract other test modules rely on):

- `docker_engine` -> `DockerEngine`: a Docker Engine API served by `podman system service` on a unix
  socket in a temp dir, with its own storage (root, runroot, tmp dir: nothing shared with other podman
  users on the machine). `.base_url` ("unix:///.../podman.sock"), `.socket`, `.image` (a busybox image
  built offline, "localhost/deploytui-busybox:latest"), `.client()` -> `docker.DockerClient`,
  `.run_container(name, command, labels=None, healthcheck=None)` -> the started (detached) container,
  `.run_healthcheck(name)` -> "healthy"/"unhealthy", `.remove(name)`, `.podman(*args)` (the CLI on the
  same storage), `.start_seconds` (measured service start). Containers run with `--network=none`.
  Nothing here runs health checks on a timer (podman uses systemd timers, absent here): a test that
  needs a health state calls `run_healthcheck`.
- `qdrant_server` -> `QdrantServer`: `.url` ("http://127.0.0.1:PORT"), `.api_key`, `.version`,
  `.create_collection(name, points, size, vector_name=None)`, `.delete_collection(name)`. Real
  qdrant-client semantics (see tests/servers/qdrant_app.py). `qdrant_factory(api_key=..., auth=True,
  delay=..., auth_failure_status=..., version=...)` starts another one (stopped at test end).
- `gemini_server` -> `GeminiServer`: `.url`, `.api_key` (the good key), `.model` ("gemini-2.0-flash"),
  `.suspended_key` (answered 403 PERMISSION_DENIED, quoting the key). `gemini_factory(delay=...,
  models=..., reply=...)` starts another one (stopped at test end).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import struct
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers.common import free_port, log_tail, require_binary, stop_process, wait_until

SERVICE_START_TIMEOUT = 30.0
"""Seconds podman's API service may take to answer /_ping (measured here: ~0.1 s)."""

IMAGE = "localhost/deploytui-busybox:latest"
"""The image every test container runs: busybox-static and its applet links, imported offline."""

CONTAINERS_CONF = """\
# podman for the tests: crun fails on rlimits here, there is no journald nor systemd, and containers get
# no network at all.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
netns = "none"
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{tmp}"
static_dir = "{static}"
volume_path = "{volumes}"
"""


# ---------------------------------------------------------------------------------------------- ASGI


class ThreadedASGIServer:
    """An ASGI app served by uvicorn on 127.0.0.1:PORT from a background thread of the test process."""

    def __init__(self, app: Any, name: str) -> None:
        import uvicorn

        self.port = free_port()
        self.name = name
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"asgi-{name}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        wait_until(
            lambda: self._server.started or not self._thread.is_alive(), 10.0, f"{self.name} on {self.url}"
        )
        if not self._server.started:
            raise RuntimeError(f"{self.name} did not start on {self.url}")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10.0)


# -------------------------------------------------------------------------------------------- Qdrant


@dataclass
class QdrantServer:
    url: str
    api_key: str | None
    version: str
    store: Any
    """tests.servers.qdrant_app.QdrantStore: the collections behind the API."""
    server: ThreadedASGIServer

    def create_collection(
        self, name: str, points: int, size: int, distance: str = "Cosine", vector_name: str | None = None
    ) -> None:
        """(Re)create collection `name` holding `points` points of vector size `size` (a named vector
        with `vector_name`)."""
        self.store.create_collection(name, points, size, distance, vector_name)

    def delete_collection(self, name: str) -> None:
        self.store.delete_collection(name)

    def stop(self) -> None:
        self.server.stop()


def start_qdrant(api_key: str | None, **app_options: Any) -> QdrantServer:
    from tests.servers.qdrant_app import QDRANT_VERSION, QdrantStore, create_app

    store = QdrantStore()
    version = app_options.get("version", QDRANT_VERSION)
    server = ThreadedASGIServer(create_app(store, api_key, **app_options), "qdrant")
    server.start()
    return QdrantServer(url=server.url, api_key=api_key, version=version, store=store, server=server)


@pytest.fixture(scope="session")
def qdrant_server() -> Iterator[QdrantServer]:
    server = start_qdrant("qdrant-test-" + secrets.token_hex(12))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def qdrant_factory() -> Iterator[Callable[..., QdrantServer]]:
    started: list[QdrantServer] = []

    def factory(api_key: str | None = None, *, auth: bool = True, **app_options: Any) -> QdrantServer:
        """Another server; `auth=False` serves without an API key (Qdrant's default config)."""
        if not auth:
            key = None
        else:
            key = api_key if api_key is not None else "qdrant-test-" + secrets.token_hex(12)
        server = start_qdrant(key, **app_options)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


# -------------------------------------------------------------------------------------------- Gemini


@dataclass
class GeminiServer:
    url: str
    api_key: str
    model: str
    suspended_key: str
    server: ThreadedASGIServer

    def stop(self) -> None:
        self.server.stop()


def start_gemini(**app_options: Any) -> GeminiServer:
    from tests.servers.gemini_app import create_app

    api_key = "AIza" + secrets.token_urlsafe(26)
    suspended = "AIza" + secrets.token_urlsafe(26)
    server = ThreadedASGIServer(create_app(api_key, suspended_keys=[suspended], **app_options), "gemini")
    server.start()
    return GeminiServer(
        url=server.url, api_key=api_key, model="gemini-2.0-flash", suspended_key=suspended, server=server
    )


@pytest.fixture(scope="session")
def gemini_server() -> Iterator[GeminiServer]:
    server = start_gemini()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gemini_factory() -> Iterator[Callable[..., GeminiServer]]:
    started: list[GeminiServer] = []

    def factory(**app_options: Any) -> GeminiServer:
        server = start_gemini(**app_options)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


# -------------------------------------------------------------------------------------------- podman


def is_static_elf(path: str) -> bool:
    """True when `path` is an ELF binary without a program interpreter (runs in an empty rootfs)."""
    with open(path, "rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit only: what Debian ships here
            return False
        phoff = struct.unpack_from("<Q", header, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))  # 3 = PT_INTERP


def build_busybox_rootfs(busybox: str, tar_path: Path) -> None:
    """A tar of a minimal rootfs: /bin/busybox, one link per applet, /tmp and /etc."""
    root = tar_path.parent / "rootfs"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "etc").mkdir(exist_ok=True)
    shutil.copy2(busybox, root / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":  # the list names busybox itself: a link to itself would replace the binary
            link = root / "bin" / applet
            if not link.exists():
                link.symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    with tarfile.open(tar_path, "w") as tar:
        tar.add(root, arcname=".")


def unix_ping(sock_path: str, timeout: float = 1.0) -> bool:
    """GET /_ping on the API socket answers OK."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data.startswith(b"HTTP/1.1 200") and data.rstrip().endswith(b"OK")


REAPER_SCRIPT = """
import os, signal, subprocess, sys
# Blocks until the test process writes "done" (a clean teardown) or dies (the kernel closes the pipe).
if sys.stdin.buffer.read() != b"done":
    subprocess.run(sys.argv[2:], env=os.environ, capture_output=True, timeout=120)
    try:
        os.kill(int(sys.argv[1]), signal.SIGTERM)
    except ProcessLookupError:
        pass
"""


class Reaper:
    """A sidecar that removes the containers and stops the podman service if the test process dies
    without its teardown (SIGKILL, a crash): containers outlive podman (conmon detaches) and would run on.
    """

    def __init__(self, proc: subprocess.Popen[bytes], pipe: int) -> None:
        self.proc = proc
        self.pipe = pipe

    @classmethod
    def watch(cls, cleanup: list[str], env: Mapping[str, str], service_pid: int) -> Reaper:
        import sys

        read_end, write_end = os.pipe()  # non-inheritable: only this process holds the write end
        proc = subprocess.Popen(
            [sys.executable, "-c", REAPER_SCRIPT, str(service_pid), *cleanup],
            stdin=read_end,
            env=dict(env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(read_end)
        return cls(proc, write_end)

    def dismiss(self) -> None:
        """Teardown ran: tell the sidecar to exit without acting."""
        try:
            os.write(self.pipe, b"done")
        finally:
            os.close(self.pipe)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class DockerEngine:
    base_url: str
    socket: Path
    image: str
    workdir: Path
    podman_argv: list[str]
    env: dict[str, str]
    start_seconds: float
    process: subprocess.Popen[bytes]
    reaper: Reaper | None = None
    _containers: set[str] = field(default_factory=set)

    def client(self, timeout: int = 30) -> Any:
        """A docker SDK client on this engine (close it when done)."""
        import docker

        return docker.DockerClient(base_url=self.base_url, timeout=timeout)

    def podman(
        self, *args: str, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """The podman CLI on this engine's storage."""
        return subprocess.run(
            [*self.podman_argv, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def run_container(
        self,
        name: str,
        command: str | Sequence[str],
        labels: Mapping[str, str] | None = None,
        healthcheck: str | Mapping[str, Any] | None = None,
    ) -> Any:
        """Start a detached container `name` (replacing one of that name) running `command`.

        A string command runs under `sh -c`. `healthcheck` is a shell command (checked every second,
        unhealthy after one failure) or a Docker API healthcheck dict. Returns the docker SDK container.
        """
        self.remove(name)
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        health: dict[str, Any] | None
        if healthcheck is None:
            health = None
        elif isinstance(healthcheck, str):
            health = {"test": ["CMD-SHELL", healthcheck], "interval": 1_000_000_000, "retries": 1}
        else:
            health = dict(healthcheck)
        client = self.client()
        try:
            container = client.containers.run(
                self.image,
                argv,
                name=name,
                detach=True,
                network_mode="none",
                labels=dict(labels or {}),
                healthcheck=health,
            )
        finally:
            client.close()
        self._containers.add(name)
        return container

    def run_healthcheck(self, name: str) -> str:
        """Run the container's health check once (no systemd timer does it here); its new health status."""
        self.podman("healthcheck", "run", name, check=False)
        return self.podman(
            "container", "inspect", name, "--format", "{{.State.Health.Status}}"
        ).stdout.strip()

    def remove(self, name: str) -> None:
        self.podman("rm", "--force", "--time", "0", "--ignore", name, check=False)
        self._containers.discard(name)

    def shutdown(self) -> None:
        try:
            self.podman("rm", "--all", "--force", "--time", "0", check=False, timeout=60)
        finally:
            stop_process(self.process, timeout=10)
            if self.reaper is not None:
                self.reaper.dismiss()


def start_docker_engine(workdir: Path) -> DockerEngine:
    podman = require_binary("podman", "podman")
    require_binary("runc", "runc", "/usr/sbin/runc")
    busybox = require_binary("busybox", "busybox-static", "/bin/busybox")
    if not is_static_elf(busybox):
        message = f"{busybox} is dynamically linked: apt-get install busybox-static"
        if os.environ.get("DEPLOYTUI_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    dirs = {name: workdir / name for name in ("root", "runroot", "tmp", "static", "volumes")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    conf = workdir / "containers.conf"
    conf.write_text(
        CONTAINERS_CONF.format(tmp=dirs["tmp"], static=dirs["static"], volumes=dirs["volumes"]),
        encoding="utf-8",
    )
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    env.pop("CONTAINER_HOST", None)
    argv = [podman, "--root", str(dirs["root"]), "--runroot", str(dirs["runroot"]), "--storage-driver", "vfs"]
    sock = workdir / "podman.sock"
    log = workdir / "service.log"
    started = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*argv, "system", "service", "--time=0", f"unix://{sock}"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(
            lambda: process.poll() is None and sock.exists() and unix_ping(str(sock)),
            SERVICE_START_TIMEOUT,
            "podman system service",
        )
    except RuntimeError as exc:
        stop_process(process)
        raise RuntimeError(f"{exc}\n{log_tail(log)}") from None
    start_seconds = time.monotonic() - started
    engine = DockerEngine(
        base_url=f"unix://{sock}",
        socket=sock,
        image=IMAGE,
        workdir=workdir,
        podman_argv=argv,
        env=env,
        start_seconds=start_seconds,
        process=process,
        reaper=Reaper.watch([*argv, "rm", "--all", "--force", "--time", "0"], env, process.pid),
    )
    try:
        tar_path = workdir / "rootfs.tar"
        build_busybox_rootfs(busybox, tar_path)
        engine.podman("import", "--change", 'CMD ["/bin/sh"]', str(tar_path), IMAGE)
    except (subprocess.CalledProcessError, OSError) as exc:
        engine.shutdown()
        detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        raise RuntimeError(f"cannot build the busybox image: {detail}") from None
    return engine


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    # A short path: the socket path must stay under the 108-byte unix socket limit.
    workdir = tmp_path_factory.mktemp("podman")
    engine = start_docker_engine(workdir)
    try:
        yield engine
    finally:
        engine.shutdown()
