"""The deploytui Textual app: picks the session (resume dialog), themes, keymap; the work is in MainScreen."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from rich.text import Text
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from deploytui.core.errors import DeployError
from deploytui.core.redact import Redactor
from deploytui.tui.palette import DeployCommands
from deploytui.tui.screens.dialogs import ResumeDialog
from deploytui.tui.settings import Settings
from deploytui.tui.themes import DEFAULT_THEME, FALLBACK_THEME, load_themes, theme_dirs

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist
    from deploytui.core.config import Config
    from deploytui.storage.base import SessionRepository
    from deploytui.storage.fs import LiveSession
    from deploytui.tui.engine_thread import EngineThread

SessionChoice = Literal["ask", "resume", "new", "pick"]
"""How to pick the session when no id is given: ask when an unfinished one exists, or decide; "pick"
(read-only): list the sessions and follow the one chosen."""

KEY_NAMES = {"slash": "/", "question_mark": "?", "space": "space", "escape": "esc"}

FOLLOW_SECONDS = 0.5
"""How often a read-only app looks for the writer's new changes (a stat of events.jsonl; it re-reads the
session only when the log grew)."""


LISTEN_FOLLOW_SECONDS = 0.1
"""How often a read-only app on the PostgreSQL store looks for a notification of the writer's changes."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DeployApp(App[int]):
    """Thin: session choice, themes and settings; MainScreen owns the session and the engine's events."""

    CSS_PATH = "deploytui.tcss"
    TITLE = "deploytui"
    COMMANDS = App.COMMANDS | {DeployCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+p", "command_palette", "Commands", id="palette", show=False, tooltip="Search every command"
        ),
    ]

    def __init__(
        self,
        checklist: Checklist,
        config: Config,
        store: SessionRepository,
        *,
        session_id: str | None = None,
        choice: SessionChoice = "ask",
        operator: str | None = None,
        theme: str | None = None,
        read_only: bool = False,
        settings_dir: Path | None = None,
        clock: Callable[[], datetime] = _utc_now,
        new_session_id: str | None = None,
        extra_theme_dirs: list[Path] | None = None,
        ssh_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.checklist = checklist
        self.config = config
        self.store = store
        self.session_id = session_id
        self.choice = choice
        self.requested_theme = theme
        self.read_only = read_only
        self.settings_dir = settings_dir
        self.clock = clock
        self.new_session_id = new_session_id
        self.extra_theme_dirs = extra_theme_dirs or []
        self.ssh_dir = ssh_dir
        """Where the sign-off screen looks for *.pub keys (default ~/.ssh)."""
        from deploytui.storage.fs import current_user

        self.operator_given = operator
        """--operator as given (None: a resumed session keeps its operator, a new one is $USER's)."""
        self.operator = operator or current_user()
        self.redactor: Redactor = config.redactor()
        self.checks_per_item: dict[str, int] = {}
        """Bound checks per item (the tree's ◆; world-changing bindings are not counted)."""
        self.steps_per_item: dict[str, int] = {}
        """World-changing bindings per item (actions, webhooks, dumps): the tree's $, as fenced blocks."""
        self._use_project(checklist, config)
        self.settings = Settings(Path("settings.toml"))
        self.open_warnings: list[str] = []
        self.resumed = False
        """The session was opened (resumed or followed), not created."""
        self.error: DeployError | None = None
        """Why the app could not open a session (the CLI reports it after the terminal is restored)."""
        self._live: LiveSession | None = None
        self._engine: EngineThread | None = None
        self._theme_applied: str | None = None
        self._follow_problem: str | None = None
        self._store_shown = ""
        self._resume_candidate: str | None = None
        """The unfinished session the resume dialog offers (None: the session was decided at start)."""
        # The theme is chosen before the app runs: set in on_mount, it re-parsed every stylesheet once
        # more (~20 ms of a ~140 ms first frame; benchmarks/bench_startup.py).
        self._settings_problems = self._choose_theme()
        # Everything loaded so far (modules, checklist, config, themes) lives as long as the process: moved
        # out of the collector's sight before the app starts, so that the full collection that start-up's
        # allocations trigger does not walk it (~20 ms inside the first frame; bench_startup.py).
        # MainScreen freezes again once its first frame is up.
        gc.freeze()

    # ------------------------------------------------------------------------------ state

    @property
    def live(self) -> LiveSession:
        assert self._live is not None, "no session open yet"
        return self._live

    @property
    def engine(self) -> EngineThread:
        assert self._engine is not None, "no session open yet"
        return self._engine

    # ------------------------------------------------------------------------------ start-up

    def get_default_screen(self) -> Screen[Any]:
        """The first screen: MainScreen itself when the session is decided without asking (--session,
        --new, --resume, or nothing unfinished to resume). Pushed over Textual's default screen instead,
        it cost ~10 ms of a ~110 ms first frame (benchmarks/bench_startup.py). The session is created or
        opened here, before MainScreen is composed, so it is on disk before the operator can act."""
        try:
            self._resume_candidate = self._choose_session()
        except DeployError as exc:
            self.error = exc
            return super().get_default_screen()
        if self._live is not None:
            from deploytui.tui.screens.main import MainScreen

            return MainScreen()
        return super().get_default_screen()

    def _use_project(self, checklist: Checklist, config: Config) -> None:
        self.checklist = checklist
        self.config = config
        self.redactor = config.redactor()
        from deploytui.services.runs import is_world_changing

        self.checks_per_item = {}
        self.steps_per_item = {}
        for spec in config.checks:
            # A world-changing binding is a step (x runs it, marked like a fenced block), not a check.
            counts = self.steps_per_item if is_world_changing(spec) else self.checks_per_item
            counts[spec.item] = counts.get(spec.item, 0) + 1

    def on_mount(self) -> None:
        self._load_settings_and_themes()
        if self.error is not None:
            self._fail(self.error)
        elif self._resume_candidate is not None:
            self._ask_resume(self._resume_candidate)
        elif self._live is None and self.choice == "pick":
            self._ask_pick()

    def _fail(self, exc: DeployError) -> None:
        """Leave the app; the CLI reports the error in one line (exit 2) like every other command."""
        self.error = exc
        self.exit(2, return_code=2)

    def _choose_theme(self) -> list[str]:
        """Load settings and themes, pick the theme; the problems found (shown once the app runs)."""
        problems: list[str] = []
        try:
            self.settings = Settings.load(self.settings_dir)
        except DeployError as exc:
            problems.append(str(exc))
            from deploytui.tui.settings import user_config_dir

            self.settings = Settings((self.settings_dir or user_config_dir()) / "settings.toml")
        loaded = load_themes(theme_dirs(self.extra_theme_dirs))
        problems.extend(loaded.problems)
        for theme in loaded.themes:
            self.register_theme(theme)
        wanted = self.requested_theme or self.settings.theme or DEFAULT_THEME
        if wanted not in self.available_themes:
            problems.append(
                f"theme {wanted!r} not found (available: {', '.join(sorted(self.available_themes))})"
            )
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else FALLBACK_THEME
        self._set_initial_theme(wanted)
        self._theme_applied = wanted
        return problems

    def _set_initial_theme(self, name: str) -> None:
        """The theme before the app runs, without Textual's theme watcher: the watcher queues a full CSS
        refresh (every stylesheet re-parsed, the DOM restyled) that ran before the first frame, ~7 ms of
        ~110 ms (benchmarks/bench_startup.py). Nothing is parsed or styled yet, so what the watcher does
        besides is done here: the app's theme classes, the ANSI colour filter and the CSS variables the
        stylesheet is first parsed with. Changes once running (the palette) go through the watcher."""
        self.set_reactive(DeployApp.theme, name)
        theme = self.current_theme
        classes = {c: False for c in self.classes if c.startswith("-theme-")}
        classes[f"-theme-{theme.name}"] = True
        classes.update({"-dark-mode": theme.dark, "-light-mode": not theme.dark})
        self.update_classes(classes, update=False)
        self._refresh_truecolor_filter(self.ansi_theme)
        self.stylesheet.set_variables(self.get_css_variables())

    def _load_settings_and_themes(self) -> None:
        """Once running: follow theme changes, apply the keymap, show what went wrong loading them."""
        problems = self._settings_problems
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)
        if problems:
            self.notify(
                "\n".join(problems), title="Settings and themes", severity="warning", timeout=15, markup=False
            )

    def _remember_theme(self, theme: Any) -> None:
        """A theme chosen in the palette is kept in settings.toml for next time."""
        if theme.name == self._theme_applied:
            return
        self._theme_applied = theme.name
        self.settings.theme = theme.name
        try:
            self.settings.save()
        except OSError as exc:
            self.notify(f"could not save settings: {exc}", severity="warning", markup=False)

    def _choose_session(self) -> str | None:
        """Open or create the session when that is decided; else the unfinished session to offer."""
        if self.session_id is not None:
            self._open(self.session_id)
            return None
        if self.choice == "new":
            self._create()
            return None
        if self.choice == "pick":
            return None  # on_mount shows the picker
        latest = self.store.latest_unfinished(self.checklist)
        if latest is None:
            if self.choice == "resume":
                self.open_warnings.append("no unfinished session to resume: started a new one")
            self._create()
            return None
        if self.choice == "resume":
            self._open(latest)
            return None
        return latest

    def _ask_resume(self, latest: str) -> None:
        """The resume dialog over the default screen; MainScreen is pushed once the operator answers."""
        from deploytui.services.sessions import readable_time

        info = next((i for i in self.store.list() if i.id == latest), None)
        now = self.clock()
        cut: list[str] = []
        try:
            held = self.store.load(latest)
            if self.operator_given is None:
                self.operator = held.current_operator or self.operator
            cut = [
                f"{item}: {run.label or 'action'} started {readable_time(run.started, now)} by {run.by}"
                for item, run in [*held.interrupted_actions(), *held.running_actions()]
            ]
        except DeployError:
            pass
        summary = Text()
        summary.append(f"{latest}\n", "bold")
        if info is not None:
            done = sum(n for s, n in info.counts.items() if s in ("passed", "done", "skipped", "overridden"))
            total = sum(info.counts.values())
            summary.append(
                f"operator {info.operator} on {info.host}\nstarted {readable_time(info.started, now)}\n"
                f"last change {readable_time(info.updated, now)}\n{done}/{total} items complete"
            )
        if cut:
            summary.append(
                "\n\nInterrupted world-changing steps (they may have partly run: check before running them"
                " again):\n",
                "bold",
            )
            summary.append("\n".join(f"  ⚠ {line}" for line in cut))
        dialog = ResumeDialog(summary, self.operator)

        def chosen(answer: str | None) -> None:
            if dialog.operator.strip():
                self.operator = dialog.operator.strip()
            try:
                if answer == "resume":
                    self._open(latest)
                elif answer == "new":
                    self._create()
                else:
                    self.exit(0)
                    return
            except DeployError as exc:
                self._fail(exc)
                return
            from deploytui.tui.screens.main import MainScreen

            self.push_screen(MainScreen())

        self.push_screen(dialog, chosen)

    def _ask_pick(self) -> None:
        """The session picker over the default screen; the chosen session opens read-only with the
        checklist it recorded (when that file is still there), else with the one given."""
        from deploytui.tui.screens.picker import SessionPicker

        infos = self.store.list()

        def chosen(session_id: str | None) -> None:
            if session_id is None:
                self.exit(0)
                return
            info = next(i for i in infos if i.id == session_id)
            try:
                if info.checklist and Path(info.checklist).is_file():
                    from deploytui.services.project import resolve

                    self._use_project(*resolve(info.checklist, None))
                self._open(session_id)
            except DeployError as exc:
                self.notify(str(exc), title="Cannot follow it", severity="error", markup=False)
                self._ask_pick()
                return
            from deploytui.tui.screens.main import MainScreen

            self.push_screen(MainScreen())

        self.push_screen(SessionPicker(infos, self.store.location), chosen)

    def _open(self, session_id: str) -> None:
        live = self.store.open(
            session_id, read_only=self.read_only, checklist=self.checklist, redactor=self.redactor
        )
        if live.drift is not None:
            self.open_warnings.append(live.drift.summary())
        self.resumed = True
        if not live.read_only and live.session.finished is None:
            if self.operator_given is None and self._resume_candidate is None:
                # Resumed without --operator: the session's operator, not whoever's $USER this is.
                self.operator = live.session.current_operator or self.operator
            from deploytui.core.session import Resume

            live.apply(Resume(self.operator, socket.gethostname(), os.getpid()))
        # Every store's live session has `dir`, the local directory its run logs are read from.
        self._start(cast("LiveSession", live))

    def _create(self) -> None:
        if self.read_only:
            raise DeployError("--read-only needs an existing session (--session ID or --resume)")
        from deploytui.storage.fs import SessionStore

        # The file store writes the new session's TOML checkpoint after the first frame (MainScreen), and
        # fsyncs the session there first (the checkpoint's thread): before it, the first frame waited for
        # 7 fsyncs, 8-14 ms of ~80 ms on this machine's disk. Nothing the operator did is at stake until
        # then, and their first change makes the session durable before it is acknowledged.
        if isinstance(self.store, SessionStore):
            self._start(
                self.store.create(
                    self.checklist,
                    self.operator,
                    redactor=self.redactor,
                    session_id=self.new_session_id,
                    checkpoint=False,
                    sync=False,
                )
            )
            return
        live = self.store.create(
            self.checklist, self.operator, redactor=self.redactor, session_id=self.new_session_id
        )
        self._start(cast("LiveSession", live))

    def _start(self, live: LiveSession) -> None:
        from deploytui.core.threads import sharing
        from deploytui.services.runs import RunRecorder, build_engine

        self._live = live
        from deploytui.tui.engine_thread import EngineThread

        # The engine's thread naps 0.1 ms after each 2 ms of a flood of output, so keys get the GIL at once
        # (bench_streaming.py --repeat 5, an action printing 2,000,000 lines: key p99 89 ms [24-110] ->
        # 21 ms [16-27]; lines/s still 1.01x [0.91-1.64] a bare Log's; a 0.5 ms nap cost more of them).
        self._engine = EngineThread(build_engine(self.config, live, pause=sharing(nap=0.0001)))
        self.recorder = RunRecorder.for_config(live, self.config, self.operator, on_refused=self._refused)
        # Every world-changing step is recorded (fsynced) before its process is spawned, on this thread.
        self._engine.record_before(self.call_from_thread, self.recorder.before_action)
        self.sub_title = live.session.id
        if live.read_only:
            # A database follower's reload is a look at its LISTEN socket until a NOTIFY came: cheap
            # enough to look often, so a change shows within ~0.1 s instead of FOLLOW_SECONDS.
            every = LISTEN_FOLLOW_SECONDS if hasattr(live, "wait") else FOLLOW_SECONDS
            self.set_interval(every, self.follow_session)
        else:
            self.set_interval(1.0, self._heartbeat)
            if hasattr(live, "store_status"):  # a database store: the header says when it is offline
                self.set_interval(1.0, self._watch_store)

    def _heartbeat(self) -> None:
        """While anything runs: a heartbeat event at most every HEARTBEAT_SECONDS ("interrupted at")."""
        try:
            self.recorder.beat()
        except DeployError as exc:
            self._refused(exc)

    def store_status(self) -> str:
        """What the header says about the store ("" when all is well; only database stores go offline)."""
        return str(getattr(self._live, "store_status", None) or "")

    def _watch_store(self) -> None:
        from deploytui.tui.screens.main import MainScreen

        status = self.store_status()
        if status != self._store_shown:
            self._store_shown = status
            for screen in self.screen_stack:
                if isinstance(screen, MainScreen):
                    screen.refresh_all()

    def _refused(self, exc: DeployError) -> None:
        """The session refused a change a run called for: shown, the run goes on."""
        self.notify(str(exc), title="Not done", severity="warning", markup=False)

    def follow_session(self) -> bool:
        """Read-only: take in the writer's new changes and redraw; True when the session changed."""
        from deploytui.tui.screens.main import MainScreen

        live = self._live
        if live is None or not live.read_only:
            return False
        try:
            changed = live.reload()
        except DeployError as exc:  # e.g. the writer's log broke: say so once, keep the last good state
            if self._follow_problem != str(exc):
                self._follow_problem = str(exc)
                self.notify(
                    str(exc), title="Following the session", severity="warning", timeout=15, markup=False
                )
            return False
        self._follow_problem = None
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                if changed:
                    screen.refresh_all()
                else:
                    screen.follow_run_log()
        return changed

    async def action_quit(self) -> None:
        """ctrl+q: the working screen's own quit where it has one (the checklist asks while checks run,
        the sign-off saves what was typed); elsewhere (a dialog, before a session opens) at once."""
        own = getattr(self.screen, "action_quit", None)
        if own is None:
            self.exit()
            return
        own()

    # ------------------------------------------------------------------------------ help

    def binding_rows(self, screen: Any) -> list[tuple[str, str, str]]:
        """(keys as remapped, description, tooltip) of the screen's and the tree's bindings."""
        from deploytui.tui.widgets.checklist_tree import ChecklistTree

        keymap = self.settings.keymap
        rows = []
        tree = list(ChecklistTree.BINDINGS) if screen.query(ChecklistTree) else []  # not on the sign-off
        for binding in [*tree, *screen.BINDINGS, *self.BINDINGS]:
            if not isinstance(binding, Binding):
                continue
            keys = keymap.get(binding.id or "", binding.key)
            shown = ", ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))
            rows.append((shown, binding.description, binding.tooltip))
        return rows

    async def on_unmount(self) -> None:
        if self._engine is not None:
            await asyncio.to_thread(self._engine.close)
        if self._live is not None:
            self._live.close()


def make_app(
    checklist: Checklist,
    config: Config,
    sessions_dir: str | Path,
    **options: Any,
) -> DeployApp:
    """The app factory the CLI and the tests share. Options: see DeployApp."""
    from deploytui.services.sessions import open_store

    return DeployApp(checklist, config, open_store(sessions_dir), **options)
