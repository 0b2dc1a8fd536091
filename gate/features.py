"""Cues read off the recent event window: the signals that a user may be stuck."""

from __future__ import annotations

import math
import re

from agent.events import Event
from gate.base import EventWindow

_SEARCH = re.compile(r"\b(search(es|ed|ing)?|google[sd]?|query|looks? up)\b", re.I)
_ERROR = re.compile(
    r"\b(error|exception|traceback|fail(s|ed|ure)?|bug|crash(es|ed)?|warning)\b", re.I
)
_HELP = re.compile(
    r"\b(how (to|do)|tutorial|documentation|docs|stack ?overflow|example|guide)\b", re.I
)
_QUOTED = re.compile(r"'([^']{3,})'|\"([^\"]{3,})\"")

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


def _quoted_terms(event: Event) -> set[str]:
    return {(a or b).lower() for a, b in _QUOTED.findall(event.text)}


def window_cues(window: EventWindow) -> dict[str, float]:
    """Numeric cues for the last event of `window`, in `CUE_NAMES` order."""
    current = window[-1]
    earlier = window[:-1]
    text = current.summary()
    gap = current.timestamp - earlier[-1].timestamp if earlier else 0.0
    current_terms = _quoted_terms(current)
    repeated = any(current_terms & _quoted_terms(e) for e in earlier) if current_terms else False
    return {
        "is_search": float(bool(_SEARCH.search(text))),
        "is_error": float(bool(_ERROR.search(text))),
        "is_help_seeking": float(bool(_HELP.search(text))),
        "searches_in_window": float(sum(bool(_SEARCH.search(e.summary())) for e in window)),
        "errors_in_window": float(sum(bool(_ERROR.search(e.summary())) for e in window)),
        "repeated_query": float(repeated),
        "log_gap_prev": math.log1p(max(gap, 0.0)),
        "events_last_minute": float(sum(current.timestamp - e.timestamp <= 60 for e in window)),
        "is_first_in_window": float(not earlier),
    }
