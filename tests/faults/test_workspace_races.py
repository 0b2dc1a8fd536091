"""The tools against a process that swaps a workspace folder for a link to outside, again
and again, while they read and write: checking a path and then opening it would let the
swap land in between; festina's tools open once, by descriptor, and check what they got.
Nothing outside may ever be read, listed, found or written."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

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
