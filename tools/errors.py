"""`explain_error`: what an error means and where it happened, without a language model.

From the error's own text (a traceback, a compiler or shell message, as the terminal or
the screen showed it) it gathers what can be known for certain:
- the failing lines themselves: the innermost frame a traceback or compiler names, with
  the source lines around it, read from disk where festina may read (the workspace and
  `slow_path.read_paths`; elsewhere it says which setting would allow it);
- the exception's own documentation, where it is one of Python's built-in exceptions,
  and what its message names (the missing key, the missing module, the missing file);
- for a shell error, the command's manual page summary (from `man`, which never runs the
  command itself), and what a linker's missing library usually needs.
"""

from __future__ import annotations

import builtins
import re
import shlex
import shutil
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from tools.base import (
    Tool,
    ToolArgs,
    ToolContext,
    ToolError,
    ToolResult,
    open_for_reading,
    read_roots,
    readable_path,
)
from tools.manual import manual_text, name_line

AROUND = 2
MAX_SOURCE_BYTES = 2_000_000

# `File "/home/dana/shop/invoice.py", line 42, in total` (Python tracebacks).
_PYTHON_FRAME = re.compile(r'File "([^"\n]+)", line (\d+)(?:, in ([\w<>.]+))?')
# `src/main.rs:4:5`, `invoice.c:12:5: error: ...`, `at f (/app/x.js:12:5)`.
_PATH_LINE = re.compile(r"((?:[A-Za-z]:)?[\w./\\-]*\.[A-Za-z]{1,5}):(\d+)(?::\d+)?")
_EXCEPTION = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt))\b(?::\s*(.*))?")
_QUOTED = re.compile(r"""['"]([^'"\n]{1,200})['"]""")
_NOT_FOUND_COMMAND = re.compile(r"(?:^|\s)([\w.+-]+): (?:command )?not found")
_MISSING_LIBRARY = re.compile(r"cannot find -l([\w.+-]+)")
_UNDEFINED = re.compile(r"undefined reference to [`'\"]?([\w:.~]+)")
_DENIED = re.compile(r"(\S+): Permission denied")
_MESSAGE = re.compile(
    r"\b(error|denied|not found|no such file|cannot|undefined reference|fatal)\b", re.I
)
MAX_MESSAGES = 3


class ExplainErrorArgs(ToolArgs):
    error: str = Field(min_length=1, max_length=500, description="the error line")
    context: str = Field(
        "", max_length=8000, description="the text around it: the traceback, the output"
    )
    command: str = Field("", max_length=2000, description="the command that failed, if any")


class ExplainError(Tool):
    name = "explain_error"
    description = (
        "Explain an error from its text: the failing source lines read from disk, the "
        "exception's documentation, the failed command's manual summary."
    )
    Args: ClassVar = ExplainErrorArgs

    def run(self, args: ExplainErrorArgs, context: ToolContext) -> ToolResult:
        text = f"{args.context}\n{args.error}".strip()
        sections = [args.error.strip()]
        sections += _exception_notes(args.error) or _exception_notes(text)
        sections += _messages(args.context, args.error)
        sections += _failing_lines(text, context)
        sections += _shell_notes(text, args.command)
        if len(sections) == 1:
            sections.append("Nothing more is known from the text alone.")
        return ToolResult(output="\n".join(sections))


def _exception_notes(text: str) -> list[str]:
    """A built-in exception's documentation and what its message names."""
    found = _EXCEPTION.search(text)
    if found is None:
        return []
    name, message = found.group(1), (found.group(2) or "").strip()
    builtin = getattr(builtins, name, None)
    notes = []
    if isinstance(builtin, type) and issubclass(builtin, BaseException) and builtin.__doc__:
        notes.append(f"{name} (a Python built-in exception): {builtin.__doc__.strip()}")
    named = _QUOTED.search(message)
    thing = named.group(1) if named else message
    if name == "KeyError" and thing:
        notes.append(
            f"The key {thing!r} is missing from the mapping: check where it should be set, "
            f'or read it with .get("{thing}", default).'
        )
    elif name == "ModuleNotFoundError" and thing:
        notes.append(
            f"Python cannot import {thing!r}: is the right virtual environment active, and "
            "is the package that provides it installed there?"
        )
    elif name in ("FileNotFoundError", "IsADirectoryError", "PermissionError") and thing:
        notes.append(f"The path in question: {thing}")
    elif name == "AttributeError" and "NoneType" in message:
        notes.append("A value that was None was used as an object: find where it was not set.")
    return notes


def _failing_lines(text: str, context: ToolContext) -> list[str]:
    """The innermost frame the text names, with its source lines."""
    frames = [(m.group(1), int(m.group(2)), m.group(3)) for m in _PYTHON_FRAME.finditer(text)]
    if not frames:
        frames = [(m.group(1), int(m.group(2)), None) for m in _PATH_LINE.finditer(text)]
    if not frames:
        return []
    # The innermost frame in the person's own code (where festina may read), else the
    # innermost of all: a library's frame is rarely where the fix goes.
    own = [frame for frame in frames if _may_read(frame[0], context)]
    path, line, function = (own or frames)[-1]
    where = f"at {path}, line {line}" + (f", in {function}" if function else "")
    try:
        lines = _source(path, line, context)
    except ToolError as error:
        return [f"{where} (source not shown: {error})"]
    return [f"{where}:", *lines]


def _may_read(path: str, context: ToolContext) -> bool:
    try:
        readable_path(path, context)
    except ToolError:
        return False
    return True


def _source(path: str, line: int, context: ToolContext) -> list[str]:
    readable = readable_path(path, context)
    try:
        with open_for_reading(readable, read_roots(context)) as stream:
            data = stream.read(MAX_SOURCE_BYTES)
    except FileNotFoundError:
        raise ToolError(f"{path} is not on this machine") from None
    except OSError as error:
        raise ToolError(f"{path}: {error.strerror}") from None
    source = data.decode("utf-8", errors="replace").splitlines()
    if not 1 <= line <= len(source):
        raise ToolError(f"{path} has no line {line} (it has {len(source)})")
    first, last = max(line - AROUND, 1), min(line + AROUND, len(source))
    return [
        f"{'>' if number == line else ' '} {number:4d} | {source[number - 1]}"
        for number in range(first, last + 1)
    ]


def _messages(text: str, error: str) -> list[str]:
    """The output's own error lines, beside the one the error names: what the program
    said, in its words."""
    found = [
        line.strip()
        for line in text.splitlines()
        if _MESSAGE.search(line) and line.strip() and line.strip() not in error
    ]
    return [f"It said: {line}" for line in dict.fromkeys(found)][:MAX_MESSAGES]


def _shell_notes(text: str, command: str) -> list[str]:
    notes = []
    if undefined := _UNDEFINED.search(text):
        notes.append(
            f"The linker found no definition of {undefined.group(1)}: the file or library "
            "that defines it is not part of the build (or it is not written yet)."
        )
    if denied := _DENIED.search(text):
        notes.append(
            f"The system refused access to {denied.group(1)}: check its permissions "
            f"(ls -l {denied.group(1)}); a script run directly needs the execute bit (chmod +x)."
        )
    if missing := _NOT_FOUND_COMMAND.search(text):
        notes.append(f"The shell found no program named {missing.group(1)!r} on PATH.")
    if library := _MISSING_LIBRARY.search(text):
        name = library.group(1)
        notes.append(
            f"The linker found no library lib{name}: a development package (on Debian, "
            f"one such as lib{name}-dev) provides it."
        )
    program = _program(command)
    if program and (summary := _manual_summary(program)):
        notes.append(f"{program}: {summary}")
    return notes


def _program(command: str) -> str | None:
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    while words and "=" in words[0]:  # VAR=value before the program
        words = words[1:]
    if not words or words[0] in ("sudo", "env", "time", "nice"):
        words = words[1:]
    program = Path(words[0]).name if words else None
    return program if program and re.fullmatch(r"[\w.+-]{1,64}", program) else None


def _manual_summary(program: str) -> str | None:
    """The NAME line of the program's manual page (`tools.manual`: read, never run)."""
    if shutil.which(program) is None:
        return None
    text = manual_text(program)
    return name_line(text) if text else None
