"""Debian's headless Chromium driven over the DevTools protocol (a small CDP client on aiohttp's websocket).

Chromium reaches nothing beyond loopback: host names other than localhost do not resolve, and every
request the page makes is recorded (`Page.requests`) so a test can fail on one to another host.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.servers.common import REQUIRE_SERVICES

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    # No network beyond loopback: any other name fails to resolve (and the test fails on the request).
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}

TERMINAL_HOOK = """
// textual.js keeps its xterm.js Terminal inside its bundle; catch it as the page builds it (the
// object that gets a `webglAddon` already holds `terminal`), so the test can read the rendered screen.
Object.defineProperty(Object.prototype, "webglAddon", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "webglAddon", {value, writable: true, configurable: true, enumerable: true});
    if (this.terminal && this.terminal.buffer) { window.__deploytuiTerminal = this.terminal; }
  },
});
window.__screenText = () => {
  const term = window.__deploytuiTerminal;
  if (!term) { return ""; }
  const buffer = term.buffer.active;
  const lines = [];
  for (let i = 0; i < buffer.length; i++) {
    const line = buffer.getLine(i);
    if (line) { lines.push(line.translateToString(true)); }
  }
  return lines.join("\\n");
};
"""


def chromium_binary() -> str:
    """/usr/bin/chromium; skips (or fails when DEPLOYTUI_REQUIRE_SERVICES=1) naming the Debian package."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "chromium not found: apt-get install chromium"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


class Browser:
    """One headless Chromium with its own profile dir; `close()` ends it."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 860) -> None:
        self.profile = profile
        profile.mkdir(parents=True, exist_ok=True)
        argv = [
            chromium_binary(),
            *FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.port = self._devtools_port()

    def _devtools_port(self, timeout: float = 30.0) -> int:
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"chromium exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                first = active.read_text().splitlines()[0]
                return int(first)
            except (OSError, IndexError, ValueError):
                time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port")

    async def page(self) -> Page:
        """The first page target (about:blank), attached."""
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{self.port}/json/list") as response:
                targets = await response.json()
        url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
        page = Page(url)
        await page.connect()
        return page

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stderr:
            self.proc.stderr.close()


class Page:
    """A page target over CDP: commands, the requests it made, text and screenshots."""

    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.requests: list[str] = []
        """Every URL the page asked for (documents, scripts, fonts, websockets), in order."""
        self.websockets: list[str] = []
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.ws_url, max_msg_size=64 * 1024 * 1024)
        self._reader = asyncio.create_task(self._read())
        await self.send("Network.enable")
        await self.send("Page.enable")
        await self.send("Page.addScriptToEvaluateOnNewDocument", source=TERMINAL_HOOK)

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(RuntimeError(f"CDP error: {data['error']}"))
                    else:
                        future.set_result(data.get("result", {}))
                continue
            method = data.get("method")
            params = data.get("params", {})
            if method == "Network.requestWillBeSent":
                self.requests.append(params["request"]["url"])
            elif method == "Network.webSocketCreated":
                self.requests.append(params["url"])
                self.websockets.append(params["url"])

    async def send(self, method: str, **params: Any) -> Any:
        assert self._ws is not None
        msg_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        await self._ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        return await asyncio.wait_for(future, 30)

    async def navigate(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def body_text(self) -> str:
        return str(await self.evaluate("document.body ? document.body.innerText : ''") or "")

    async def screen_text(self) -> str:
        """What the terminal in the page shows now (xterm.js's rendered buffer), lines joined by LF."""
        return str(await self.evaluate("window.__screenText ? window.__screenText() : ''") or "")

    async def wait_for(
        self, read: Callable[[], Any], predicate: Callable[[str], bool], what: str, timeout: float = 30.0
    ) -> str:
        """Poll `read()` (an async text getter) until `predicate(text)`; fail naming `what` with the text."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = await read()
            if predicate(text):
                return text
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; the page shows:\n{text}")

    async def press(self, key: str) -> None:
        """Type one key into the page's terminal, as a person would: a letter, "space" or "enter"."""
        await self.evaluate("window.__deploytuiTerminal && window.__deploytuiTerminal.focus()")
        named = {"space": (" ", "Space", " ", 32), "enter": ("Enter", "Enter", "\r", 13)}
        if key in named:
            name, code, char, vk = named[key]
        else:
            name, code, char, vk = key, f"Key{key.upper()}", key, ord(key.upper())
        common = {"key": name, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
        await self.send("Input.dispatchKeyEvent", type="keyDown", text=char, **common)
        await self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    async def screenshot(self, path: Path) -> None:
        import base64

        result = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(result["data"]))

    def foreign_requests(self) -> list[str]:
        """Requests to anything but loopback (data: and about: URLs are not network requests)."""
        foreign = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "about", "blob"):
                continue
            if parts.hostname not in LOOPBACK_HOSTS:
                foreign.append(url)
        return foreign

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._session is not None:
            await self._session.close()

