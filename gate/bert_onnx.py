"""Build the ONNX encoder of a BERT checkpoint from its safetensors weights, without torch.

The graph is written node by node with onnx's helper API: embeddings (word, position and
the single token type the encoder is run with), each encoder layer (self-attention,
residual and LayerNorm, the feed-forward with exact GELU, residual and LayerNorm), then
mean pooling over the attention mask and L2 normalisation: the same inputs, output and
arithmetic as the PyTorch export in `encoder_export.py`, so a gate trained on either runs
on the other (a test in the train extra compares the two).

This is what lets `festina gate train` build the default MiniLM gate on an install without
torch: it needs numpy, onnx and safetensors, and the checkpoint's files (`config.json`,
`model.safetensors`, `tokenizer.json`). Checkpoints of other architectures go through the
PyTorch export (`train` extra).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np

from gate.encoder_export import ENCODER_FILE, ONNX_OPSET, TOKENIZER_FILE

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def can_build(source: str | Path) -> bool:
    """True when `source` is a local BERT checkpoint this builder reads: a folder with
    safetensors weights, a tokenizer.json and a config of a plain BERT encoder."""
    folder = Path(source)
    if not all((folder / name).is_file() for name in (WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE)):
        return False
    config = json.loads((folder / CONFIG_FILE).read_text())
    return (
        config.get("model_type") == "bert"
        and config.get("hidden_act", "gelu") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and not config.get("is_decoder", False)
    )


def _load_weights(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    weights = load_file(str(path))
    # A checkpoint saved from BertFor... heads prefixes the encoder's names with "bert.".
    return {name.removeprefix("bert."): value for name, value in weights.items()}


class _Graph:
    """Nodes and initialisers with unique names, built up in order."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, value: np.ndarray, hint: str) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str = "", **attributes) -> str:
        from onnx import helper

        output = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attributes))
        return output


def build_graph(weights: dict[str, np.ndarray], config: dict):
    """The ONNX model: (input_ids, attention_mask) -> unit-norm mean-pooled embedding."""
    import onnx
    from onnx import TensorProto, helper

    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_size = hidden // heads
    epsilon = float(config.get("layer_norm_eps", 1e-12))
    g = _Graph()

    def weight(name: str) -> np.ndarray:
        return weights[name].astype(np.float32)

    def linear(x: str, prefix: str) -> str:
        # torch.nn.Linear keeps (out, in): x @ W.T + b.
        w = g.constant(weight(f"{prefix}.weight").T, prefix + ".weight")
        b = g.constant(weight(f"{prefix}.bias"), prefix + ".bias")
        return g.op("Add", [g.op("MatMul", [x, w]), b])

    def layer_norm(x: str, prefix: str) -> str:
        scale = g.constant(weight(f"{prefix}.weight"), prefix + ".weight")
        bias = g.constant(weight(f"{prefix}.bias"), prefix + ".bias")
        return g.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=epsilon)

    def project(x: str, prefix: str, perm: list[int]) -> str:
        """A linear projection split into attention heads, transposed to `perm`."""
        shaped = g.op("Reshape", [linear(x, prefix), int64(0, 0, heads, head_size)])
        return g.op("Transpose", [shaped], perm=perm)

    def int64(*values: int) -> str:
        return g.constant(np.array(values, dtype=np.int64), "shape")

    def scalar(value: float) -> str:
        return g.constant(np.array(value, dtype=np.float32), "scalar")

    # Embeddings: word + position + token type 0 (the export passes no token_type_ids, so
    # BERT uses type 0 everywhere), then LayerNorm.
    words = g.op(
        "Gather", [g.constant(weight("embeddings.word_embeddings.weight"), "words"), "input_ids"]
    )
    # The first `sequence` rows of the position table (a 1-D length, as Slice wants).
    length = g.op("Shape", ["input_ids"], start=1, end=2)
    position_table = g.constant(weight("embeddings.position_embeddings.weight"), "positions")
    position_vectors = g.op("Slice", [position_table, int64(0), length, int64(0)])
    token_type = g.constant(weight("embeddings.token_type_embeddings.weight")[0], "token_type")
    x = g.op("Add", [g.op("Add", [words, position_vectors]), token_type])
    x = layer_norm(x, "embeddings.LayerNorm")

    # Padding is masked out of attention with the most negative float, as transformers does.
    mask = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    blocked = g.op("Sub", [scalar(1.0), mask])
    bias = g.op(
        "Unsqueeze",
        [g.op("Mul", [blocked, scalar(float(np.finfo(np.float32).min))]), int64(1, 2)],
    )
    merge_heads = int64(0, 0, hidden)
    scale = scalar(1.0 / math.sqrt(head_size))
    for index in range(int(config["num_hidden_layers"])):
        prefix = f"encoder.layer.{index}"

        query = project(x, f"{prefix}.attention.self.query", [0, 2, 1, 3])  # (b, h, s, d)
        key = project(x, f"{prefix}.attention.self.key", [0, 2, 3, 1])  # (b, h, d, s)
        value = project(x, f"{prefix}.attention.self.value", [0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [query, key]), scale]), bias])
        context = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), value])
        context = g.op("Reshape", [g.op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        attended = linear(context, f"{prefix}.attention.output.dense")
        x = layer_norm(g.op("Add", [attended, x]), f"{prefix}.attention.output.LayerNorm")
        inner = linear(x, f"{prefix}.intermediate.dense")
        # Exact GELU: 0.5 x (1 + erf(x / sqrt 2)) (the Gelu operator needs opset 20).
        erf = g.op("Erf", [g.op("Mul", [inner, scalar(1.0 / math.sqrt(2.0))])])
        inner = g.op("Mul", [g.op("Mul", [inner, scalar(0.5)]), g.op("Add", [erf, scalar(1.0)])])
        out = linear(inner, f"{prefix}.output.dense")
        x = layer_norm(g.op("Add", [out, x]), f"{prefix}.output.LayerNorm")

    # Mean over real tokens, then unit length (torch.nn.functional.normalize's eps).
    token_mask = g.op("Unsqueeze", [mask, int64(-1)])
    summed = g.op("ReduceSum", [g.op("Mul", [x, token_mask]), int64(1)], keepdims=0)
    count = g.op("Max", [g.op("ReduceSum", [token_mask, int64(1)], keepdims=0), scalar(1e-9)])
    pooled = g.op("Div", [summed, count])
    norm = g.op("Max", [g.op("ReduceL2", [pooled], axes=[-1], keepdims=1), scalar(1e-12)])
    g.nodes.append(helper.make_node("Div", [pooled, norm], ["embedding"]))

    graph = helper.make_graph(
        g.nodes,
        "bert_mean_pooled",
        inputs=[
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        outputs=[helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    onnx.checker.check_model(model)
    return model


def build_encoder(source: str | Path, target_dir: Path) -> Path:
    """Write `target_dir/encoder.onnx` and its `tokenizer.json` for the local BERT
    checkpoint at `source` (see `can_build`)."""
    import onnx

    folder = Path(source)
    if not can_build(folder):
        raise ValueError(f"{folder} is not a local BERT checkpoint with safetensors weights")
    config = json.loads((folder / CONFIG_FILE).read_text())
    model = build_graph(_load_weights(folder / WEIGHTS_FILE), config)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / ENCODER_FILE
    onnx.save(model, str(target))
    shutil.copyfile(folder / TOKENIZER_FILE, target_dir / TOKENIZER_FILE)
    return target
