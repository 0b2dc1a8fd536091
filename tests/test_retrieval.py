"""Recall of similar episodes, on both database backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import update

from core.decision import Action
from core.events import Event
from memory.feedback import Outcome
from memory.retrieval import EpisodeIndex, quantized
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


def test_int8_codes_are_within_half_a_step_of_each_vector():
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((200, 64)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix[7] = 0.0
    codes, scales = quantized(matrix)
    assert codes.dtype == np.int8 and scales.dtype == np.float32
    error = np.abs(codes * scales[:, None] - matrix)
    assert (error <= scales[:, None] / 2 + 1e-7).all()
    assert (np.abs(codes).max(axis=1)[np.arange(200) != 7] == 127).all()  # the full range
    assert not codes[7].any() and scales[7] == 1.0


def test_similarities_stay_within_the_rounding_bound_of_float32(database_url):
    rng = np.random.default_rng(5)
    matrix = rng.standard_normal((50, 4)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    store = Store(database_url)
    remember(store, [(f"e {i}", v) for i, v in enumerate(matrix)])
    index = EpisodeIndex(store, "enc", block_rows=8)
    index.refresh()
    query = unit(0.3, -1, 0.2, 0.5)
    stored = matrix.astype(np.float16).astype(np.float32)  # what memory keeps
    _, scales = quantized(stored)
    bound = scales / 2 * np.abs(query).sum()
    assert (np.abs(index.similarities(query) - stored @ query) <= bound + 1e-6).all()
    assert (np.abs(index.similarities(query) - matrix @ query) < 0.02).all()


def test_blocks_beyond_capacity_are_dropped_and_the_newest_episodes_kept(database_url):
    """Blocks of 4 and a capacity of 10: never more than 10 episodes recalled, never
    more than the 4 blocks that 10 + 3 rows can span held, across batches that straddle
    blocks."""
    store = Store(database_url)
    index = EpisodeIndex(store, "enc", capacity=10, block_rows=4)
    texts: list[str] = []
    for batch, size in enumerate([3, 5, 1, 7, 4, 9, 2]):
        new = [f"b{batch}.{i}" for i in range(size)]
        remember(store, [(t, unit(1, 0.01 * len(texts) + 0.01 * i)) for i, t in enumerate(new)],
                 start=len(texts))  # fmt: skip
        texts += new
        found = index.recall(unit(1, 0), k=100)
        assert len(index) == min(len(texts), 10)
        assert sorted(e.event.text for e in found) == sorted(texts[-10:])
        # Codes, scale, time and the id (a 32-character hash) of each row:
        assert index.nbytes <= 4 * 4 * (4 + 4 + 8 + 32)


def test_recall_across_blocks_finds_the_best_of_the_whole_index(database_url):
    """Each block keeps its best k: the k of the whole index must be among them, with
    an excluded episode left out wherever it falls."""
    rng = np.random.default_rng(11)
    matrix = rng.standard_normal((60, 4)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    store = Store(database_url)
    events = remember(store, [(f"e {i}", v) for i, v in enumerate(matrix)])
    index = EpisodeIndex(store, "enc", block_rows=8)
    query = unit(0.2, 1, -0.4, 0.1)
    # Ranked by the stored (float16) vectors, whichever the int8 codes put first:
    stored = matrix.astype(np.float16).astype(np.float32) @ query
    ranked = list(np.argsort(-stored))
    found = index.recall(query, k=5)
    assert [e.event.id for e in found] == [events[i].id for i in ranked[:5]]
    assert [e.similarity for e in found] == pytest.approx(stored[ranked[:5]], abs=1e-6)
    found = index.recall(query, k=5, exclude={events[ranked[0]].id, events[ranked[3]].id})
    expected = [ranked[1], ranked[2], ranked[4], ranked[5], ranked[6]]
    assert [e.event.id for e in found] == [events[i].id for i in expected]


def test_a_full_index_reuses_the_block_it_drops(database_url):
    """Past capacity each new block is the one just dropped: no allocation churn for
    the allocator to fragment."""
    store = Store(database_url)
    index = EpisodeIndex(store, "enc", capacity=8, block_rows=4)
    seen: dict[int, np.ndarray] = {}  # holding each keeps its id from being reused
    for batch in range(12):
        remember(store, [(f"b{batch}.{i}", unit(1, i)) for i in range(3)], start=3 * batch)
        index.refresh()
        seen.update((id(codes), codes) for codes in index._codes)
        assert len(index) == min(3 * (batch + 1), 8)
    assert len(seen) == 3  # the blocks that 8 + 3 rows span, turned over 6 times


def test_a_restart_loads_the_newest_episodes_in_pages_and_recalls_the_same(database_url):
    """A restarted daemon's index reads the database a page at a time (here 3 rows,
    pages that straddle blocks of 4 and the capacity of 10): it holds the same episodes
    and recalls the same as the index that followed them as they came, and as one load."""
    rng = np.random.default_rng(17)
    matrix = rng.standard_normal((25, 4)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    store = Store(database_url)
    followed = EpisodeIndex(store, "enc", capacity=10, block_rows=4)
    for start in range(0, 25, 5):
        remember(store, [(f"e {i}", matrix[i]) for i in range(start, start + 5)], start=start)
        followed.refresh()
    paged = EpisodeIndex(store, "enc", capacity=10, block_rows=4, page_rows=3)
    whole = EpisodeIndex(store, "enc", capacity=10, block_rows=4, page_rows=1000)
    pages: list[int] = []
    fetch = store.episode_vectors

    def counted(*args, **kwargs):
        found = fetch(*args, **kwargs)
        pages.append(len(found[0]))
        return found

    store.episode_vectors = counted  # type: ignore[method-assign]
    paged.refresh()
    # A first page, then from the newest 10 only: never more than a page at once.
    assert pages == [3, 3, 3, 3, 1]
    store.episode_vectors = fetch  # type: ignore[method-assign]
    whole.refresh()
    query = unit(0.4, -0.2, 1, 0.3)

    def held(index: EpisodeIndex) -> tuple[np.ndarray, np.ndarray]:
        blocks = list(index._blocks())
        return (
            np.concatenate([codes[rows] for rows, codes, _ in blocks]),
            np.concatenate([scales[rows] for rows, _, scales in blocks]),
        )

    for index in (paged, whole):
        assert len(index) == 10
        for mine, theirs in zip(held(index), held(followed), strict=True):
            assert np.array_equal(mine, theirs)
        # Blocks start at other rows, so BLAS may round the last bit otherwise.
        assert index.similarities(query) == pytest.approx(followed.similarities(query), abs=1e-6)
    expected = [(e.event.id, e.similarity) for e in followed.recall(query, k=5)]
    assert [(e.event.id, e.similarity) for e in paged.recall(query, k=5)] == expected
    assert [(e.event.id, e.similarity) for e in whole.recall(query, k=5)] == expected
    assert {e.event.text for e in paged.recall(query, k=100)} == {f"e {i}" for i in range(15, 25)}
    remember(store, [("e 25", matrix[0])], start=25)  # then incrementally, as before
    assert paged.recall(matrix[0], k=1)[0].event.text == "e 25" and len(paged) == 10


def test_the_row_before_the_newest_vectors_is_where_a_load_of_them_starts(database_url):
    store = Store(database_url)
    remember(store, [(f"e {i}", unit(1, i)) for i in range(6)])
    rows, _, _, _ = store.episode_vectors("enc")
    assert store.vector_row_before_newest("enc", 0, 4) == rows[1]
    assert store.vector_row_before_newest("enc", rows[3], 4) == rows[3]  # only two after
    assert store.vector_row_before_newest("enc", 0, 6) == 0
    assert store.vector_row_before_newest("another-encoder", 0, 1) == 0
    page, _, _, _ = store.episode_vectors("enc", rows[1], 2, oldest=True)
    assert page == rows[2:4]
