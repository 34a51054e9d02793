"""Theme files (themes/*.toml), validated at load and registered beside Textual's built-in themes.

A theme file holds Textual's theme fields (name, dark, primary, secondary, accent, warning, error,
success, foreground, background, surface, panel, boost), an optional [variables] table of Textual CSS
variables, and an optional [status] table with one colour per status (pending, running, passed, ...).
Every colour goes through `Color.parse`; a file with any bad value is left out and every problem of
every file is reported together.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

from deploytui.core.status import Status

REPO_THEMES_DIR = Path(__file__).resolve().parents[2] / "themes"
"""themes/ beside the package (a source checkout or an editable install)."""

INSTALLED_THEMES_DIR = Path(sys.prefix) / "share" / "deploytui" / "themes"
"""Where a wheel install puts themes/ (pyproject's data-files)."""

DEFAULT_THEME = "deploytui-night"
"""Theme used when none is chosen or the chosen one cannot be loaded."""

FALLBACK_THEME = "textual-dark"
"""Built-in theme used when the default theme file itself is missing or broken."""

_COLOR_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_STATUS_PREFIX = "status-"


@dataclass
class ThemeLoad:
    themes: list[Theme] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def theme_dirs(extra: list[Path] | None = None) -> list[Path]:
    """Where theme files are looked for, later ones overriding earlier ones of the same name."""
    from deploytui.tui.settings import user_config_dir

    dirs = [
        INSTALLED_THEMES_DIR,
        REPO_THEMES_DIR,
        Path.cwd() / "themes",
        user_config_dir() / "themes",
        *(extra or []),
    ]
    seen: list[Path] = []
    for d in dirs:
        resolved = d.resolve()
        if resolved not in seen:
            seen.append(resolved)
    return seen


def load_theme_file(path: Path) -> tuple[Theme | None, list[str]]:
    """One theme from one file, or None with the reasons."""
    where = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return None, [f"{where}: {exc}"]
    problems: list[str] = []
    name = data.get("name") or path.stem
    if not isinstance(name, str):
        problems.append(f"{where}: name must be a string")
        name = path.stem
    colors: dict[str, str] = {}
    for key in _COLOR_FIELDS:
        value = data.get(key)
        if value is None:
            continue
        if _valid_color(value):
            colors[key] = value
        else:
            problems.append(f"{where}: {key} = {value!r} is not a colour")
    if "primary" not in colors and not any(p.startswith(f"{where}: primary") for p in problems):
        problems.append(f"{where}: primary colour is required")
    variables: dict[str, str] = {}
    raw_vars = data.get("variables", {})
    if not isinstance(raw_vars, dict):
        problems.append(f"{where}: [variables] must be a table")
        raw_vars = {}
    for key, value in raw_vars.items():
        if not isinstance(value, str):
            problems.append(f"{where}: variables.{key} must be a string")
        else:
            variables[key] = value
    raw_status = data.get("status", {})
    if not isinstance(raw_status, dict):
        problems.append(f"{where}: [status] must be a table")
        raw_status = {}
    known = {s.value for s in Status}
    for key, value in raw_status.items():
        if key not in known:
            problems.append(f"{where}: status.{key} is not a status ({', '.join(sorted(known))})")
        elif not _valid_color(value):
            problems.append(f"{where}: status.{key} = {value!r} is not a colour")
        else:
            variables[_STATUS_PREFIX + key] = value
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        problems.append(f"{where}: dark must be true or false")
        dark = True
    unknown = (
        set(data)
        - set(_COLOR_FIELDS)
        - {"name", "dark", "variables", "status", "luminosity_spread", "text_alpha"}
    )
    for key in sorted(unknown):
        problems.append(f"{where}: unknown key {key!r}")
    floats: dict[str, float] = {}
    for key in ("luminosity_spread", "text_alpha"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
            floats[key] = float(value)
        else:
            problems.append(f"{where}: {key} must be a number from 0 to 1")
    if problems:
        return None, problems
    c = colors.get
    theme = Theme(
        name=name,
        primary=colors["primary"],
        secondary=c("secondary"),
        warning=c("warning"),
        error=c("error"),
        success=c("success"),
        accent=c("accent"),
        foreground=c("foreground"),
        background=c("background"),
        surface=c("surface"),
        panel=c("panel"),
        boost=c("boost"),
        dark=dark,
        variables=variables,
        luminosity_spread=floats.get("luminosity_spread", 0.15),
        text_alpha=floats.get("text_alpha", 0.95),
    )
    return theme, []


def load_themes(dirs: list[Path] | None = None) -> ThemeLoad:
    """Every valid theme file in the theme dirs, and every problem found."""
    result = ThemeLoad()
    by_name: dict[str, Theme] = {}
    for directory in dirs if dirs is not None else theme_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            theme, problems = load_theme_file(path)
            result.problems.extend(problems)
            if theme is not None:
                by_name[theme.name] = theme
    result.themes = list(by_name.values())
    return result


def _valid_color(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        Color.parse(value)
    except ColorParseError:
        return False
    return True


def status_colors(theme: Theme) -> dict[Status, str]:
    """A colour per status: the theme's [status] table, else derived from its semantic colours."""
    fg = theme.foreground or ("#e0e0e0" if theme.dark else "#202020")
    muted = Color.parse(fg).blend(
        Color.parse(theme.background or ("#000000" if theme.dark else "#ffffff")), 0.45
    )
    derived = {
        Status.PENDING: muted.hex,
        Status.RUNNING: theme.accent or theme.primary,
        Status.PASSED: theme.success or theme.primary,
        Status.DONE: theme.success or theme.primary,
        Status.FAILED: theme.error or theme.primary,
        Status.ERROR: theme.error or theme.primary,
        Status.SKIPPED: muted.hex,
        Status.OVERRIDDEN: theme.warning or theme.primary,
        Status.INTERRUPTED: theme.warning or theme.primary,
        Status.FLAKY: theme.warning or theme.primary,
        Status.BLOCKED: theme.warning or theme.primary,
    }
    for status in Status:
        custom = theme.variables.get(_STATUS_PREFIX + status.value)
        if custom:
            derived[status] = custom
    return derived
