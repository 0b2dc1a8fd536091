"""Interruptions: no offer during a call, a screen share or a presentation; never the same
thing twice within the repeat window (judged with the encoder); a daily cap."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from pydantic import ValidationError

from agent.config import EtiquetteSettings
from core.sources import StaticSource
from gate.base import Embedder, GateScores
from tests.helpers import RecordingSurface, event_at, make_pipeline

QUIET = {"cooldown_s": 0, "pending_timeout_s": 0}


class WordsGate:
    """Offers on 'help', and embeds a text as its bag of words (like texts, like vectors)."""

    version = "words-test"
    encoder_id = "words-test"

    def score(self, windows):
        return [
            GateScores(p_need=1.0, p_accept=0.95 if "help" in w[-1].text else 0.05) for w in windows
        ]

    def embed_texts(self, texts):
        matrix = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.casefold().split():
                matrix[row, zlib.crc32(word.encode()) % 256] += 1.0
        return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)

    def preload_embeddings(self, texts, vectors):
        pass


async def _offers(tmp_path, events, *, gate=None, name="f", **settings):
    surface = RecordingSurface()
    pipeline, store = make_pipeline(
        f"sqlite:///{tmp_path / f'{name}.db'}",
        StaticSource(events),
        gate=gate,
        surface=surface,
        etiquette=EtiquetteSettings(**{**QUIET, **settings}),
    )
    await pipeline.run()
    decided = {e.text: d for e, d in store.decisions(limit=100)}
    store.close()
    return [e.text for e, _ in surface.offers], decided


@pytest.mark.parametrize(
    "busy",
    [
        {"app": "zoom.us", "text": "The user is in a meeting"},
        {"app": "Chrome", "text": "x", "title": "Meet - standup - meet.google.com"},
        {"app": "PowerPoint", "text": "x", "title": "PowerPoint Slide Show - plan.pptx"},
        {"app": "Watcher", "text": "x", "attributes": {"screen_share": True}},
        {"app": "Watcher", "text": "x", "attributes": {"fullscreen": True}},
    ],
)
async def test_no_offer_during_a_call_a_share_or_a_presentation(tmp_path, busy):
    events = [
        event_at(0, **busy),
        event_at(60, "I need help 1"),  # another window, the call goes on
        event_at(400, "I need help 2"),  # five minutes after the last sighting
    ]
    offered, decided = await _offers(tmp_path, events, busy_hold_s=300)
    assert offered == ["I need help 2"]
    assert decided["I need help 1"].decided_by == "etiquette"
    assert decided["I need help 1"].reason.startswith("not during a")


async def test_the_meeting_apps_are_configurable(tmp_path):
    events = [event_at(0, "in a huddle", app="Slack"), event_at(10, "I need help")]
    offered, _ = await _offers(tmp_path, events, name="default")
    assert offered == ["I need help"]  # Slack is no meeting app by default
    offered, _ = await _offers(tmp_path, events, name="listed", busy_apps=["slack"])
    assert offered == []


def test_busy_title_patterns_must_be_regular_expressions():
    with pytest.raises(ValidationError, match="not a regular expression"):
        EtiquetteSettings(busy_titles=["(unclosed"])


async def test_a_like_offer_is_not_made_twice_within_the_repeat_window(tmp_path):
    assert isinstance(WordsGate(), Embedder)
    events = [
        event_at(0, "I need help with the ruby error in names.rb"),
        event_at(60, "I need help with the ruby error in names.rb again"),  # alike: held
        event_at(120, "I need help writing the quarterly report"),  # different: offered
        event_at(4000, "I need help with the ruby error in names.rb once more"),  # window over
    ]
    offered, decided = await _offers(tmp_path, events, gate=WordsGate(), repeat_window_s=3600)
    assert offered == [events[0].text, events[2].text, events[3].text]
    held = decided[events[1].text]
    assert (held.decided_by, held.gate_action) == ("etiquette", "intervene")
    assert "like offer was made at" in held.reason


async def test_repeats_are_remembered_across_a_restart(tmp_path):
    first = [event_at(0, "I need help with the ruby error in names.rb")]
    await _offers(tmp_path, first, gate=WordsGate(), name="r")
    later = [event_at(600, "I need help with the ruby error in names.rb again")]
    offered, decided = await _offers(tmp_path, later, gate=WordsGate(), name="r")
    assert offered == []
    assert "like offer" in decided[later[0].text].reason
    offered, _ = await _offers(tmp_path, later, gate=WordsGate(), name="r2", repeat_window_s=0)
    assert offered == [later[0].text]  # 0 turns the rule off


async def test_without_an_encoder_equal_summaries_are_repeats(tmp_path):
    events = [
        event_at(0, "I need help"),
        event_at(60, "I NEED  help"),
        event_at(70, "I need help!"),
    ]
    offered, decided = await _offers(tmp_path, events)  # the scripted gate embeds nothing
    assert offered == ["I need help", "I need help!"]
    assert "like offer" in decided["I NEED  help"].reason


async def test_a_daily_cap_on_offers(tmp_path):
    events = [event_at(i * 60, f"I need help {i}") for i in range(4)]
    offered, decided = await _offers(tmp_path, events, max_offers_per_day=2)
    assert offered == ["I need help 0", "I need help 1"]
    assert decided["I need help 2"].reason == "daily cap: 2 offers made today"
    offered, _ = await _offers(tmp_path, events, name="nocap", max_offers_per_day=0)
    assert len(offered) == 4
