"""The session note: one Markdown note a day in the notes folder, `session-YYYY-MM-DD.md`,
that festina appends what it did for the person to (a search opened, with its query and
link), so the day's trail can be found again with `search_notes` or any editor.

Only ever appended to: each entry is one write on a descriptor opened with `O_APPEND`,
reached as every workspace write is (`tools.base.open_for_writing`: no symbolic link, hard
link, FIFO or device), so an entry is never lost to a rewrite, two entries never
interleave, and a link planted at the note's name is refused rather than written through.
"""

from __future__ import annotations

import errno
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from pydantic import AwareDatetime, Field

from tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult, open_for_writing


def session_note_path(context: ToolContext, day: datetime) -> Path:
    """The session note of `day` (its local date) in the workspace's notes folder. Its
    own name is not resolved: a link planted there must be refused when opened, not
    followed to whatever it names."""
    return context.path("notes") / f"session-{day.astimezone():%Y-%m-%d}.md"


class SessionNoteArgs(ToolArgs):
    text: str = Field(min_length=1, max_length=2000, description="the entry, one line")
    at: AwareDatetime | None = Field(
        None, description="when it happened (the day's note it goes to); default: now"
    )


class AddToSessionNote(Tool):
    name = "add_to_session_note"
    description = "Append a timestamped line to today's session note (notes/session-YYYY-MM-DD.md)."
    Args: ClassVar = SessionNoteArgs
    side_effect = True

    def run(self, args: SessionNoteArgs, context: ToolContext) -> ToolResult:
        at = (args.at or datetime.now(UTC)).astimezone()
        path = session_note_path(context, at)
        line = f"- {at:%H:%M} {' '.join(args.text.split())}"
        if context.dry_run:
            return ToolResult(dry_run=True, output=line, message=f"would add to {path}")
        try:
            stream = open_for_writing(context, path, append=True)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):  # O_NOFOLLOW met a link
                raise ToolError(
                    f"{path} is reached through a symbolic link; festina writes only its own files"
                ) from None
            raise
        with stream:
            # Empty as opened (just made, or made by a writer that wrote nothing yet): the
            # heading goes in the same write as the first entry.
            heading = (
                f"# Session {at:%Y-%m-%d}\n\n" if os.fstat(stream.fileno()).st_size == 0 else ""
            )
            entry = f"{heading}{line}\n".encode()
            # One write of the whole entry (never split by the buffer): O_APPEND places it
            # at the end as one piece.
            written = os.write(stream.fileno(), entry)
        if written != len(entry):
            return ToolResult(ok=False, message=f"only part of the entry reached {path}")
        return ToolResult(output=line, message=f"added to {path}")
