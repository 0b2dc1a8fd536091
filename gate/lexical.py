"""Lexical features: TF-IDF of the event's words and of the event before it.

Measured on the 18 labelled ProactiveBench recordings (leave-one-recording-out, see the
gate benchmark's ablation), the words of an event ("scrolls through", "error", "reads",
"types") predict the human label better than the frozen MiniLM embedding, the regex cues
or the activity features, alone or added to them. The vocabulary and its idf weights are
fitted on the training texts (by scikit-learn's TfidfVectorizer) and saved with the model
as plain JSON; the runtime computes the same vectors from them with numpy alone, so the
daemon needs no scikit-learn (a test checks the two agree).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np

from gate.base import EventWindow

LEXICAL_FILE = "lexical.json"
# The event before counts half: it says what the user was doing, the current one what
# they do now.
PREVIOUS_WEIGHT = 0.5
# TfidfVectorizer's settings; `_terms` and `tfidf` below compute what it computes with
# them (its default token pattern, lower case, l2 norm).
_PARAMETERS = {"ngram_range": (1, 2), "sublinear_tf": True}
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _terms(text: str) -> list[str]:
    """A text's words and adjacent word pairs."""
    tokens = _TOKEN.findall(text.lower())
    return [*tokens, *(f"{a} {b}" for a, b in pairwise(tokens))]


class LexicalFeatures:
    """A fitted vocabulary: windows in, [tfidf(current) | w * tfidf(previous)] out."""

    def __init__(self, vocabulary: dict[str, int], idf: Sequence[float]) -> None:
        self.vocabulary = vocabulary
        self._idf = np.asarray(idf, dtype=np.float64)

    @classmethod
    def fit(cls, texts: Sequence[str], *, min_df: int = 2) -> LexicalFeatures:
        """Learn the vocabulary (words and word pairs seen in at least `min_df` texts).
        Needs scikit-learn (the `model` extra), as all training does."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        fitted = TfidfVectorizer(min_df=min_df, **_PARAMETERS).fit(texts)
        vocabulary = {term: int(index) for term, index in fitted.vocabulary_.items()}
        return cls(vocabulary, fitted.idf_.tolist())

    @property
    def dimension(self) -> int:
        return 2 * len(self.vocabulary)

    @property
    def names(self) -> list[str]:
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        return [f"word:{t}" for t in terms] + [f"previous:{t}" for t in terms]

    def tfidf(self, texts: Sequence[str]) -> np.ndarray:
        """One l2-normalised row per text: (1 + log count) * idf of each known term."""
        rows = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float64)
        for row, text in enumerate(texts):
            for term, count in Counter(_terms(text)).items():
                column = self.vocabulary.get(term)
                if column is not None:
                    rows[row, column] = (1.0 + math.log(count)) * self._idf[column]
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms > 0, norms, 1.0)

    def transform(self, windows: Sequence[EventWindow]) -> np.ndarray:
        current = [window[-1].summary() for window in windows]
        previous = [window[-2].summary() if len(window) > 1 else "" for window in windows]
        return np.hstack([self.tfidf(current), PREVIOUS_WEIGHT * self.tfidf(previous)]).astype(
            np.float32
        )

    def save(self, model_dir: Path) -> None:
        payload = {"vocabulary": self.vocabulary, "idf": self._idf.tolist()}
        (model_dir / LEXICAL_FILE).write_text(json.dumps(payload))

    @classmethod
    def load(cls, model_dir: Path) -> LexicalFeatures:
        payload = json.loads((model_dir / LEXICAL_FILE).read_text())
        return cls(payload["vocabulary"], payload["idf"])
