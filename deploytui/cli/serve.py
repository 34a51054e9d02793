"""`deploytui serve`: a read-only browser view of live sessions, for reviewers (textual-serve).

Each browser tab gets its own app process, `deploytui CHECKLIST --read-only --session ID`: the same
read-only follower the terminal has, so the browser sees each change the writer makes and can change
nothing. Without `--session`, a tab opens on the session picker (`deploytui --read-only`): the rows of
`deploytui sessions`, and the one chosen is followed.

The store is chosen as every command chooses it (`--store URL`, $DEPLOYTUI_STORE, `[store] url`, else
the sessions dir). A PostgreSQL URL reaches the tabs' processes in $DEPLOYTUI_STORE, never on their
command line (anyone on the machine reads argv in `ps`; a process's environment only its user), and
what serve prints, logs and puts in the page names the store with its password masked.

Reaching it: it binds 127.0.0.1 (reviewers tunnel in with `ssh -L`). Any other address needs `--public`
and an access token: the page asks for it before it opens the websocket, and every request without it
(the page, the websocket, the static files) is refused. The token is compared in constant time, kept
out of every log, and never put in a URL: the browser holds an HMAC of it in an HttpOnly cookie.

The page loads nothing from outside: its fonts and scripts are textual-serve's own, served from
/static (tests/test_serve_browser.py fails on any request to a non-loopback host).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import html
import ipaddress
import logging
import os
import secrets
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from textual_serve.server import Server

from deploytui.cli.main import TOKEN_ENV
from deploytui.core.errors import DeployError
from deploytui.services.project import resolve
from deploytui.services.sessions import STORE_ENV, is_store_url, open_store, store_location
from deploytui.storage.fs import validate_session_id

COOKIE = "deploytui_serve"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost`: what only this machine reaches."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    host: str = args.host
    # Read once and dropped: the tabs' app processes inherit this environment, and need no token.
    env_token = os.environ.pop(TOKEN_ENV, None) or None
    token: str | None = args.token or (env_token if args.public else None)
    if not is_loopback(host) and not args.public:
        raise DeployError(
            f"--host {host} is not a loopback address: binding it needs --public (with an access token,"
            " --token T or one generated); reviewers can also reach 127.0.0.1 through `ssh -L`"
        )
    if args.token is not None and not args.public:
        raise DeployError("--token goes with --public (on 127.0.0.1 the view needs no token)")
    generated = False
    if args.public and token is None:
        token = secrets.token_urlsafe(24)
        generated = True
    if token is not None and len(token) < 12:
        raise DeployError("the access token is too short: give 12 characters or more (or let serve make one)")
    if not 0 <= args.port <= 65535:
        raise DeployError(f"--port {args.port} is not a port number")
    view = SessionView(
        _store_of(args), args.session, source=args.source, config=args.config, theme=args.theme
    )
    view.check()
    # The tabs' app processes inherit serve's environment (textual-serve copies it): the store URL, its
    # password included, goes to them there and not in their argv.
    os.environ.update(view.tab_environment())
    server = make_server(view, host, args.port, token)
    if generated:
        # Printed once, here, for the operator to hand to the reviewers; never logged.
        print(f"access token (give it to the reviewers): {token}", flush=True)
    asyncio.run(_serve(server, host, args.port))
    return 0


def _store_of(args: argparse.Namespace) -> str | Path:
    """--store, $DEPLOYTUI_STORE, `[store] url` of the config the tabs will read, else the sessions dir."""
    store = getattr(args, "store", None)
    config = None
    if store is None and not os.environ.get(STORE_ENV):
        # Only `[store] url` is read from it; the tab processes load the same config themselves.
        _checklist, config = resolve(args.source, args.config)
    location = store_location(store, args.sessions_dir, config)
    return location if is_store_url(location) else Path(location)


class SessionView:
    """Which session a new tab shows, and the command that shows it."""

    def __init__(
        self,
        location: str | Path,
        session_id: str | None,
        *,
        source: str | None = None,
        config: str | None = None,
        theme: str | None = None,
    ) -> None:
        """`location`: a sessions dir, or a PostgreSQL URL (its password never leaves this object but
        in `tab_environment()`)."""
        self.store = open_store(location)
        self._url = str(location) if is_store_url(location) else None
        self.sessions_dir = None if self._url is not None else Path(location).resolve()
        self.session_id = validate_session_id(session_id) if session_id else None
        self.source = source
        self.config = config
        self.theme = theme

    def check(self) -> None:
        """Refuse to start on a --session that is not there (one line, exit 2)."""
        if self.session_id is not None and not self.store.exists(self.session_id):
            raise DeployError(f"no session {self.session_id} in {self.store.location}")

    def describe(self) -> str:
        """What the view shows, for the page's title and serve's "serving …" line (password masked)."""
        if self.session_id is not None:
            return f"session {self.session_id}"
        if self.sessions_dir is None:
            return f"the sessions in the {self.store.location}"
        return f"the sessions in {self.sessions_dir}"

    def tab_environment(self) -> dict[str, str]:
        """What the tabs' processes need in their environment: the PostgreSQL URL, if that is the store."""
        return {STORE_ENV: self._url} if self._url is not None else {}

    def command(self) -> str:
        """The tab's app process: this interpreter's deploytui, read-only, on --session ID (with the
        checklist the session recorded, unless serve was given one), or else on the session picker."""
        argv = [sys.executable, "-m", "deploytui"]
        if self.source is not None:
            argv.append(self.source)
        elif self.session_id is not None:
            try:
                recorded = self.store.load(self.session_id).checklist_path
            except DeployError:
                recorded = ""  # unreadable now: the app says why in its one line
            if recorded:
                argv.append(recorded)
        if self.config is not None:
            argv += ["--config", self.config]
        if self.theme is not None:
            argv += ["--theme", self.theme]
        if self.sessions_dir is not None:
            argv += ["--sessions-dir", str(self.sessions_dir)]
        # A PostgreSQL store: the tab reads $DEPLOYTUI_STORE (tab_environment), not a --store URL here.
        argv.append("--read-only")
        if self.session_id is not None:
            argv += ["--session", self.session_id]
        return shlex.join(argv)


def _token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class Gate:
    """The access token: the login form, the cookie it grants, and the check on every request."""

    def __init__(self, token: str | None) -> None:
        self._digest = _token_digest(token) if token is not None else None
        self._key = secrets.token_bytes(32)
        """Per process: a cookie from an earlier `serve` does not open this one."""

    @property
    def enabled(self) -> bool:
        return self._digest is not None

    def cookie_value(self) -> str:
        assert self._digest is not None
        return hmac.new(self._key, self._digest, hashlib.sha256).hexdigest()

    def accepts(self, given: str) -> bool:
        return self._digest is not None and hmac.compare_digest(_token_digest(given), self._digest)

    def admitted(self, cookie: str | None) -> bool:
        return not self.enabled or (cookie is not None and hmac.compare_digest(cookie, self.cookie_value()))


def _same_origin(request: web.Request) -> bool:
    """A websocket opened by another site's page (cross-site websocket hijacking) is refused."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    from urllib.parse import urlsplit

    return bool(urlsplit(origin).netloc.lower() == request.host.lower())


def _loopback_host_header(request: web.Request) -> bool:
    """On loopback, the Host header names loopback too: a DNS-rebound name is refused."""
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    if host.startswith("[") and "]" in host:
        host = host[1 : host.index("]")]
    return host.lower() in LOOPBACK_NAMES or is_loopback(host)


def make_server(view: SessionView, host: str, port: int, token: str | None) -> Server:
    """The textual-serve Server, its command chosen per tab, its page our own, a token gate in front."""
    gate = Gate(token)
    public = token is not None

    class ViewServer(Server):
        @property
        def command(self) -> str:
            # Read by textual-serve when a websocket opens: each tab picks its session then.
            return view.command()

        @command.setter
        def command(self, value: str) -> None:
            pass

        async def _make_app(self) -> web.Application:
            app = web.Application(middlewares=[guard])
            app.add_routes(
                [
                    web.get("/", handle_index, name="index"),
                    web.post("/login", handle_login, name="login"),
                    web.get("/ws", self.handle_websocket, name="websocket"),
                    web.get("/download/{key}", self.handle_download, name="download"),
                    web.static("/static", self.statics_path, name="static"),
                ]
            )
            return app

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not public and not _loopback_host_header(request):
            return web.Response(status=403, text="forbidden: this view answers loopback names only\n")
        if request.path == "/ws" and not _same_origin(request):
            return web.Response(status=403, text="forbidden: cross-origin websocket\n")
        if request.path == "/login" or gate.admitted(request.cookies.get(COOKIE)):
            return await handler(request)
        if request.path == "/":
            return login_page(status=401)
        return web.Response(status=401, text="the access token is needed: open / and give it\n")

    async def handle_index(request: web.Request) -> web.Response:
        return web.Response(text=app_page(view.describe()), content_type="text/html", charset="utf-8")

    async def handle_login(request: web.Request) -> web.StreamResponse:
        if not gate.enabled:
            raise web.HTTPSeeOther("/")
        form = await request.post()
        given = form.get("token")
        if not isinstance(given, str) or not gate.accepts(given):
            return login_page(status=403, wrong=True)
        response = web.HTTPSeeOther("/")
        response.set_cookie(COOKIE, gate.cookie_value(), httponly=True, samesite="Strict", path="/")
        return response

    return ViewServer("deploytui", host=host, port=port, title=f"deploytui: {view.describe()}")


def _page(title: str, head: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


_FONTS = """\
@font-face { font-family: "Roboto Mono"; font-style: normal; font-weight: 100 700;
  src: url("/static/fonts/RobotoMono-VariableFont_wght.ttf") format("truetype"); }
@font-face { font-family: "Roboto Mono"; font-style: italic; font-weight: 100 700;
  src: url("/static/fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype"); }
"""


def app_page(what: str) -> str:
    """The view: textual-serve's terminal (its own textual.js and xterm.css, fonts served locally)."""
    head = (
        '<link rel="stylesheet" href="/static/css/xterm.css">\n'
        f"<style>\n{_FONTS}"
        "html, body { margin: 0; height: 100%; background: #0c181f; overflow: hidden; }\n"
        ".textual-terminal { position: absolute; inset: 0; }\n"
        ".closed { display: none; position: absolute; inset: 0; z-index: 10; align-items: center;"
        " justify-content: center; color: #eee; background: rgba(12, 24, 31, 0.9);"
        ' font: 16px "Roboto Mono", monospace; }\n'
        "body.-closed .closed { display: flex; }\n"
        "</style>\n"
        '<script src="/static/js/textual.js"></script>\n'
    )
    body = (
        '<div class="closed"><p>The view closed. <a href="/">Open it again</a></p></div>\n'
        '<div id="terminal" class="textual-terminal" data-session-websocket-url=""'
        ' data-font-size="16"></div>\n'
        "<script>\n"
        "// The websocket goes back to where this page came from (any ssh -L local port works).\n"
        'document.getElementById("terminal").dataset.sessionWebsocketUrl ='
        ' (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";\n'
        "</script>\n"
    )
    return _page(f"deploytui: {what}", head, body)


def login_page(*, status: int, wrong: bool = False) -> web.Response:
    """The form that asks for the access token (nothing else is served before it is given)."""
    message = '<p class="wrong" role="alert">Wrong access token.</p>\n' if wrong else ""
    head = (
        f"<style>\n{_FONTS}"
        'body { background: #0c181f; color: #eee; font: 16px "Roboto Mono", monospace;'
        " display: flex; align-items: center; justify-content: center; height: 100vh; margin: 0; }\n"
        "form { background: #12232d; padding: 32px; }\n input, button { font: inherit; margin: 8px 0; }\n"
        ".wrong { color: #ff6b6b; }\n</style>\n"
    )
    body = (
        '<form method="post" action="/login">\n'
        "<p>deploytui: a read-only view of a deployment session.</p>\n"
        f"{message}"
        '<label for="token">Access token</label><br>\n'
        '<input id="token" name="token" type="password" autocomplete="off" autofocus size="40"><br>\n'
        '<button type="submit">Open</button>\n</form>\n'
    )
    return web.Response(
        status=status, text=_page("deploytui: access token", head, body), content_type="text/html"
    )


async def _serve(server: Server, host: str, port: int) -> None:
    """Run until SIGINT/SIGTERM; say where once the socket is bound (so --port 0 tells its port)."""
    logging.basicConfig(level=logging.WARNING, format="deploytui serve: %(message)s")
    app = await server._make_app()
    # No access log: the view's requests are nobody's business, and the login POST's body is never read
    # into a log either way.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise DeployError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound = runner.addresses[0] if runner.addresses else (host, port)
        shown = f"[{bound[0]}]" if ":" in str(bound[0]) else str(bound[0])
        print(f"serving {server.title} on http://{shown}:{bound[1]}/ (Ctrl+C stops)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
