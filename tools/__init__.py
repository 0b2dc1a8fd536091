"""The typed API tool pool the slow path plans over."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tools.base import Tool, ToolContext
from tools.desktop import DESKTOP_TOOLS
from tools.device import DEVICE_TOOLS
from tools.errors import ExplainError
from tools.local_docs import LocalDocs
from tools.organizer import ORGANIZER_TOOLS
from tools.pool import ToolPool
from tools.session_note import AddToSessionNote
from tools.text import TEXT_TOOLS

ALL_TOOLS: tuple[type[Tool], ...] = (
    *DESKTOP_TOOLS,
    AddToSessionNote,
    ExplainError,
    LocalDocs,
    *ORGANIZER_TOOLS,
    *TEXT_TOOLS,
    *DEVICE_TOOLS,
)


def default_pool(
    workspace: Path,
    *,
    dry_run: bool = False,
    read_paths: Iterable[str | Path] = (),
    opens_links: bool = True,
) -> ToolPool:
    """Every built-in tool, writing inside `workspace` and reading there and in `read_paths`;
    `opens_links=False`: links are never opened on this desktop (see `ToolContext`)."""
    context = ToolContext(workspace, dry_run, tuple(Path(p) for p in read_paths), opens_links)
    return ToolPool((tool() for tool in ALL_TOOLS), context)
