"""The encoder's embeddings of events, for recall and for a warm restart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import func, select

from core.events import summary_of
from memory.schema import EpisodeVectorRow, EventRow
from memory.stores.base import StoreBase

STORED_DTYPE = "float16"
"""How vectors are written: unit-norm embeddings lose nothing recall can see (the
recall benchmark, `festina eval recall`, ranks the same) at half the bytes of float32."""


def packed_vector(vector: np.ndarray) -> dict[str, bytes | str]:
    """The columns storing `vector`."""
    return {"vector": vector.astype(STORED_DTYPE).tobytes(), "dtype": STORED_DTYPE}


def unpacked_vectors(rows: Sequence[tuple[bytes, str]]) -> np.ndarray:
    """float32 rows from stored (bytes, dtype) pairs, whatever each was written as."""
    dtypes = {dtype for _, dtype in rows}
    if len(dtypes) == 1:  # the usual case: one block, not a stack of thousands of rows
        return (
            np.frombuffer(b"".join(blob for blob, _ in rows), dtype=dtypes.pop())
            .reshape(len(rows), -1)
            .astype(np.float32)
        )
    return np.stack([np.frombuffer(blob, dtype=dtype).astype(np.float32) for blob, dtype in rows])


class VectorMemory(StoreBase):
    """The encoder's embeddings of events, for recall and for a warm restart."""

    def episode_vectors(
        self, encoder: str, after_id: int = 0, limit: int | None = None, *, oldest: bool = False
    ) -> tuple[list[int], list[str], list[datetime], np.ndarray]:
        """Vectors stored by `encoder` with row id > `after_id` (the newest `limit` of
        them, if given, or with `oldest` the oldest `limit`: a page to load after
        `after_id`), oldest first: (row ids, event ids, received times, matrix), for the
        recall index to load incrementally."""
        order = EpisodeVectorRow.id.asc() if oldest else EpisodeVectorRow.id.desc()
        with self._session() as session:
            rows = session.execute(
                select(
                    EpisodeVectorRow.id,
                    EpisodeVectorRow.event_id,
                    EventRow.received_at,
                    EpisodeVectorRow.vector,
                    EpisodeVectorRow.dtype,
                )
                .join(EventRow, EventRow.id == EpisodeVectorRow.event_id)
                .where(EpisodeVectorRow.encoder == encoder, EpisodeVectorRow.id > after_id)
                .order_by(order)
                .limit(limit)
            ).all()
        if not oldest:
            rows.reverse()
        if not rows:
            return [], [], [], np.zeros((0, 0), dtype=np.float32)
        # Columns by position and vectors as one block: the first recall loads up to
        # 50 000 rows, and 6 020 took 0.12-0.22 s by name and row by row, 0.04-0.08 s so.
        ids, event_ids, received, vectors, dtypes = (
            list(column) for column in zip(*rows, strict=True)
        )
        matrix = unpacked_vectors(list(zip(vectors, dtypes, strict=True)))
        return ids, event_ids, received, matrix

    def vector_row_before_newest(self, encoder: str, after_id: int, newest: int) -> int:
        """The row id after which the newest `newest` vectors of `encoder` with row id >
        `after_id` lie (`after_id` if there are no more than that): where a load of only
        the newest starts, to read them oldest first in pages."""
        with self._session() as session:
            before = session.scalar(
                select(EpisodeVectorRow.id)
                .join(EventRow, EventRow.id == EpisodeVectorRow.event_id)
                .where(EpisodeVectorRow.encoder == encoder, EpisodeVectorRow.id > after_id)
                .order_by(EpisodeVectorRow.id.desc())
                .offset(newest)
                .limit(1)
            )
        return after_id if before is None else before

    def event_vectors(self, event_ids: Sequence[str], encoder: str) -> dict[str, np.ndarray]:
        """The vectors `encoder` stored for these events, by event id."""
        # The encoder is checked here, not in SQL: with both in the query SQLite chose the
        # encoder's index, which every row of a one-encoder memory matches, and the
        # recall from a full index (50 000, `festina eval recall`) took 36.9 ms, not 9.2.
        with self._session() as session:
            rows = session.execute(
                select(
                    EpisodeVectorRow.event_id,
                    EpisodeVectorRow.encoder,
                    EpisodeVectorRow.vector,
                    EpisodeVectorRow.dtype,
                ).where(EpisodeVectorRow.event_id.in_(list(event_ids)))
            ).all()
        return {
            event_id: unpacked_vectors([(vector, dtype)])[0]
            for event_id, stored_by, vector, dtype in rows
            if stored_by == encoder
        }

    def recent_embeddings(self, encoder: str, limit: int) -> tuple[list[str], np.ndarray]:
        """The event summaries and vectors `encoder` stored last (at most `limit`, oldest
        first): what a restarted gate would otherwise embed again."""
        # Only the columns a summary reads: whole events, validated, took 0.15 s of a
        # start for the 4 096 a full cache holds, these 0.03 s.
        with self._session() as session:
            rows = session.execute(
                select(
                    EventRow.app,
                    EventRow.title,
                    EventRow.text,
                    EventRow.url,
                    EpisodeVectorRow.vector,
                    EpisodeVectorRow.dtype,
                )
                .join(EpisodeVectorRow, EpisodeVectorRow.event_id == EventRow.id)
                .where(EpisodeVectorRow.encoder == encoder)
                .order_by(EpisodeVectorRow.id.desc())
                .limit(limit)
            ).all()
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        rows.reverse()
        summaries = [summary_of(app, title, text, url) for app, title, text, url, _, _ in rows]
        return summaries, unpacked_vectors([(vector, dtype) for *_, vector, dtype in rows])

    def vector_count(self, encoder: str) -> int:
        with self._session() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(EpisodeVectorRow)
                    .where(EpisodeVectorRow.encoder == encoder)
                )
                or 0
            )
