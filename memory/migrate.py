"""Bring a database to the newest schema with Alembic (run at every store open).

Alembic is imported only when a database needs migrating: the check that it does not
is one query, and importing Alembic to make it cost a fifth of a second at every start.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0015"
"""The newest migration's revision (a test holds it to Alembic's own head)."""
_PG_LOCK_KEY = 0x66657374  # "fest": one advisory lock id for festina's migrations


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """Alembic's head, read from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database Alembic never touched."""
    with engine.connect() as connection:
        return _revision(connection)


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.scalar(text("SELECT version_num FROM alembic_version"))


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _lock_in_transaction(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def upgrade(engine: Engine) -> None:
    """Apply every migration the database has not seen; a no-op when up to date.

    The daemon and the dashboard may open a new database at the same moment, so the
    check and the upgrade run under a lock: a file lock beside a SQLite file, an
    advisory lock on PostgreSQL."""
    if current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with _sqlite_file_lock(engine), engine.begin() as connection:
        _lock_in_transaction(connection)
        if _revision(connection) == HEAD_REVISION:
            return  # another process migrated while we waited
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
