"""The root command and its context object: `festina` gathers every package's commands
(festina_cli.py), and memory's and gate's commands run on any object that gives what
their protocols name, with no configuration of agent's behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

from agent.cli_context import CliContext
from festina_cli import cli
from gate.base import GateModel
from gate.cli import gate
from gate.cli_context import GateCommandContext
from gate.cues import CueGate
from memory.cli import memory, prefs
from memory.cli_context import MemoryCommandContext
from memory.store import Store

COMMANDS = [
    "config",
    "confirm",
    "daemon",
    "decisions",
    "doctor",
    "eval",
    "feedback",
    "gate",
    "memory",
    "pause",
    "prefs",
    "resume",
    "shell-hook",
    "tui",
]


def test_the_root_command_lists_every_package_s_commands():
    assert sorted(cli.commands) == COMMANDS
    assert "eval" in gate.commands  # the evaluations' `gate eval`, joined by the root
    shown = CliRunner().invoke(cli, ["--help"]).output
    assert all(f"  {name} " in shown for name in COMMANDS)


def test_the_context_gives_what_memory_s_and_gate_s_commands_name(festina_home):
    context = CliContext.from_option(None)
    assert isinstance(context, MemoryCommandContext)
    assert isinstance(context, GateCommandContext)
    assert context.config_path == festina_home / "config.toml"
    assert not context.config_explicit
    assert context.models_dir() == festina_home / "data" / "models"
    assert not (festina_home / "data").exists()
    assert context.models_dir(ensure=True).parent.is_dir()


@dataclass
class StandIn:
    """Memory and gate models in a folder, with no configuration file at all."""

    folder: Path
    opened: list[Store] = field(default_factory=list)

    def database_url(self) -> str:
        return f"sqlite:///{self.folder / 'stand-in.db'}"

    def open_store(self) -> Store:
        self.opened.append(Store(self.database_url()))
        return self.opened[-1]

    def daemon_running(self) -> bool:
        return False

    def load_gate(self) -> GateModel:
        return CueGate()

    def models_dir(self, *, ensure: bool = False) -> Path:
        return self.folder / "models"


def test_memory_and_gate_commands_run_on_any_object_their_protocols_describe(tmp_path):
    stand_in = StandIn(tmp_path)
    assert isinstance(stand_in, MemoryCommandContext)
    assert isinstance(stand_in, GateCommandContext)
    runner = CliRunner()

    saved = runner.invoke(prefs, ["dnd", "on"], obj=stand_in)
    assert saved.exit_code == 0, saved.output
    assert saved.output.startswith("preferences saved (revision 1)")
    assert '"do_not_disturb": true' in runner.invoke(prefs, ["show"], obj=stand_in).output

    recall = runner.invoke(memory, ["recall", "a csv file"], obj=stand_in)
    assert "recall needs a trained gate's encoder" in recall.output

    listed = runner.invoke(gate, ["list"], obj=stand_in)
    assert listed.exit_code == 0, listed.output
    assert "(shipped with festina)" in listed.output
    assert len(stand_in.opened) == 2


def test_the_dashboard_command_opens_the_configured_memory(festina_home, monkeypatch):
    from tui.app import FestinaApp

    opened: list[FestinaApp] = []
    monkeypatch.setattr(FestinaApp, "run", lambda app: opened.append(app))
    done = CliRunner().invoke(cli, ["tui"])
    assert done.exit_code == 0, done.output
    assert len(opened) == 1
    assert (festina_home / "data" / "festina.db").is_file()
