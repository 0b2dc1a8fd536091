"""What a tool is: typed arguments, a description, and whether it changes the world.

Side-effecting tools never run unconfirmed: the pool raises `ConfirmationRequired`, which
the slow path turns into a question for the user. Tools with no local implementation
(phone calls, live weather) record the call as a dry run instead of pretending.
"""

from __future__ import annotations

import abc
import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from pydantic import BaseModel, ConfigDict, JsonValue


class ToolArgs(BaseModel):
    """Base of every tool's arguments: unknown fields are refused. Each tool's validator
    is built when its arguments are first checked (or their schema asked for): a daemon's
    start-up built all 46 of them, and imported email-validator, for a plan or two."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class NoArgs(ToolArgs):
    """For tools that take nothing."""


class ToolResult(BaseModel):
    ok: bool = True
    output: JsonValue = None
    dry_run: bool = False
    message: str = ""

    def as_step(self, step: int, tool: str) -> dict[str, Any]:
        """This result as the record of a plan's step that ran (see core.outcome)."""
        return {"step": step, "tool": tool, "ran": True, **self.model_dump()}


class ToolError(RuntimeError):
    """A tool could not do what was asked (bad path, missing program...)."""


@dataclass(frozen=True)
class ToolContext:
    """Where tools may write (the workspace) and read (it and `read_paths`), whether
    side effects are only simulated, and whether links may be opened on this desktop."""

    workspace: Path
    dry_run: bool = False
    read_paths: tuple[Path, ...] = ()
    opens_links: bool = True
    """False where plans run unattended with every step confirmed (the help benchmark):
    a run of the benchmark must not open browser tabs or files on the machine running it."""

    def path(self, *parts: str) -> Path:
        """A path inside the workspace; anything escaping it is refused."""
        root = self.workspace.resolve()
        candidate = root.joinpath(*parts).resolve()
        if candidate != root and root not in candidate.parents:
            raise ToolError(f"{'/'.join(parts)!r} is outside the festina workspace")
        return candidate


def read_roots(context: ToolContext) -> list[Path]:
    """Where festina may read: the workspace and the folders the user allowed."""
    return [context.workspace.resolve(), *(r.expanduser().resolve() for r in context.read_paths)]


def readable_path(path: str, context: ToolContext) -> Path:
    """A path festina may read: in the workspace (relative paths are taken there) or in a
    folder the user allowed. Resolved first, so no link leads anywhere else; a path that
    cannot be resolved (a NUL in it, a loop of links) is a failed call, not a crash."""
    try:
        candidate = (context.workspace / Path(path).expanduser()).resolve()
    except (ValueError, OSError, RuntimeError) as error:
        raise ToolError(f"{path!r} cannot be read: {error}") from None
    if not any(candidate == r or r in candidate.parents for r in read_roots(context)):
        raise ToolError(
            f"{path!r} is outside the workspace and the folders allowed in slow_path.read_paths"
        )
    return candidate


class Tool(abc.ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    Args: ClassVar[type[ToolArgs]]
    side_effect: ClassVar[bool] = False
    domain: ClassVar[str] = "desktop"

    @abc.abstractmethod
    def run(self, args: Any, context: ToolContext) -> ToolResult:
        """Do the work; `args` is an instance of `Args`."""

    def schema(self) -> dict[str, Any]:
        """The function-calling schema an LLM sees."""
        return {
            "name": self.name,
            "description": self.description,
            "side_effect": self.side_effect,
            "parameters": self.Args.model_json_schema(),
        }


_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _folder_beneath(path: Path, roots: list[Path], *, create: bool = False) -> int:
    """A descriptor on the folder `path`, reached from the root it lies under one name at
    a time, never through a symbolic link (`O_NOFOLLOW` on each): a folder on the way
    renamed or swapped for a link after the caller resolved `path` fails the walk instead
    of leading it outside. `create`: make missing folders on the way (in the workspace)."""
    root = next((r for r in roots if r == path or r in path.parents), None)
    if root is None:
        raise ToolError(f"{path} is outside the folders festina may use")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in path.relative_to(root).parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
            inner = os.open(name, _FOLDER, dir_fd=fd)
            os.close(fd)
            fd = inner
        return fd
    except BaseException:
        os.close(fd)
        raise


def _open_placed(
    path: Path, flags: int, roots: list[Path], purpose: str, *, create_folders: bool = False
) -> int:
    """A descriptor on the file `path` names: reached without following any link (see
    `_folder_beneath`), and a regular file with no other name.

    That refuses a symbolic link anywhere on the way (a swap after the caller's check
    included), a hard link (its other name may lie outside, a file festina must not read
    or change), and a FIFO or device (opened without blocking, then refused: it could
    stall the slow path for good).
    """
    folder = _folder_beneath(path.parent, roots, create=create_folders)
    try:
        fd = os.open(
            path.name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644, dir_fd=folder
        )
    finally:
        os.close(folder)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise ToolError(f"{path.name} is not a regular file")
        if opened.st_nlink != 1:
            raise ToolError(f"{path.name} is a hard link; festina {purpose} only its own files")
        return fd
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def opened_folder(path: Path, roots: list[Path]) -> Iterator[int]:
    """A descriptor on the folder `path`, reached as `_folder_beneath` does, to list or
    walk by (`os.scandir`, `os.fwalk`): nothing can redirect it."""
    fd = _folder_beneath(path, roots)
    try:
        yield fd
    finally:
        os.close(fd)


def open_for_writing(context: ToolContext, path: Path, *, append: bool = False) -> BinaryIO:
    """Open a workspace file to write, making its folders (see `_open_placed` for what is
    refused). Nothing is truncated before the checks."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else 0)
    roots = [context.workspace.resolve()]
    roots[0].mkdir(parents=True, exist_ok=True)
    fd = _open_placed(path, flags, roots, "writes", create_folders=True)
    try:
        if not append:
            os.ftruncate(fd, 0)
        return os.fdopen(fd, "ab" if append else "wb")
    except BaseException:
        os.close(fd)
        raise


def open_for_reading(path: Path, roots: list[Path]) -> BinaryIO:
    """Open a file to read under one of `roots` (see `_open_placed` for what is refused)."""
    fd = _open_placed(path, os.O_RDONLY, roots, "reads")
    try:
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_workspace_text(context: ToolContext, path: Path) -> str | None:
    """A workspace file's text, opened as every read is (see `_open_placed`); None when
    it is not there."""
    try:
        with open_for_reading(path, [context.workspace.resolve()]) as stream:
            return stream.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None


def file_names(path: Path, roots: list[Path]) -> list[str]:
    """The names of the regular files in the folder `path`, reached as `_folder_beneath`
    does, sorted; none when the folder is not there."""
    try:
        with opened_folder(path, roots) as fd, os.scandir(fd) as entries:
            return sorted(e.name for e in entries if e.is_file(follow_symlinks=False))
    except FileNotFoundError:
        return []


def write_file(context: ToolContext, path: Path, data: str | bytes, done: str) -> ToolResult:
    """Write a workspace file, or in a dry run only say what would be written."""
    if context.dry_run:
        return ToolResult(dry_run=True, message=f"would write {path}")
    with open_for_writing(context, path) as stream:
        stream.write(data if isinstance(data, bytes) else data.encode("utf-8"))
    return ToolResult(output=str(path), message=done)


def run_program(argv: list[str], stdin: str | None = None) -> bool:
    """Run a helper program (notify-send, xdg-open...) if installed; False if it is not.

    A program that fails or hangs raises `ToolError` naming it and what it said, so the
    step reads as failed (the pool turns `ToolError` into a failed result) instead of
    ending the plan with an uncaught exception."""
    if shutil.which(argv[0]) is None:
        return False
    try:
        subprocess.run(argv, input=stdin, text=True, check=True, timeout=10, capture_output=True)
    except subprocess.CalledProcessError as error:
        said = (error.stderr or error.stdout or "").strip().splitlines()
        reason = f": {said[-1]}" if said else ""
        raise ToolError(f"{argv[0]} failed (exit status {error.returncode}){reason}") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{argv[0]} did not finish within 10 s") from None
    return True


def run_first(alternatives: Sequence[list[str]], stdin: str | None = None) -> bool:
    """Run the first of several programs doing one job (wl-copy or xclip...) that works:
    one installed but failing (wl-copy on an X11 desktop) gives way to the next. False
    if none is installed; the last failure if every installed one failed."""
    failure = None
    for argv in alternatives:
        try:
            if run_program(argv, stdin=stdin):
                return True
        except ToolError as error:
            failure = error
    if failure is not None:
        raise failure
    return False


def recorded(action: str, args: ToolArgs) -> ToolResult:
    """The result of a tool that has no local implementation here."""
    return ToolResult(
        ok=True,
        dry_run=True,
        output=args.model_dump(mode="json"),
        message=f"recorded, not performed: {action} (no local implementation on this device)",
    )
