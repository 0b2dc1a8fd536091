"""Where festina keeps its files: per-user directories, or one folder under FESTINA_HOME."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "festina"


@dataclass(frozen=True)
class FestinaPaths:
    config_file: Path
    data_dir: Path
    log_dir: Path

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'festina.db'}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "festina.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "festina.log"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    def ensure(self) -> FestinaPaths:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self


def resolve_paths(environ: dict[str, str] | None = None) -> FestinaPaths:
    """FESTINA_HOME, when set, holds everything (handy for tests and portable installs);
    otherwise the platform's per-user config, data and log directories are used."""
    env = os.environ if environ is None else environ
    home = env.get("FESTINA_HOME")
    if home:
        root = Path(home).expanduser()
        return FestinaPaths(root / "config.toml", root / "data", root / "logs")
    return FestinaPaths(
        Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml",
        Path(platformdirs.user_data_dir(APP_NAME)),
        Path(platformdirs.user_log_dir(APP_NAME)),
    )
