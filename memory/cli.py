"""`festina memory|feedback|prefs ...`: what festina remembers, learns and respects."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from memory.cli_context import MemoryCommandContext


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
def memory_export(obj: MemoryCommandContext, output: Path | None) -> None:
    """Every stored event with its decision, then rejected inputs, as JSON Lines."""
    store = obj.open_store()
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


@memory.command("repair")
@click.pass_obj
def memory_repair(obj: MemoryCommandContext) -> None:
    """Rebuild a damaged SQLite memory from what can still be read; the broken file is
    kept beside it (nothing is deleted). Stop the daemon first."""
    from memory.integrity import StorageUnusable, check_sqlite_file, repair, sqlite_path

    path = sqlite_path(obj.database_url())
    if path is None:
        raise click.ClickException("repair works on SQLite memory; this one is not SQLite")
    if obj.daemon_running():
        raise click.ClickException("the daemon is running: stop it first (festina daemon stop)")
    try:
        check_sqlite_file(path)
    except StorageUnusable as error:
        click.echo(f"found: {error}", err=True)
    else:
        click.echo(f"{path} is sound: nothing to repair")
        return
    kept, recovered = repair(path, datetime.now(UTC))
    click.echo(f"the broken database is kept as {kept}")
    if recovered is None:
        click.echo("nothing could be read from it: the next start makes a new, empty memory")
    else:
        click.echo(f"rebuilt {path}: {recovered} events recovered")


@memory.command("forget")
@click.option("--older-than-days", type=click.IntRange(0), help="Stored more than N days ago.")
@click.option("--before", type=click.DateTime(), help="Stored before this date/time (UTC).")
@click.option("--source", help="Only events and inputs from this source.")
@click.option(
    "--last-minutes",
    type=click.IntRange(1),
    help="What happened or arrived in the last N minutes (with the lessons quoting it).",
)
@click.option("--all", "everything", is_flag=True, help="Everything (needs --yes).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def memory_forget(
    obj: MemoryCommandContext,
    older_than_days: int | None,
    before: datetime | None,
    source: str | None,
    last_minutes: int | None,
    everything: bool,
    yes: bool,
) -> None:
    """Delete remembered events, their decisions, and rejected inputs."""
    if older_than_days is not None and before is not None:
        raise click.UsageError("use --older-than-days or --before, not both")
    if last_minutes is not None:
        if before is not None or older_than_days is not None or everything:
            raise click.UsageError("--last-minutes goes alone (or with --source)")
        store = obj.open_store()
        try:
            since = datetime.now(UTC) - timedelta(minutes=last_minutes)
            deleted = store.forget(since=since, source=source)
        finally:
            store.close()
        click.echo("forgot " + ", ".join(f"{count} {name}" for name, count in deleted.items()))
        return
    if older_than_days is not None:
        before = datetime.now(UTC) - timedelta(days=older_than_days)
    elif before is not None:
        before = before.replace(tzinfo=UTC)
    if before is None and source is None and not everything:
        raise click.UsageError(
            "say what to forget: --older-than-days, --before, --last-minutes, --source or --all"
        )
    if everything and not yes:
        click.confirm("Forget everything festina remembers?", abort=True)
    store = obj.open_store()
    try:
        deleted = store.forget(before=before, source=source)
    finally:
        store.close()
    click.echo("forgot " + ", ".join(f"{count} {name}" for name, count in deleted.items()))


_OUTCOME_WORDS = {
    "accept": "accepted",
    "reject": "rejected",
    "ignore": "ignored",
    "timeout": "timed_out",
}


@click.group()
def feedback() -> None:
    """Tell festina what you did with its offers, and see what it learned."""


_REASON_WORDS = {
    "not-now": "not_now",
    "not-useful": "not_useful",
    "wrong": "wrong",
    "never-app": "never_app",
}


@feedback.command("give")
@click.argument("event_id")
@click.argument("outcome", type=click.Choice(sorted(_OUTCOME_WORDS)))
@click.option("--latency", type=click.FloatRange(0), help="Seconds the answer took.")
@click.option(
    "--reason",
    type=click.Choice(list(_REASON_WORDS)),
    help="Why you reject it: not-now (hold offers a while, learn little), not-useful or "
    "wrong (learn it as a rejection), never-app (mute the app).",
)
@click.pass_obj
def feedback_give(
    obj: MemoryCommandContext,
    event_id: str,
    outcome: str,
    latency: float | None,
    reason: str | None,
) -> None:
    """Record OUTCOME for the offer made on EVENT_ID (an id or a unique prefix of one)."""
    from memory.feedback import Outcome, Reason

    if reason is not None and outcome != "reject":
        raise click.UsageError("--reason goes with reject")
    store = obj.open_store()
    try:
        full_id = store.resolve_event_id(event_id)
        store.record_feedback(
            full_id,
            Outcome(_OUTCOME_WORDS[outcome]),
            latency,
            None if reason is None else Reason(_REASON_WORDS[reason]),
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    finally:
        store.close()
    why = f" ({reason})" if reason else ""
    click.echo(
        f"recorded: {_OUTCOME_WORDS[outcome]}{why} on {full_id}; the daemon learns from it next"
    )


@feedback.command("show")
@click.option("--lessons", type=click.IntRange(0), default=5, show_default=True)
@click.option("--features", type=click.IntRange(0), default=10, show_default=True)
@click.pass_obj
def feedback_show(obj: MemoryCommandContext, lessons: int, features: int) -> None:
    """What your answers taught: the personal model's strongest features (logit shift of
    a welcome offer), its newest updates, and the newest lessons."""
    store = obj.open_store()
    try:
        personal = store.personal_model()
        updates = store.personal_updates(limit=5)
        recent = store.reflections(limit=lessons)
    finally:
        store.close()
    if not personal.answers:
        click.echo("nothing learned from feedback yet")
    else:
        click.echo(f"learned from {personal.answers} answer(s)")
        for name, weight in personal.strongest(features):
            click.echo(f"{weight:+.2f} logit  {name}")
    for update in updates:
        click.echo(
            f"update: {update.outcome} on {update.event_id[:12]}: welcome "
            f"{update.welcome_before:.2f} -> {update.welcome_after:.2f}"
        )
    for row in recent:
        click.echo(f"lesson ({row.context}): {row.lesson}")


@feedback.command("reset")
@click.pass_obj
def feedback_reset(obj: MemoryCommandContext) -> None:
    """Forget what your answers taught the gate (the personal model and its history)."""
    store = obj.open_store()
    try:
        answers = store.reset_personal_model()
    finally:
        store.close()
    click.echo(f"reset the personal model learned from {answers} answer(s)")


@memory.command("recall")
@click.argument("text")
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option(
    "--half-life-days",
    type=click.FloatRange(min=0, min_open=True),
    default=14.0,
    show_default=True,
    help="Recency weight: an episode this old counts half.",
)
@click.pass_obj
def memory_recall(obj: MemoryCommandContext, text: str, k: int, half_life_days: float) -> None:
    """Past episodes most similar to TEXT, with what was decided and what the user said."""
    from gate.base import Embedder
    from memory.retrieval import EpisodeIndex

    gate = obj.load_gate()
    if not isinstance(gate, Embedder):
        raise click.ClickException(
            "recall needs a trained gate's encoder; run `festina gate train`"
        )
    store = obj.open_store()
    try:
        index = EpisodeIndex(store, gate.encoder_id)
        episodes = index.recall(gate.embed_texts([text])[0], k, half_life_days=half_life_days)
    finally:
        store.close()
    if not episodes:
        click.echo("no episodes remembered yet")
    for episode in episodes:
        action = episode.decision.final_action or "pending"
        said = ",".join(episode.outcomes) or "-"
        click.echo(
            f"{episode.score:.3f}  {episode.event.time:%Y-%m-%d %H:%M}  {action:9}  "
            f"feedback={said:9}  {episode.event.summary()[:80]}"
        )


def _update_preferences(obj: MemoryCommandContext, **changes: Any) -> None:
    from pydantic import ValidationError

    from core.events import describe_validation_error
    from memory.preferences import Preferences

    store = obj.open_store()
    try:
        _, current = store.preferences()
        try:
            updated = Preferences.model_validate({**current.model_dump(), **changes})
        except ValidationError as error:
            raise click.ClickException(describe_validation_error(error)) from error
        revision = store.save_preferences(updated)
    finally:
        store.close()
    click.echo(f"preferences saved (revision {revision}); a running daemon applies them next batch")


@click.group()
def prefs() -> None:
    """Costs, do-not-disturb, muted apps and quiet hours (applied live)."""


@prefs.command("show")
@click.pass_obj
def prefs_show(obj: MemoryCommandContext) -> None:
    """Print the preferences as JSON (null costs fall back to the config file)."""
    store = obj.open_store()
    try:
        revision, current = store.preferences()
    finally:
        store.close()
    click.echo(json.dumps({"revision": revision, **current.model_dump(mode="json")}, indent=2))


@prefs.command("costs")
@click.option("--false-alarm", type=float, help="C_FA, cost of an unwanted offer.")
@click.option("--missed-help", type=float, help="C_FN, cost of missing needed help.")
@click.option("--delta", type=float, help="Half-width of the escalation band.")
@click.option("--clear", is_flag=True, help="Fall back to the config file's values.")
@click.pass_obj
def prefs_costs(
    obj: MemoryCommandContext,
    false_alarm: float | None,
    missed_help: float | None,
    delta: float | None,
    clear: bool,
) -> None:
    """Set the gate's costs and escalation band."""
    if clear:
        _update_preferences(obj, cost_false_alarm=None, cost_missed_help=None, delta=None)
        return
    changes = {
        k: v
        for k, v in (
            ("cost_false_alarm", false_alarm),
            ("cost_missed_help", missed_help),
            ("delta", delta),
        )
        if v is not None
    }
    if not changes:
        raise click.UsageError("give --false-alarm, --missed-help, --delta or --clear")
    _update_preferences(obj, **changes)


@prefs.command("dnd")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.pass_obj
def prefs_dnd(obj: MemoryCommandContext, state: str) -> None:
    """Turn do-not-disturb on or off."""
    _update_preferences(obj, do_not_disturb=state == "on")


@prefs.command("mute")
@click.argument("app")
@click.option("--undo", is_flag=True, help="Unmute instead.")
@click.pass_obj
def prefs_mute(obj: MemoryCommandContext, app: str, undo: bool) -> None:
    """Never offer help while APP is in use (matched case-insensitively)."""
    store = obj.open_store()
    try:
        muted = store.preferences()[1].muted_apps
    finally:
        store.close()
    kept = [a for a in muted if a.casefold() != app.casefold()]
    _update_preferences(obj, muted_apps=kept if undo else [*kept, app])


@prefs.command("quiet")
@click.argument("windows", nargs=-1)
@click.pass_obj
def prefs_quiet(obj: MemoryCommandContext, windows: tuple[str, ...]) -> None:
    """Set quiet hours as HH:MM-HH:MM windows (local time); none clears them."""
    parsed = []
    for window in windows:
        start, sep, end = window.partition("-")
        if not sep:
            raise click.UsageError(f"{window!r}: expected HH:MM-HH:MM")
        parsed.append({"start": start, "end": end})
    _update_preferences(obj, quiet_hours=parsed)


@click.command("pause")
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    help="Resume by itself after this long (default: until `festina resume`).",
)
@click.pass_obj
def pause(obj: MemoryCommandContext, minutes: float | None) -> None:
    """Private mode: take in nothing (events are only counted) until resumed."""
    until = None if minutes is None else datetime.now(UTC) + timedelta(minutes=minutes)
    _update_preferences(obj, paused=True, paused_until=until)
    click.echo(
        "paused until `festina resume`"
        if until is None
        else f"paused until {until.astimezone():%H:%M} (local time)"
    )


@click.command("resume")
@click.pass_obj
def resume(obj: MemoryCommandContext) -> None:
    """End private mode: take in events again."""
    _update_preferences(obj, paused=False, paused_until=None)
    click.echo("resumed")
