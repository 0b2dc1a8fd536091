"""Checks of an SQLite memory before festina opens it, and its repair.

A file that is not a database must stop the daemon with a plain reason and what to do,
not a traceback (and not a restart loop under systemd); a database that has lost its
contents must not start silently empty. `repair` recovers what SQLite can still read into
a new database and keeps the broken file beside it: nothing is ever deleted.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from memory.migrate import HEAD_REVISION

SQLITE_HEADER = b"SQLite format 3\x00"
# Salvage reads rows in batches by rowid; a batch on a damaged page is skipped, up to
# this many times per table.
SALVAGE_BATCH = 200
SALVAGE_MISSES = 10_000


class StorageUnusable(RuntimeError):
    """Memory cannot be opened as it is; the message says why and what to do."""


def sqlite_path(url: str) -> Path | None:
    """The database file an SQLite URL names (None: another backend, or in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def check_memory(url: str, *, accept_empty: bool = False) -> list[str]:
    """`check_sqlite_file` for the database `url` names; nothing to check elsewhere."""
    path = sqlite_path(url)
    return [] if path is None else check_sqlite_file(path, accept_empty=accept_empty)


def check_sqlite_file(path: Path, *, accept_empty: bool = False) -> list[str]:
    """Raise StorageUnusable for a file that is not a usable SQLite database, or one that
    lost what it held (unless `accept_empty`: then a warning says memory starts empty)."""
    aside = (
        "`festina memory repair` recovers what it can (the broken file is kept), "
        "or restore a backup"
    )
    wal = path.with_name(path.name + "-wal")
    if path.is_dir():
        raise StorageUnusable(f"{path} is a folder, not festina's database: move it aside")
    lost = None
    if not path.exists():
        if not (wal.exists() and wal.stat().st_size):
            return []
        lost = f"{path} is gone but its write-ahead log {wal.name} is there: it was deleted"
    else:
        try:
            with path.open("rb") as stream:
                header = stream.read(len(SQLITE_HEADER))
        except OSError as error:
            raise StorageUnusable(f"cannot read {path}: {error.strerror}") from None
        if not header:
            lost = f"{path} is empty (0 bytes): what it held is gone"
    if lost and not accept_empty:
        raise StorageUnusable(
            f"{lost}; restore it from a backup, or start with an empty memory: "
            "festina daemon run --accept-empty"
        )
    if lost:
        return [f"{lost}; memory starts empty (--accept-empty)"]
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


def repair(path: Path, now: datetime) -> tuple[Path, int | None]:
    """Move the broken database (and its journal files) aside, then rebuild `path` from
    every row SQLite can still read, table by table.
    Returns where the broken file now is and how many events came back (None: nothing
    could be read, and the next start makes a new, empty memory)."""
    kept = path.with_name(f"{path.name}.broken-{now:%Y%m%d-%H%M%S}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.rename(kept.with_name(kept.name + suffix))
    try:
        count = _salvage(kept, path)
    except sqlite3.Error:
        count = None  # not even the schema could be read
    if count is None:
        path.unlink(missing_ok=True)  # a half-built file would fail the next start
    return kept, count


def _salvage(broken: Path, target: Path) -> int | None:
    """Copy every row SQLite can still read from `broken` into a new database at
    `target`, table by table; rows on damaged pages are skipped a stretch at a time.
    Returns the events recovered (None: no schema to rebuild from)."""
    with contextlib.closing(sqlite3.connect(f"file:{broken}?mode=ro", uri=True)) as source:
        schema = source.execute(
            "select type, name, sql from sqlite_master where sql is not null "
            "and name not like 'sqlite_%' order by type = 'table' desc"
        ).fetchall()
        tables = [name for kind, name, _ in schema if kind == "table"]
        if "events" not in tables:
            return None
        with contextlib.closing(sqlite3.connect(target)) as rebuilt:
            for kind, _, sql in schema:
                if kind == "table":
                    rebuilt.execute(sql)
            for table in tables:
                _copy_rows(source, rebuilt, table)
            for kind, _, sql in schema:
                if kind != "table":
                    with contextlib.suppress(sqlite3.Error):  # an index over lost rows
                        rebuilt.execute(sql)
            if (
                "alembic_version" in tables
                and not rebuilt.execute("select count(*) from alembic_version").fetchone()[0]
            ):
                # The schema's version was on a lost page: the tables are there, so the
                # migrations must not create them again. Taken as this festina's own.
                rebuilt.execute("insert into alembic_version values (?)", (HEAD_REVISION,))
            rebuilt.commit()
            return int(rebuilt.execute("select count(*) from events").fetchone()[0])


def _copy_rows(source: sqlite3.Connection, rebuilt: sqlite3.Connection, table: str) -> None:
    quoted = '"' + table.replace('"', '""') + '"'
    after, misses = -(2**63), 0
    while misses < SALVAGE_MISSES:
        try:
            rows = source.execute(
                f"select rowid, * from {quoted} where rowid > ? order by rowid limit ?",
                (after, SALVAGE_BATCH),
            ).fetchall()
        except sqlite3.DatabaseError:
            after += SALVAGE_BATCH  # a damaged stretch: step over it
            misses += 1
            continue
        if not rows:
            return
        marks = ", ".join("?" * (len(rows[0]) - 1))
        rebuilt.executemany(
            f"insert or ignore into {quoted} values ({marks})", [r[1:] for r in rows]
        )
        after = rows[-1][0]
