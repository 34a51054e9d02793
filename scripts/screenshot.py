"""Make docs/screenshot.png for the README: the app mid-deployment, some checks passed, one failed, and a
check running whose earlier runs the detail pane draws as a sparkline.

    .venv/bin/python scripts/screenshot.py [-o docs/screenshot.png] [--size 120x40] [--theme NAME]

Runs the real app (bundled checklist, `command` checks bound in a temp deploytui.toml, a temp
sessions dir), saves Textual's SVG, removes its @font-face blocks (they load a web font from a CDN),
points the font at a local monospace one, and converts with `rsvg-convert` (Debian librsvg2-bin).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LOCAL_FONT = "DejaVu Sans Mono"
"""Monospace font installed with fontconfig on Debian; its box-drawing and symbol glyphs are complete."""

DEMO_BINDINGS = """
checklist = "{checklist}"

[secrets]
env = ["DATABASE_URL", "REDIS_URL"]

[defaults]
timeout = "5s"

[[check]]
item = "pre-deployment/all-tests-passing"
kind = "command"
name = "pytest"
run = "echo '============ 412 passed, 3 skipped in 38.21s ============'"

[[check]]
item = "pre-deployment/dependencies-updated"
kind = "command"
name = "pip list --outdated"
run = "printf 'Package Version Latest\\nhttpx   0.27.0  0.28.1\\nredis   5.0.1   5.2.1\\n'; exit 1"

[[check]]
item = "pre-deployment/environment-variables-configured/database-url-set"
kind = "env"
names = ["DATABASE_URL"]
expect = {{ scheme = "postgresql" }}

[[check]]
item = "pre-deployment/environment-variables-configured/redis-url-set"
kind = "env"
names = ["REDIS_URL"]
expect = {{ scheme = "redis" }}

[[check]]
item = "pre-deployment/environment-variables-configured/secret-key-generated"
kind = "env"
names = ["DEMO_SECRET_KEY"]
expect = {{ min_length = 32 }}

[[check]]
item = "deployment-steps/3-health-checks/api-health-check-passes"
kind = "command"
name = "GET /api/v1/health"
run = "echo 'HTTP/1.1 200 OK'; echo '{{\\"status\\": \\"healthy\\", \\"version\\": \\"2.4.0\\"}}'"

[[check]]
item = "deployment-steps/6-performance-validation/response-time-2-seconds"
kind = "command"
name = "p95 of the health endpoint"
timeout = "60s"
run = "sh p95.sh"
"""

P95_SCRIPT = """\
r=$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')
for i in 1 2 3 4 5 6; do echo "GET /api/v1/health  200  $((r % 40 + 20 + i)) ms"; done
sleep 0.$((r % 8 + 1))
if [ -e hold ]; then echo 'warming the cache before the next sample...'; sleep 30; fi
echo 'p95 61 ms (limit 2000 ms)'
"""
"""The latency check's script (run in the temp dir): a few tenths of a second, or held while `hold` exists."""

RERUNS = 7
"""Runs of the latency check before the one in progress in the picture (its sparkline)."""

IN_PROGRESS = "deployment-steps/6-performance-validation/response-time-2-seconds"
"""The item selected in the picture: its earlier runs drawn, its latest one running."""

MANUAL_DONE = [
    "pre-deployment/code-review-completed/security-review",
    "pre-deployment/code-review-completed/performance-review",
    "pre-deployment/code-review-completed/architecture-review",
]
"""Items ticked by hand in the picture."""


def clean_svg(svg: str) -> str:
    svg = re.sub(r"@font-face\s*\{[^}]*\}", "", svg)
    # rsvg-convert drops a text span's leading (non-breaking) spaces unless whitespace is preserved.
    svg = svg.replace("<svg ", '<svg xml:space="preserve" ', 1)
    return svg.replace('"Fira Code"', f'"{LOCAL_FONT}"').replace("Fira Code,", f"{LOCAL_FONT},")


async def capture(out_svg: Path, size: tuple[int, int], theme: str | None) -> None:
    from deploytui.services.project import resolve
    from deploytui.tui.app import make_app
    from deploytui.tui.screens.main import MainScreen
    from deploytui.tui.widgets.checklist_tree import ChecklistTree
    from deploytui.tui.widgets.log_panes import LogPanes

    with tempfile.TemporaryDirectory(prefix="deploytui-shot-") as tmp:
        os.environ["DEPLOYTUI_CONFIG_DIR"] = str(Path(tmp) / "config")
        from deploytui.core.checklist import bundled_checklist_path
        from deploytui.core.session import Skip, Tick

        os.environ["DATABASE_URL"] = "postgresql://app:s3cret-pw@db.internal:5432/rag"
        os.environ["REDIS_URL"] = "http://cache.internal:6379/0"
        os.environ["DEMO_SECRET_KEY"] = "k" * 48
        config_path = Path(tmp) / "deploytui.toml"
        hold = Path(tmp) / "hold"
        (Path(tmp) / "p95.sh").write_text(P95_SCRIPT, encoding="utf-8")
        os.chdir(tmp)  # the checks' working directory (put back by main)
        config_path.write_text(DEMO_BINDINGS.format(checklist=bundled_checklist_path()), encoding="utf-8")
        checklist, config = resolve(str(config_path), None)
        app = make_app(
            checklist,
            config,
            Path(tmp) / "sessions",
            operator="alice",
            theme=theme,
            new_session_id="20261125T015800Z-demo",
            clock=lambda: datetime.now(UTC) + timedelta(minutes=16, seconds=37),
        )
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await pilot.press("R")
            await app.workers.wait_for_complete()
            await pilot.pause()
            for item in MANUAL_DONE:
                app.live.apply(Tick(item, "alice"))
            app.live.apply(
                Skip(
                    "pre-deployment/secrets-secured/database-password-changed",
                    "alice",
                    "rotated last week, ticket OPS-2291",
                )
            )
            screen = app.screen
            assert isinstance(screen, MainScreen)
            screen.refresh_all()
            screen.query_one(ChecklistTree).select_id(IN_PROGRESS)
            await pilot.pause()
            for _ in range(RERUNS):  # its durations across runs: the sparkline
                await pilot.press("r")
                await app.workers.wait_for_complete()
                await pilot.pause()
            hold.touch()
            await pilot.press("r")  # a run in progress: ▶ in the tree and the header, its output streaming
            for _ in range(100):
                await pilot.pause(0.05)
                if any("warming" in line for line in screen.query_one(LogPanes).run_log.lines):
                    break
            await pilot.pause(0.3)
            app.save_screenshot(filename=out_svg.name, path=str(out_svg.parent))
            await pilot.press("C")  # cancel it: the app closes with nothing running
            await app.workers.wait_for_complete()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "screenshot.png"))
    parser.add_argument("--size", default="120x40")
    parser.add_argument("--theme", default=None)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    converter = shutil.which("rsvg-convert")
    if converter is None:
        print("rsvg-convert not found: apt-get install librsvg2-bin", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        svg = Path(tmp) / "shot.svg"
        here = os.getcwd()
        try:
            asyncio.run(capture(svg, (width, height), args.theme))
        finally:
            os.chdir(here)
        cleaned = Path(tmp) / "clean.svg"
        cleaned.write_text(clean_svg(svg.read_text(encoding="utf-8")), encoding="utf-8")
        subprocess.run([converter, "--zoom", "1.5", str(cleaned), "-o", str(out)], check=True)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
