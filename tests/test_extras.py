"""A command that needs an optional extra this install lacks ends with one line naming
the extra and how to install it, not a traceback (the runtime install has no
scikit-learn or scipy: training and the evaluations need the `model` extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_WITHOUT_SKLEARN = """
import sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"sklearn", "scipy"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Refuse())
from agent.cli import main
main()
"""


@pytest.mark.parametrize("command", [["gate", "train"], ["gate", "eval"], ["eval", "report"]])
def test_a_command_that_needs_a_missing_extra_names_it(tmp_path: Path, command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SKLEARN, *command],
        env={"FESTINA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "this needs scikit-learn" in done.stderr
    assert "pip install 'festina[model]'" in done.stderr
