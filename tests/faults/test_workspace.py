"""The tools against what a workspace can hold besides plain files and folders: hard links
to files outside, FIFOs, loops of links, NULs in paths, and a process that swaps a folder
for a link to outside, again and again, while they read and write (checking a path and
then opening it would let the swap land in between). Nothing outside may ever be read,
listed, found or written; nothing may block; every refusal is a failed result."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import ok
from tools import default_pool

ROUNDS = 3000


_LIBC = ctypes.CDLL(None, use_errno=True)
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def exchange(a: Path, b: Path) -> None:
    """Swap two names at once (Linux's renameat2 RENAME_EXCHANGE): neither is ever missing."""
    if _LIBC.renameat2(_AT_FDCWD, bytes(a), _AT_FDCWD, bytes(b), _RENAME_EXCHANGE) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


@contextmanager
def swapping(folder: Path, link: Path) -> Iterator[None]:
    """Swap `folder` and the symbolic link `link` (to outside) back and forth, until done."""
    done = threading.Event()
    swaps = [0]

    def swap() -> None:
        while not done.is_set():
            exchange(folder, link)  # the name now leads outside
            exchange(folder, link)
            swaps[0] += 2

    racer = threading.Thread(target=swap, daemon=True)
    racer.start()
    try:
        yield
    finally:
        done.set()
        racer.join(timeout=10)
    assert swaps[0] > 100, "the racer stopped early"


@pytest.fixture
def pool(tmp_path):
    return default_pool(tmp_path / "workspace")


def test_a_hard_link_in_the_workspace_is_never_written_through(pool, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    workspace = pool.context.workspace
    ok(pool.call("create_note", {"title": "Plan", "body": "x"}, confirmed=True))
    (workspace / "notes" / "Plan.md").unlink()
    os.link(outside, workspace / "notes" / "Plan.md")  # planted where a note was
    appended = pool.call("append_to_note", {"title": "Plan", "body": "oops"}, confirmed=True)
    assert not appended.ok and "hard link" in appended.message
    (workspace / "files").mkdir()
    os.link(outside, workspace / "files" / "a.txt")
    saved = pool.call("save_file", {"name": "a.txt", "content": "oops"}, confirmed=True)
    assert not saved.ok and "hard link" in saved.message
    os.link(outside, workspace / "todos.tmp")  # where the to-do list is staged
    todo = pool.call("create_todo", {"text": "oops"}, confirmed=True)
    assert not todo.ok and "hard link" in todo.message
    (workspace / "notes" / "Link.md").symlink_to(outside)
    linked = pool.call("append_to_note", {"title": "Link", "body": "oops"}, confirmed=True)
    assert not linked.ok and "outside" in linked.message
    assert outside.read_text() == "keep me"
    ok(pool.call("save_file", {"name": "b.txt", "content": "fine"}, confirmed=True))
    assert (workspace / "files" / "b.txt").read_text() == "fine"


def test_reads_refuse_hard_links_fifos_and_broken_paths_with_a_failed_result(pool, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("private")
    workspace = pool.context.workspace
    (workspace / "notes").mkdir(parents=True, exist_ok=True)
    os.link(outside, workspace / "notes" / "linked.md")
    linked = pool.call("read_file", {"path": "notes/linked.md"})
    assert not linked.ok and "hard link" in linked.message
    # A FIFO would block a reader until someone writes to it: refused at once.
    os.mkfifo(workspace / "notes" / "pipe.md")
    piped = pool.call("read_file", {"path": "notes/pipe.md"})
    assert not piped.ok and "not a regular file" in piped.message
    # A loop of links and a NUL in the path: failed results, not exceptions.
    (workspace / "a").symlink_to(workspace / "b")
    (workspace / "b").symlink_to(workspace / "a")
    for tool, args in (
        ("read_file", {"path": "a/x.md"}),
        ("list_directory", {"path": "a"}),
        ("search_files", {"pattern": "*", "folder": "a"}),
        ("read_file", {"path": "notes/\x00.md"}),
        ("list_directory", {"path": "no\x00where"}),
    ):
        result = pool.call(tool, args)
        assert not result.ok and result.message, (tool, args)
    (workspace / "notes" / "plain.md").write_text("fine")
    assert ok(pool.call("read_file", {"path": "notes/plain.md"})) == "fine"


def test_notes_and_lists_are_read_as_every_read_is(pool, tmp_path):
    """search_notes and the to-do list read workspace files too: a link or a hard link
    planted there is not followed into what lies outside."""
    outside = tmp_path / "outside.md"
    outside.write_text('secret plan [{"task": "secret", "done": false}]')
    workspace = pool.context.workspace
    ok(pool.call("create_note", {"title": "Plan", "body": "the open plan"}, confirmed=True))
    notes = workspace / "notes"
    (notes / "linked.md").symlink_to(outside)
    os.link(outside, notes / "hard.md")
    found = ok(pool.call("search_notes", {"query": "plan"}))
    assert [hit["note"] for hit in found] == ["Plan"]
    (workspace / "todos.json").symlink_to(outside)
    listed = pool.call("list_todos", {})
    assert not listed.ok and "secret" not in str(listed.output)


@pytest.fixture
def raced(tmp_path):
    """A workspace whose docs/ is swapped with a link to a folder outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_text("SECRET")
    (outside / "secret-only.txt").write_text("SECRET")
    workspace = tmp_path / "workspace"
    (workspace / "docs").mkdir(parents=True)
    (workspace / "docs" / "a.txt").write_text("inside")
    (workspace / "evil").symlink_to(outside, target_is_directory=True)
    with swapping(workspace / "docs", workspace / "evil"):
        yield default_pool(workspace), outside


@pytest.mark.timeout(120)
def test_reads_never_reach_outside_while_a_folder_is_swapped(raced):
    pool, _ = raced
    for _ in range(ROUNDS):
        read = pool.call("read_file", {"path": "docs/a.txt"})
        assert not read.ok or read.output == "inside"
        listed = pool.call("list_directory", {"path": "docs"})
        assert not listed.ok or "secret-only.txt" not in listed.output
        found = pool.call("search_files", {"pattern": "*.txt", "folder": "docs"})
        assert not found.ok or not any("secret-only" in path for path in found.output)


@pytest.mark.timeout(120)
def test_writes_never_land_outside_while_a_folder_is_swapped(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    workspace = tmp_path / "workspace"
    (workspace / "notes").mkdir(parents=True)
    (workspace / "evil").symlink_to(outside, target_is_directory=True)
    pool = default_pool(workspace)
    with swapping(workspace / "notes", workspace / "evil"):
        for i in range(ROUNDS // 3):
            pool.call("create_note", {"title": f"Note {i}", "body": "text"}, confirmed=True)
    assert list(outside.iterdir()) == []
