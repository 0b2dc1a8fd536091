"""`festina memory ...`: export and forget what festina remembers."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click


def _open_store(obj: Any):
    from agent.daemon import database_url
    from memory.store import Store

    return Store(database_url(obj.settings(), obj.paths))


@click.group()
def memory() -> None:
    """Export or forget what festina remembers."""


@memory.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write JSON Lines here (default: standard output).",
)
@click.pass_obj
def memory_export(obj: Any, output: Path | None) -> None:
    """Every stored event with its decision, then rejected inputs, as JSON Lines."""
    store = _open_store(obj)
    count = 0
    stream = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        for record in store.export_records():
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    finally:
        store.close()
        if output:
            stream.close()
    if output:
        click.echo(f"exported {count} records to {output}", err=True)


@memory.command("forget")
@click.option("--older-than-days", type=click.IntRange(0), help="Stored more than N days ago.")
@click.option("--before", type=click.DateTime(), help="Stored before this date/time (UTC).")
@click.option("--source", help="Only events and inputs from this source.")
@click.option("--all", "everything", is_flag=True, help="Everything (needs --yes).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def memory_forget(
    obj: Any,
    older_than_days: int | None,
    before: datetime | None,
    source: str | None,
    everything: bool,
    yes: bool,
) -> None:
    """Delete remembered events, their decisions, and rejected inputs."""
    if older_than_days is not None and before is not None:
        raise click.UsageError("use --older-than-days or --before, not both")
    if older_than_days is not None:
        before = datetime.now(UTC) - timedelta(days=older_than_days)
    elif before is not None:
        before = before.replace(tzinfo=UTC)
    if before is None and source is None and not everything:
        raise click.UsageError("say what to forget: --older-than-days, --before, --source or --all")
    if everything and not yes:
        click.confirm("Forget everything festina remembers?", abort=True)
    store = _open_store(obj)
    try:
        deleted = store.forget(before=before, source=source)
    finally:
        store.close()
    click.echo("forgot " + ", ".join(f"{count} {name}" for name, count in deleted.items()))
