"""deploytui.toml: which checklist, variables, env files, secrets, defaults and check bindings.

Every validation error names the file, the line and what is wrong. tomllib gives no positions for
values, so lines are found in the source text: the Nth `[[check]]` header for the Nth binding, the
`key =` line inside a table for a field.

Bindings go to *items* (tickable nodes), never to sections: a section's status is derived from its
items and a session keeps state only for items, so a check bound to a section would have nowhere to put
its result. The error says which items the section holds.

Why one module (~870 lines): every key's check needs the same source-line finder (`_Lines`) and the
same error shape; the order/isolation/time keys of a binding are resolved against the other bindings
(`after` names them), so bindings, their schedule and their lines are validated in one pass.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from deploytui.core.dotenv import dotenv_lines, load_dotenv
from deploytui.core.durations import parse_duration
from deploytui.core.errors import DeployError
from deploytui.core.redact import MIN_SECRET_LENGTH, Redactor
from deploytui.core.spec import (
    DEFAULT_POLL_INTERVAL,
    VAR_RE,
    CheckContext,
    CheckSpec,
    MissingVariable,
    Retry,
)

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

TOP_LEVEL_KEYS = ("checklist", "vars", "env", "secrets", "defaults", "signoff", "check", "store")
TABLE_KEYS = {
    "env": ("files",),
    "secrets": ("env",),
    "defaults": ("timeout", "concurrency"),
    "signoff": ("reviewers",),
    "store": ("url",),
}
SCHEDULE_KEYS = frozenset(
    {"after", "exclusive", "resource", "cooldown", "within", "interval", "retry", "read_only"}
)
"""Keys of a [[check]] about order, isolation and time: read by the engine, never by the kind."""
SPEC_KEYS = frozenset({"item", "kind", "timeout", "name"}) | SCHEDULE_KEYS
"""Keys of a [[check]] that are not passed to the kind as params."""

MAX_RETRY_ATTEMPTS = 20
"""Most tries `retry = { attempts = N }` may ask for."""

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class KindCatalog(Protocol):
    """The check kinds a config may bind, as the loader needs them. Core cannot import the kinds
    (the kinds sit a layer above it), so the caller passes the registry (`REGISTRY` in the checks layer),
    which the services layer (`project.resolve`) does for every face."""

    def names(self) -> list[str]:
        """Every kind name, sorted."""
        ...

    def problems(self, kind: str, params: Mapping[str, Any]) -> list[str] | None:
        """What is wrong with a binding's parameters (empty: valid); None: cannot be checked here."""
        ...

    def default_timeout(self, kind: str, params: Mapping[str, Any]) -> float | None:
        """The timeout of a binding that sets none, when the kind has its own (a world-changing command:
        DEFAULT_ACTION_TIMEOUT); None: the config's ([defaults] timeout)."""
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
    secrets_line: int | None = None
    """The line of `env = [...]` in [secrets] (where a refused secret is named when the value comes
    from the process environment)."""
    signoff_reviewers: int = 1
    """`[signoff] reviewers`: reviewer signatures a record needs (four eyes, the default), or 0 to
    declare that no one countersigns. The sign-off records it, so `verify` applies the same rule."""

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
        """Masks every [secrets] env value, every [vars] value built from one (a DSN with a password),
        and the password of every URL the checks use. DeployError naming the variable and where it is
        set when a secret's value is too short to be masked."""
        environment = self.environment() if env is None else env
        redactor = Redactor()
        secret_names = set(self.secret_names)
        for name in self.secret_names:
            value = environment.get(name)
            if value and len(value) < MIN_SECRET_LENGTH:
                raise self._short_secret(name, value, environment)
            redactor.add(name, value)
        ctx = CheckContext(vars=self.vars, env=environment, redactor=redactor)
        for name in self.vars:
            try:
                value = ctx.lookup(name)
            except MissingVariable:
                continue
            if self._references_secret(name, secret_names, set()):
                redactor.add(name, value)
        for spec in self.checks:
            _learn_urls(spec.params, ctx)
        return redactor

    def _short_secret(self, name: str, value: str, environment: Mapping[str, str]) -> DeployError:
        """The error for a secret too short to mask, at the line that sets it: the dotenv file's
        assignment, or [secrets] env when the value comes from the process environment."""
        size = f"{len(value)} character{'s' if len(value) != 1 else ''}"
        message = (
            f"secret {name} is {size} long: a value shorter than {MIN_SECRET_LENGTH} cannot be masked"
            f" (use a longer value, or take {name} out of [secrets] env)"
        )
        if os.environ.get(name) != environment.get(name):
            for path in reversed(self.env_files):
                line = dotenv_lines(path).get(name)
                if line is not None:
                    return DeployError(message, path=path, line=line)
        if name in os.environ:
            message += "; it is set in the environment"
        return DeployError(message, path=self.path, line=self.secrets_line)

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

    def unset_variables(
        self, provided: Callable[[str], frozenset[str]] = lambda kind: frozenset()
    ) -> dict[str, list[str]]:
        """Each `${NAME}` a check uses that neither [vars] nor the environment (dotenv files included)
        sets and that has no default -> the keys of the checks that use it. Those checks would end
        `error` at run time: `list` and `check --dry-run` say so before anything runs. `provided(kind)`
        names the variables a kind fills in itself (backup's `${date}`)."""
        ctx = CheckContext(vars=self.vars, env=self.environment())
        unset: dict[str, list[str]] = {}
        for spec in self.checks:
            own = provided(spec.kind)
            for value in _strings(spec.params):
                for m in VAR_RE.finditer(value):
                    if m.group(1) in own:
                        continue
                    try:
                        ctx.lookup(m.group(1), m.group(2))
                    except MissingVariable as exc:
                        keys = unset.setdefault(exc.name, [])
                        if spec.key not in keys:
                            keys.append(spec.key)
        return unset

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
        bad = bad_reference(variables[name])
        if bad is not None:
            raise fail(
                f"var {name!r}: {bad!r} is not a variable reference (write ${{NAME}} or ${{NAME:-default}})",
                lines.key(name, vars_table),
            )
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
    # sign-off
    reviewers = data.get("signoff", {}).get("reviewers", 1)
    if isinstance(reviewers, bool) or reviewers not in (0, 1):
        raise fail(
            f"signoff.reviewers must be 1 (a reviewer countersigns, the default) or 0 (no one does), "
            f"got {reviewers!r}",
            lines.key("reviewers", lines.table("signoff") or 0),
        )

    specs = [
        _check_spec(index, entry, checklist, timeout, lines, fail, cfg_path, kinds)
        for index, entry in enumerate(raw_checks)
    ]
    specs = _resolve_after(specs, raw_checks, checklist, lines, fail)

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
        secrets_line=lines.key("env", secrets_table) or (secrets_table or None),
        signoff_reviewers=int(reviewers),
        store_url=store_url,
    )
    return config, checklist


Fail = Callable[[str, "int | None"], DeployError]


def _duration(
    value: object, fail: Fail, line: int | None, name: str = "timeout", zero: bool = False
) -> float:
    """Seconds of a duration key; `zero`: 0 is allowed (else it must be more than zero)."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise fail(f"{name}: {exc}", line) from None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise fail(f"{name}: expected a duration like \"10s\", got {value!r}", line)
    if seconds < 0 or (seconds == 0 and not zero):
        raise fail(f"{name} must be more than zero", line)
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
    for key, value in params.items():
        bad = bad_reference(value)
        if bad is not None:
            raise fail(
                f"{key}: {bad!r} is not a variable reference (write ${{NAME}} or ${{NAME:-default}})",
                key_line(key),
            )
    problems = kinds.problems(kind, params)  # None: the kind's module is not installed in this build
    if problems:
        raise fail(problems[0], _problem_line(problems[0], params, key_line))
    schedule = _schedule(entry, params, fail, key_line)
    if "timeout" not in entry and not schedule.get("read_only"):
        # A world-changing command (a migration, a dump) gets minutes, not a check's seconds.
        timeout = kinds.default_timeout(kind, params) or timeout
    return CheckSpec(
        item=item,
        kind=kind,
        index=index,
        params=params,
        timeout=timeout,
        timeout_set="timeout" in entry,
        name=name,
        line=header,
        source=str(path),
        **schedule,
    )


def _strings(value: Any) -> list[str]:
    """Every string in a value, its lists and tables."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    return []


_REFERENCE_START_RE = re.compile(r"\$\{")


def bad_reference(value: Any) -> str | None:
    """The first `${` in a string (or in a list or table of them) that does not open a well-formed
    `${NAME}` / `${NAME:-default}` (an unclosed `${API_URL`, say), as it is written; None: all are."""
    if isinstance(value, str):
        for m in _REFERENCE_START_RE.finditer(value):
            if not VAR_RE.match(value, m.start()):
                end = value.find("}", m.start())
                return value[m.start() : end + 1 if end >= 0 else min(len(value), m.start() + 40)]
        return None
    if isinstance(value, list):
        return next((bad for v in value if (bad := bad_reference(v)) is not None), None)
    if isinstance(value, Mapping):
        return next((bad for v in value.values() if (bad := bad_reference(v)) is not None), None)
    return None


def _schedule(
    entry: Mapping[str, Any], params: Mapping[str, Any], fail: Fail, key_line: Callable[[str], int | None]
) -> dict[str, Any]:
    """The order/isolation/time keys of a [[check]], validated (`after` is resolved later, by name)."""
    out: dict[str, Any] = {}
    for key in ("exclusive", "read_only"):
        if key in entry:
            if not isinstance(entry[key], bool):
                raise fail(f"{key} must be true or false", key_line(key))
            out[key] = entry[key]
    if "resource" in entry:
        resource = entry["resource"]
        if not isinstance(resource, str) or not resource.strip():
            raise fail('resource must be a name, like resource = "api"', key_line("resource"))
        out["resource"] = resource.strip()
    if "after" in entry:
        after = entry["after"]
        names = [after] if isinstance(after, str) else after
        if not (
            isinstance(names, list) and names and all(isinstance(n, str) and n.strip() for n in names)
        ):
            raise fail(
                'after must be a list of item ids or check names, like after = ["pre-deployment/..."]',
                key_line("after"),
            )
    if "cooldown" in entry:
        out["cooldown"] = _duration(entry["cooldown"], fail, key_line("cooldown"), "cooldown", zero=True)
        if not (entry.get("exclusive") is True or "resource" in entry or "burst" in params):
            raise fail(
                "cooldown applies after an exclusive, resource or burst check:"
                ' add exclusive = true or resource = "..."',
                key_line("cooldown"),
            )
    if "within" in entry:
        out["within"] = _duration(entry["within"], fail, key_line("within"), "within")
    if "interval" in entry:
        if "within" not in entry:
            raise fail(
                'interval is the pause between polls of a within check: add within = "2m"'
                " (retry takes its own: retry = { attempts = 3, interval = \"2s\" })",
                key_line("interval"),
            )
        out["interval"] = _duration(entry["interval"], fail, key_line("interval"), "interval")
        if out["interval"] > out["within"]:
            raise fail("interval is longer than within: the check would be tried once", key_line("interval"))
    if "retry" in entry:
        out["retry"] = _retry(entry["retry"], fail, key_line("retry"))
        if "within" in entry:
            raise fail(
                "use either within (poll until ready) or retry (tries of a check that should pass at"
                " once), not both",
                key_line("retry"),
            )
    return out


def _retry(value: Any, fail: Fail, line: int | None) -> Retry:
    example = 'retry = { attempts = 3, interval = "2s" }'
    if not isinstance(value, Mapping):
        raise fail(f"retry must be a table, like {example}", line)
    unknown = sorted(set(value) - {"attempts", "interval"})
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} in retry (known: attempts, interval)", line)
    attempts = value.get("attempts")
    if (
        isinstance(attempts, bool)
        or not isinstance(attempts, int)
        or not 2 <= attempts <= MAX_RETRY_ATTEMPTS
    ):
        raise fail(
            f"retry.attempts must be a whole number from 2 to {MAX_RETRY_ATTEMPTS} (tries in all),"
            f" got {attempts!r}",
            line,
        )
    interval = DEFAULT_POLL_INTERVAL
    if "interval" in value:
        interval = _duration(value["interval"], fail, line, "retry.interval", zero=True)
    return Retry(attempts, interval)


def _resolve_after(
    specs: list[CheckSpec], raw_checks: list[Any], checklist: Checklist, lines: _Lines, fail: Fail
) -> list[CheckSpec]:
    """Each `after` entry (an item id or a check name) as the keys of the checks it names; an unknown
    entry, a check waiting for itself and a cycle are errors naming the line of the `after` key."""
    by_item: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    for spec in specs:
        by_item.setdefault(spec.item, []).append(spec.key)
        if spec.name:
            by_name.setdefault(spec.name, []).append(spec.key)
    labels = {spec.key: _check_label(spec) for spec in specs}

    def after_line(index: int) -> int | None:
        header = lines.array_entry("check", index)
        return (lines.key("after", header) if header else None) or header

    resolved: list[CheckSpec] = []
    for spec, entry in zip(specs, raw_checks, strict=True):
        raw = entry.get("after") if isinstance(entry, dict) else None
        if raw is None:
            resolved.append(spec)
            continue
        keys: list[str] = []
        for wanted in [raw] if isinstance(raw, str) else raw:
            wanted = wanted.strip()
            found = by_item.get(wanted.strip("/")) or by_name.get(wanted)
            if not found:
                if wanted.strip("/") in checklist.nodes:
                    raise fail(
                        f"after: {wanted!r} has no [[check]] bound to it (after waits for checks:"
                        " name an item with checks, or a check's name)",
                        after_line(spec.index),
                    )
                choices = list(by_item) + list(by_name)
                close = difflib.get_close_matches(wanted, choices, n=3, cutoff=0.5)
                hint = (
                    f"; did you mean {' or '.join(repr(c) for c in close)}?"
                    if close
                    else " (after takes the item ids of bound checks, or check names)"
                )
                raise fail(f"after: no check or item {wanted!r}{hint}", after_line(spec.index))
            if spec.key in found:
                raise fail(f"after: {labels[spec.key]} cannot wait for itself", after_line(spec.index))
            keys.extend(k for k in found if k not in keys)
        resolved.append(replace(spec, after=tuple(keys)))

    graph = {spec.key: spec.after for spec in resolved}
    cycle = _find_wait_cycle(graph)
    if cycle:
        first = next(s for s in resolved if s.key == cycle[0])
        raise fail(
            f"after: checks wait for each other in a cycle: {' -> '.join(labels[k] for k in cycle)}",
            after_line(first.index),
        )
    return resolved


def _check_label(spec: CheckSpec) -> str:
    """A check as an error names it: its item id, and its name when it has one."""
    return f"{spec.item} ({spec.name})" if spec.name else spec.item


def _find_wait_cycle(graph: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """A chain of `after` waits leading back to its start (`a -> b -> a`), if any."""
    done: set[str] = set()

    def visit(key: str, stack: list[str]) -> list[str] | None:
        if key in stack:
            return [*stack[stack.index(key) :], key]
        if key in done:
            return None
        stack.append(key)
        for dep in graph.get(key, ()):
            found = visit(dep, stack)
            if found:
                return found
        stack.pop()
        done.add(key)
        return None

    for key in graph:
        found = visit(key, [])
        if found:
            return found
    return None


def _problem_line(
    problem: str, params: Mapping[str, Any], key_line: Callable[[str], int | None]
) -> int | None:
    """The line of the field a validation problem names (quoted in the message), else the table's."""
    for key in sorted(params, key=len, reverse=True):
        if f"'{key}'" in problem or problem.startswith(f"{key}: "):
            return key_line(key)
    expect = params.get("expect")
    if isinstance(expect, Mapping):
        return key_line("expect")
    return key_line("")


def _learn_urls(value: Any, ctx: CheckContext) -> None:
    """Let ctx's redactor learn the password of every URL in a check's parameters (substituted where
    the variables are set), before anything runs or is shown."""
    if isinstance(value, str):
        try:
            ctx.substitute(value)
        except MissingVariable:
            ctx.redactor.learn_urls(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            _learn_urls(item, ctx)
    elif isinstance(value, list):
        for item in value:
            _learn_urls(item, ctx)


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


@dataclass(frozen=True)
class Located:
    """Which deploytui.toml a command's arguments name, found without loading anything (`locate`)."""

    path: Path | None
    """The config (the bundled bindings may be absent from a build); None: a bare checklist."""
    bundled: bool = False
    """The bundled bindings, chosen because nothing else was named (paths in them resolve against the
    working directory)."""


def locate(source: str | None, config: str | None) -> Located:
    """The config `resolve` loads for these arguments (its rules), read from nothing but file names and,
    for a checklist with a deploytui.toml beside it, that file's `checklist` key. A headless command
    uses it to learn which kinds a run will need before anything else is loaded."""
    if source is not None and source.lower().endswith(".toml"):
        return Located(Path(source))
    bundled = bundled_bindings_path()
    if source is not None:
        from deploytui.core.checklist import bundled_checklist_path  # (markdown-it: only when needed)

        if config is not None:
            return Located(Path(config))
        sibling = Path(source).resolve().parent / CONFIG_NAME
        if sibling.is_file() and _names_checklist(sibling, Path(source)):
            return Located(sibling)
        if Path(source).resolve() == bundled_checklist_path().resolve():
            return Located(bundled, bundled=True)
        return Located(None)
    if config is not None:
        return Located(Path(config))
    local = Path.cwd() / CONFIG_NAME
    if local.is_file():
        return Located(local)
    return Located(bundled, bundled=True)


def bound_kinds(path: Path) -> set[str]:
    """The kinds a config's [[check]] tables name, read without validating anything (empty when the file
    cannot be read or parsed: the load that follows says why)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return set()
    checks = data.get("check")
    if not isinstance(checks, list):
        return set()
    return {c["kind"] for c in checks if isinstance(c, dict) and isinstance(c.get("kind"), str)}


def resolve(source: str | None, config: str | None, *, kinds: KindCatalog) -> tuple[Checklist, Config]:
    """The checklist and config a command works on.

    - source is a .toml: that config (and its checklist);
    - source is a checklist: it, with --config if given, else a deploytui.toml beside it that names it;
    - nothing: ./deploytui.toml if present, else the bundled checklist with its bundled bindings.
    """
    from deploytui.core.checklist import bundled_checklist_path, load_checklist

    if source is not None and source.lower().endswith(".toml") and config is not None:
        raise DeployError(f"two configs given ({source} and --config {config}): give one")
    found = locate(source, config)
    if source is not None and not source.lower().endswith(".toml"):
        checklist = load_checklist(source)
        if found.path is None:
            return checklist, empty_config(Path(source), Path(source).resolve().parent)
        if found.bundled:
            return checklist, _bundled_config(checklist, kinds)
        return checklist, load_config(found.path, checklist, kinds=kinds)
    if found.bundled or found.path is None:  # (path is None only beside a checklist)
        checklist = load_checklist(bundled_checklist_path())
        return checklist, _bundled_config(checklist, kinds)
    cfg, checklist = _load_config(found.path, kinds=kinds)
    return checklist, cfg


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
