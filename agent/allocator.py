"""At most two glibc malloc arenas in the daemon, so that memory freed is memory reused.

glibc's malloc gives a thread that finds no free arena an arena of its own, up to eight
per core, and a chunk freed into one arena serves only the threads on it. The daemon's
threads come and go (the executor's, the slow path's, each plan's), and each allocates
in turn what another freed: the recall index's blocks, rows read from memory, the gate's
batches. In a soak (`festina eval load --soak`, docs/load.md) memory freed but kept by
the allocator rose from 6.7 to 14-15 MB while the index filled, 3.8 to 7.9 MB with two
arenas. Python's own small objects are not in these arenas (pymalloc), and the threads
mostly take turns on the GIL, so two arenas cost little contention: the burst benchmark
acks as fast with them. `malloc_trim` was no cure: in a soak it returned 4.2 MB that the
daemon touched again within ten seconds.
"""

from __future__ import annotations

import ctypes
import os

ARENAS = 2
# mallopt's parameter for the arena limit, from glibc's malloc.h.
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at `arenas` for the rest of the process (arenas made
    already stay), before the daemon starts its threads. Returns whether it was applied:
    not where the C library is not glibc (musl has no arenas to cap), nor where the
    environment sets MALLOC_ARENA_MAX, which glibc has applied and which stands."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process runs on
    except OSError:  # no dynamic loader to ask
        return False
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))
