"""What a step of an accepted plan did, as a person reads it.

The slow path stores each planned call it ran as a record (tool, whether it ran, the
tool's result). Every surface (dashboard, command line, API, notifications) shows those
records through `outcomes_of`, so "done" means the same everywhere, and a step that did
nothing on this machine never reads as done.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, JsonValue

MAX_SHOWN_CHARS = 1200
MAX_ITEMS = 12
_URL = re.compile(r"https?://[^\s\"'<>]+")
_PATH = re.compile(r"(?<![\w:/])(/(?:[\w.@+-]+/)*[\w.@+-]+)")
# A line that is one absolute path to a file, spaces and all: a saved note's own line
# ("/home/dana/notes/Git - Undoing things 2026-12-07 0930.md"), which `_PATH` would cut
# at its first space. No colon in it: "/usr/bin/ld: cannot find -lssl" is a message.
_PATH_LINE = re.compile(r"^(/(?:[^\n/:]+/)*[^\n/:]+\.\w{1,8})$", re.M)


class StepStatus(StrEnum):
    DONE = "done"
    """Ran, and its result is shown."""
    FAILED = "failed"
    NOT_PERFORMED = "not performed"
    """Ran as a record or a simulation only: nothing happened on this machine."""
    SKIPPED = "skipped"
    """Not run: its side effect was not confirmed."""


class StepOutcome(BaseModel):
    """One planned call and what came of it."""

    step: int
    tool: str
    status: StepStatus
    text: str
    """The result in words: the tool's output, or why there is none."""
    links: list[str] = []
    paths: list[str] = []
    output: JsonValue = None


def outcomes_of(executions: list[dict[str, Any]] | None) -> list[StepOutcome]:
    """The stored execution records of one plan, in order, as outcomes."""
    return [_outcome(record) for record in executions or []]


def _outcome(record: dict[str, Any]) -> StepOutcome:
    tool = str(record.get("tool", "?"))
    step = int(record.get("step", 0))
    message = str(record.get("message") or "").strip()
    output = record.get("output")
    if not record.get("ran"):
        return StepOutcome(
            step=step, tool=tool, status=StepStatus.SKIPPED, text=message or "not run"
        )
    if not record.get("ok", False):
        return StepOutcome(
            step=step, tool=tool, status=StepStatus.FAILED, text=message or "failed", output=output
        )
    if record.get("dry_run"):
        return StepOutcome(
            step=step,
            tool=tool,
            status=StepStatus.NOT_PERFORMED,
            text=message or "simulated only",
            output=output,
        )
    shown = render(output)
    if not shown:
        shown = message or "nothing found"
    elif message and message not in shown:
        shown = f"{message}\n{shown}"
    return StepOutcome(
        step=step,
        tool=tool,
        status=StepStatus.DONE,
        text=_cut(shown),
        links=list(dict.fromkeys(_URL.findall(shown))),
        paths=_paths(_URL.sub(" ", shown)),
        output=output,
    )


def _paths(text: str) -> list[str]:
    """The absolute paths a result names: whole lines that are one, then those in text."""
    whole = _PATH_LINE.findall(text)
    return list(dict.fromkeys([*whole, *_PATH.findall(_PATH_LINE.sub(" ", text))]))


def render(output: Any) -> str:
    """A tool's output as lines of text: strings as they are, lists one item a line,
    mappings as `key: value`; an empty result as the empty string."""
    if output is None:
        return ""
    if isinstance(output, str):
        return output.strip()
    if isinstance(output, list):
        lines = [_one_line(item) for item in output[:MAX_ITEMS]]
        if len(output) > MAX_ITEMS:
            lines.append(f"... and {len(output) - MAX_ITEMS} more")
        return "\n".join(line for line in lines if line)
    if isinstance(output, dict):
        return "\n".join(f"{key}: {_one_line(value)}" for key, value in output.items())
    return str(output)


def _one_line(item: Any) -> str:
    if isinstance(item, dict):
        return "; ".join(
            f"{key}: {value}" for key, value in item.items() if value not in ("", None)
        )
    if isinstance(item, list):
        return ", ".join(str(value) for value in item)
    return str(item)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 1] + "…"
