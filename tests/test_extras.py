"""A command that needs an optional extra this install lacks ends with one line naming
the extra and how to install it, not a traceback (the runtime install has no
scikit-learn or scipy: training and the evaluations need the `model` extra)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import festina_without


@pytest.mark.parametrize("command", [["gate", "train"], ["gate", "eval"], ["eval", "report"]])
def test_a_command_that_needs_a_missing_extra_names_it(tmp_path: Path, command: list[str]) -> None:
    done = subprocess.run(
        [*festina_without("sklearn", "scipy"), *command],
        env={"FESTINA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "this needs scikit-learn" in done.stderr
    assert "pip install 'festina[model]'" in done.stderr
