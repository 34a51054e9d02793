"""Make docs/serve.png for the README: `deploytui serve` in headless Chromium, a run in progress.

    .venv/bin/python scripts/serve_screenshot.py [-o docs/serve.png] [--size 1280x800]

Writes a session of the bundled checklist in a temp sessions dir (some items ticked, one skipped, one
check running, its writer holding the session), starts `deploytui serve --session ID` on a free loopback
port, loads the page in Debian's headless Chromium (tests/support/browser_support.py: the same flags and
DevTools client the browser tests use, no network beyond loopback), waits for the tree, and saves the page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SESSION = "20261125T015800Z-demo"
TICKED = [
    "pre-deployment/all-tests-passing",
    "pre-deployment/code-review-completed/security-review",
    "pre-deployment/code-review-completed/performance-review",
    "pre-deployment/code-review-completed/architecture-review",
]
SKIPPED = ("pre-deployment/secrets-secured/database-password-changed", "rotated last week, ticket OPS-2291")
RUNNING = "pre-deployment/dependencies-updated"


async def shoot(url: str, out: Path, size: tuple[int, int], profile: Path) -> None:
    from tests.support.browser_support import Browser

    browser = Browser(profile, width=size[0], height=size[1])
    try:
        page = await browser.page()
        try:
            await page.navigate(url)
            await page.wait_for(
                page.screen_text, lambda text: SESSION in text and "▶" in text, "the session's tree", 60
            )
            await asyncio.sleep(1.0)  # the notification's fade-in and the fonts
            foreign = page.foreign_requests()
            if foreign:
                raise SystemExit(f"the page reached beyond loopback: {foreign}")
            await page.screenshot(out)
        finally:
            await page.close()
    finally:
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "serve.png"))
    parser.add_argument("--size", default="1280x800")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    out = Path(args.output).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)

    from deploytui.core.checklist import bundled_checklist_path
    from deploytui.core.session import RunStarted, Skip, Tick
    from deploytui.services.project import resolve
    from deploytui.storage.fs import SessionStore

    with tempfile.TemporaryDirectory(prefix="deploytui-serve-shot-") as tmp_name:
        tmp = Path(tmp_name)
        checklist, _config = resolve(str(bundled_checklist_path()), None)
        store = SessionStore(tmp / "sessions")
        live = store.create(checklist, "alice", host="jumpbox-1", session_id=SESSION)
        try:
            for item in TICKED:
                live.apply(Tick(item, "alice"))
            live.apply(Skip(SKIPPED[0], "alice", SKIPPED[1]))
            live.apply(RunStarted(RUNNING, "pip-outdated", "run-1", by="alice", kind="command"))
            env = {**os.environ, "PYTHONPATH": str(ROOT), "DEPLOYTUI_CONFIG_DIR": str(tmp / "config")}
            argv = [sys.executable, "-m", "deploytui", "serve", "--sessions-dir", str(tmp / "sessions")]
            proc = subprocess.Popen(
                [*argv, "--port", "0", "--session", SESSION],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                if " on http://" not in line:
                    raise SystemExit(f"serve did not start: {line}")
                url = line.split(" on ", 1)[1].split()[0]
                asyncio.run(shoot(url, out, (width, height), tmp / "chromium"))
            finally:
                proc.terminate()
                proc.wait(20)
        finally:
            live.close()
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
