"""The command line's small answers: where things live, the configuration shown without
its secret, a fresh token, an empty memory, no daemon to stop, a configuration that
cannot be read, and the shell hook of a daemon listening on every interface."""

from __future__ import annotations

import json

from click.testing import CliRunner

from festina_cli import cli

TOKEN = "a-token-of-sixteen-or-more"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def configure(home, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


def test_config_path_show_and_token(festina_home):
    configure(festina_home, f'[daemon]\nsource = ["http"]\n[api]\ntoken = "{TOKEN}"\n')
    where = invoke("config", "path").output.splitlines()
    assert [line.split(":")[0] for line in where] == ["config", "data", "logs"]
    assert str(festina_home / "config.toml") in where[0]
    shown = json.loads(invoke("config", "show").output)
    assert shown["api"]["token"] == "***" and TOKEN not in invoke("config", "show").output
    first, second = invoke("config", "token").output.strip(), invoke("config", "token").output
    assert len(first) >= 32 and first != second.strip()


def test_an_empty_memory_and_no_daemon_say_so(festina_home):
    assert invoke("decisions").output.startswith("no decisions yet")
    assert invoke("daemon", "stop").output.strip() == "no daemon running"
    status = invoke("daemon", "status")
    assert status.exit_code == 0 and status.output.startswith("daemon: not running")


def test_the_version_says_when_the_configuration_cannot_be_read(festina_home):
    configure(festina_home, "[gate\nmodel = \n")
    done = invoke("--version")
    assert done.exit_code == 0
    assert done.output.startswith("festina ") and "gate: cannot tell (" in done.output


def test_the_shell_hook_of_a_daemon_on_every_interface_posts_to_loopback(festina_home):
    configure(
        festina_home,
        f'[daemon]\nsource = ["http"]\n[api]\nhost = "0.0.0.0"\nallow_remote = true\n'
        f'token = "{TOKEN}"\n',
    )
    hook = invoke("shell-hook", "bash")
    assert hook.exit_code == 0, hook.output
    assert "http://127.0.0.1:8765/v1/events" in hook.output
    assert "0.0.0.0" not in hook.output
