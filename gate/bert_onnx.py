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
from typing import TYPE_CHECKING, Any

import numpy as np

from gate.encoder_export import ENCODER_FILE, ONNX_OPSET, TOKENIZER_FILE

if TYPE_CHECKING:
    # onnx is imported where a graph is built: it is the model extra's, not the runtime's.
    from onnx import ModelProto, NodeProto, TensorProto

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
        self.nodes: list[NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, value: np.ndarray, hint: str) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str = "", **attributes: Any) -> str:
        from onnx import helper

        output = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attributes))
        return output


class _BertGraph(_Graph):
    """The encoder's parts, written into the graph from one checkpoint's weights.

    Names count up in the order nodes and constants are made, and the encoder file's
    sha256 names its folder and goes into every manifest: each part makes them in the
    order it always has, so the same checkpoint still gives the same file."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict[str, Any]) -> None:
        super().__init__()
        self._weights = weights
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.head_size = self.hidden // self.heads
        self.epsilon = float(config.get("layer_norm_eps", 1e-12))

    def weight(self, name: str) -> np.ndarray:
        return self._weights[name].astype(np.float32)

    def int64(self, *values: int) -> str:
        return self.constant(np.array(values, dtype=np.int64), "shape")

    def scalar(self, value: float) -> str:
        return self.constant(np.array(value, dtype=np.float32), "scalar")

    def linear(self, x: str, prefix: str) -> str:
        # torch.nn.Linear keeps (out, in): x @ W.T + b.
        w = self.constant(self.weight(f"{prefix}.weight").T, prefix + ".weight")
        b = self.constant(self.weight(f"{prefix}.bias"), prefix + ".bias")
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def layer_norm(self, x: str, prefix: str) -> str:
        scale = self.constant(self.weight(f"{prefix}.weight"), prefix + ".weight")
        bias = self.constant(self.weight(f"{prefix}.bias"), prefix + ".bias")
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=self.epsilon)

    def project(self, x: str, prefix: str, perm: list[int]) -> str:
        """A linear projection split into attention heads, transposed to `perm`."""
        projected = self.linear(x, prefix)
        shaped = self.op("Reshape", [projected, self.int64(0, 0, self.heads, self.head_size)])
        return self.op("Transpose", [shaped], perm=perm)

    def embeddings(self) -> str:
        """Word + position + token type 0 (the export passes no token_type_ids, so BERT
        uses type 0 everywhere), then LayerNorm."""
        word_table = self.constant(self.weight("embeddings.word_embeddings.weight"), "words")
        words = self.op("Gather", [word_table, "input_ids"])
        # The first `sequence` rows of the position table (a 1-D length, as Slice wants).
        length = self.op("Shape", ["input_ids"], start=1, end=2)
        position_table = self.constant(
            self.weight("embeddings.position_embeddings.weight"), "positions"
        )
        position_vectors = self.op("Slice", [position_table, self.int64(0), length, self.int64(0)])
        token_type = self.constant(
            self.weight("embeddings.token_type_embeddings.weight")[0], "token_type"
        )
        x = self.op("Add", [self.op("Add", [words, position_vectors]), token_type])
        return self.layer_norm(x, "embeddings.LayerNorm")

    def attention_bias(self, mask: str) -> str:
        """Padding is masked out of attention with the most negative float, as
        transformers does: (1 - mask) * min, broadcast over heads and queries."""
        blocked = self.op("Sub", [self.scalar(1.0), mask])
        lowest = self.scalar(float(np.finfo(np.float32).min))
        return self.op("Unsqueeze", [self.op("Mul", [blocked, lowest]), self.int64(1, 2)])

    def encoder_layer(self, x: str, prefix: str, *, bias: str, scale: str, merge_heads: str) -> str:
        """Self-attention, residual and LayerNorm, then the feed-forward with exact GELU,
        residual and LayerNorm."""
        query = self.project(x, f"{prefix}.attention.self.query", [0, 2, 1, 3])  # (b, h, s, d)
        key = self.project(x, f"{prefix}.attention.self.key", [0, 2, 3, 1])  # (b, h, d, s)
        value = self.project(x, f"{prefix}.attention.self.value", [0, 2, 1, 3])
        scores = self.op("Add", [self.op("Mul", [self.op("MatMul", [query, key]), scale]), bias])
        context = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), value])
        context = self.op(
            "Reshape", [self.op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads]
        )
        attended = self.linear(context, f"{prefix}.attention.output.dense")
        x = self.layer_norm(self.op("Add", [attended, x]), f"{prefix}.attention.output.LayerNorm")
        inner = self.linear(x, f"{prefix}.intermediate.dense")
        # Exact GELU: 0.5 x (1 + erf(x / sqrt 2)) (the Gelu operator needs opset 20).
        erf = self.op("Erf", [self.op("Mul", [inner, self.scalar(1.0 / math.sqrt(2.0))])])
        half = self.op("Mul", [inner, self.scalar(0.5)])
        inner = self.op("Mul", [half, self.op("Add", [erf, self.scalar(1.0)])])
        out = self.linear(inner, f"{prefix}.output.dense")
        return self.layer_norm(self.op("Add", [out, x]), f"{prefix}.output.LayerNorm")

    def pooled_output(self, x: str, mask: str) -> None:
        """The graph's output `embedding`: the mean over real tokens, then unit length
        (torch.nn.functional.normalize's eps)."""
        from onnx import helper

        token_mask = self.op("Unsqueeze", [mask, self.int64(-1)])
        summed = self.op("ReduceSum", [self.op("Mul", [x, token_mask]), self.int64(1)], keepdims=0)
        tokens = self.op("ReduceSum", [token_mask, self.int64(1)], keepdims=0)
        count = self.op("Max", [tokens, self.scalar(1e-9)])
        pooled = self.op("Div", [summed, count])
        length = self.op("ReduceL2", [pooled], axes=[-1], keepdims=1)
        norm = self.op("Max", [length, self.scalar(1e-12)])
        self.nodes.append(helper.make_node("Div", [pooled, norm], ["embedding"]))


def _model(g: _BertGraph) -> ModelProto:
    """The checked model of `g`'s nodes: (input_ids, attention_mask) -> embedding."""
    import onnx
    from onnx import TensorProto, helper

    token_shape = ["batch", "sequence"]
    graph = helper.make_graph(
        g.nodes,
        "bert_mean_pooled",
        inputs=[
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, token_shape),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, token_shape),
        ],
        outputs=[
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", g.hidden])
        ],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    onnx.checker.check_model(model)
    return model


def build_graph(weights: dict[str, np.ndarray], config: dict[str, Any]) -> ModelProto:
    """The ONNX model: (input_ids, attention_mask) -> unit-norm mean-pooled embedding."""
    from onnx import TensorProto

    g = _BertGraph(weights, config)
    x = g.embeddings()
    mask = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    bias = g.attention_bias(mask)
    merge_heads = g.int64(0, 0, g.hidden)
    scale = g.scalar(1.0 / math.sqrt(g.head_size))
    for index in range(int(config["num_hidden_layers"])):
        x = g.encoder_layer(
            x, f"encoder.layer.{index}", bias=bias, scale=scale, merge_heads=merge_heads
        )
    g.pooled_output(x, mask)
    return _model(g)


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
