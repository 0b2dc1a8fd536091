"""Who drafts the slow path's proposal: a chat model, or the template drafter.

Whatever drafts, the answer is JSON text that the graph validates the same way (proposal
schema, then every planned call against the tool pool), so every draft is judged,
remembered and executed alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Protocol

from agent.slowpath.llm import ChatModel
from agent.slowpath.proposal import build_messages, draft_schema, shortlist
from core.events import Event
from tools.pool import ToolPool

# A draft at least this similar to an offer the user turned down in the same context
# (cosine with the gate's encoder) repeats it: the graph holds it back, and the template
# drafter ranks it last.
REPEAT_SIMILARITY = 0.8
# What a task is about, as drafts quote it ("Explain the error 'X' and find a fix").
_QUOTED_THING = re.compile(r"(?<!\w)'(.+)'(?!\w)")
# Below this (difflib's ratio, lower case) two quoted things are different things: a typo,
# a plural or another key of the same error still reads as the same.
SAME_THING_RATIO = 0.5


def about_other_things(task: str, other: str) -> bool:
    """Whether two tasks quote clearly different things, and so never repeat each other,
    however alike their template's words make them: the encoder rates two error
    explanations, for a psql socket and a missing symbol, 0.84 alike."""
    mine, theirs = _QUOTED_THING.search(task), _QUOTED_THING.search(other)
    if mine is None or theirs is None:
        return False
    a, b = mine.group(1).lower(), theirs.group(1).lower()
    return SequenceMatcher(None, a, b).ratio() < SAME_THING_RATIO


@dataclass(frozen=True)
class DraftRequest:
    """What the graph knows when it asks for a draft."""

    window: list[Event]
    """Recent events of the context, oldest first; the last one is now."""
    recalled: list[str] = field(default_factory=list)
    """Similar past moments and what the user answered, one line each."""
    lessons: list[str] = field(default_factory=list)
    """Lessons left by offers the user turned down in this context."""
    rejected_tasks: list[str] = field(default_factory=list)
    """Tasks offered here before that the user did not accept."""
    accepted_tasks: list[str] = field(default_factory=list)
    """Tasks offered here before that the user accepted."""
    offered_tasks: list[str] = field(default_factory=list)
    """Tasks offered anywhere within the repeat window: offering one again is a repeat."""
    attempt: int = 1
    """1 for the first draft; 2 when the first was unusable (see `error`)."""
    error: str | None = None
    """Why the previous draft was unusable."""


@dataclass(frozen=True)
class Draft:
    text: str
    """The answer: a JSON object following the proposal schema."""
    tokens: int = 0


class Drafter(Protocol):
    """Drafts one proposal. May raise `agent.slowpath.llm.ChatError` when it cannot answer
    at all (a model server down); the graph then retries once and falls back to silence."""

    name: str

    def draft(self, request: DraftRequest) -> Draft: ...


class ChatDrafter:
    """Drafts with a chat model: the schema-locked prompt of `agent.slowpath.proposal`."""

    def __init__(self, chat: ChatModel, pool: ToolPool) -> None:
        self.chat = chat
        self.pool = pool
        self.name = chat.name

    def draft(self, request: DraftRequest) -> Draft:
        tools = shortlist(self.pool, request.window)
        messages = build_messages(
            request.window, request.recalled, request.lessons, tools, request.error
        )
        # The schema narrowed to the listed tools and their arguments: a model decoding
        # under it (llama.cpp's grammar, a server's response_format) plans only real calls.
        reply = self.chat.complete(messages, draft_schema(tools, self.pool))
        return Draft(reply.text, reply.prompt_tokens + reply.completion_tokens)
