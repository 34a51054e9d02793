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

from tests.servers.deployment import start_deployment  # noqa: E402


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
            deployment = start_deployment(workdir, stack)
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
