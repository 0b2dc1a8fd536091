"""Desktop tools: files and notes in the workspace, terminal, clipboard, notifications.

Writes stay inside the festina workspace; reads may also look in the folders the user
allowed (`slow_path.read_paths`), nowhere else: the slow path plans calls unattended.
Programs (xdg-open, notify-send, wl-copy/xclip) are used when installed, and the call is
recorded as a dry run when they are not.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import Field, HttpUrl

from tools.base import (
    NoArgs,
    Tool,
    ToolArgs,
    ToolContext,
    ToolError,
    ToolResult,
    file_names,
    open_for_reading,
    open_for_writing,
    opened_folder,
    read_roots,
    read_workspace_text,
    readable_path,
    recorded,
    run_first,
    run_program,
    write_file,
)
from tools.browser import cannot_hand_over, cannot_open, open_link, open_path

MAX_READ_BYTES = 200_000
MAX_NOTE_HITS = 20
MAX_NOTE_EXCERPT = 600
_WORDS = re.compile(r"\w+")
_SAFE_NAME = re.compile(r"^[\w .,()-]{1,120}$")


def _safe_name(name: str, what: str) -> str:
    """A file name that cannot leave its folder or surprise a shell."""
    if not _SAFE_NAME.match(name):
        raise ToolError(f"{what} may use letters, digits, spaces and . , ( ) - _ only")
    return name.strip()


class PathArgs(ToolArgs):
    path: str = Field(min_length=1, max_length=4096)


class ReadFile(Tool):
    name = "read_file"
    description = "Read a text file from the workspace or an allowed folder (first 200 kB)."
    Args: ClassVar = PathArgs

    def run(self, args: PathArgs, context: ToolContext) -> ToolResult:
        path = readable_path(args.path, context)
        with open_for_reading(path, read_roots(context)) as stream:
            data = stream.read(MAX_READ_BYTES)
        return ToolResult(output=data.decode("utf-8", errors="replace"))


class ListDirectory(Tool):
    name = "list_directory"
    description = "List a folder in the workspace or an allowed folder."
    Args: ClassVar = PathArgs

    def run(self, args: PathArgs, context: ToolContext) -> ToolResult:
        path = readable_path(args.path, context)
        with opened_folder(path, read_roots(context)) as fd, os.scandir(fd) as entries:
            names = sorted(
                e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in entries
            )
        return ToolResult(output=names[:500])


class FileSearchArgs(ToolArgs):
    pattern: str = Field(min_length=1, max_length=200, description="glob, e.g. '*.rb'")
    folder: str = Field(".", max_length=4096, description="default: the workspace")
    limit: int = Field(50, ge=1, le=500)


class SearchFiles(Tool):
    name = "search_files"
    description = "Find files whose names match a glob under the workspace or an allowed folder."
    Args: ClassVar = FileSearchArgs

    def run(self, args: FileSearchArgs, context: ToolContext) -> ToolResult:
        root = readable_path(args.folder, context)
        found: list[str] = []
        # Walked by descriptors from the checked folder, never through a link: a folder
        # renamed or swapped meanwhile cannot lead the walk outside.
        with opened_folder(root, read_roots(context)) as fd:
            for directory, subdirs, files, _ in os.fwalk(".", dir_fd=fd):
                subdirs[:] = [d for d in subdirs if not d.startswith(".")]
                found.extend(str(root / directory / f) for f in fnmatch.filter(files, args.pattern))
                if len(found) >= args.limit:
                    break
        return ToolResult(output=found[: args.limit])


class SaveFileArgs(ToolArgs):
    name: str = Field(min_length=1, max_length=120)
    content: str = Field(max_length=1_000_000)


class SaveFile(Tool):
    name = "save_file"
    description = "Write a text file into the workspace's files/ folder."
    Args: ClassVar = SaveFileArgs
    side_effect = True

    def run(self, args: SaveFileArgs, context: ToolContext) -> ToolResult:
        path = context.path("files", _safe_name(args.name, "file names"))
        return write_file(context, path, args.content, f"wrote {path}")


class NoteArgs(ToolArgs):
    title: str = Field(min_length=1, max_length=120)
    body: str = Field(max_length=200_000)


class CreateNote(Tool):
    name = "create_note"
    description = "Create a Markdown note in the workspace's notes/ folder."
    Args: ClassVar = NoteArgs
    side_effect = True

    def run(self, args: NoteArgs, context: ToolContext) -> ToolResult:
        path = context.path("notes", _safe_name(args.title, "note titles") + ".md")
        if path.exists():
            raise ToolError(f"a note called {args.title!r} exists; append to it instead")
        written = write_file(context, path, f"# {args.title}\n\n{args.body}\n", "note saved")
        # What was kept and where, as the person will want to see it.
        return _with_text(written, args.body)


class AppendToNote(Tool):
    name = "append_to_note"
    description = "Append text to an existing note, with a timestamp."
    Args: ClassVar = NoteArgs
    side_effect = True

    def run(self, args: NoteArgs, context: ToolContext) -> ToolResult:
        path = context.path("notes", _safe_name(args.title, "note titles") + ".md")
        if not path.exists():
            raise ToolError(f"no note called {args.title!r}")
        if context.dry_run:
            return ToolResult(dry_run=True, message=f"would append to {path}")
        entry = f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n{args.body}\n"
        with open_for_writing(context, path, append=True) as stream:
            stream.write(entry.encode("utf-8"))
        return _with_text(ToolResult(output=str(path), message="note appended to"), args.body)


def _with_text(written: ToolResult, text: str) -> ToolResult:
    """A note written: its path, then the text it now holds (cut), as its output."""
    if written.dry_run:
        return written
    excerpt = text if len(text) <= MAX_NOTE_EXCERPT else text[: MAX_NOTE_EXCERPT - 1] + "…"
    return written.model_copy(update={"output": f"{written.output}\n{excerpt}"})


class SearchNotesArgs(ToolArgs):
    query: str = Field(min_length=1, max_length=200)


class SearchNotes(Tool):
    name = "search_notes"
    description = (
        "Find the notes holding every word of the query (full-text, best first), each with "
        "the passage that matches."
    )
    Args: ClassVar = SearchNotesArgs

    def run(self, args: SearchNotesArgs, context: ToolContext) -> ToolResult:
        folder = context.path("notes")
        names = [n for n in file_names(folder, [context.workspace.resolve()]) if n.endswith(".md")]
        words = _WORDS.findall(args.query)
        if not names or not words:
            return ToolResult(output=[])
        notes: list[tuple[str, str]] = []
        for name in names:
            # Read as every read is: a link, a hard link or a FIFO is not a note to index.
            with contextlib.suppress(ToolError, OSError):
                if (text := read_workspace_text(context, folder / name)) is not None:
                    notes.append((name.removesuffix(".md"), text))
        # SQLite's full-text index (FTS5), built over the notes folder for the query: word
        # matches ranked by BM25, not a substring loop ("price" finds "Price", not "priced").
        with contextlib.closing(sqlite3.connect(":memory:")) as index:
            index.execute("create virtual table notes using fts5(title, body)")
            index.executemany("insert into notes values (?, ?)", notes)
            phrase = " ".join('"' + word.replace('"', '""') + '"' for word in words)
            rows = index.execute(
                "select title, snippet(notes, 1, '', '', '…', 16) from notes "
                "where notes match ? order by bm25(notes) limit ?",
                (phrase, MAX_NOTE_HITS),
            ).fetchall()
        return ToolResult(output=[{"note": title, "passage": passage} for title, passage in rows])


class CommandArgs(ToolArgs):
    command: str = Field(min_length=1, max_length=2000)
    explanation: str = Field("", max_length=500)


class SuggestTerminalCommand(Tool):
    name = "suggest_terminal_command"
    description = "Propose a shell command (not run), checking that its program is installed."
    Args: ClassVar = CommandArgs

    def run(self, args: CommandArgs, context: ToolContext) -> ToolResult:
        try:
            program = shlex.split(args.command)[0]
        except (ValueError, IndexError) as error:
            raise ToolError(f"not a valid command line: {error}") from error
        return ToolResult(
            output={
                "command": args.command,
                "explanation": args.explanation,
                "program_installed": shutil.which(program) is not None,
            }
        )


class RunCommandArgs(ToolArgs):
    command: str = Field(min_length=1, max_length=2000)
    timeout_s: float = Field(30.0, gt=0, le=300)


class RunTerminalCommand(Tool):
    name = "run_terminal_command"
    description = "Run a command (no shell) in the workspace and return its output."
    Args: ClassVar = RunCommandArgs
    side_effect = True

    def run(self, args: RunCommandArgs, context: ToolContext) -> ToolResult:
        argv = shlex.split(args.command)
        if context.dry_run:
            return ToolResult(dry_run=True, message=f"would run {argv}")
        if shutil.which(argv[0]) is None:
            raise ToolError(f"{argv[0]!r} is not installed")
        context.workspace.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                argv, cwd=context.workspace, capture_output=True, text=True, timeout=args.timeout_s
            )
        except subprocess.TimeoutExpired as error:
            raise ToolError(f"timed out after {args.timeout_s:g} s") from error
        return ToolResult(
            ok=done.returncode == 0,
            output={
                "exit_code": done.returncode,
                "stdout": done.stdout[-20_000:],
                "stderr": done.stderr[-20_000:],
            },
        )


class UrlArgs(ToolArgs):
    url: HttpUrl


class OpenUrl(Tool):
    name = "open_url"
    description = "Open an http(s) web page in the default browser (xdg-open)."
    Args: ClassVar = UrlArgs
    side_effect = True

    def run(self, args: UrlArgs, context: ToolContext) -> ToolResult:
        url = str(args.url)
        if context.dry_run:
            return ToolResult(dry_run=True, message=f"would open {url}")
        why = cannot_open(url) if context.opens_links else "this run opens no links"
        if why:
            # Not done, and the link still shown: the person can open it by hand.
            return ToolResult(dry_run=True, output=url, message=f"{url} not opened: {why}")
        open_link(url)
        return ToolResult(output=url, message="opened in the browser")


class OpenFile(Tool):
    name = "open_file"
    description = "Open a file with its default application (xdg-open), where there is a display."
    Args: ClassVar = PathArgs
    side_effect = True

    def run(self, args: PathArgs, context: ToolContext) -> ToolResult:
        path = readable_path(args.path, context)
        if not path.exists():
            raise ToolError(f"no such file: {path}")
        if context.dry_run:
            return ToolResult(dry_run=True, message=f"would open {path}")
        why = cannot_hand_over() if context.opens_links else "this run opens no files"
        if why:
            # Not done (no screen to show it on, no handler), and the path still shown: the
            # person can open it by hand where they are.
            return ToolResult(dry_run=True, output=str(path), message=f"{path} not opened: {why}")
        open_path(path)
        return ToolResult(output=str(path), message="opened with its application")


class SearchWebArgs(ToolArgs):
    query: str = Field(min_length=1, max_length=500)
    engine: str = Field("duckduckgo", pattern="^(duckduckgo|google|bing)$")


class WebSearchQuery(Tool):
    name = "web_search_query"
    description = "Build the search-results URL for a query (open it with open_url)."
    Args: ClassVar = SearchWebArgs

    def run(self, args: SearchWebArgs, context: ToolContext) -> ToolResult:
        from urllib.parse import quote_plus

        base = {
            "duckduckgo": "https://duckduckgo.com/?q=",
            "google": "https://www.google.com/search?q=",
            "bing": "https://www.bing.com/search?q=",
        }[args.engine]
        return ToolResult(output=base + quote_plus(args.query))


class ClipboardArgs(ToolArgs):
    text: str = Field(max_length=1_000_000)


class CopyToClipboard(Tool):
    name = "copy_to_clipboard"
    description = "Put text on the clipboard (wl-copy or xclip)."
    Args: ClassVar = ClipboardArgs
    side_effect = True

    def run(self, args: ClipboardArgs, context: ToolContext) -> ToolResult:
        clipboards = (["wl-copy"], ["xclip", "-selection", "clipboard"])
        if not context.dry_run and run_first(clipboards, stdin=args.text):
            return ToolResult(message=f"copied {len(args.text)} characters")
        return recorded(f"copy {len(args.text)} characters to the clipboard", args)


class ReadClipboard(Tool):
    name = "read_clipboard"
    description = "Read the clipboard's text (wl-paste or xclip)."
    Args: ClassVar = NoArgs

    def run(self, args: NoArgs, context: ToolContext) -> ToolResult:
        for argv in (["wl-paste", "--no-newline"], ["xclip", "-selection", "clipboard", "-o"]):
            if shutil.which(argv[0]):
                done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
                return ToolResult(output=done.stdout)
        raise ToolError("no clipboard program (wl-paste or xclip) is installed")


class NotifyArgs(ToolArgs):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field("", max_length=2000)


class ShowNotification(Tool):
    name = "show_notification"
    description = "Show a desktop notification (notify-send)."
    Args: ClassVar = NotifyArgs
    side_effect = True

    def run(self, args: NotifyArgs, context: ToolContext) -> ToolResult:
        if context.dry_run or not run_program(["notify-send", args.title, args.body]):
            return recorded(f"notify {args.title!r}", args)
        return ToolResult(message="notification shown")


DESKTOP_TOOLS: tuple[type[Tool], ...] = (
    ReadFile,
    ListDirectory,
    SearchFiles,
    SaveFile,
    CreateNote,
    AppendToNote,
    SearchNotes,
    SuggestTerminalCommand,
    RunTerminalCommand,
    OpenUrl,
    OpenFile,
    WebSearchQuery,
    CopyToClipboard,
    ReadClipboard,
    ShowNotification,
)
