from __future__ import annotations

import pytest

from core.events import Event
from gate.features import CUE_NAMES, window_cues


def event(t: float, text: str, kind: str = "browser") -> Event:
    return Event.model_validate({"time": t, "source": "s", "kind": kind, "text": text})


def test_cues_see_search_repetition_and_errors():
    window = [
        event(0, "The user searches on Google for 'ruby capitalize names'."),
        event(30, "The user reads a page.", "browser"),
        event(40, "The user searches again for 'ruby capitalize names' after an error."),
    ]
    cues = window_cues(window)
    assert list(cues) == list(CUE_NAMES)
    assert cues["is_search"] == 1.0
    assert cues["repeated_query"] == 1.0
    assert cues["is_error"] == 1.0
    assert cues["searches_in_window"] == 2.0
    assert cues["events_last_minute"] == 3.0
    assert cues["log_gap_prev"] == pytest.approx(2.3979, abs=1e-3)  # log1p(10 s)


def test_a_lone_event_is_first_in_window_with_no_gap():
    cues = window_cues([event(5, "The user types in the editor.", "editor")])
    assert cues["is_first_in_window"] == 1.0
    assert cues["log_gap_prev"] == 0.0
    assert cues["repeated_query"] == 0.0


def test_batch_features_read_each_events_cues_once_and_match_the_window_alone(trained_home):
    from gate.build import ensure_encoder
    from gate.encoder import OnnxEncoder
    from gate.features import CueMemo, FeatureBuilder

    texts = [
        "The user searches on Google for 'ruby capitalize names'.",
        "The user reads a page.",
        "An error: 'ruby capitalize names' fails in the terminal.",
        "The user types in the editor.",
    ]
    events = [event(10 * i, text) for i, text in enumerate(texts)]
    windows = [events[: i + 1] for i in range(len(events))]
    memo = CueMemo()
    assert [window_cues(w, memo) for w in windows] == [window_cues(w) for w in windows]
    assert len(memo) == len(events)  # each event read once for all four windows

    builder = FeatureBuilder(OnnxEncoder(ensure_encoder(trained_home / "data" / "models")))
    context = builder.context(windows)
    assert context.shape == (len(windows), len(builder.context_names))
