from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.tui_support import SECRET


@pytest.fixture
def tui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test's own user config dir and working dir, and the bindings' secret in the environment."""
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    monkeypatch.chdir(tmp_path)
