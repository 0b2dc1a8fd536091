"""Lexical features: TF-IDF of the event's words and of the event before it.

Measured on the 18 labelled ProactiveBench recordings (leave-one-recording-out, see the
gate benchmark's ablation), the words of an event ("scrolls through", "error", "reads",
"types") predict the human label better than the frozen MiniLM embedding, the regex cues
or the activity features, alone or added to them. The vocabulary and its idf weights are
fitted on the training texts and saved with the model as plain JSON, so the runtime
rebuilds the same vectoriser with scikit-learn and nothing is refitted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from gate.base import EventWindow

LEXICAL_FILE = "lexical.json"
# The event before counts half: it says what the user was doing, the current one what
# they do now.
PREVIOUS_WEIGHT = 0.5
_PARAMETERS = {"ngram_range": (1, 2), "sublinear_tf": True}


class LexicalFeatures:
    """A fitted vocabulary: windows in, [tfidf(current) | w * tfidf(previous)] out."""

    def __init__(self, vocabulary: dict[str, int], idf: Sequence[float]) -> None:
        self._vectorizer = TfidfVectorizer(vocabulary=vocabulary, **_PARAMETERS)
        self._vectorizer.idf_ = np.asarray(idf, dtype=np.float64)
        self.vocabulary = vocabulary

    @classmethod
    def fit(cls, texts: Sequence[str], *, min_df: int = 2) -> LexicalFeatures:
        """Learn the vocabulary (words and word pairs seen in at least `min_df` texts)."""
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

    def transform(self, windows: Sequence[EventWindow]) -> np.ndarray:
        current = [window[-1].summary() for window in windows]
        previous = [window[-2].summary() if len(window) > 1 else "" for window in windows]
        return np.hstack(
            [
                self._vectorizer.transform(current).toarray(),
                PREVIOUS_WEIGHT * self._vectorizer.transform(previous).toarray(),
            ]
        ).astype(np.float32)

    def save(self, model_dir: Path) -> None:
        payload = {"vocabulary": self.vocabulary, "idf": self._vectorizer.idf_.tolist()}
        (model_dir / LEXICAL_FILE).write_text(json.dumps(payload))

    @classmethod
    def load(cls, model_dir: Path) -> LexicalFeatures:
        payload = json.loads((model_dir / LEXICAL_FILE).read_text())
        return cls(payload["vocabulary"], payload["idf"])
