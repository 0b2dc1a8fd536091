"""The trained gate end to end: real data, real MiniLM export, real onnxruntime."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from festina_cli import cli
from gate.base import NeedEvidence
from gate.build import ensure_encoder
from gate.data import load_traces
from gate.heads_gate import POPULATION_ACCEPT
from gate.onnx_gate import OnnxGate
from gate.registry import FORMAT, RegistryError, current_model_dir, is_usable, list_versions
from gate.runtime import providers
from tests.helpers import FESTINA_WITHOUT_TORCH, PROACTIVEBENCH, event_record, write_jsonl


@pytest.fixture(scope="module")
def model_dir(trained_home):
    return current_model_dir(trained_home / "data" / "models")


@pytest.fixture(scope="module")
def windows():
    traces = load_traces(PROACTIVEBENCH)
    events = traces[0].events
    return [events[max(0, i - 7) : i + 1] for i in range(len(events))]


def test_training_registers_a_calibrated_onnx_model(model_dir):
    [manifest] = list_versions(model_dir.parent)
    assert model_dir.name == manifest.version
    assert set(manifest.heads) == {"need", "accept_task"}
    assert manifest.format == FORMAT
    assert (model_dir / "lexical.json").is_file()
    for name, head in manifest.heads.items():
        assert (model_dir / head.file).is_file(), name
        assert head.calibrator.method == min(
            head.log_loss_by_method, key=head.log_loss_by_method.get
        )
        assert head.metrics["onnx_max_gap"] < 1e-4
        assert 0 <= head.metrics["oof_ece_calibrated"] <= 1
    assert len(manifest.data_sha256) == 64
    assert (model_dir / manifest.encoder.directory / "encoder.onnx").is_file()
    # How far recordings' own rates of need stray from p_need, measured held out: the
    # 18 recordings range from 5 % to 60 % needing help, so they do stray.
    need = manifest.heads["need"].metrics
    assert 0.3 < need["offset_spread"] < 3.0


def test_the_gate_gives_probabilities_on_cpu_and_batching_changes_nothing(model_dir, windows):
    gate = OnnxGate(model_dir, device="cpu")
    assert gate.providers == ["CPUExecutionProvider"]
    batched = gate.score(windows)
    single = [gate.score([w])[0] for w in windows]
    for a, b in zip(batched, single, strict=True):
        assert 0.0 <= a.p_need <= 1.0
        assert a.p_need == pytest.approx(b.p_need, abs=1e-5)
        # No population label tells a refused offer from no need: p_accept starts at 1.
        assert a.p_accept == b.p_accept == POPULATION_ACCEPT
        # Every p_need goes with what the model knows of how far to trust it.
        assert a.evidence == NeedEvidence(
            spread=gate.manifest.heads["need"].metrics["offset_spread"],
            prior=gate.manifest.heads["need"].metrics["positive_rate"],
        )
    assert len({round(s.p_need, 6) for s in batched}) > 1  # it reacts to its input


def test_task_scores_are_probabilities(model_dir, windows):
    gate = OnnxGate(model_dir, device="cpu")
    tasks = ["Show how to capitalize names in Ruby", "Book a flight to Paris"]
    scores = gate.score_tasks(windows[2:4], tasks)
    assert len(scores) == 2
    assert all(0.0 <= p <= 1.0 for p in scores)


def test_a_model_of_an_older_format_is_refused_and_retrained(trained_home, model_dir, monkeypatch):
    old = model_dir.parent / "gate-old-format"
    shutil.copytree(model_dir, old)
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "format": 1}))
    with pytest.raises(RegistryError, match="festina gate train"):
        OnnxGate(old, device="cpu")
    assert not is_usable(old) and is_usable(model_dir)
    shutil.rmtree(old)


def test_onnx_encoder_matches_pytorch(model_dir, windows):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    gate = OnnxGate(model_dir, device="cpu")
    texts = [w[-1].summary() for w in windows]
    reference = sentence_transformers.SentenceTransformer(
        gate.manifest.encoder.source, device="cpu"
    )
    expected = reference.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(gate.encoder.encode(texts), expected, atol=1e-4)


def test_the_encoder_is_exported_once_and_reused(trained_home, model_dir):
    models = trained_home / "data" / "models"
    first = ensure_encoder(models)
    stamp = (first / "encoder.onnx").stat().st_mtime_ns
    assert ensure_encoder(models) == first
    assert (first / "encoder.onnx").stat().st_mtime_ns == stamp


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA present")
def test_asking_for_cuda_without_it_is_a_clear_error():
    with pytest.raises(RuntimeError, match="gpu extra"):
        providers("cuda")


def test_the_daemon_decides_with_the_trained_gate_and_without_torch(
    trained_home, model_dir, tmp_path
):
    trace = write_jsonl(tmp_path / "t.jsonl", [event_record(i) for i in range(5)])
    db = tmp_path / "decisions.db"
    env = {**os.environ, "FESTINA_HOME": str(trained_home)}
    result = subprocess.run(
        [
            *FESTINA_WITHOUT_TORCH,
            "daemon",
            "run",
            "--source",
            f"jsonl:{trace}",
            "--db",
            f"sqlite:///{db}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        versions = {row[0] for row in conn.execute("select model_version from decisions")}
    assert versions == {model_dir.name}


def test_gate_list_and_use(trained_home, model_dir, monkeypatch):
    monkeypatch.setenv("FESTINA_HOME", str(trained_home))
    runner = CliRunner()
    listed = runner.invoke(cli, ["gate", "list"])
    assert listed.exit_code == 0
    assert f"* {model_dir.name}" in listed.output
    refused = runner.invoke(cli, ["gate", "use", "gate-does-not-exist"])
    assert refused.exit_code != 0
    assert "no model version" in refused.output
    assert runner.invoke(cli, ["gate", "train", "--if-missing"]).output.startswith(
        "current gate model"
    )


def test_the_daemon_stores_embeddings_and_recall_finds_related_episodes(trained_home, tmp_path):
    db = tmp_path / "recall.db"
    config = tmp_path / "festina.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{db}"\n')
    env = {**os.environ, "FESTINA_HOME": str(trained_home)}
    festina = [sys.executable, "-m", "festina_cli", "--config", str(config)]
    trace = PROACTIVEBENCH / "test_data" / "code_11.json"  # a Ruby name-capitalisation session
    run = subprocess.run(
        [*festina, "daemon", "run", "--source", f"proactivebench:{trace}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    with sqlite3.connect(db) as conn:
        vectors, events = conn.execute(
            "select (select count(*) from episode_vectors), (select count(*) from events)"
        ).fetchone()
    assert vectors == events == 15
    recall = subprocess.run(
        [*festina, "memory", "recall", "capitalize a person's name in ruby", "-k", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert recall.returncode == 0, recall.stderr
    lines = recall.stdout.splitlines()
    assert len(lines) == 3
    assert all("capitaliz" in line.lower() for line in lines)


async def test_a_restarted_pipeline_embeds_no_text_memory_already_holds(model_dir, tmp_path):
    from core.events import Event
    from core.sources import StaticSource
    from tests.helpers import make_pipeline

    texts = [f"The user reads section {i} of the Ruby string docs" for i in range(6)]

    def day(start):
        records = [event_record(i, text=t, start=start) for i, t in enumerate(texts)]
        return [Event.model_validate(r) for r in records]

    async def run(url, events):
        gate = OnnxGate(model_dir, device="cpu")
        encoded = []
        run_encoder = gate.encoder._run
        gate.encoder._run = lambda batch: encoded.extend(batch) or run_encoder(batch)
        pipeline, store = make_pipeline(url, StaticSource(events), gate=gate)
        await pipeline.run()
        decided = [(d.p_need, d.p_accept) for _, d, _ in store.recent_activity(len(events))]
        store.close()
        return pipeline.stats, encoded, decided

    url = f"sqlite:///{tmp_path / 'memory.db'}"
    _, encoded, _ = await run(url, day(1_700_000_000.0))
    assert sorted(set(encoded)) == sorted(f"Editor | {t}" for t in texts)

    stats, encoded, warm = await run(url, day(1_700_086_400.0))
    assert stats.decided == len(texts)
    assert encoded == []  # every text came from memory, none through the encoder

    # The restored vectors are the encoder's own, stored as float16: a cold gate decides
    # the same.
    _, _, cold = await run(f"sqlite:///{tmp_path / 'cold.db'}", day(1_700_086_400.0))
    assert warm == cold


def test_sessions_do_not_spin_between_events(model_dir):
    from gate.runtime import open_session

    options = open_session(model_dir / "need.onnx", "cpu").get_session_options()
    for entry in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
        assert options.get_session_config_entry(entry) == "0"


def test_the_encoder_runs_texts_of_like_length_together_and_embeds_each_as_alone(model_dir):
    from gate.encoder import RUN_BATCH, OnnxEncoder
    from gate.registry import encoder_dir_of

    encoder = OnnxEncoder(encoder_dir_of(model_dir), device="cpu")
    texts = [("word " * (1 + (i * 37) % 90)).strip() + f" {i}" for i in range(2 * RUN_BATCH)]
    runs: list[list[str]] = []
    run_encoder = encoder._run
    encoder._run = lambda batch: runs.append(batch) or run_encoder(batch)

    together = encoder.encode(texts)

    # The short texts are not padded to the long ones: each run holds one length band.
    assert [len(r) for r in runs] == [RUN_BATCH, RUN_BATCH]
    assert max(len(t) for t in runs[0]) <= min(len(t) for t in runs[1])
    encoder.clear_cache()
    alone = np.stack([encoder.encode([t])[0] for t in texts[:: RUN_BATCH // 4]])
    np.testing.assert_allclose(together[:: RUN_BATCH // 4], alone, atol=1e-5)
