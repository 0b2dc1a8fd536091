"""Recall of similar past episodes: cosine similarity weighted by recency.

Vectors are loaded from the database into a numpy matrix once and then incrementally
(only rows added since), so a recall costs one matrix-vector product. The index holds
the newest `MAX_EPISODES` only: a daemon stores a vector per event, and an index of all
of them grew by a kilobyte per event for as long as it ran. Memory stores vectors as
float16; the index widens them to float32 as it loads them, because numpy's float16 has
no BLAS: a recall over a full index widened at each query took 30 ms against 9 ms
(`festina eval recall`). The same code serves SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from core.decision import Decision
from core.events import Event
from memory.store import Store

DEFAULT_HALF_LIFE_DAYS = 14.0
# About 50 MB of 256-dimensional vectors: days of a busy desktop, within the half-life.
MAX_EPISODES = 50_000


@dataclass(frozen=True)
class Episode:
    event: Event
    decision: Decision
    outcomes: list[str]
    similarity: float
    score: float


class EpisodeIndex:
    """An in-memory index over one encoder's newest stored episode vectors."""

    def __init__(self, store: Store, encoder: str, capacity: int = MAX_EPISODES) -> None:
        self.store = store
        self.encoder = encoder
        self.capacity = capacity
        self._reset()

    def _reset(self) -> None:
        self._last_row = 0
        self._forgets: int | None = None
        self._event_ids: list[str] = []
        self._received = np.zeros(0)
        self._buffer = np.zeros((0, 0), dtype=np.float32)

    def refresh(self) -> None:
        """Load rows added since the last refresh; reload everything after deletions
        (memory counts every forget, by any surface or the retention)."""
        _, forgets = self.store.profile_marks()
        if forgets != self._forgets:
            self._reset()
            self._forgets = forgets
        rows, event_ids, received, matrix = self.store.episode_vectors(
            self.encoder, self._last_row, self.capacity
        )
        if rows:
            self._append(event_ids, np.array([t.timestamp() for t in received]), matrix)
            self._last_row = rows[-1]

    def _append(self, event_ids: list[str], received: np.ndarray, matrix: np.ndarray) -> None:
        """Add rows after the newest, dropping the oldest beyond `capacity`. The buffers
        grow by doubling up to a quarter over capacity, so rows are copied rarely (once
        per quarter of capacity added, at most), never on every refresh."""
        held, added = len(self._event_ids), len(event_ids)
        if held + added > len(self._buffer):
            keep = min(held, self.capacity - added)
            rows = min(max(2 * (held + added), 1024), self.capacity + self.capacity // 4)
            rows = max(rows, keep + added)
            buffer = np.empty((rows, matrix.shape[1]), dtype=np.float32)
            buffer[:keep] = self._buffer[held - keep : held].reshape(keep, matrix.shape[1])
            times = np.empty(rows)
            times[:keep] = self._received[held - keep : held]
            self._buffer, self._received = buffer, times
            self._event_ids = self._event_ids[held - keep :]
            held = keep
        self._buffer[held : held + added] = matrix
        self._received[held : held + added] = received
        self._event_ids.extend(event_ids)

    def __len__(self) -> int:
        return len(self._event_ids)

    def recall(
        self,
        query: np.ndarray,
        k: int = 5,
        *,
        half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
        now: datetime | None = None,
        exclude: set[str] | None = None,
    ) -> list[Episode]:
        """The `k` episodes with the highest similarity x 0.5 ** (age / half-life)."""
        self.refresh()
        if not self._event_ids:
            return []
        now_s = (now or datetime.now(UTC)).timestamp()
        held = len(self._event_ids)
        similarity = self._buffer[:held] @ np.asarray(query, dtype=np.float32)
        age_days = np.maximum(now_s - self._received[:held], 0.0) / 86400.0
        score = similarity * np.power(0.5, age_days / half_life_days)
        if exclude:
            score[[i for i, e in enumerate(self._event_ids) if e in exclude]] = -np.inf
        top = np.argsort(-score)[:k]
        top = [i for i in top if np.isfinite(score[i])]
        found = self.store.episodes([self._event_ids[i] for i in top])
        return [
            Episode(
                *found[self._event_ids[i]], similarity=float(similarity[i]), score=float(score[i])
            )
            for i in top
            if self._event_ids[i] in found
        ]
