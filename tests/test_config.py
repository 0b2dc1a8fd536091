from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from agent.config import DEFAULT_CONFIG_TOML, ConfigError, Settings, load_settings
from agent.paths import resolve_paths
from festina_cli import cli


def test_the_documented_template_is_exactly_the_defaults(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(DEFAULT_CONFIG_TOML)
    assert load_settings(path) == Settings()


def test_a_missing_file_means_defaults_unless_required(tmp_path):
    assert load_settings(tmp_path / "none.toml") == Settings()
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "none.toml", required=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[gate]\ndelta = 0.7\n", "gate.delta"),
        ("[gate]\ncost_false_alarm = 0\n", "gate.cost_false_alarm"),
        ("[daemon]\nqueue = 3\n", "daemon.queue: Extra inputs"),
        ("[daemon\n", "invalid TOML"),
        ('[slow_path]\nread_paths = ["notes"]\n', "slow_path.read_paths: Value error, 'notes'"),
        ('[slow_path]\nbackend = "template"\n', "slow_path.backend: Input should be 'templates'"),
    ],
)
def test_invalid_files_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_festina_home_holds_every_path(tmp_path):
    paths = resolve_paths({"FESTINA_HOME": str(tmp_path)})
    assert paths.config_file == tmp_path / "config.toml"
    assert paths.database_url == f"sqlite:///{tmp_path / 'data' / 'festina.db'}"


def test_config_init_then_show(festina_home):
    runner = CliRunner()
    assert runner.invoke(cli, ["config", "init"]).exit_code == 0
    assert (festina_home / "config.toml").read_text() == DEFAULT_CONFIG_TOML
    refused = runner.invoke(cli, ["config", "init"])
    assert refused.exit_code != 0
    assert "--force" in refused.output

    (festina_home / "config.toml").write_text("[gate]\ncost_missed_help = 7.5\n")
    shown = json.loads(runner.invoke(cli, ["config", "show"]).output)
    assert shown["gate"]["cost_missed_help"] == 7.5
    assert shown["gate"]["delta"] == Settings().gate.delta


def test_the_docs_document_the_real_defaults():
    page = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
    assert DEFAULT_CONFIG_TOML in page.read_text()


def test_an_openai_slow_path_needs_a_model_name(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[slow_path]\nbackend = "openai"\n')
    with pytest.raises(ConfigError, match="slow_path: Value error, backend 'openai' needs model"):
        load_settings(path)


def test_an_embedded_slow_path_takes_a_shipped_model_or_a_gguf_file(tmp_path):
    path = tmp_path / "config.toml"
    for model in ("gemma3", "smollm2", "/models/tiny.gguf", ""):
        path.write_text(f'[slow_path]\nbackend = "embedded"\nmodel = "{model}"\n')
        assert load_settings(path).slow_path.model == model
    # A server's model name here would only fail at the first escalation, in the daemon.
    path.write_text('[slow_path]\nbackend = "embedded"\nmodel = "qwen2.5"\n')
    with pytest.raises(ConfigError, match="'smollm2' or 'gemma3' or the path of a"):
        load_settings(path)


def test_read_paths_allow_absolute_and_home_folders(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[slow_path]\nread_paths = ["~/notes", "/srv/docs"]\n')
    assert load_settings(path).slow_path.read_paths == ["~/notes", "/srv/docs"]


@pytest.mark.parametrize(
    ("daemon", "api", "reason"),
    [
        ({"source": ["http", " "]}, {"token": "t" * 16}, "source specs must not be empty"),
        ({"source": ["http", " http"]}, {"token": "t" * 16}, "a source is listed twice"),
        ({"source": ["http"]}, {"token": "short"}, "needs api.token (16 characters or more)"),
        (
            {"source": ["http"], "queue_size": 10},
            {"token": "t" * 16, "max_events_per_request": 50},
            "daemon.queue_size must hold at least api.max_events_per_request",
        ),
    ],
)
def test_a_configuration_that_cannot_work_is_refused_with_the_reason(daemon, api, reason):
    with pytest.raises(ValidationError, match=re.escape(reason)):
        Settings.model_validate({"daemon": daemon, "api": api})
