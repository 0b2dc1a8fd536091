"""The typed API tool pool the slow path plans over."""

from __future__ import annotations

from pathlib import Path

from tools.base import Tool, ToolContext
from tools.desktop import DESKTOP_TOOLS
from tools.device import DEVICE_TOOLS
from tools.organizer import ORGANIZER_TOOLS
from tools.pool import ToolPool
from tools.text import TEXT_TOOLS

ALL_TOOLS: tuple[type[Tool], ...] = (*DESKTOP_TOOLS, *ORGANIZER_TOOLS, *TEXT_TOOLS, *DEVICE_TOOLS)


def default_pool(workspace: Path, *, dry_run: bool = False) -> ToolPool:
    """Every built-in tool, writing inside `workspace`."""
    return ToolPool((tool() for tool in ALL_TOOLS), ToolContext(workspace, dry_run))
