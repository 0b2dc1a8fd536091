"""Implicit answers from what the user does next.

An offer turned down or left unanswered, whose task the user then carries out by hand
soon after (searches the query it proposed, opens the file it named), was needed after
all: `done_by_hand` spots that in the events that follow, and the store records it as
the answer `did_by_hand` (a weaker signal than an explicit one, see memory.feedback).
What an offer's task looks like when done is read from what it would have used: the
string arguments of its planned calls and anything its task quotes.
"""

from __future__ import annotations

import re

from core.events import Event
from core.offer import Offer
from core.stopwords import ENGLISH_STOP_WORDS

DONE_WITHIN_S = 600.0
"""How long after an offer (event time) doing its task still counts as answering it."""
COVERAGE = 0.75
"""Share of a phrase's words a later event must contain to count as doing it."""
SAME_ACTIVITY = 0.6
"""A later event this similar to the offer's own (shared words) is the same activity
still on screen, not the task done: the offer quoted what was already there."""

_WORD = re.compile(r"[a-z0-9][a-z0-9_.+#/-]*[a-z0-9]")
_QUOTED = re.compile(r"'([^']{3,})'|\"([^\"]{3,})\"")


def words(text: str) -> set[str]:
    """Content words: lower-case, three characters or more, no stop words."""
    return {w for w in _WORD.findall(text.lower()) if len(w) >= 3 and w not in ENGLISH_STOP_WORDS}


def key_phrases(offer: Offer) -> list[set[str]]:
    """What doing `offer` by hand would show, as word sets: its planned calls' string
    arguments and its task's quotes. A phrase of one word counts only when it is a name
    (a file, a path: it has a dot or a slash); a lone common word would match anything."""
    texts = [value for call in offer.plan for value in call.args.values() if isinstance(value, str)]
    texts += [a or b for a, b in _QUOTED.findall(offer.task)]
    phrases = [words(text) for text in texts]
    return [p for p in phrases if len(p) >= 2 or any("." in w or "/" in w for w in p)]


def done_by_hand(offer: Offer, offered_on: Event, later: Event) -> bool:
    """Whether `later` looks like the user doing `offer`'s task, made on `offered_on`."""
    if not 0 < (later.time - offered_on.time).total_seconds() <= DONE_WITHIN_S:
        return False
    seen = words(later.summary())
    before = words(offered_on.summary())
    if seen and len(seen & before) / len(seen | before) >= SAME_ACTIVITY:
        return False
    return any(len(phrase & seen) / len(phrase) >= COVERAGE for phrase in key_phrases(offer))
