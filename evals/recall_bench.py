"""`festina eval recall`: do memory's float16 storage and the index's int8 codes change
what recall finds?

Every event of the labelled recordings, embedded by the gate's encoder, is stored in a
scratch SQLite memory through the store's own write path (float16) and recalled by the
daemon's index (`EpisodeIndex`: int8 codes with a scale per vector choose candidates,
their stored vectors rank them). The baseline, in the same run: the same ranking by exact
float32 cosine on the encoder's own vectors. Each event asks for
its top k among the *other* recordings' episodes (recall across days, as the slow path
uses it). Reported: the share of the float32 top k the index returns, how often its
first is the same, and how often a recalled episode's need label matches the query's
(recall exists to find like moments), both ways. No label tunes anything here.

Then the cost: ms per recall with the index full (`MAX_EPISODES` random unit vectors,
stored the same way) against a float32 matrix-vector product of the same size, and the bytes
the full index holds.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

from core.decision import Action, Decision
from core.events import Event
from gate.base import Embedder
from gate.data import Trace
from memory.retrieval import MAX_EPISODES, EpisodeIndex
from memory.store import Store

STORE_BATCH = 2000
TIMED_RECALLS = 20


@dataclass
class RecallQuality:
    encoder: str
    episodes: int
    k: int
    overlap_with_float32: float
    same_first: float
    need_agreement_index: float
    need_agreement_float32: float
    largest_similarity_error: float
    stored_bytes_per_vector: int
    float32_bytes_per_vector: int
    capacity: int
    recall_ms_full_index: float
    product_ms_float32: float
    index_mb_full: float


def _silence(event: Event) -> Decision:
    return Decision(
        event_id=event.id, p_need=0.0, p_accept=0.0, tau=0.5, delta=0.0,
        gate_action=Action.SILENT, final_action=Action.SILENT, decided_by="gate",
        model_version="recall-benchmark", gate_latency_ms=0.0,
    )  # fmt: skip


def _remember(store: Store, events: Sequence[Event], encoder: str, matrix: np.ndarray) -> None:
    """Store events with their vectors the way the daemon does, in batches."""
    for start in range(0, len(events), STORE_BATCH):
        chunk = events[start : start + STORE_BATCH]
        pairs = [(e, _silence(e)) for e in chunk]
        store.record_decisions(None, pairs, (encoder, matrix[start : start + len(chunk)]))


def _timed_ms(call: Any, repeats: int = TIMED_RECALLS) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - started) * 1000.0 / repeats


def _full_index_cost(dimensions: int, capacity: int, now: datetime) -> tuple[float, float, float]:
    """ms per recall from a full index, per float32 product of the same size, and the
    MB the index holds."""
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((capacity, dimensions)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    events = [
        Event.model_validate(
            {
                "time": 1_700_000_000.0 + i,
                "source": "recall-benchmark",
                "kind": "editor",
                "app": "Editor",
                "text": f"episode {i}",
            }
        )
        for i in range(capacity)
    ]
    with tempfile.TemporaryDirectory(prefix="festina-recall-") as scratch:
        store = Store(f"sqlite:///{Path(scratch) / 'memory.db'}")
        _remember(store, events, "synthetic", matrix)
        index = EpisodeIndex(store, "synthetic", capacity)
        index.refresh()
        recall_ms = _timed_ms(lambda: index.recall(matrix[0], 5, now=now))
        index_mb = index.nbytes / 1e6
        store.close()
    return recall_ms, _timed_ms(lambda: matrix @ matrix[0]), index_mb


def measure_recall(
    traces: Sequence[Trace], gate: Embedder, k: int = 5, capacity: int = MAX_EPISODES
) -> RecallQuality:
    """Recall from the index over float16 memory against exact float32 ranking (see the
    module), and its cost with `capacity` episodes held."""
    events = [e for t in traces for e in t.events]
    needs = np.array([n for t in traces for n in t.needs])
    recording = np.array([i for i, t in enumerate(traces) for _ in t.events])
    exact = np.asarray(gate.embed_texts([e.summary() for e in events]), dtype=np.float32)
    now = datetime.now(UTC)
    position = {e.id: i for i, e in enumerate(events)}
    overlap, first, agree_index, agree32, error = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="festina-recall-") as scratch:
        store = Store(f"sqlite:///{Path(scratch) / 'memory.db'}")
        _remember(store, events, gate.encoder_id, exact)
        index = EpisodeIndex(store, gate.encoder_id)
        for i in range(len(events)):
            mine = {e.id for e, r in zip(events, recording, strict=True) if r == recording[i]}
            found = [position[p.event.id] for p in index.recall(exact[i], k, now=now, exclude=mine)]
            similarity = exact @ exact[i]
            if len(index) == len(events):  # held in the order stored: the events' order
                error.append(float(np.abs(index.similarities(exact[i]) - similarity).max()))
            similarity[recording == recording[i]] = -np.inf
            truth = list(np.argsort(-similarity, kind="stable")[:k])
            overlap.append(len(set(found) & set(truth)) / k)
            first.append(bool(found) and found[0] == truth[0])
            agree_index.append(np.mean(needs[found] == needs[i]))
            agree32.append(np.mean(needs[truth] == needs[i]))
        with store.engine.connect() as connection:
            width = connection.scalar(text("SELECT length(vector) FROM episode_vectors LIMIT 1"))
        store.close()
    recall_ms, product_ms, index_mb = _full_index_cost(exact.shape[1], capacity, now)
    return RecallQuality(
        encoder=gate.encoder_id,
        episodes=len(events),
        k=k,
        overlap_with_float32=float(np.mean(overlap)),
        same_first=float(np.mean(first)),
        need_agreement_index=float(np.mean(agree_index)),
        need_agreement_float32=float(np.mean(agree32)),
        largest_similarity_error=max(error, default=float("nan")),
        stored_bytes_per_vector=int(width),
        float32_bytes_per_vector=4 * exact.shape[1],
        capacity=capacity,
        recall_ms_full_index=recall_ms,
        product_ms_float32=product_ms,
        index_mb_full=index_mb,
    )


def as_dict(result: RecallQuality) -> dict[str, Any]:
    return asdict(result)


def format_result(r: RecallQuality) -> str:
    return "\n".join(
        [
            f"recall from float16 memory ({r.stored_bytes_per_vector} bytes a vector) through "
            f"the int8 index against float32 ({r.float32_bytes_per_vector} bytes), encoder "
            f"{r.encoder}, {r.episodes} episodes, top {r.k} from the other recordings:",
            f"  share of the float32 top {r.k} found   {r.overlap_with_float32:.3f}",
            f"  same first episode                   {r.same_first:.3f}",
            f"  need label agreement @{r.k}            index {r.need_agreement_index:.3f}"
            f" | float32 {r.need_agreement_float32:.3f}",
            f"  largest error of the int8 similarity {r.largest_similarity_error:.4f}",
            f"  ms per recall, index full ({r.capacity} episodes): "
            f"{r.recall_ms_full_index:.1f} (float32 product alone: {r.product_ms_float32:.1f}); "
            f"the index holds {r.index_mb_full:.1f} MB",
        ]
    )
