"""agent's commands: the daemon, its decisions, the configuration, the doctor and the
shell hook. The root `festina` command (festina_cli.py) gathers them with the other
packages' commands."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agent.cli_context import CliContext
from agent.config import DEFAULT_CONFIG_TOML, ConfigError, Settings, protect_secrets
from agent.live_status import live_status
from agent.paths import FestinaPaths
from agent.pidlock import AlreadyRunning, running_pid
from agent.sources import SourceSpecError
from core.decision import Action
from core.progress import confirm_command
from memory.health import STORAGE_FAULTS, StorageUnavailable

if TYPE_CHECKING:
    from core.decision import Decision
    from core.events import Event
    from core.outcome import StepOutcome
    from core.progress import PlanProgress

EXIT_ALREADY_RUNNING = 3
# sysexits.h's EX_CONFIG: what is around festina needs fixing before it can start.
EXIT_CANNOT_START = 78


# --- daemon -----------------------------------------------------------------


@click.group()
def daemon() -> None:
    """Run, start, stop and inspect the background daemon."""


def _run_options(fn: Any) -> Any:
    fn = click.option("--db", "db_url", help="SQLAlchemy database URL (overrides storage.url).")(fn)
    fn = click.option(
        "--speed",
        type=float,
        help="Pace of file replays, x real time; 0 = as fast as possible (live: never paced).",
    )(fn)
    fn = click.option(
        "--source",
        multiple=True,
        help="Event source, repeatable: jsonl:<file>, jsonl:-, proactivebench:<file>, "
        "activitywatch:<url>, http, notifications, calendar:<path>, power or screen "
        "(default: daemon.source, else the bundled demo stream).",
    )(fn)
    return fn


def _overrides(source: tuple[str, ...], speed: float | None, db_url: str | None) -> dict[str, Any]:
    return {"daemon.source": list(source) or None, "daemon.speed": speed, "storage.url": db_url}


@daemon.command("run")
@_run_options
@click.option(
    "--accept-empty",
    is_flag=True,
    help="Start even though the database was emptied or deleted (memory starts empty).",
)
@click.option("--detached", is_flag=True, hidden=True, help="Log to the file only (used by start).")
@click.pass_obj
def daemon_run(
    obj: CliContext,
    source: tuple[str, ...],
    speed: float | None,
    db_url: str | None,
    accept_empty: bool,
    detached: bool,
) -> None:
    """Run in the foreground until the source ends or SIGTERM/SIGINT (drains first)."""
    from agent.startup import long_lived

    with long_lived():
        from agent.api_errors import ApiUnavailable
        from agent.daemon import CannotStart, run_foreground
        from memory.integrity import StorageUnusable

    settings = obj.settings(**_overrides(source, speed, db_url))
    try:
        if protect_secrets(obj.config_path, settings):
            click.echo(
                f"{obj.config_path} holds api.token: made it readable by you only (chmod 600)",
                err=True,
            )
    except ConfigError as error:
        raise click.ClickException(str(error)) from error
    try:
        stats = run_foreground(
            settings, obj.paths, to_stderr=not detached, accept_empty=accept_empty
        )
    except AlreadyRunning as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(EXIT_ALREADY_RUNNING)
    except (CannotStart, StorageUnusable, StorageUnavailable) as error:
        # Restarting cannot fix these (the unit's RestartPreventExitStatus names the code).
        click.echo(f"Error: {error}", err=True)
        sys.exit(EXIT_CANNOT_START)
    except (SourceSpecError, ApiUnavailable) as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"accepted {_count(stats.accepted, 'event')}: {stats.decided} decided, "
        f"{stats.duplicates} already seen; "
        f"{_count(stats.rejected, 'malformed input')} rejected; {stats.escalated} escalated, "
        f"{_count(stats.intervened, 'offer')} made"
    )
    if stats.excluded or stats.paused:
        click.echo(
            f"not kept: {stats.excluded} excluded by privacy rules, "
            f"{stats.paused} taken while paused"
        )
    if stats.intervened:
        _echo_offers_of_last_run(settings, obj.paths)


def _count(number: int, noun: str) -> str:
    """'1 offer', '2 offers': English plurals for the nouns festina counts."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _echo_offers_of_last_run(settings: Settings, paths: FestinaPaths) -> None:
    """What the run just finished offered, in its own words (this process held the pid
    lock, so the newest run in memory is that run)."""
    from agent.daemon import database_url
    from memory.store import Store

    store = Store(database_url(settings, paths))
    try:
        run = store.last_run()
        rows = [] if run is None else store.decisions(10_000, offers_only=True, run_id=run.id)
    finally:
        store.close()
    click.echo("offers made (newest first):")
    for event, decision in rows:
        click.echo(f"  {event.id[:12]}  {event.time:%Y-%m-%d %H:%M:%S}  {_one_line(event)}")
        for line in _offer_lines(decision):
            click.echo(f"    {line}")


def _one_line(event: Event) -> str:
    """The event's summary on one line of the table (a terminal's output spans many)."""
    return " ".join(event.summary().split())[:70]


def _offer_lines(decision: Decision) -> list[str]:
    """An offer as the user sees it: what festina says, then the task and its plan."""
    offer = decision.offer
    if offer is None:
        return ["(no drafted offer: made without a drafter, as with slow_path.backend gate-rule)"]
    return [f'says: "{offer.speak}"', f"task: {offer.task} [{offer.plan_summary()}]"]


def _result_lines(outcomes: list[StepOutcome]) -> list[str]:
    """What an accepted plan did, each step with its status and its result's text."""
    lines = []
    for outcome in outcomes:
        text = outcome.text.splitlines()
        lines.append(f"{outcome.tool}: {outcome.status.value}" + (f": {text[0]}" if text else ""))
        lines.extend(f"  {line}" for line in text[1:6])
    return lines


def _plan_lines(plan: PlanProgress | None) -> list[str]:
    """Where an accepted plan stands: the steps done, the step being written (its last
    lines so far), and the steps waiting for the person, with how to answer them."""
    if plan is None:
        return []
    lines = _result_lines(plan.done)
    if plan.writing is not None:
        lines.append(f"{plan.writing.tool}: writing…")
        lines.extend(f"  {line}" for line in plan.writing.text.splitlines()[-5:])
    if plan.waiting_for:
        steps = ", ".join(
            f"{waiting.tool} ({_args(waiting.args)})" if waiting.args else waiting.tool
            for waiting in plan.waiting_for
        )
        lines.append(f"waiting for your confirmation: {steps}")
        if (asking := plan.asking) is not None and asking.confirmation_id is not None:
            lines.append(f"  answer {asking.tool}: {confirm_command(asking.confirmation_id)}")
    return lines


def _args(args: dict[str, Any]) -> str:
    shown = ", ".join(f"{key}={value!r}" for key, value in args.items())
    return shown if len(shown) <= 100 else shown[:99] + "…"


@click.command("confirm")
@click.argument("confirmation_id", metavar="ID", type=int)
@click.option("--no", "deny", is_flag=True, help="Skip the step instead of running it.")
@click.pass_obj
def confirm(obj: CliContext, confirmation_id: int, deny: bool) -> None:
    """Run (or, with --no, skip) a step of an accepted plan that waits for your
    confirmation; `festina decisions --offers` lists the waiting steps with their ids.

    The daemon acts on the answer within a second. An id that is unknown or already
    answered is an error (exit status 1)."""
    from memory.stores.plans import ConfirmationAnswered, UnknownConfirmation

    store = obj.open_store()
    try:
        row = store.answer_confirmation(confirmation_id, approved=not deny)
    except (UnknownConfirmation, ConfirmationAnswered) as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
    verb = "skipped" if deny else "will run"
    click.echo(f"{row.tool} {verb}; the daemon acts on it within a second")


@daemon.command("start")
@_run_options
@click.pass_obj
def daemon_start(
    obj: CliContext, source: tuple[str, ...], speed: float | None, db_url: str | None
) -> None:
    """Start the daemon in the background."""
    from agent.control import start_background

    obj.settings(**_overrides(source, speed, db_url))  # fail here, not in the child
    pid = running_pid(obj.paths.pid_file)
    if pid is not None:
        click.echo(f"Error: a festina daemon is already running (pid {pid})", err=True)
        sys.exit(EXIT_ALREADY_RUNNING)
    args = ["--config", str(obj.config_path)] if obj.config_explicit else []
    args += ["daemon", "run", "--detached"]
    for spec in source:
        args += ["--source", spec]
    for flag, value in (("--speed", speed), ("--db", db_url)):
        if value is not None:
            args += [flag, str(value)]
    result = start_background(args, obj.paths)
    if result.running:
        click.echo(f"daemon started (pid {result.pid}); log: {obj.paths.log_file}")
    elif result.exit_code == 0:
        click.echo(f"daemon ran to the end of its source and exited; log: {obj.paths.log_file}")
    else:
        tail = result.output_file.read_text(errors="replace")[-2000:]
        raise click.ClickException(f"daemon exited with code {result.exit_code}:\n{tail}")


@daemon.command("stop")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1.0),
    default=30.0,
    show_default=True,
    help="Seconds the stop may take: half to drain, then without draining, then SIGKILL.",
)
@click.pass_obj
def daemon_stop(obj: CliContext, timeout: float) -> None:
    """Stop the background daemon (SIGTERM: drain, flush, exit), within --timeout."""
    from agent.control import stop_background

    try:
        result = stop_background(obj.paths, timeout)
    except TimeoutError as error:
        raise click.ClickException(str(error)) from error
    if result is None:
        click.echo("no daemon running")
    elif result.how == "drained":
        click.echo(f"daemon {result.pid} stopped")
    elif result.how == "undrained":
        click.echo(
            f"daemon {result.pid} stopped without finishing its drain ({result.seconds:.0f}s); "
            "unfinished deliberations resume at the next start"
        )
    else:
        click.echo(
            f"daemon {result.pid} did not stop in {result.seconds:.0f}s and was killed; what it "
            "stored is kept, unfinished deliberations resume at the next start"
        )


@daemon.command("unit")
@click.pass_obj
def daemon_unit(obj: CliContext) -> None:
    """Print a systemd user unit for this installation (see the README)."""
    from agent.daemon import systemd_unit

    # The script of the environment running now, even when invoked as `python -m`.
    beside = Path(sys.executable).parent / "festina"
    executable = beside if beside.is_file() else Path(shutil.which("festina") or "festina")
    click.echo(
        systemd_unit(
            executable,
            obj.config_path.resolve() if obj.config_explicit else None,
            os.environ.get("FESTINA_HOME"),
        ),
        nl=False,
    )


@daemon.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def daemon_status(obj: CliContext, as_json: bool) -> None:
    """Whether a daemon runs, its last run's counters, and what memory holds."""
    pid = running_pid(obj.paths.pid_file)
    store = obj.open_store()
    try:
        # A run whose daemon is gone is over, however it ended (unless memory cannot be
        # written now: then it is marked next time).
        with contextlib.suppress(*STORAGE_FAULTS):
            store.end_dead_runs(pid)
        run = store.last_run()
        report = {
            "running": pid is not None,
            "pid": pid,
            "live": live_status(obj.settings()) if pid is not None else None,
            "last_run": None
            if run is None
            else {
                "source": run.source,
                "status": run.status,
                "started_at": run.started_at.isoformat(),
                "ended_at": run.ended_at.isoformat() if run.ended_at else None,
                "accepted": run.accepted,
                "decided": run.decided,
                "duplicates": run.duplicates,
                "rejected": run.rejected,
                "excluded": run.excluded,
                "paused": run.paused,
            },
            "totals": store.totals(),
        }
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"daemon: running (pid {pid})" if pid else "daemon: not running")
    if live := report["live"]:
        fault = live.get("storage_fault")
        waiting = live["counts"]
        click.echo(
            f"now: {live['queued']} queued, {waiting.get('waiting_to_store', 0)} to store, "
            f"{waiting.get('waiting_to_decide', 0)} to decide, "
            f"{waiting.get('waiting_to_deliberate', 0)} to deliberate; "
            + (f"memory cannot be written ({fault}): taking no events" if fault else "memory ok")
        )
    if report["last_run"]:
        click.echo("last run: " + ", ".join(f"{k}={v}" for k, v in report["last_run"].items()))
    click.echo("memory: " + ", ".join(f"{k}={v}" for k, v in sorted(report["totals"].items())))


# --- decisions ----------------------------------------------------------------


@click.command("decisions")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--offers", "offers_only", is_flag=True, help="Only the offers made.")
@click.pass_obj
def decisions(obj: CliContext, limit: int, offers_only: bool) -> None:
    """Show the latest decisions, newest first; each offer with what festina says."""
    store = obj.open_store()
    try:
        rows = store.decisions(limit, offers_only=offers_only)
        offers = [event.id for event, d in rows if d.final_action is Action.INTERVENE]
        answers = store.latest_answers(offers)
        plans = store.plan_progress(offers)
    finally:
        store.close()
    if not rows:
        click.echo("no decisions yet; run `festina daemon run`")
        return
    width = max(10, *(len(decision.decided_by or "-") for _, decision in rows))
    header = f"{'id':12}  {'time (UTC)':19}  {'action':9}  {'by':{width}}  p_need  p_acc   tau"
    click.echo(f"{header}  event")
    for event, decision in rows:
        action = decision.final_action.value if decision.final_action else "pending"
        click.echo(
            f"{event.id[:12]}  {event.time:%Y-%m-%d %H:%M:%S}  {action:9}  "
            f"{decision.decided_by or '-':{width}}  "
            f"{decision.p_need:6.2f}  {decision.p_accept:5.2f}  {decision.tau:4.2f}  "
            f"{_one_line(event)}"
        )
        if decision.final_action is Action.INTERVENE:
            answer = answers.get(event.id)
            lines = [
                *_offer_lines(decision),
                f"answer: {answer or 'none yet'}",
                *_plan_lines(plans.get(event.id)),
            ]
            for line in lines:
                click.echo(f"{'':14}{line}")
    click.echo(by_legend(decision.decided_by for _, decision in rows))


# Who settled a decision, as the `by` column says it.
_DECIDERS = {
    "gate": "the gate's cost rule",
    "gate-rule": "an escalation settled by that rule (no slow path)",
    "gate-busy": "the rule, as the slow path was full",
    "gate-error": "silent, the gate failed",
    "preferences": "silenced by your preferences",
    "etiquette": "held back by etiquette",
    "graph:": "the slow path deliberated (its drafter named)",
    "slow-path-error": "silent, the slow path failed",
}


def by_legend(deciders: Iterable[str | None]) -> str:
    """One line saying what each `by` value shown means."""
    shown: dict[str, str] = {}
    for decider in deciders:
        if decider is None:
            shown["-"] = "not decided yet"
            continue
        key = "graph:" if decider.startswith("graph:") else decider
        shown[key if key != "graph:" else "graph:…"] = _DECIDERS.get(key, "")
    return "by: " + "; ".join(
        f"{name} = {meaning}" if meaning else name for name, meaning in shown.items()
    )


# --- config -------------------------------------------------------------------


@click.group()
def config() -> None:
    """Create and inspect the configuration file."""


@config.command("path")
@click.pass_obj
def config_path(obj: CliContext) -> None:
    """Print where the config file, data and logs live."""
    click.echo(f"config: {obj.config_path}")
    click.echo(f"data:   {obj.paths.data_dir}")
    click.echo(f"logs:   {obj.paths.log_dir}")


@config.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_obj
def config_init(obj: CliContext, force: bool) -> None:
    """Write a config file with every setting at its documented default."""
    if obj.config_path.exists() and not force:
        raise click.ClickException(f"{obj.config_path} exists; use --force to overwrite")
    obj.config_path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only from the start: this is where the API token goes.
    descriptor = os.open(obj.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file (--force) keeps its mode otherwise
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(DEFAULT_CONFIG_TOML)
    click.echo(f"wrote {obj.config_path}")


@config.command("show")
@click.pass_obj
def config_show(obj: CliContext) -> None:
    """Print the effective settings (file plus defaults) as JSON; the API token masked."""
    settings = obj.settings()
    if settings.api.token:
        settings.api.token = "***"
    click.echo(settings.model_dump_json(indent=2))


@click.command("doctor")
@click.pass_obj
def doctor(obj: CliContext) -> None:
    """Check that what the configuration asks for is there and answering: each source,
    the gate's model, the slow path's server (its model named), notifications."""
    from agent.doctor import Level, diagnose

    findings = diagnose(obj.settings(), obj.paths)
    width = max(len(f.part) for f in findings)
    for finding in findings:
        click.echo(f"{finding.level.value:4}  {finding.part:{width}}  {finding.says}")
    if any(f.level is Level.FAIL for f in findings):
        raise SystemExit(1)


@click.command("shell-hook")
@click.argument("shell", type=click.Choice(["bash", "zsh"]))
@click.pass_obj
def shell_hook(obj: CliContext, shell: str) -> None:
    """Print the hook that posts each terminal command to the daemon.

    Add `eval "$(festina shell-hook bash)"` to ~/.bashrc (or `zsh` to ~/.zshrc). The
    daemon must take the "http" source, with api.token set. Needs bash 5 or zsh, and curl.
    """
    from agent.shell_hook import hook_script

    settings = obj.settings()
    if "http" not in settings.daemon.source:  # with it, the configuration needs a token
        raise click.ClickException(
            'the shell hook posts to the local API: add "http" to daemon.source and set '
            f"api.token (`festina config token` makes one) in {obj.config_path}"
        )
    host = settings.api.host
    if host in ("0.0.0.0", "::"):  # every interface: this machine's own is loopback
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    shown = f"[{host}]" if ":" in host else host
    click.echo(
        hook_script(shell, f"http://{shown}:{settings.api.port}/v1/events", settings.api.token)
    )


@config.command("token")
def config_token() -> None:
    """Print a fresh random token for api.token."""
    click.echo(secrets.token_urlsafe(32))
