"""The daemon's cap on glibc's malloc arenas, checked in a real process's allocator."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.allocator import limit_malloc_arenas
from tests.helpers import count, event_record, free_port, http_daemon, wait_for

GLIBC = hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
pytestmark = pytest.mark.skipif(not GLIBC, reason="glibc's arenas only")
ROOT = Path(__file__).resolve().parents[1]

# Eight threads alive at once, each allocating with malloc (not pymalloc): glibc gives
# each that finds no free arena a new one, up to eight per core, unless capped.
ARENAS_OF_THREADS = textwrap.dedent(
    """
    import ctypes, sys, tempfile, threading
    from agent.allocator import limit_malloc_arenas
    applied = limit_malloc_arenas() if sys.argv[1] == "capped" else None
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    all_in = threading.Barrier(9)
    def allocate():
        libc.malloc(4096)
        all_in.wait(timeout=20)
        all_in.wait(timeout=20)
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    all_in.wait(timeout=20)
    with tempfile.NamedTemporaryFile() as report:
        stream = libc.fopen(report.name.encode(), b"w")
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        heaps = open(report.name).read().count("<heap nr=")
    all_in.wait(timeout=20)
    print(applied, heaps)
    """
)


def arenas_of_eight_threads(mode: str, **env: str) -> tuple[str, int]:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", ARENAS_OF_THREADS, mode],
        env={**environment, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    applied, heaps = done.stdout.split()
    return applied, int(heaps)


def test_threads_share_at_most_two_arenas_once_capped():
    assert arenas_of_eight_threads("capped") == ("True", 2)


def test_uncapped_threads_each_get_an_arena():
    """What the cap prevents: without it the same threads spread over more arenas."""
    _, heaps = arenas_of_eight_threads("uncapped")
    assert heaps > 2


def test_an_arena_limit_set_in_the_environment_stands(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False
    assert arenas_of_eight_threads("capped", MALLOC_ARENA_MAX="4") == ("False", 4)


HEAP_BYTES = 64 << 20  # glibc's HEAP_MAX_SIZE on 64-bit: each arena but the main one


def arena_heaps(pid: int) -> int:
    """Arenas other than the main one in a process's mappings: each a heap reserved as
    64 MiB aligned on 64 MiB, the part in use read-write and the rest inaccessible."""
    regions = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        span, perms, *rest = line.split()
        start, end = (int(bound, 16) for bound in span.split("-"))
        regions.append((start, end, perms, len(rest) > 3))  # a path: not anonymous
    heaps = 0
    for (start, end, perms, named), after in zip(regions, [*regions[1:], None], strict=True):
        if start % HEAP_BYTES or perms != "rw-p" or named:
            continue
        if after is not None and after[0] == end and after[2] == "---p":
            end = after[1]
        heaps += end - start == HEAP_BYTES
    return heaps


def heaps_of_a_daemon_at_work(home: Path) -> int:
    with http_daemon(home, free_port()) as daemon:
        for batch in range(6):
            records = [
                event_record(50 * batch + i, text=f"new text {batch}.{i}") for i in range(50)
            ]
            assert daemon.post(records).status_code == 200
        wait_for(lambda: count(home, "select count(*) from decisions") == 300)
        return arena_heaps(daemon.process.pid)


def test_a_running_daemon_allocates_in_at_most_two_arenas(tmp_path, monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert heaps_of_a_daemon_at_work(tmp_path / "capped") <= 1  # and the main arena
    # What it would be otherwise: its threads spread over more (glibc's limit, set here
    # in the environment, which the daemon leaves as it is).
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert heaps_of_a_daemon_at_work(tmp_path / "uncapped") > 1
