"""Recall of similar past episodes: cosine similarity weighted by recency.

Vectors are loaded from the database into a numpy matrix once and then incrementally
(only rows added since), so a recall costs one matrix-vector product. The same code
serves SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from core.decision import Decision
from core.events import Event
from memory.store import Store

DEFAULT_HALF_LIFE_DAYS = 14.0


@dataclass(frozen=True)
class Episode:
    event: Event
    decision: Decision
    outcomes: list[str]
    similarity: float
    score: float


class EpisodeIndex:
    """An in-memory index over one encoder's stored episode vectors."""

    def __init__(self, store: Store, encoder: str) -> None:
        self.store = store
        self.encoder = encoder
        self._reset()

    def _reset(self) -> None:
        self._last_row = 0
        self._event_ids: list[str] = []
        self._received: list[float] = []
        self._matrix = np.zeros((0, 0), dtype=np.float32)

    def refresh(self) -> None:
        """Load rows added since the last refresh; reload everything after deletions."""
        if len(self._event_ids) > self.store.vector_count(self.encoder):
            self._reset()  # something was forgotten: start over
        rows, event_ids, received, matrix = self.store.episode_vectors(self.encoder, self._last_row)
        if not rows:
            return
        self._matrix = matrix if self._matrix.size == 0 else np.vstack([self._matrix, matrix])
        self._event_ids.extend(event_ids)
        self._received.extend(t.timestamp() for t in received)
        self._last_row = rows[-1]

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
        similarity = self._matrix @ np.asarray(query, dtype=np.float32)
        age_days = np.maximum(now_s - np.asarray(self._received), 0.0) / 86400.0
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
