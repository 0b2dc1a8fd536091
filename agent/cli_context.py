"""The object every `festina` command receives (click's `ctx.obj`): where festina keeps its
files, which config file the command reads, and what commands open from them.

Commands of the packages below agent (memory's, gate's) name only the protocols they
define, which this class implements; so what they need of the configuration is visible in
the import graph, and they never reach into agent's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from agent.config import ConfigError, Settings, load_settings
from agent.paths import FestinaPaths, resolve_paths
from agent.pidlock import running_pid
from core.events import describe_validation_error
from gate.cli_context import GateCommandContext
from memory.cli_context import MemoryCommandContext

if TYPE_CHECKING:
    from gate.base import GateModel
    from memory.store import Store


@dataclass
class CliContext(GateCommandContext, MemoryCommandContext):
    paths: FestinaPaths
    config_path: Path
    # Given with --config: then the file must exist (the default one may be absent).
    config_explicit: bool

    @classmethod
    def from_option(cls, config_path: Path | None) -> CliContext:
        """The context for the root command's --config (None: the per-user file)."""
        paths = resolve_paths()
        return cls(paths, config_path or paths.config_file, config_path is not None)

    def settings(self, **overrides: Any) -> Settings:
        """Settings from the config file with command-line overrides applied; `overrides`
        maps "section.key" to a value, None leaving the file's."""
        try:
            settings = load_settings(self.config_path, required=self.config_explicit)
        except ConfigError as error:
            raise click.ClickException(str(error)) from error
        merged = settings.model_dump()
        for dotted, value in overrides.items():
            if value is not None:
                section, key = dotted.split(".")
                merged[section][key] = value
        try:
            return Settings.model_validate(merged)
        except ValidationError as error:
            raise click.ClickException(describe_validation_error(error)) from error

    def database_url(self) -> str:
        """The configured memory's SQLAlchemy URL."""
        return self.settings().storage.url or self.paths.database_url

    def open_store(self) -> Store:
        """The configured memory, creating the data directory on first use."""
        # Imported here: commands that never open memory start without SQLAlchemy.
        from memory.integrity import StorageUnusable, check_memory
        from memory.store import Store

        self.paths.ensure()
        url = self.database_url()
        try:
            for warning in check_memory(url):
                click.echo(f"Warning: {warning}", err=True)
        except StorageUnusable as error:
            raise click.ClickException(str(error)) from error
        return Store(url)

    def daemon_running(self) -> bool:
        """Whether a festina daemon holds its pid lock now."""
        return running_pid(self.paths.pid_file) is not None

    def models_dir(self, *, ensure: bool = False) -> Path:
        """The folder of trained gate models; `ensure`: create the data folders first."""
        return (self.paths.ensure() if ensure else self.paths).models_dir

    def load_gate(self) -> GateModel:
        """The gate the configuration names, loaded as the daemon loads it."""
        # Imported here: loading a gate model pulls in onnxruntime.
        from gate.loader import load_gate

        settings = self.settings()
        return load_gate(settings.gate.model, self.paths.models_dir, settings.gate.device)
