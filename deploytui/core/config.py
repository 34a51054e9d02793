"""deploytui.toml: which checklist, variables, env files, secrets, defaults and check bindings.

Every validation error names the file, the line and what is wrong. tomllib gives no positions for
values, so lines are found in the source text: the Nth `[[check]]` header for the Nth binding, the
`key =` line inside a table for a field.

Bindings go to *items* (tickable nodes), never to sections: a section's status is derived from its
items and a session keeps state only for items, so a check bound to a section would have nowhere to put
its result. The error says which items the section holds.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from deploytui.core.dotenv import load_dotenv
from deploytui.core.durations import parse_duration
from deploytui.core.errors import DeployError
from deploytui.core.redact import Redactor
from deploytui.core.spec import VAR_RE, CheckContext, CheckSpec, MissingVariable

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist

CONFIG_NAME = "deploytui.toml"
"""The config looked for in the current directory when none is named."""

DEFAULT_TIMEOUT = 10.0
"""Seconds a check may run when neither [defaults] nor the check sets a timeout."""

DEFAULT_CONCURRENCY = 8
"""Checks run at once when [defaults] does not say."""

MAX_CONCURRENCY = 256
"""Upper bound on [defaults] concurrency: more would only exhaust file descriptors on a jump box."""

TOP_LEVEL_KEYS = ("checklist", "vars", "env", "secrets", "defaults", "check", "store")
TABLE_KEYS = {
    "env": ("files",),
    "secrets": ("env",),
    "defaults": ("timeout", "concurrency"),
    "store": ("url",),
}
SPEC_KEYS = frozenset({"item", "kind", "timeout", "name"})
"""Keys of a [[check]] that are not passed to the kind as params."""

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class KindCatalog(Protocol):
    """The check kinds a config may bind, as the loader needs them. Core cannot import the kinds
    (the kinds sit a layer above it), so the caller passes the registry (`REGISTRY` in the checks layer),
    which `deploytui.services.project` does for every face."""

    def names(self) -> list[str]:
        """Every kind name, sorted."""
        ...

    def problems(self, kind: str, params: Mapping[str, Any]) -> list[str] | None:
        """What is wrong with a binding's parameters (empty: valid); None: cannot be checked here."""
        ...


@dataclass
class Config:
    path: Path | None
    checklist_path: Path
    vars: dict[str, str] = field(default_factory=dict)
    env_files: list[Path] = field(default_factory=list)
    secret_names: list[str] = field(default_factory=list)
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY
    checks: list[CheckSpec] = field(default_factory=list)
    base_dir: Path = field(default_factory=Path.cwd)
    store_url: str | None = None
    """[store] url: where sessions live (a postgresql:// URL); None: the sessions dir."""
    """Directory relative paths in checks resolve against: the config's, else the checklist's."""
    env_files_line: int | None = None

    def environment(self) -> dict[str, str]:
        """os.environ overlaid on the dotenv files (the process environment wins). Files are only read."""
        merged: dict[str, str] = {}
        for path in self.env_files:
            try:
                merged.update(load_dotenv(path))
            except DeployError as exc:
                if exc.line is None and self.path is not None and not path.exists():
                    raise DeployError(
                        f"env file {path} not found", path=self.path, line=self.env_files_line
                    ) from None
                raise
        merged.update(os.environ)
        return merged

    def redactor(self, env: Mapping[str, str] | None = None) -> Redactor:
        """Masks every [secrets] env value, and every [vars] value built from one (a DSN with a password)."""
        environment = self.environment() if env is None else env
        redactor = Redactor()
        secret_names = set(self.secret_names)
        for name in self.secret_names:
            redactor.add(name, environment.get(name))
        ctx = CheckContext(vars=self.vars, env=environment)
        for name in self.vars:
            if self._references_secret(name, secret_names, set()):
                try:
                    redactor.add(name, ctx.lookup(name))
                except MissingVariable:
                    continue
        return redactor

    def _references_secret(self, var: str, secret_names: set[str], seen: set[str]) -> bool:
        if var in seen:
            return False
        seen.add(var)
        for m in VAR_RE.finditer(self.vars.get(var, "")):
            ref = m.group(1)
            if ref in secret_names and ref not in self.vars:
                return True
            if ref in self.vars and self._references_secret(ref, secret_names, seen):
                return True
        return False

    def checks_for(self, item_id: str) -> list[CheckSpec]:
        return [c for c in self.checks if c.item == item_id]

    def bound_items(self) -> list[str]:
        """Item ids with at least one check, in config order."""
        return list(dict.fromkeys(c.item for c in self.checks))


# ------------------------------------------------------------------------------------------ source lines


class _Lines:
    """Finds the lines of keys and tables in a TOML source (tomllib keeps no positions)."""

    _HEADER_RE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
    _ARRAY_RE = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        # (line number, header name, is_array) for each table header, in order.
        self.headers: list[tuple[int, str, bool]] = []
        for number, line in enumerate(self.lines, start=1):
            m = self._ARRAY_RE.match(line)
            if m:
                self.headers.append((number, _unquote(m.group(1)), True))
                continue
            m = self._HEADER_RE.match(line)
            if m:
                self.headers.append((number, _unquote(m.group(1)), False))

    def _span(self, start: int) -> tuple[int, int]:
        """Lines [start, end) of the table whose header is at `start` (0: the top level)."""
        ends = [n for n, _, _ in self.headers if n > start]
        return start, (ends[0] if ends else len(self.lines) + 1)

    def key(self, key: str, table_start: int = 0) -> int | None:
        start, end = self._span(table_start)
        pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*[=.]")
        for number in range(start + 1 if start else 1, end):
            if pattern.match(self.lines[number - 1]):
                return number
        return None

    def table(self, name: str) -> int | None:
        for number, header, is_array in self.headers:
            if not is_array and header == name:
                return number
        return None

    def array_entry(self, name: str, index: int) -> int | None:
        found = [n for n, header, is_array in self.headers if is_array and header == name]
        return found[index] if index < len(found) else None

    def top_level(self, key: str) -> int | None:
        return self.key(key) or self.table(key) or (self.array_entry(key, 0))


def _unquote(name: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in name.split("."))


# --------------------------------------------------------------------------------------------- loading


def _toml_line(exc: tomllib.TOMLDecodeError) -> int | None:
    m = re.search(r"at line (\d+)", str(exc))
    return int(m.group(1)) if m else None


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeployError("no such config file", path=path) from None
    except IsADirectoryError:
        raise DeployError("is a directory, not a config file", path=path) from None
    except UnicodeDecodeError as exc:
        raise DeployError(f"config is not UTF-8 ({exc.reason})", path=path) from None
    except OSError as exc:
        raise DeployError(f"cannot read config: {exc.strerror}", path=path) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise DeployError(f"invalid TOML: {message}", path=path, line=_toml_line(exc)) from None


def bundled_bindings_path() -> Path:
    """The bindings shipped for the bundled checklist (may be absent)."""
    return Path(__file__).resolve().parent.parent / "checklists" / "rag-chatbot.toml"


def load_config(path: str | Path, checklist: Checklist | None = None, *, kinds: KindCatalog) -> Config:
    """Parse and validate a deploytui.toml. `checklist` given: bindings are validated against it
    (whatever the config's own `checklist` key says); else the config's checklist is loaded."""
    return _load_config(path, checklist, kinds=kinds)[0]


def _load_config(
    path: str | Path, checklist: Checklist | None = None, *, kinds: KindCatalog
) -> tuple[Config, Checklist]:
    from deploytui.core.checklist import bundled_checklist_path, load_checklist

    cfg_path = Path(path)
    data, text = _read_toml(cfg_path)
    lines = _Lines(text)
    base = cfg_path.resolve().parent

    def fail(message: str, line: int | None) -> DeployError:
        return DeployError(message, path=cfg_path, line=line)

    for key in data:
        if key not in TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(TOP_LEVEL_KEYS)})"
            raise fail(f"unknown key {key!r}{hint}", lines.top_level(key))
    for table, allowed in TABLE_KEYS.items():
        value = data.get(table, {})
        if not isinstance(value, dict):
            raise fail(f"{table} must be a table, like [{table}]", lines.top_level(table))
        for key in value:
            if key not in allowed:
                raise fail(
                    f"unknown key {key!r} in [{table}] (known: {', '.join(allowed)})",
                    lines.key(key, lines.table(table) or 0),
                )

    # checklist
    raw_checklist = data.get("checklist")
    if raw_checklist is None:
        checklist_path = bundled_checklist_path()
    elif not isinstance(raw_checklist, str) or not raw_checklist.strip():
        raise fail(
            'checklist must be a file name, like checklist = "deployment-checklist.md"',
            lines.key("checklist"),
        )
    else:
        checklist_path = Path(raw_checklist).expanduser()
        if not checklist_path.is_absolute():
            checklist_path = base / checklist_path
        if checklist is None and not checklist_path.is_file():
            raise fail(f"checklist {raw_checklist!r} not found ({checklist_path})", lines.key("checklist"))
    if checklist is None:
        checklist = load_checklist(checklist_path)
    elif checklist.path is not None:
        checklist_path = checklist.path

    # vars
    raw_vars = data.get("vars", {})
    if not isinstance(raw_vars, dict):
        raise fail("vars must be a table, like [vars]", lines.top_level("vars"))
    vars_table = lines.table("vars") or 0
    variables: dict[str, str] = {}
    for name, value in raw_vars.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise fail(f"var {name!r} must be a string or a number", lines.key(name, vars_table))
        variables[name] = str(value)
    cycle = _find_cycle(variables)
    if cycle:
        raise fail(
            f"vars reference each other in a cycle: {' -> '.join(cycle)}", lines.key(cycle[0], vars_table)
        )

    # env files
    env_table = lines.table("env") or 0
    files = data.get("env", {}).get("files", [])
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise fail(
            'env.files must be a list of file names, like files = [".env"]', lines.key("files", env_table)
        )
    env_files = [p if p.is_absolute() else base / p for p in (Path(f).expanduser() for f in files)]

    # secrets
    secrets_table = lines.table("secrets") or 0
    names = data.get("secrets", {}).get("env", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise fail(
            "secrets.env must be a list of environment variable names", lines.key("env", secrets_table)
        )
    for name in names:
        if not _ENV_NAME_RE.match(name):
            raise fail(f"{name!r} is not an environment variable name", lines.key("env", secrets_table))

    # defaults
    defaults_table = lines.table("defaults") or 0
    defaults = data.get("defaults", {})
    timeout = DEFAULT_TIMEOUT
    if "timeout" in defaults:
        timeout = _duration(defaults["timeout"], fail, lines.key("timeout", defaults_table))
    concurrency = defaults.get("concurrency", DEFAULT_CONCURRENCY)
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= MAX_CONCURRENCY
    ):
        raise fail(
            f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY}, got {concurrency!r}",
            lines.key("concurrency", defaults_table),
        )

    # checks
    raw_checks = data.get("check", [])
    if not isinstance(raw_checks, list):
        raise fail(
            "check must be an array of tables: write each binding as [[check]]", lines.top_level("check")
        )
    specs = [
        _check_spec(index, entry, checklist, timeout, lines, fail, cfg_path, kinds)
        for index, entry in enumerate(raw_checks)
    ]

    # store
    store_url = data.get("store", {}).get("url")
    if store_url is not None and (
        not isinstance(store_url, str) or not store_url.startswith(("postgresql://", "postgres://"))
    ):
        raise fail(
            'store.url must be a PostgreSQL URL, like url = "postgresql://deploy@db.internal/team"',
            lines.key("url", lines.table("store") or 0),
        )

    config = Config(
        path=cfg_path,
        checklist_path=checklist_path,
        vars=variables,
        env_files=env_files,
        secret_names=list(dict.fromkeys(names)),
        timeout=timeout,
        concurrency=concurrency,
        checks=specs,
        base_dir=base,
        env_files_line=lines.key("files", env_table),
        store_url=store_url,
    )
    return config, checklist


Fail = Callable[[str, "int | None"], DeployError]


def _duration(value: object, fail: Fail, line: int | None) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise fail(f"timeout: {exc}", line) from None
    if seconds <= 0:
        raise fail("timeout must be more than zero", line)
    return seconds


def _check_spec(
    index: int,
    entry: Any,
    checklist: Checklist,
    default_timeout: float,
    lines: _Lines,
    fail: Fail,
    path: Path,
    kinds: KindCatalog,
) -> CheckSpec:
    header = lines.array_entry("check", index)
    where = f"[[check]] #{index + 1}"

    def key_line(key: str) -> int | None:
        return (lines.key(key, header) if header else None) or header

    if not isinstance(entry, dict):
        raise fail(f"{where} must be a table", header)
    item = entry.get("item")
    if not isinstance(item, str) or not item:
        raise fail(f'{where} needs item = "<item id>" (see `deploytui list`)', key_line("item"))
    node = checklist.nodes.get(item)
    if node is None:
        close = difflib.get_close_matches(item, list(checklist.nodes), n=3, cutoff=0.5)
        hint = (
            f"; did you mean {' or '.join(repr(c) for c in close)}?"
            if close
            else "; `deploytui list` shows the ids"
        )
        raise fail(f"unknown item id {item!r}{hint}", key_line("item"))
    if node.kind != "item":
        leaves = [n.id for n in checklist.leaves_under(item)][:3]
        hint = f" such as {', '.join(repr(x) for x in leaves)}" if leaves else ""
        raise fail(
            f"{item!r} is a section: bind checks to its items{hint}"
            " (a section's status comes from its items)",
            key_line("item"),
        )
    kind = entry.get("kind")
    if not isinstance(kind, str) or not kind:
        raise fail(f'{where} needs kind = "..." (one of: {", ".join(kinds.names())})', key_line("kind"))
    if kind not in kinds.names():
        close = difflib.get_close_matches(kind, kinds.names(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise fail(f"unknown kind {kind!r}: {hint}kinds: {', '.join(kinds.names())}", key_line("kind"))
    timeout = default_timeout
    if "timeout" in entry:
        timeout = _duration(entry["timeout"], fail, key_line("timeout"))
    name = entry.get("name", "")
    if not isinstance(name, str):
        raise fail("name must be a string", key_line("name"))
    params = {k: v for k, v in entry.items() if k not in SPEC_KEYS}
    problems = kinds.problems(kind, params)  # None: the kind's module is not installed in this build
    if problems:
        raise fail(problems[0], _problem_line(problems[0], params, key_line))
    return CheckSpec(
        item=item,
        kind=kind,
        index=index,
        params=params,
        timeout=timeout,
        name=name,
        line=header,
        source=str(path),
    )


def _problem_line(
    problem: str, params: Mapping[str, Any], key_line: Callable[[str], int | None]
) -> int | None:
    """The line of the field a validation problem names (quoted in the message), else the table's."""
    for key in sorted(params, key=len, reverse=True):
        if f"'{key}'" in problem:
            return key_line(key)
    expect = params.get("expect")
    if isinstance(expect, Mapping):
        return key_line("expect")
    return key_line("")


def _find_cycle(variables: Mapping[str, str]) -> list[str] | None:
    """A chain of vars that leads back to its start (`a -> b -> a`), if any."""
    done: set[str] = set()

    def visit(name: str, stack: list[str]) -> list[str] | None:
        if name in stack:
            return [*stack[stack.index(name) :], name]
        if name in done:
            return None
        stack.append(name)
        for m in VAR_RE.finditer(variables[name]):
            if m.group(1) in variables:
                found = visit(m.group(1), stack)
                if found:
                    return found
        stack.pop()
        done.add(name)
        return None

    for name in variables:
        found = visit(name, [])
        if found:
            return found
    return None


# --------------------------------------------------------------------------------------------- resolve


def empty_config(checklist_path: Path, base_dir: Path | None = None) -> Config:
    """A config with no bindings (a bare checklist)."""
    return Config(path=None, checklist_path=checklist_path, base_dir=base_dir or checklist_path.parent)


def resolve(source: str | None, config: str | None, *, kinds: KindCatalog) -> tuple[Checklist, Config]:
    """The checklist and config a command works on.

    - source is a .toml: that config (and its checklist);
    - source is a checklist: it, with --config if given, else a deploytui.toml beside it that names it;
    - nothing: ./deploytui.toml if present, else the bundled checklist with its bundled bindings.
    """
    from deploytui.core.checklist import bundled_checklist_path, load_checklist

    if source is not None and source.lower().endswith(".toml"):
        if config is not None:
            raise DeployError(f"two configs given ({source} and --config {config}): give one")
        cfg, checklist = _load_config(source, kinds=kinds)
        return checklist, cfg
    if source is not None:
        checklist = load_checklist(source)
        if config is not None:
            return checklist, load_config(config, checklist, kinds=kinds)
        sibling = Path(source).resolve().parent / CONFIG_NAME
        if sibling.is_file() and _names_checklist(sibling, Path(source)):
            return checklist, load_config(sibling, checklist, kinds=kinds)
        if Path(source).resolve() == bundled_checklist_path().resolve():
            return checklist, _bundled_config(checklist, kinds)
        return checklist, empty_config(Path(source), Path(source).resolve().parent)
    if config is not None:
        cfg, checklist = _load_config(config, kinds=kinds)
        return checklist, cfg
    local = Path.cwd() / CONFIG_NAME
    if local.is_file():
        cfg, checklist = _load_config(local, kinds=kinds)
        return checklist, cfg
    checklist = load_checklist(bundled_checklist_path())
    return checklist, _bundled_config(checklist, kinds)


def _bundled_config(checklist: Checklist, kinds: KindCatalog) -> Config:
    """The bundled bindings (if shipped); relative paths in them resolve against the working directory."""
    assert checklist.path is not None
    if not bundled_bindings_path().is_file():
        return empty_config(checklist.path, Path.cwd())
    cfg = load_config(bundled_bindings_path(), checklist, kinds=kinds)
    cfg.base_dir = Path.cwd()
    return cfg


def _names_checklist(config_path: Path, checklist_path: Path) -> bool:
    """Whether a config's `checklist` key points at this checklist file."""
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    named = data.get("checklist")
    if not isinstance(named, str):
        return False
    target = Path(named).expanduser()
    if not target.is_absolute():
        target = config_path.parent / target
    try:
        return target.resolve() == checklist_path.resolve()
    except OSError:
        return False
