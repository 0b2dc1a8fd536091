"""Sentence embeddings from the exported ONNX encoder, with an LRU cache.

Windows overlap (each event is seen again as history of the next ones), so caching by
text turns most lookups into hits.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from gate.runtime import open_session

MAX_TOKENS = 128
CACHE_SIZE = 4096
# Texts per encoder run. Attention holds (texts x heads x tokens x tokens) floats per layer:
# training's ~1300 texts in one run peaked near 3 GB, in runs of 64 under 1 GB.
RUN_BATCH = 64


class OnnxEncoder:
    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "auto",
        cache_size: int = CACHE_SIZE,
        threads: int = 0,
    ) -> None:
        self._session = open_session(model_dir / "encoder.onnx", device, threads)
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self.dimension = int(self._session.get_outputs()[0].shape[1] or 384)

    @property
    def providers(self) -> list[str]:
        providers: list[str] = self._session.get_providers()
        return providers

    def clear_cache(self) -> None:
        self._cache.clear()

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        embeddings: np.ndarray = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask}
        )[0]
        return embeddings

    def preload(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Take embeddings this encoder computed earlier (oldest first), e.g. those memory
        stored, so a restart does not pay for texts it has already seen."""
        for text, vector in zip(texts, vectors, strict=True):
            self._cache[text] = vector.astype(np.float32, copy=False)
            self._cache.move_to_end(text)
        self._trim()

    def _trim(self) -> None:
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings, one row per text."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        # Texts of like length share a run, so few tokens are padding: a run is as long
        # as its longest text, and tokens follow characters closely enough to sort by.
        missing.sort(key=len)
        for start in range(0, len(missing), RUN_BATCH):
            chunk = missing[start : start + RUN_BATCH]
            for text, vector in zip(chunk, self._run(chunk), strict=True):
                self._cache[text] = vector
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._cache[text]
            self._cache.move_to_end(text)
        self._trim()
        return out
