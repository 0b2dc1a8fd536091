"""What `festina memory|feedback|prefs|pause|resume` need of the command line's context
object (click's `ctx.obj`). The root command builds that object from the configuration,
above memory's layer; memory's commands name only this protocol, not agent's settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from gate.base import GateModel
    from memory.store import Store


@runtime_checkable
class MemoryCommandContext(Protocol):
    """Memory, the daemon's lock and the configured gate (`memory recall` embeds with it),
    as the configuration gives them."""

    def open_store(self) -> Store:
        """The configured memory, checked and opened (a ClickException when unusable)."""
        ...

    def database_url(self) -> str:
        """The configured memory's SQLAlchemy URL."""
        ...

    def daemon_running(self) -> bool:
        """Whether a festina daemon holds its pid lock now."""
        ...

    def load_gate(self) -> GateModel:
        """The gate the configuration names, loaded as the daemon loads it."""
        ...
