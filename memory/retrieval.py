"""Recall of similar past episodes: cosine similarity weighted by recency.

Vectors are loaded from the database into the index once and then incrementally (only
rows added since), so a recall costs one pass over the index. The index holds the newest
`MAX_EPISODES` only: a daemon stores a vector per event, and an index of all of them grew
by a kilobyte per event for as long as it ran. Memory stores vectors as float16; the
index holds each as int8 codes with its own scale (symmetric: the largest component maps
to 127), a quarter of float32's bytes, in fixed blocks of `BLOCK_ROWS` rows. Blocks keep
what a full index costs close to what it holds (buffers grown by doubling held up to a
quarter more) and are what a recall widens to float32 one at a time, for BLAS: faster
than a float32 product over the whole matrix, which is memory-bound. The codes only
choose candidates; their stored vectors rank them (`festina eval recall` measures the
cost and what recall finds, against exact float32 ranking). The same code serves SQLite
and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from core.decision import Decision
from core.events import Event
from memory.store import Store

DEFAULT_HALF_LIFE_DAYS = 14.0
# About 13 MB of 256-dimensional int8 codes: days of a busy desktop, within the half-life.
MAX_EPISODES = 50_000
# 256 KB of 256-dimensional codes: small enough to widen per recall in cache, large
# enough that the loop over blocks costs little (scoring 50 000 random unit vectors took
# 3.0 ms in blocks of 1 024, 6.4 ms in blocks of 16 384, 3.9 ms as one float32 product).
BLOCK_ROWS = 1024
# Rows read from the database at a time: a restart's first load of a full index read all
# 50 000 at once, their rows and a float32 copy of them, and peaked 129 MB above the
# daemon's memory before it; a page of 4 096 is about 2 MB as float32.
LOAD_PAGE_ROWS = 4096
# Candidates per episode asked for, chosen by the int8 codes and ranked by the stored
# vectors: the codes' error (0.004 at most on the recall benchmark) only has to keep the
# true best among them.
RERANKED = 4


@dataclass(frozen=True)
class Episode:
    event: Event
    decision: Decision
    outcomes: list[str]
    similarity: float
    score: float


def quantized(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and float32 scales with codes[i] * scales[i] ~ matrix[i]: each row
    scaled so its largest magnitude is 127 (an all-zero row: codes 0, scale 1)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    largest = np.abs(matrix).max(axis=1) if matrix.size else np.zeros(len(matrix), np.float32)
    scales = np.where(largest > 0, largest / 127.0, 1.0).astype(np.float32)
    codes = np.rint(matrix / scales[:, None]).astype(np.int8)
    return codes, scales


class EpisodeIndex:
    """An in-memory index over one encoder's newest stored episode vectors."""

    def __init__(
        self,
        store: Store,
        encoder: str,
        capacity: int = MAX_EPISODES,
        block_rows: int = BLOCK_ROWS,
        page_rows: int = LOAD_PAGE_ROWS,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.capacity = capacity
        self.block_rows = block_rows
        self.page_rows = page_rows
        self._reset()

    def _reset(self) -> None:
        self._last_row = 0
        self._forgets: int | None = None
        # Rows in order of storage from the first block's first row; the first `_start`
        # of them are beyond capacity, dropped with their block once all of it is.
        self._codes: list[np.ndarray] = []
        self._scales: list[np.ndarray] = []
        self._received: list[np.ndarray] = []
        # Event ids as fixed-width bytes (ASCII by `Event`'s pattern): 32 bytes for a
        # content hash, against 89 as a str in a list.
        self._event_ids: list[np.ndarray] = []
        self._rows = 0
        self._start = 0
        self._spare: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def refresh(self) -> None:
        """Load rows added since the last refresh; reload everything after deletions
        (memory counts every forget, by any surface or the retention)."""
        _, forgets = self.store.profile_marks()
        if forgets != self._forgets:
            self._reset()
            self._forgets = forgets
        # Read oldest first a page at a time: what a load holds beyond the index is one
        # page, however many rows it reads.
        after = self._last_row
        page = self._page(after)
        if len(page[0]) == self.page_rows:
            # More may follow: only the newest `capacity` are wanted. Asked only here, not
            # at every recall (a query more took 0.2 ms of each).
            start = self.store.vector_row_before_newest(self.encoder, after, self.capacity)
            if start > after:
                after, page = start, self._page(start)
        while True:
            rows, event_ids, received, matrix = page
            if rows:
                self._append(event_ids, np.array([t.timestamp() for t in received]), matrix)
                self._last_row = after = rows[-1]
            if len(rows) < self.page_rows:
                return
            page = self._page(after)

    def _page(self, after: int) -> tuple[list[int], list[str], list[datetime], np.ndarray]:
        """The oldest `page_rows` vectors stored after row `after`."""
        return self.store.episode_vectors(self.encoder, after, self.page_rows, oldest=True)

    def _append(self, event_ids: list[str], received: np.ndarray, matrix: np.ndarray) -> None:
        """Add rows after the newest, in blocks of `block_rows` allocated as they fill,
        and drop the oldest block once every row of it is beyond `capacity`: the index
        never holds more than the whole blocks that `capacity` + `block_rows` - 1 rows
        span."""
        block_rows = self.block_rows
        done = 0
        ids = np.array([e.encode() for e in event_ids], dtype=np.bytes_)
        while done < len(ids):
            used = self._rows % block_rows
            if used == 0:
                self._new_block(matrix.shape[1], ids.dtype)
            take = min(block_rows - used, len(ids) - done)
            if ids.dtype.itemsize > self._event_ids[-1].dtype.itemsize:  # a longer id
                self._event_ids[-1] = self._event_ids[-1].astype(ids.dtype)
            # Block by block: a first load of a full index quantised at once would hold
            # another float32 copy of it.
            codes, scales = quantized(matrix[done : done + take])
            self._codes[-1][used : used + take] = codes
            self._scales[-1][used : used + take] = scales
            self._received[-1][used : used + take] = received[done : done + take]
            self._event_ids[-1][used : used + take] = ids[done : done + take]
            self._rows += take
            done += take
            self._start = max(self._start, self._rows - self.capacity)
            if self._start >= block_rows:  # the oldest block is all beyond capacity
                self._spare = (
                    self._codes.pop(0),
                    self._scales.pop(0),
                    self._received.pop(0),
                    self._event_ids.pop(0),
                )
                self._rows -= block_rows
                self._start -= block_rows

    def _new_block(self, dimensions: int, id_dtype: np.dtype) -> None:
        """Start a block: the one dropped last if there is one (a full index drops a
        block for each it starts, and glibc kept memory freed by one thread that another
        did not reuse: a soak grew by 4 MB in 4 minutes after the index was full)."""
        spare, self._spare = self._spare, None
        if spare is None or spare[0].shape[1] != dimensions:
            spare = (
                np.empty((self.block_rows, dimensions), dtype=np.int8),
                np.empty(self.block_rows, dtype=np.float32),
                np.empty(self.block_rows),
                np.zeros(self.block_rows, dtype=id_dtype),
            )
        for blocks, array in zip(
            (self._codes, self._scales, self._received, self._event_ids), spare, strict=True
        ):
            blocks.append(array)

    def __len__(self) -> int:
        return self._rows - self._start

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held: codes, scales, times and ids, whole blocks, and the
        block dropped last if kept for the next."""
        arrays = (*self._codes, *self._scales, *self._received, *self._event_ids)
        arrays += self._spare or ()
        return sum(a.nbytes for a in arrays)

    def _blocks(self) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
        """(rows held, codes, scales) of each block, oldest first; rows index the block's
        arrays, from `_start` in the first block to `_rows` in the last."""
        for block, (codes, scales) in enumerate(zip(self._codes, self._scales, strict=True)):
            first = block * self.block_rows
            rows = slice(max(self._start - first, 0), min(self._rows - first, self.block_rows))
            yield rows, codes, scales

    def _block_similarities(self, query: np.ndarray) -> Iterator[tuple[int, slice, np.ndarray]]:
        """(block, rows held, their approximate dot products with `query`) of each block,
        oldest first: one block widened to float32 at a time."""
        query = np.asarray(query, dtype=np.float32)
        for block, (rows, codes, scales) in enumerate(self._blocks()):
            yield block, rows, (codes[rows].astype(np.float32) @ query) * scales[rows]

    def similarities(self, query: np.ndarray) -> np.ndarray:
        """Each held episode's (approximate) dot product with `query`, oldest first."""
        return np.concatenate([found for _, _, found in self._block_similarities(query)])

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
        if not len(self):
            return []
        query = np.asarray(query, dtype=np.float32)
        now_s = (now or datetime.now(UTC)).timestamp()
        excluded = np.array([e.encode() for e in exclude or ()], dtype=np.bytes_)
        wide = RERANKED * k
        # Block by block, keeping each block's best: nothing the size of the whole index
        # is allocated per recall (a daemon recalls for every deliberation).
        scores, decays, ids = [], [], []
        for block, rows, similarity in self._block_similarities(query):
            age_days = np.maximum(now_s - self._received[block][rows], 0.0) / 86400.0
            decay = np.power(0.5, age_days / half_life_days)
            score = similarity * decay
            block_ids = self._event_ids[block][rows]
            if len(excluded):
                score[np.isin(block_ids, excluded)] = -np.inf
            best = np.argpartition(-score, wide - 1)[:wide] if len(score) > wide else slice(None)
            scores.append(score[best])
            decays.append(decay[best])
            ids.append(block_ids[best])
        score, decay, held_ids = np.concatenate(scores), np.concatenate(decays), np.concatenate(ids)
        candidates = [i for i in np.argsort(-score, kind="stable")[:wide] if np.isfinite(score[i])]
        # The int8 codes choose candidates; their stored vectors rank them, so what
        # recall returns is what it was before the codes (`festina eval recall`).
        event_ids = [held_ids[i].decode() for i in candidates]
        stored = self.store.event_vectors(event_ids, self.encoder)
        ranked = []
        for i, event_id in zip(candidates, event_ids, strict=True):
            if event_id in stored:  # else forgotten since the refresh
                similarity = float(stored[event_id] @ query)
                ranked.append((similarity, similarity * float(decay[i]), event_id))
        ranked = sorted(ranked, key=lambda found: -found[1])[:k]
        found = self.store.episodes([e for _, _, e in ranked])
        return [
            Episode(*found[e], similarity=similarity, score=score)
            for similarity, score, e in ranked
            if e in found
        ]
