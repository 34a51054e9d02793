"""A local deployment to try deploytui against: the loopback servers the tests use, outside pytest.

    .venv/bin/python scripts/demo_env.py --env-file demo.env     # terminal 1: prints `export ...` lines
    . ./demo.env && .venv/bin/deploytui                          # terminal 2, once it says "ready"

It starts PostgreSQL (a database at an Alembic revision and a pg_dump backup), Redis, the rag-chatbot-shaped
target app (plain and HTTPS), Qdrant and Gemini API servers, a podman Docker API running a
`rag-chatbot-backend-*` container, Prometheus scraping the app, and a git repository without `.env`: the
same deployment as tests/integration/test_end_to_end.py, built by the same code
(tests/servers/deployment.py). It prints the `export VAR=...` lines for the bundled bindings (also written
to --env-file), then keeps everything running until Ctrl-C (or SIGTERM), and removes it all.

With those variables exported, `deploytui` then `R` turns every bound item green.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.containers import start_docker_engine, start_gemini, start_qdrant  # noqa: E402
from tests.servers.databases import RedisServer, _redis_binary, start_postgres, start_prometheus  # noqa: E402
from tests.servers.deployment import wire_deployment  # noqa: E402
from tests.servers.target_app import TargetServer, TLSFiles, build_app, make_tls_files  # noqa: E402


def _stop_on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, help="also write the export lines to this file")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    # A short path: the podman socket must stay under the 108-byte unix socket limit.
    workdir = Path(tempfile.mkdtemp(prefix="deploytui-demo-"))
    print(f"starting the demo deployment in {workdir} (about 20 s)...", file=sys.stderr)
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(lambda: print("stopped; removed everything", file=sys.stderr))
            stack.callback(shutil.rmtree, workdir, True)

            def make_redis() -> RedisServer:
                server = RedisServer(_redis_binary())
                stack.callback(server.cleanup)
                server.start()
                return server

            def make_target(tls: TLSFiles | None = None, **options: Any) -> TargetServer:
                server = TargetServer(build_app(tls=tls is not None, **options), tls=tls)
                stack.callback(server.stop)
                return server.start()

            def make_prometheus(**options: Any) -> Any:
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
            (workdir / "tls").mkdir()
            tls = make_tls_files(workdir / "tls")
            deployment = wire_deployment(
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
            lines = [f"export {name}={shlex.quote(value)}" for name, value in sorted(deployment.env.items())]
            text = "\n".join(lines) + "\n"
            if args.env_file is not None:
                args.env_file.write_text(text, encoding="utf-8")
            sys.stdout.write(text)
            sys.stdout.flush()
            print(
                "ready. In another shell: paste (or source) the lines above, then run `deploytui` and"
                " press R. Ctrl-C here stops everything.",
                file=sys.stderr,
            )
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    except BaseException as exc:
        # pytest.skip/fail outside pytest: a missing server binary, named with its Debian package.
        if type(exc).__name__ in {"Skipped", "Failed"}:
            print(f"demo_env: {exc}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
