"""The user's own settings: chosen theme and key remapping, in settings.toml under the user config dir.

The file lives at `platformdirs.user_config_dir("deploytui")/settings.toml`; `DEPLOYTUI_CONFIG_DIR`
points it elsewhere (tests use a temp dir so they never read or write the real one).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from deploytui.core.errors import DeployError

CONFIG_DIR_ENV = "DEPLOYTUI_CONFIG_DIR"
"""Environment variable that overrides the user config directory."""


def user_config_dir() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("deploytui"))


@dataclass
class Settings:
    """What the user chose in the app (theme) and wrote by hand (keymap: binding id -> keys)."""

    path: Path
    theme: str | None = None
    keymap: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path | None = None) -> Settings:
        path = (directory or user_config_dir()) / "settings.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DeployError(f"cannot read settings: {exc}", path=path) from exc
        theme = data.get("theme")
        keymap = data.get("keymap", {})
        if theme is not None and not isinstance(theme, str):
            raise DeployError("theme must be a string", path=path)
        if not isinstance(keymap, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in keymap.items()
        ):
            raise DeployError('[keymap] maps binding ids to keys, like run = "ctrl+r"', path=path)
        return cls(path, theme, dict(keymap))

    def save(self) -> None:
        """Write atomically (temp file + replace), keeping what the user wrote in [keymap]."""
        data: dict[str, object] = {}
        if self.theme:
            data["theme"] = self.theme
        if self.keymap:
            data["keymap"] = dict(self.keymap)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)
