"""`deploytui serve` in a real browser: Debian's headless Chromium loads the page with no network beyond
loopback, the test reads the rendered terminal, and a change the session's writer makes shows up (each tab
is a read-only follower). The access token: asked for before the websocket opens, a wrong one refused."""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploytui.core.session.changes import RunStarted, Tick
from deploytui.services.project import resolve
from deploytui.services.sessions import STORE_ENV
from deploytui.storage.fs import LiveSession, SessionStore
from deploytui.storage.postgres import PostgresStore
from tests.servers.databases import APP_PASSWORD, APP_USER
from tests.support.browser_support import Browser, Page, chromium_binary
from tests.support.cli_support import REPO, one_line_error, run_deploytui
from tests.support.tui_support import CHECKLIST

SESSION = "20261201-090000-aaaa"
TOKEN = "reviewers-only-7c1d9e2f"
TITLES = ["Preflight", "Tests pass", "Config valid", "Notify team", "Deploy", "Push image"]


def write_session(tmp: Path) -> LiveSession:
    """A session of the small checklist, created by the store and held open by its writer (this test)."""
    (tmp / "checklist.md").write_text(CHECKLIST)
    checklist, _config = resolve(str(tmp / "checklist.md"), None)
    return SessionStore(tmp / "sessions").create(checklist, "alice", host="jumpbox", session_id=SESSION)


class Served:
    """A `deploytui serve` child; `url` once it said where it listens."""

    def __init__(
        self, tmp: Path, *args: str, token_env: str | None = None, extra_env: dict[str, str] | None = None
    ) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "DEPLOYTUI_CONFIG_DIR": str(tmp / "user-config"),
            "XDG_CACHE_HOME": str(tmp / "cache"),
            **(extra_env or {}),
        }
        env.pop("DEPLOYTUI_SERVE_TOKEN", None)
        if token_env is not None:
            env["DEPLOYTUI_SERVE_TOKEN"] = token_env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deploytui", "serve", "--sessions-dir", str(tmp / "sessions"), *args],
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.url = self._wait_url()

    def _wait_url(self, timeout: float = 30.0) -> str:
        assert self.proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        stream = self.proc.stdout
        pump = threading.Thread(target=lambda: [lines.put(x) for x in iter(stream.readline, "")], daemon=True)
        pump.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.stdout.append(line)
            if line.startswith("serving ") and " on http://" in line:
                self._lines = lines
                return line.split(" on ", 1)[1].split()[0]
        self.proc.kill()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        raise AssertionError(f"serve did not start: {''.join(self.stdout)}{err}")

    def stop(self) -> str:
        """SIGTERM, wait; everything it wrote (stdout and stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the reader thread drains stdout up to EOF
            try:
                self.stdout.append(self._lines.get(timeout=0.2))
            except queue.Empty:
                if self.proc.stdout is None or self.proc.stdout.closed or self._lines.empty():
                    break
        return "".join(self.stdout) + err


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    chromium_binary()
    b = Browser(tmp_path / "chromium-profile")
    try:
        yield b
    finally:
        b.close()


def has_all(*needles: str):  # type: ignore[no-untyped-def]
    return lambda text: all(n in text for n in needles)


def assert_loopback_only(page: Page) -> None:
    assert page.requests, "the page made no request at all"
    assert page.foreign_requests() == [], f"the page reached beyond loopback: {page.foreign_requests()}"


async def test_browser_shows_the_session_and_follows_its_writer(tmp_path: Path, browser: Browser) -> None:
    live = write_session(tmp_path)
    served = Served(tmp_path, "--port", "0", "--session", SESSION)
    page = await browser.page()
    try:
        assert served.url.startswith("http://127.0.0.1:")
        await page.navigate(served.url)
        screen = await page.wait_for(page.screen_text, has_all(SESSION, *TITLES), "the checklist tree")
        assert "○ Tests pass" in screen
        assert "read-only" in screen.lower()

        # The writer (this process) ticks an item: the browser's follower shows it, without a reload.
        live.apply(Tick("preflight/tests-pass", by="alice"))
        screen = await page.wait_for(page.screen_text, has_all("☑ Tests pass"), "the writer's tick")

        # A run starts in the writer: shown running.
        live.apply(RunStarted("preflight/config-valid", "c1", "run-1", by="alice", kind="command"))
        await page.wait_for(page.screen_text, has_all("▶ Config valid"), "the writer's run")

        # Keys typed in the browser reach the app (the cursor moves to "Notify team")...
        for _ in range(3):
            await page.press("j")
        await page.wait_for(page.screen_text, has_all("preflight/notify-team"), "the cursor on Notify team")
        # ...but a follower changes nothing: space (tick) does nothing. Keys are taken in order, so once
        # the next "j" has moved the cursor, the space was handled.
        await page.press("space")
        await page.press("j")
        screen = await page.wait_for(page.screen_text, has_all("preflight/slow-probe"), "the next key")
        assert "○ Notify team" in screen and "☑ Notify team" not in screen

        # Everything the page loaded (document, textual.js, xterm.css, fonts, the websocket) was loopback.
        assert_loopback_only(page)
        assert any(u.endswith("/static/js/textual.js") for u in page.requests)
        assert any("/static/fonts/" in u for u in page.requests), page.requests
        assert [urllib.parse.urlsplit(u).path for u in page.websockets] == ["/ws"]

        # Read-only: the session's writer still holds it, and the browser changed nothing.
        session = SessionStore(tmp_path / "sessions").load(SESSION)
        assert session.items["preflight/notify-team"].status == "pending"
    finally:
        await page.close()
        output = served.stop()
        live.close()
    assert "Traceback" not in output, output


async def test_public_view_asks_for_the_token_and_refuses_a_wrong_one(
    tmp_path: Path, browser: Browser
) -> None:
    live = write_session(tmp_path)
    live.close()
    served = Served(tmp_path, "--port", "0", "--public", "--token", TOKEN)
    page = await browser.page()
    try:
        await page.navigate(served.url)
        body = await page.wait_for(page.body_text, has_all("Access token"), "the token form")
        assert SESSION not in body
        # Nothing but the form: no websocket opened, no app script loaded before the token.
        assert page.websockets == []
        assert not any("/static/js/" in u for u in page.requests)

        # Without the token's cookie, the websocket and the static files are refused outright.
        for path in ("/ws", "/static/js/textual.js"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(served.url.rstrip("/") + path, timeout=10)
            assert refused.value.code == 401

        await page.evaluate(
            "document.querySelector('#token').value = 'not-the-token-at-all'; "
            "document.querySelector('form').submit()"
        )
        body = await page.wait_for(page.body_text, has_all("Wrong access token"), "the refusal")
        assert page.websockets == []

        await page.evaluate(
            f"document.querySelector('#token').value = {TOKEN!r}; document.querySelector('form').submit()"
        )
        await page.wait_for(page.screen_text, has_all("Follow a session", SESSION), "the view, token given")
        assert len(page.websockets) == 1
        assert_loopback_only(page)
        assert TOKEN not in "".join(page.requests)
    finally:
        await page.close()
        output = served.stop()
    assert TOKEN not in output, "the token reached the server's output"


def test_a_non_loopback_address_needs_public(tmp_path: Path) -> None:
    write_session(tmp_path).close()
    proc = run_deploytui("serve", "--sessions-dir", "sessions", "--host", "0.0.0.0", cwd=tmp_path)
    line = one_line_error(proc)
    assert "--public" in line and "0.0.0.0" in line

    proc = run_deploytui("serve", "--sessions-dir", "sessions", "--token", TOKEN, cwd=tmp_path)
    assert "--token goes with --public" in one_line_error(proc)

    missing = "20991231-000000-none"
    proc = run_deploytui("serve", "--sessions-dir", "sessions", "--session", missing, cwd=tmp_path)
    assert "no session 20991231-000000-none" in one_line_error(proc)


def login(base: str, token: str) -> str:
    """POST the token to /login; the cookie it grants (asserts the 303 and what the cookie is like)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    data = urllib.parse.urlencode({"token": token}).encode()
    with pytest.raises(urllib.error.HTTPError) as admitted:
        opener.open(base + "/login", data=data, timeout=10)
    assert admitted.value.code == 303
    cookie = str(admitted.value.headers["Set-Cookie"])
    assert "HttpOnly" in cookie and token not in cookie
    return cookie.split(";", 1)[0]


def test_public_token_from_the_environment(tmp_path: Path) -> None:
    write_session(tmp_path).close()
    served = Served(tmp_path, "--port", "0", "--public", token_env=TOKEN)
    try:
        assert not any(s.startswith("access token") for s in served.stdout)  # none generated
        cookie = login(served.url.rstrip("/"), TOKEN)
        request = urllib.request.Request(served.url, headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert b'class="textual-terminal"' in response.read()
    finally:
        output = served.stop()
    assert TOKEN not in output


def test_public_without_a_token_generates_one_printed_once(tmp_path: Path) -> None:
    write_session(tmp_path).close()
    served = Served(tmp_path, "--port", "0", "--public")
    try:
        (line,) = [s for s in served.stdout if s.startswith("access token")]
        token = line.split(": ", 1)[1].strip()
        assert len(token) >= 24
        base = served.url.rstrip("/")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "/ws", timeout=10)
        assert refused.value.code == 401

        cookie = login(base, token)
        request = urllib.request.Request(base + "/", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert b'class="textual-terminal"' in response.read()
    finally:
        output = served.stop()
    assert output.count(token) == 1, "the generated token is printed once, and only once"


async def test_without_session_a_tab_picks_the_session_to_follow(tmp_path: Path, browser: Browser) -> None:
    from deploytui.core.session.changes import Finish

    (tmp_path / "checklist.md").write_text(CHECKLIST)
    checklist, _config = resolve(str(tmp_path / "checklist.md"), None)
    store = SessionStore(tmp_path / "sessions")
    store.create(checklist, "alice", host="jumpbox", session_id="20261201-080000-old1").close()
    writer = store.create(checklist, "bob", host="jumpbox", session_id="20261201-090000-open")
    done = store.create(checklist, "carol", host="jumpbox", session_id="20261201-100000-done")
    done.apply(Finish("success", by="carol"))
    done.close()
    served = Served(tmp_path, "--port", "0")
    page = await browser.page()
    try:
        await page.navigate(served.url)
        ids = ["20261201-100000-done", "20261201-090000-open", "20261201-080000-old1"]
        screen = await page.wait_for(page.screen_text, has_all("Follow a session", *ids), "the picker")
        # Newest first, as `deploytui sessions` lists them, with who and what state.
        rows = [line for line in screen.splitlines() if "20261201-" in line]
        assert [next(i for i in ids if i in row) for row in rows] == ids
        assert "finished success" in rows[0] and "open" in rows[1] and "bob" in rows[1]

        # The cursor starts on the newest unfinished session: Enter follows it, read-only.
        await page.press("enter")
        screen = await page.wait_for(page.screen_text, has_all("READ-ONLY", "Tests pass"), "the session")
        assert "20261201-090000-open" in screen and "bob" in screen
        writer.apply(Tick("preflight/config-valid", by="bob"))
        await page.wait_for(page.screen_text, has_all("☑ Config valid"), "bob's tick")
        assert_loopback_only(page)
    finally:
        await page.close()
        output = served.stop()
        writer.close()
    assert "Traceback" not in output, output


def test_served_tab_command_is_a_read_only_follower(tmp_path: Path) -> None:
    from deploytui.cli.serve import SessionView

    write_session(tmp_path).close()
    argv = shlex.split(SessionView(tmp_path / "sessions", SESSION).command())
    assert argv[argv.index("--session") + 1] == SESSION and "--read-only" in argv
    assert str((tmp_path / "checklist.md").resolve()) in argv  # the checklist the session recorded
    argv = shlex.split(SessionView(tmp_path / "sessions", None).command())
    assert "--read-only" in argv and "--session" not in argv  # the picker


# ------------------------------------------------------------------ a PostgreSQL store behind the view


def app_store_url(server: Any) -> str:
    """A database of its own owned by the password-authenticated role; its URL, password included."""
    name = f"serve_{secrets.token_hex(6)}"
    server.execute(f"CREATE DATABASE {name} OWNER {APP_USER} TEMPLATE template0")
    return str(server.url_for(name, APP_USER, APP_PASSWORD))


def descendants(pid: int) -> list[int]:
    """Every process under `pid` (the tabs' app processes textual-serve starts through a shell)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_lines(pid: int) -> list[str]:
    """What `ps` shows of each process under `pid`: its argv."""
    lines = []
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            lines.append((Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode())
    return lines


async def test_browser_follows_a_postgresql_session_and_the_password_shows_nowhere(
    tmp_path: Path, browser: Browser, postgres_server: Any
) -> None:
    url = app_store_url(postgres_server)
    (tmp_path / "checklist.md").write_text(CHECKLIST)
    checklist, _config = resolve(str(tmp_path / "checklist.md"), None)
    store = PostgresStore(url, local_dir=tmp_path / "writer-local")
    live = store.create(checklist, "alice", host="jumpbox", session_id=SESSION)
    # The URL comes as every command takes it: here $DEPLOYTUI_STORE (no sessions dir exists at all).
    served = Served(tmp_path, "--port", "0", extra_env={STORE_ENV: url})
    page = await browser.page()
    try:
        await page.navigate(served.url)
        screen = await page.wait_for(page.screen_text, has_all("Follow a session", SESSION), "the picker")
        assert "alice" in screen
        await page.press("enter")
        screen = await page.wait_for(page.screen_text, has_all("READ-ONLY", *TITLES), "the session")
        assert "○ Tests pass" in screen

        # The writer ticks: NOTIFY wakes the tab's follower, which reads the new event from the database.
        live.apply(Tick("preflight/tests-pass", by="alice"))
        screen = await page.wait_for(page.screen_text, has_all("☑ Tests pass"), "the writer's tick")

        # The tab's app process got the store in its environment, not on its command line.
        lines = command_lines(served.proc.pid)
        tabs = [line for line in lines if "deploytui" in line and "--read-only" in line]
        assert tabs, lines
        assert not any(APP_PASSWORD in line for line in lines), lines
        assert not any("postgresql://" in line for line in tabs), tabs
        environ = [Path("/proc") / str(pid) / "environ" for pid in descendants(served.proc.pid)]
        assert any(f"{STORE_ENV}={url}".encode() in e.read_bytes() for e in environ if e.exists())

        # Nothing the browser holds names the password: the screen, the document, its title, the URLs.
        html_text = str(await page.evaluate("document.documentElement.outerHTML"))
        title = str(await page.evaluate("document.title"))
        assert f"{APP_USER}:***@" in title
        for text in (screen, html_text, title, " ".join(page.requests)):
            assert APP_PASSWORD not in text
        assert_loopback_only(page)
    finally:
        await page.close()
        output = served.stop()
        live.close()
        store.close()
    assert "Traceback" not in output, output
    assert f"{APP_USER}:***@" in output  # "serving the sessions in the store postgresql://app:***@…"
    assert APP_PASSWORD not in output


def test_served_tab_command_of_a_postgresql_store_carries_no_password(
    tmp_path: Path, postgres_server: Any
) -> None:
    from deploytui.cli.serve import SessionView

    url = app_store_url(postgres_server)
    (tmp_path / "checklist.md").write_text(CHECKLIST)
    checklist, _config = resolve(str(tmp_path / "checklist.md"), None)
    store = PostgresStore(url, local_dir=tmp_path / "writer-local")
    store.create(checklist, "alice", host="jumpbox", session_id=SESSION).close()
    store.close()
    view = SessionView(url, SESSION)
    argv = shlex.split(view.command())
    assert APP_PASSWORD not in view.command() and "--sessions-dir" not in argv and "--store" not in argv
    assert argv[argv.index("--session") + 1] == SESSION and "--read-only" in argv
    assert str((tmp_path / "checklist.md").resolve()) in argv  # read from the store
    assert view.tab_environment() == {STORE_ENV: url}
    assert APP_PASSWORD not in SessionView(url, None).describe()
    assert f"{APP_USER}:***@" in SessionView(url, None).describe()

    # --store on serve's command line, a session not there: one line, the password masked.
    proc = run_deploytui("serve", "--store", url, "--session", "20991231-000000-none", cwd=tmp_path)
    line = one_line_error(proc)
    assert "no session 20991231-000000-none" in line and f"{APP_USER}:***@" in line
    assert APP_PASSWORD not in proc.stdout + proc.stderr
