"""Whether memory takes writes: a full disk, a file system gone read-only or an I/O error
is a state the daemon is in, not a crash.

While memory cannot be written the pipeline keeps what it holds and retries with backoff,
the API refuses new events at once with the reason (503 and Retry-After), the log says so
once when it starts and once when it clears (not a traceback per event), and the dashboard
says an answer it could not keep was not kept.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from sqlalchemy.exc import OperationalError

logger = logging.getLogger("festina.storage")

#: What a storage fault raises: SQLite's "database or disk is full", "attempt to write a
#: readonly database", "disk I/O error" (as SQLAlchemy wraps them, and bare from the slow
#: path's checkpoints), and the OS's own.
STORAGE_FAULTS: tuple[type[BaseException], ...] = (
    OperationalError,
    sqlite3.OperationalError,
    OSError,
)

RETRY_FIRST_S = 0.25
RETRY_MAX_S = 2.0
#: Once a stop is asked for, how long writes are still retried before the daemon gives up
#: what it took but could not store (nothing of it was acknowledged).
GIVE_UP_AFTER_STOP_S = 10.0


class StorageUnavailable(RuntimeError):
    """Memory stayed unwritable through a stop: what was taken and not stored is dropped
    (never acknowledged), and a restart cannot help until a person frees the disk."""


def describe(error: BaseException) -> str:
    """The fault in a few words: the database's or the OS's message, not SQLAlchemy's."""
    if isinstance(error, OperationalError):
        return str(error.orig)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


class StorageHealth:
    """The one place a storage fault is noticed, told and cleared."""

    def __init__(self) -> None:
        self.fault: str | None = None
        self.faults = 0
        self._since = 0.0

    def failed(self, error: BaseException) -> None:
        """A write failed for `error`, a storage fault (see `STORAGE_FAULTS`)."""
        if self.fault is None:
            self.faults += 1
            self._since = time.monotonic()
            logger.error(
                "memory cannot be written (%s): taking no new events and retrying until it can",
                describe(error),
            )
        self.fault = describe(error)

    def cleared(self) -> None:
        """A write succeeded."""
        if self.fault is not None:
            logger.warning(
                "memory is writable again after %.1f s; taking events again",
                time.monotonic() - self._since,
            )
            self.fault = None
