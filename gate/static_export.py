"""Distil a sentence encoder into static token vectors, exported to ONNX. Needs `train`.

The recipe is model2vec's (Tulkens & van Dongen, 2024): every vocabulary token is run
through the encoder on its own, the outputs are reduced by PCA and weighted by a Zipf
prior on token rank, and a sentence is the normalised mean of its tokens' vectors. The
model2vec package itself pins transformers < 5.4, older than this project's, so the few
lines of the recipe live here.

Encoding is then a table lookup: no attention, no matrix products, microseconds per
text instead of MiniLM's ~0.4 ms per token on two cores. The exported graph has the
same inputs and output as the transformer export, so `OnnxEncoder` runs either.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gate.encoder_export import ENCODER_FILE, ONNX_OPSET, TOKENIZER_FILE, require_torch

STATIC_PREFIX = "static:"
DIMENSIONS = 256
_BATCH = 512


def _token_outputs(source: str) -> tuple[np.ndarray, list[int]]:
    """The encoder's mean-pooled output for each vocabulary token alone; special tokens
    (which the exported tokenizer no longer adds) are left out of the table's rows."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModel.from_pretrained(source)
    model.eval()
    special = set(tokenizer.all_special_ids)
    vocabulary = sorted(tokenizer.get_vocab().values())
    kept = [i for i in vocabulary if i not in special]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(kept), _BATCH):
            ids = torch.tensor(kept[start : start + _BATCH])[:, None]
            batch = torch.cat([torch.full_like(ids, cls), ids, torch.full_like(ids, sep)], dim=1)
            hidden = model(input_ids=batch, attention_mask=torch.ones_like(batch))
            outputs.append(hidden.last_hidden_state.mean(dim=1).numpy())
    return np.concatenate(outputs), kept


def distil_table(source: str, dimensions: int = DIMENSIONS) -> np.ndarray:
    """A (vocabulary size, dimensions) table (fewer columns for an encoder narrower than
    `dimensions`); rows of special tokens are zero."""
    from sklearn.decomposition import PCA

    outputs, kept = _token_outputs(source)
    components = min(dimensions, outputs.shape[1])
    reduced = PCA(n_components=components, random_state=0).fit_transform(outputs)
    # WordPiece ids roughly follow corpus frequency: frequent tokens say less (Zipf/SIF).
    reduced *= np.log1p(np.arange(1, len(kept) + 1, dtype=np.float64))[:, None]
    table = np.zeros((max(kept) + 1, components), dtype=np.float32)
    table[kept] = reduced
    return table


def quantize(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The table as int8 rows with one float scale each: a quarter of the size (the
    default gate ships this table inside the package), and each row within half a step
    (1/254 of its largest entry) of the original."""
    scales = np.abs(table).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    rows = np.round(table / scales[:, None]).astype(np.int8)
    return rows, scales.astype(np.float32)


def _export_graph(table: np.ndarray, target: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rows, scales = quantize(table)
    nodes = [
        helper.make_node("Gather", ["rows", "input_ids"], ["quantized"]),
        helper.make_node("Cast", ["quantized"], ["unscaled"], to=TensorProto.FLOAT),
        helper.make_node("Gather", ["scales", "input_ids"], ["row_scales"]),
        helper.make_node("Unsqueeze", ["row_scales", "last_axis"], ["row_scales3"]),
        helper.make_node("Mul", ["unscaled", "row_scales3"], ["vectors"]),
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask", "last_axis"], ["mask3"]),
        helper.make_node("Mul", ["vectors", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "token_axis"], ["summed"], keepdims=0),
        # The mean's denominator cancels under L2 normalisation, so only the norm is taken.
        helper.make_node("ReduceL2", ["summed"], ["norm"], axes=[-1], keepdims=1),
        helper.make_node("Max", ["norm", "epsilon"], ["safe_norm"]),
        helper.make_node("Div", ["summed", "safe_norm"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "static_encoder",
        inputs=[
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        outputs=[
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", table.shape[1]])
        ],
        initializer=[
            numpy_helper.from_array(rows, "rows"),
            numpy_helper.from_array(scales, "scales"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), "last_axis"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "token_axis"),
            numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "epsilon"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def export_static_encoder(source: str | Path, target_dir: Path) -> Path:
    """Distil the Hugging Face encoder at `source` (a local folder or hub id) and write
    `target_dir/encoder.onnx` with its tokenizer."""
    require_torch("distilling static token vectors")
    from transformers import AutoTokenizer

    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / ENCODER_FILE
    _export_graph(distil_table(str(source)), target)
    tokenizer = Path(source) / TOKENIZER_FILE
    if not tokenizer.is_file():
        AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(target_dir))
        tokenizer = target_dir / TOKENIZER_FILE
    # No [CLS]/[SEP]: they carry no meaning in a bag of token vectors and would pull every
    # sentence toward the same point.
    config = json.loads(tokenizer.read_text())
    config["post_processor"] = None
    (target_dir / TOKENIZER_FILE).write_text(json.dumps(config))
    return target
