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
