"""festina as people install it: an sdist and a wheel built from this checkout
(`python -m build`, the wheel from the sdist, `twine check`), the wheel installed with no
extras into a fresh venv, run away from the checkout with no data beside it. The shipped
trained gate decides at once, as it does in the checkout, and torch and scikit-learn are
absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FESTINA, REPOSITORY

pytest.importorskip("build", reason="needs the dev extra (build, twine)")
pytestmark = pytest.mark.timeout(900)

VENV_LIMIT_MB = 450


def _run(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def test_the_wheel_installs_alone_and_runs_the_shipped_gate(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--outdir", dist, REPOSITORY)
    wheel, sdist = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert len(wheel) == 1 and len(sdist) == 1
    _run(sys.executable, "-m", "twine", "check", "--strict", wheel[0], sdist[0])

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "-c", REPOSITORY / "constraints.txt", wheel[0])
    assert _size_mb(venv) < VENV_LIMIT_MB

    # Away from the checkout: nothing on the path but the install, no data folder beside.
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FESTINA_", "PYTHON", "VIRTUAL_ENV"))
    }
    installed_home, checkout_home = tmp_path / "installed-home", tmp_path / "checkout-home"
    installed = [venv / "bin" / "festina"]

    absent = _run(
        python,
        "-c",
        "import importlib.util as u; "
        "print([m for m in ('torch', 'sklearn', 'scipy', 'transformers') if u.find_spec(m)])",
        cwd=away,
        env=env,
    )
    assert absent.stdout.strip() == "[]"

    shipped = json.loads((REPOSITORY / "gate" / "default_model" / "manifest.json").read_text())
    version = _run(*installed, "--version", cwd=away, env={**env, "FESTINA_HOME": installed_home})
    assert f"gate {shipped['version']} (shipped with festina)" in version.stdout

    # The same bundled stream, from the install and from the checkout: the same gate
    # scores on every event, from the shipped model. Not the same final decisions: the
    # daemon drafts while the gate goes on (agent.stage_pacing.Overlapping), so on a loaded
    # machine which offers etiquette saw first, and so which it held, can differ.
    scores = []
    for command, home in ((installed, installed_home), (FESTINA, checkout_home)):
        run_env = {**env, "FESTINA_HOME": str(home)}
        if command is FESTINA:
            run_env["PYTHONPATH"] = str(REPOSITORY)
        _run(*command, "daemon", "run", cwd=away, env=run_env)
        table = _run(*command, "decisions", "--limit", "10000", cwd=away, env=run_env).stdout
        assert table.count("\n") > 20
        database = home / "data" / "festina.db"
        stored = _run(
            python,
            "-c",
            "import json, sqlite3, sys; print(json.dumps(sqlite3.connect(sys.argv[1]).execute("
            "'select event_id, round(p_need, 6), round(p_accept, 6), model_version "
            "from decisions order by event_id').fetchall()))",
            database,
        )
        rows = json.loads(stored.stdout)
        assert {row[3] for row in rows} == {shipped["version"]}
        scores.append(rows)
    assert scores[0] == scores[1]
    assert len(scores[0]) > 20
