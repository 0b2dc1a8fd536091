"""The runtime's own copies of what it used to take from scikit-learn (the lexical
features' TF-IDF, the personal model's hash, the stop words) compute what scikit-learn
computes, so models and memories written before the change read the same afterwards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.murmur import murmurhash3_32
from core.stopwords import ENGLISH_STOP_WORDS
from gate.data import load_traces
from gate.lexical import LexicalFeatures

sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")
sklearn_utils = pytest.importorskip("sklearn.utils")


def test_the_stop_words_are_scikit_learn_s() -> None:
    assert ENGLISH_STOP_WORDS == sklearn_text.ENGLISH_STOP_WORDS


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_the_hash_is_scikit_learn_s(text: str) -> None:
    assert murmurhash3_32(text) == sklearn_utils.murmurhash3_32(text, positive=True)


def test_the_tf_idf_of_real_events_is_scikit_learn_s(proactivebench: Path) -> None:
    texts = [event.summary() for trace in load_traces(proactivebench) for event in trace.events]
    training, held_out = texts[::2], texts[1::2]
    lexical = LexicalFeatures.fit(training)
    reference = sklearn_text.TfidfVectorizer(
        vocabulary=lexical.vocabulary, ngram_range=(1, 2), sublinear_tf=True
    )
    reference.fit(training)  # idf_ comes from the same texts as `lexical`'s
    for part in (training, held_out, ["", "   ", "Ünïcode ÉVENT — typed 'x'", "a b c"]):
        expected = reference.transform(part).toarray()
        np.testing.assert_allclose(lexical.tfidf(part), expected, rtol=0, atol=1e-12)
