"""Checks of an SQLite memory before festina opens it: a file that is not a database must
stop the daemon with a plain reason and what to do, not a traceback (and not a restart
loop under systemd); a database that has lost its contents must not start silently empty.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

SQLITE_HEADER = b"SQLite format 3\x00"


class StorageUnusable(RuntimeError):
    """Memory cannot be opened as it is; the message says why and what to do."""


def sqlite_path(url: str) -> Path | None:
    """The database file an SQLite URL names (None: another backend, or in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def check_sqlite_file(path: Path) -> list[str]:
    """Raise StorageUnusable for a file that is not a usable SQLite database; return
    warnings for one that will start empty though it held data before."""
    aside = f"move it aside (mv '{path}' '{path}.broken') and start again, or restore a backup"
    wal = path.with_name(path.name + "-wal")
    if path.is_dir():
        raise StorageUnusable(f"{path} is a folder, not festina's database: {aside}")
    if not path.exists():
        if wal.exists() and wal.stat().st_size:
            return [
                f"{path} is gone but its write-ahead log {wal.name} is there: the database was "
                "deleted, so memory starts empty (restore the file to keep what it held)"
            ]
        return []
    try:
        with path.open("rb") as stream:
            header = stream.read(len(SQLITE_HEADER))
    except OSError as error:
        raise StorageUnusable(f"cannot read {path}: {error.strerror}") from None
    if not header:
        return [f"{path} is empty (0 bytes): memory starts empty"]
    if header != SQLITE_HEADER:
        raise StorageUnusable(
            f"{path} is not an SQLite database (corrupt, or another file): {aside}"
        )
    try:
        db = sqlite3.connect(path)
    except sqlite3.Error as error:
        raise StorageUnusable(f"cannot open {path} ({error}): {aside}") from None
    try:
        verdict = db.execute("pragma quick_check").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise StorageUnusable(f"{path} is damaged ({error}): {aside}") from None
    finally:
        db.close()
    if verdict != "ok":
        raise StorageUnusable(f"{path} is damaged ({verdict}): {aside}")
    return []
