"""The terminal as a source: a real bash and zsh running festina's hook against a running
daemon."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import pytest

from agent.shell_hook import hook_script
from tests.helpers import festina, free_port, http_daemon, wait_for


def _shell_events(home) -> list[tuple[str, str, dict]]:
    with sqlite3.connect(home / "data" / "festina.db") as db:
        rows = db.execute(
            "select kind, title, attributes from events where source = 'shell' order by time"
        ).fetchall()
    return [(kind, title, json.loads(attributes)) for kind, title, attributes in rows]


def test_the_hook_needs_the_http_source_and_a_token(tmp_path):
    done = festina("shell-hook", "bash", home=tmp_path)
    assert done.returncode == 1
    assert 'add "http" to daemon.source and set api.token' in done.stderr


def test_only_bash_and_zsh_have_hooks():
    with pytest.raises(ValueError, match="no hook for 'fish'"):
        hook_script("fish", "http://127.0.0.1:1/v1/events", "t")


SHELLS = {"bash": ["bash", "--norc", "--noprofile", "-i"], "zsh": ["zsh", "-f", "-i"]}


@pytest.mark.skipif(not shutil.which("curl"), reason="the hook posts with curl")
@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_each_command_of_a_real_shell_reaches_the_daemon(tmp_path, shell):
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed (Debian: apt-get install {shell})")
    home = tmp_path / "home"
    work = tmp_path / "shop"
    work.mkdir()
    with http_daemon(home, free_port()) as daemon:
        printed = festina("shell-hook", shell, home=home)
        assert printed.returncode == 0, printed.stderr
        assert daemon.url in printed.stdout
        hook = tmp_path / f"hook.{shell}"
        hook.write_text(printed.stdout)
        typed = "\n".join(
            [
                f"source {hook}",
                f"cd {work}",
                "python3 -c 'import sys; sys.exit(3)'  # fails",
                "",  # an empty line runs nothing and posts nothing
                " echo a leading space keeps this out",
                'printf "%s\\n" "a quote \\" and a backslash \\\\"',
                "exit",
            ]
        )
        session = subprocess.run(
            SHELLS[shell], input=typed + "\n", capture_output=True, text=True, timeout=60
        )
        assert session.returncode == 0, session.stderr
        wait_for(lambda: len(_shell_events(home)) >= 3, timeout=30)
    events = _shell_events(home)
    assert [(kind, title) for kind, title, _ in events] == [
        ("terminal", f"$ cd {work}"),
        ("failed-command", "$ python3 -c 'import sys; sys.exit(3)'  # fails"),
        ("terminal", '$ printf "%s\\n" "a quote \\" and a backslash \\\\"'),
    ]
    failed = events[1][2]
    assert failed["exit_status"] == 3 and failed["cwd"] == str(work) and failed["shell"] == shell
    assert failed["duration_s"] >= 0
