"""The template drafter over every combination of what memory holds about a context.

An accepted offer used to break the drafter (an empty slice reduced with `max` when
nothing repeatable was held), and from then on every deliberation failed: these tests
draw accepted, turned-down and recently offered tasks in every combination, with and
without an encoder, and check what ranking must keep whatever memory holds.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.slowpath.drafter import DraftRequest
from agent.slowpath.proposal import parse_proposal
from agent.slowpath.template_drafter import TemplateDrafter
from core.events import Event
from tools import default_pool

START = 1_700_000_000.0


def _event(i: int, text: str, kind: str = "browser") -> Event:
    return Event.model_validate({"time": START + 30 * i, "source": "t", "kind": kind, "text": text})


WINDOWS = [
    [_event(0, "The user searches on Google for 'how to split a string in ruby'")],
    [
        _event(0, "The user edits invoice.py in the editor", kind="window"),
        _event(1, "E   KeyError: 'price' in test_invoice.py", kind="terminal"),
    ],
    [_event(0, "The user switched to the web browser.")],
]
PAST_TASKS = [
    "Find a worked example for 'how to split a string in ruby'",
    "Check your notes for 'how to split a string in ruby' and keep the search in today's "
    "session note",
    "Check your notes for 'regex groups' and keep the search in today's session note",
    "Explain the error and suggest a fix",
    "Show today's calendar events",
]


def bag_of_words(texts: Sequence[str]) -> np.ndarray:
    """A deterministic stand-in encoder: words hashed into 64 dimensions. It embeds like
    the gate's encoder in the one way the drafter relies on: equal texts, equal vectors."""
    matrix = np.zeros((len(texts), 64), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            matrix[row, zlib.crc32(word.encode()) % 64] += 1.0
    return matrix


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory):
    return default_pool(tmp_path_factory.mktemp("workspace"))


tasks = st.lists(st.sampled_from(PAST_TASKS), max_size=3, unique=True)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    window=st.sampled_from(WINDOWS),
    accepted=tasks,
    rejected=tasks,
    offered=tasks,
    with_encoder=st.booleans(),
    attempt=st.integers(1, 3),
)
def test_any_memory_of_a_context_gives_a_ranking_and_a_valid_answer(
    pool, window, accepted, rejected, offered, with_encoder, attempt
):
    drafter = TemplateDrafter(pool, bag_of_words if with_encoder else None)
    request = DraftRequest(
        window,
        accepted_tasks=accepted,
        rejected_tasks=rejected,
        offered_tasks=offered,
        attempt=attempt,
    )
    ranked = drafter.rank(request)
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    for r in ranked:
        # A task already turned down or offered is a repeat, by any measure.
        if r.candidate.task in rejected or r.candidate.task in offered:
            assert r.repeat
        # Nothing turned down or offered: nothing can repeat.
        if not (rejected or offered):
            assert not r.repeat
        # Memory moves a ranking only when there are answers to move it.
        if not (accepted or rejected):
            assert r.memory == 0.0
    answer = parse_proposal(drafter.draft(request).text, pool)
    assert bool(answer.speak) == (len(ranked) >= attempt)


@pytest.mark.parametrize("with_encoder", [False, True])
def test_an_accepted_offer_with_nothing_repeatable_still_drafts(pool, with_encoder):
    """The case that silenced festina after a person's first "yes"."""
    drafter = TemplateDrafter(pool, bag_of_words if with_encoder else None)
    request = DraftRequest(WINDOWS[0], accepted_tasks=[PAST_TASKS[2]])
    answer = parse_proposal(drafter.draft(request).text, pool)
    # The accepted notes check pulls its like up to first place.
    assert answer.task == PAST_TASKS[1]
