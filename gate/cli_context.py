"""What `festina gate` commands need of the command line's context object (click's
`ctx.obj`). The root command builds that object from the configuration, above gate's
layer; gate's commands name only this protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class GateCommandContext(Protocol):
    """Where festina keeps the gate models trained on this machine."""

    def models_dir(self, *, ensure: bool = False) -> Path:
        """The folder of trained gate models; `ensure`: create festina's data folders
        first, as a command that writes a model needs."""
        ...
