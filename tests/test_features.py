from __future__ import annotations

import pytest

from agent.events import Event
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
