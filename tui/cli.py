"""`festina tui`: the dashboard's command."""

from __future__ import annotations

import click

from agent.cli_context import CliContext
from agent.live_status import live_status


@click.command("tui")
@click.pass_obj
def tui(obj: CliContext) -> None:
    """Open the dashboard: watch decisions, answer offers, adjust costs live."""
    # Imported here: textual takes a while to import, and only this command needs it.
    from tui.app import FestinaApp

    settings = obj.settings()
    store = obj.open_store()
    try:
        FestinaApp(
            store,
            settings.gate.policy(),
            obj.paths.pid_file,
            storage_fault=lambda: (live_status(settings, timeout_s=0.5) or {}).get("storage_fault"),
        ).run()
    finally:
        store.close()
