"""The `festina` command: the root group, with each package's commands under it.

The one module that imports every front end (agent's commands, memory's, gate's, the
evaluations and the dashboard), so that no package imports evals or tui for the command
line's sake; the import contracts in pyproject.toml put it above all of them.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import click

from agent.startup import long_lived

# The packages' modules live as long as the command: imported without the collector's
# passes over them, and left out of its later ones (agent/startup.py).
with long_lived():
    from agent.cli import config, confirm, daemon, decisions, doctor, shell_hook
    from agent.cli_context import CliContext
    from agent.extras import missing_extra
    from evals.cli import eval_group, gate_eval
    from gate.cli import gate
    from memory.cli import feedback, memory, pause, prefs, resume
    from tui.cli import tui


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """festina's version, and the gate the daemon would run with the default config."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    from agent.config import ConfigError, load_settings
    from agent.paths import resolve_paths
    from gate.loader import describe_choice
    from gate.registry import RegistryError

    paths = resolve_paths()
    click.echo(f"festina {version('festina')}")
    try:
        model = load_settings(paths.config_file).gate.model
        click.echo(f"gate {describe_choice(model, paths.models_dir)}")
    except (ConfigError, RegistryError) as error:
        click.echo(f"gate: cannot tell ({error})")
    ctx.exit()


class _Festina(click.Group):
    """The root command: a missing optional extra ends a command with the install line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as error:
            message = missing_extra(error)
            if message is None:
                raise
            raise click.ClickException(message) from error


@click.group(cls=_Festina, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show festina's version and the gate model's, then exit.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: the per-user config.toml; see `festina config path`).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """festina: a proactive agent that hurries slowly."""
    ctx.obj = CliContext.from_option(config_path)


# `festina gate eval` is the evaluations' command under gate's group: gate never imports
# evals (which needs the model extra), so it joins here.
gate.add_command(gate_eval)
for command in (
    daemon,
    decisions,
    confirm,
    config,
    doctor,
    shell_hook,
    tui,
    gate,
    memory,
    feedback,
    prefs,
    pause,
    resume,
    eval_group,
):
    cli.add_command(command)


def _whole_summaries(group: click.Group) -> None:
    """Give every command its whole first paragraph as its summary in group help: click
    would cut it at 45 characters or so, mid-sentence, with "..."."""
    for command in group.commands.values():
        if command.short_help is None and command.help:
            paragraph = inspect.cleandoc(command.help).split("\n\n", 1)[0]
            command.short_help = " ".join(paragraph.replace("\b", "").split())
        if isinstance(command, click.Group):
            _whole_summaries(command)


_whole_summaries(cli)


def main() -> None:
    from agent.logs import quiet_library_noise

    quiet_library_noise()
    cli(prog_name="festina")


if __name__ == "__main__":
    main()
