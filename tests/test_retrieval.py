"""Recall of similar episodes, on both database backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import update

from core.decision import Action
from core.events import Event
from memory.feedback import Outcome
from memory.retrieval import EpisodeIndex
from memory.schema import EventRow
from memory.store import Store
from tests.helpers import event_record, gate_decision


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(4, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def remember(
    store: Store, texts_and_vectors: list[tuple[str, np.ndarray]], start: int = 0
) -> list[Event]:
    events = [
        Event.model_validate(event_record(start + i, text=t))
        for i, (t, _) in enumerate(texts_and_vectors)
    ]
    decisions = [
        gate_decision(e, Action.INTERVENE, p_need=0.9, p_accept=0.9, tau=0.3) for e in events
    ]
    matrix = np.stack([v for _, v in texts_and_vectors])
    store.record_decisions(None, list(zip(events, decisions, strict=True)), ("enc", matrix))
    return events


def test_recall_ranks_by_similarity_and_reports_feedback(database_url):
    store = Store(database_url)
    ruby, _, _ = remember(
        store,
        [("ruby strings", unit(1, 0.1)), ("writing docs", unit(0.5, 1)), ("music", unit(0, 0, 1))],
    )
    store.record_feedback(ruby.id, Outcome.REJECTED)
    found = EpisodeIndex(store, "enc").recall(unit(1, 0), k=2)
    assert [e.event.text for e in found] == ["ruby strings", "writing docs"]
    assert found[0].outcomes == ["rejected"]
    assert found[0].similarity > found[1].similarity


def test_older_episodes_count_less(database_url):
    store = Store(database_url)
    old, _ = remember(store, [("old twin", unit(1, 0)), ("new twin", unit(1, 0))])
    with store.engine.begin() as connection:
        connection.execute(
            update(EventRow)
            .where(EventRow.id == old.id)
            .values(received_at=datetime.now(UTC) - timedelta(days=14))
        )
    found = EpisodeIndex(store, "enc").recall(unit(1, 0), k=2, half_life_days=14)
    assert [e.event.text for e in found] == ["new twin", "old twin"]
    assert found[1].score == pytest.approx(found[1].similarity / 2, rel=0.01)


def test_the_index_follows_new_and_forgotten_episodes(database_url):
    store = Store(database_url)
    index = EpisodeIndex(store, "enc")
    remember(store, [("first", unit(1, 0))])
    assert [e.event.text for e in index.recall(unit(1, 0))] == ["first"]
    remember(store, [("second", unit(0, 1))], start=10)
    assert len(index.recall(unit(1, 0))) == 2
    store.forget(source="test")
    assert index.recall(unit(1, 0)) == []
    assert len(index) == 0


def test_other_encoders_vectors_are_not_mixed_in(database_url):
    store = Store(database_url)
    remember(store, [("x", unit(1, 0))])
    assert EpisodeIndex(store, "another-encoder").recall(unit(1, 0)) == []


def test_the_newest_embeddings_come_back_keyed_by_summary_oldest_first(database_url):
    store = Store(database_url)
    remember(store, [("a", unit(1, 0)), ("b", unit(0, 1)), ("c", unit(0, 0, 1))])
    texts, vectors = store.recent_embeddings("enc", limit=2)
    assert texts == ["Editor | b", "Editor | c"]  # the gate's input: Event.summary()
    np.testing.assert_array_equal(vectors, np.stack([unit(0, 1), unit(0, 0, 1)]))
    assert store.recent_embeddings("another-encoder", limit=2)[0] == []


def test_restored_keys_are_the_summaries_of_the_events_stored(database_url):
    """Read from the columns alone, they must be what the gate embedded: Event.summary()."""
    store = Store(database_url)
    shapes = [
        {"app": "Firefox", "title": "Docs", "text": "reads about asyncio"},
        {"app": None, "title": "Inbox (3)", "url": "https://mail.example.org/"},
        {"app": "Terminal", "url": "https://example.org/error", "text": ""},
        {"text": "types a note"},
    ]
    events = [
        Event.model_validate({**event_record(i), "text": "", **shape})
        for i, shape in enumerate(shapes)
    ]
    decisions = [gate_decision(e) for e in events]
    matrix = np.stack([unit(1, i) for i in range(len(events))])
    store.record_decisions(None, list(zip(events, decisions, strict=True)), ("enc", matrix))
    texts, _ = store.recent_embeddings("enc", limit=10)
    assert texts == [e.summary() for e in events]
    assert texts[1] == "Inbox (3) | https://mail.example.org/"


def test_the_index_holds_only_the_newest_episodes_up_to_its_capacity(database_url):
    """A daemon stores a vector per event: an index of all of them grows without end."""
    store = Store(database_url)
    # Alike first, so the only thing between the old ones and a recall is the capacity.
    remember(store, [(f"old {i}", unit(1, 0)) for i in range(6)])
    index = EpisodeIndex(store, "enc", capacity=4)
    remember(store, [(f"mid {i}", unit(0, 1)) for i in range(3)], start=10)
    found = index.recall(unit(1, 0), k=10)
    assert len(index) == 4  # the newest four: three "mid" and the last "old"
    assert sorted(e.event.text for e in found) == ["mid 0", "mid 1", "mid 2", "old 5"]
    for batch in range(5):  # growing past capacity again and again keeps it there
        remember(
            store, [(f"new {batch}.{i}", unit(0, 0, 1)) for i in range(3)], start=20 + 3 * batch
        )
        found = index.recall(unit(0, 0, 1), k=10)
        assert len(index) == 4
    assert {e.event.text for e in found} == {"new 4.0", "new 4.1", "new 4.2", "new 3.2"}
