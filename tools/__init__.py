"""The typed API tool pool the slow path plans over."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tools.base import Tool, ToolContext
from tools.desktop import DESKTOP_TOOLS
from tools.device import DEVICE_TOOLS
from tools.errors import ExplainError
from tools.organizer import ORGANIZER_TOOLS
from tools.pool import ToolPool
from tools.text import TEXT_TOOLS

ALL_TOOLS: tuple[type[Tool], ...] = (
    *DESKTOP_TOOLS,
    ExplainError,
    *ORGANIZER_TOOLS,
    *TEXT_TOOLS,
    *DEVICE_TOOLS,
)


def default_pool(
    workspace: Path, *, dry_run: bool = False, read_paths: Iterable[str | Path] = ()
) -> ToolPool:
    """Every built-in tool, writing inside `workspace` and reading there and in `read_paths`."""
    context = ToolContext(workspace, dry_run, tuple(Path(p) for p in read_paths))
    return ToolPool((tool() for tool in ALL_TOOLS), context)
