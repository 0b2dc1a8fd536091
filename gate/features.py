"""Features read off the recent event window, for the gate's heads.

Four families, each measured on its own in the gate benchmark:
* lexical: TF-IDF of the event's words and the previous event's (`gate.lexical`), the
  need head's features, since they carry the most signal across recordings;
* cues: regex cues for searching, errors, help-seeking, repetition, pace;
* activity: what the user physically does (scrolls, types, clicks, switches app) and
  how similar the current event is to the recent ones (novelty);
* embedding: the MiniLM sentence embedding of the current event.
Draft features (cues, activity) add how well a proposed task matches the event and its
history.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.events import Event
from gate.base import EventWindow
from gate.lexical import LexicalFeatures

_SEARCH = re.compile(r"\b(search(es|ed|ing)?|google[sd]?|bing|query|looks? up)\b", re.I)
_ERROR = re.compile(
    r"\b(error|exception|traceback|fail(s|ed|ure)?|bug|crash(es|ed)?|warning)\b", re.I
)
_HELP = re.compile(
    r"\b(how (to|do)|tutorial|documentation|docs|stack ?overflow|example|guide)\b", re.I
)
_QUOTED = re.compile(r"'([^']{3,})'|\"([^\"]{3,})\"")
_SWITCH = re.compile(r"\b(switch(es|ed)?|returns?|opens?|navigat(es|ed)|new tab)\b", re.I)
_SCROLL = re.compile(r"\bscroll", re.I)
_TYPE = re.compile(r"\b(types?|typing|typed|writes?|edits?|inputs?)\b", re.I)
_CLICK = re.compile(r"\bclick", re.I)
_NOISE = re.compile(r"ctrl_l|\bkey\b", re.I)

CUE_NAMES = (
    "is_search",
    "is_error",
    "is_help_seeking",
    "searches_in_window",
    "errors_in_window",
    "repeated_query",
    "log_gap_prev",
    "events_last_minute",
    "is_first_in_window",
)
ACTIVITY_NAMES = (
    "is_switch",
    "is_scroll",
    "is_typing",
    "is_click",
    "is_key_noise",
    "text_length",
    "kind_changed",
    "similarity_prev",
    "similarity_max",
    "similarity_mean",
)
TASK_NAMES = ("task_similarity", "task_history_similarity", "task_length")


class Encoder(Protocol):
    dimension: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def preload(self, texts: Sequence[str], vectors: np.ndarray) -> None: ...


def _quoted_terms(event: Event) -> set[str]:
    return {(a or b).lower() for a, b in _QUOTED.findall(event.text)}


def _flag(pattern: re.Pattern[str], text: str) -> float:
    return float(bool(pattern.search(text)))


@dataclass(frozen=True)
class EventCues:
    """What the cues read off one event on its own; an event is seen again in every window
    it is history of, so callers scoring many windows reuse these (`CueMemo`)."""

    summary: str
    search: bool
    error: bool
    quoted: frozenset[str]

    @classmethod
    def of(cls, event: Event) -> EventCues:
        summary = event.summary()
        return cls(
            summary,
            bool(_SEARCH.search(summary)),
            bool(_ERROR.search(summary)),
            frozenset(_quoted_terms(event)),
        )


class CueMemo:
    """`EventCues` per event, computed once for the lifetime of the memo (one batch)."""

    def __init__(self) -> None:
        self._memo: dict[int, EventCues] = {}

    def __len__(self) -> int:
        return len(self._memo)

    def __call__(self, event: Event) -> EventCues:
        key = id(event)  # the batch holds every event, so ids are not reused meanwhile
        if key not in self._memo:
            self._memo[key] = EventCues.of(event)
        return self._memo[key]


def window_cues(
    window: EventWindow, cues_of: Callable[[Event], EventCues] = EventCues.of
) -> dict[str, float]:
    """Numeric cues for the last event of `window`, keyed by `CUE_NAMES`."""
    current = window[-1]
    earlier = window[:-1]
    now = cues_of(current)
    gap = current.timestamp - earlier[-1].timestamp if earlier else 0.0
    repeated = any(now.quoted & cues_of(e).quoted for e in earlier) if now.quoted else False
    return {
        "is_search": float(now.search),
        "is_error": float(now.error),
        "is_help_seeking": _flag(_HELP, now.summary),
        "searches_in_window": float(sum(cues_of(e).search for e in window)),
        "errors_in_window": float(sum(cues_of(e).error for e in window)),
        "repeated_query": float(repeated),
        "log_gap_prev": math.log1p(max(gap, 0.0)),
        "events_last_minute": float(sum(current.timestamp - e.timestamp <= 60 for e in window)),
        "is_first_in_window": float(not earlier),
    }


def _activity(window: EventWindow, similarities: np.ndarray, text: str) -> list[float]:
    current = window[-1]
    kind_changed = len(window) > 1 and window[-2].kind != current.kind
    has_history = similarities.size > 0
    return [
        _flag(_SWITCH, text),
        _flag(_SCROLL, text),
        _flag(_TYPE, text),
        _flag(_CLICK, text),
        _flag(_NOISE, text),
        len(text) / 100.0,
        float(kind_changed),
        float(similarities[-1]) if has_history else 0.0,
        float(similarities.max()) if has_history else 0.0,
        float(similarities.mean()) if has_history else 0.0,
    ]


class FeatureBuilder:
    """Turns windows (and proposed tasks) into the heads' feature matrices."""

    def __init__(self, encoder: Encoder | None, lexical: LexicalFeatures | None = None) -> None:
        # No encoder: the need head's lexical features only (what it is trained on).
        self.encoder = encoder
        self.lexical = lexical

    def with_lexical(self, lexical: LexicalFeatures) -> FeatureBuilder:
        """The same encoder with another fitted vocabulary (one per training set)."""
        return FeatureBuilder(self.encoder, lexical)

    def require_encoder(self) -> Encoder:
        """The encoder, or a ValueError for a builder made without one (lexical only)."""
        if self.encoder is None:
            raise ValueError("context and draft features need an encoder")
        return self.encoder

    def _require_lexical(self) -> LexicalFeatures:
        if self.lexical is None:
            raise ValueError("the need head's features need a fitted vocabulary (with_lexical)")
        return self.lexical

    @property
    def need_names(self) -> list[str]:
        return self._require_lexical().names

    @property
    def context_names(self) -> list[str]:
        return [
            *CUE_NAMES,
            *ACTIVITY_NAMES,
            *(f"emb_{i}" for i in range(self.require_encoder().dimension)),
        ]

    @property
    def accept_task_names(self) -> list[str]:
        return [*CUE_NAMES, *ACTIVITY_NAMES, *TASK_NAMES]

    def _embed_windows(self, windows: Sequence[EventWindow], memo: CueMemo) -> list[np.ndarray]:
        texts = [memo(event).summary for window in windows for event in window]
        vectors = self.require_encoder().encode(texts)
        out, start = [], 0
        for window in windows:
            out.append(vectors[start : start + len(window)])
            start += len(window)
        return out

    def _base(self, windows: Sequence[EventWindow]) -> tuple[np.ndarray, list[np.ndarray]]:
        memo = CueMemo()
        embedded = self._embed_windows(windows, memo)
        rows = []
        for window, vectors in zip(windows, embedded, strict=True):
            cues = window_cues(window, memo)
            similarities = vectors[:-1] @ vectors[-1]
            activity = _activity(window, similarities, memo(window[-1]).summary)
            rows.append([*(cues[name] for name in CUE_NAMES), *activity])
        return np.asarray(rows, dtype=np.float32), embedded

    def need(self, windows: Sequence[EventWindow]) -> np.ndarray:
        """The need head's features: lexical only (no encoder call, so scoring is fast)."""
        return self._require_lexical().transform(windows)

    def context(self, windows: Sequence[EventWindow]) -> np.ndarray:
        """Cues, activity and the event's embedding: the other families, for comparison."""
        base, embedded = self._base(windows)
        current = np.stack([vectors[-1] for vectors in embedded])
        return np.hstack([base, current]).astype(np.float32)

    def accept_task(self, windows: Sequence[EventWindow], tasks: Sequence[str]) -> np.ndarray:
        base, embedded = self._base(windows)
        task_vectors = self.require_encoder().encode(list(tasks))
        extra = [
            [
                float(vectors[-1] @ task),
                float((vectors @ task).max()),
                len(text) / 100.0,
            ]
            for vectors, task, text in zip(embedded, task_vectors, tasks, strict=True)
        ]
        return np.hstack([base, np.asarray(extra, dtype=np.float32)]).astype(np.float32)
