"""What an offer may name, read off the event window: the specific thing an event shows
the user busy with, and whether a search was about the work returned to.

Issue #26's newcomers were offered "note what you are doing in Web browser" (an app's
name, nothing of the e-mail being written) and "Back in 'invoice.py' after looking up
'asyncio TaskGroup cancel example'" (two unrelated tasks joined). An offer's words come
from what the event shows, never from a window's or an app's title alone.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from agent.slowpath.facts import Facts, short
from core.stopwords import ENGLISH_STOP_WORDS

# Words of an event's narration ("The user returns to VS Code editing ..."), not its work.
# One string split: as a list literal the formatter would give each word its own line.
_NARRATION = frozenset(
    """
user users return returns returned returning switch switches switched back edit edits edited
editing open opens opened opening window file files editor code visual studio vs terminal
browser app application continue continues continued working works work types typing typed
writes writing look looks looking
""".split()  # noqa: SIM905
)
# "an e-mail to Dana Lee", "a reply to dana@example.org": who the e-mail is for.
_EMAIL_PARTY = re.compile(
    r"(?i:\b(?:e-?mails?|mail|message|reply|replies|replying)\b[^.\n]{0,40}?\bto)\s+"
    r"(?P<party>[\w.+-]+@[\w-]+(?:\.[\w-]+)+|[A-Z][\w'-]+(?: [A-Z][\w'-]+)?)"
)
_WORD = re.compile(r"[\w.+#()-]*\w[\w()]*")
# camelCase, snake_case, a dotted name or a call: an identifier, as specific as a name.
_IDENTIFIER = re.compile(r"[a-z][A-Z]|\w_\w|\w\.\w|\(\)")
_KEYS = re.compile(r"^(ctrl|shift|alt|cmd|key)\b|_[lr]$", re.I)
_NARRATOR = re.compile(r"^(the )?user (is )?", re.I)
# Names that say where, not what: apps, kinds of window, the narrator.
_GENERIC_NAMES = frozenset(
    """
i the user web browser terminal visual studio code vs microsoft word excel powerpoint
outlook google chrome firefox safari edge editor desktop app application e-mail email
mail inbox finder explorer windows linux macos ide notepad slack teams zoom
""".split()  # noqa: SIM905
)
_TERM = re.compile(r"[^\W\d_]{3,}")
_CASE_CHANGE = re.compile(r"(?<=[a-z])(?=[A-Z])")


def what_is_shown(facts: Facts) -> str | None:
    """The specific thing the event shows the user busy with: the file, the named page or
    document, the e-mail's party, the page's address. Never the window's or the app's
    title alone ("Web browser", "Inbox - Mail"): an offer built from that says nothing."""
    if facts.now.file:
        return facts.now.file
    if facts.now.subject:
        return facts.now.subject
    if match := _EMAIL_PARTY.search(facts.now.summary):
        return f"the e-mail to {match.group('party')}"
    url = facts.event.url
    if url and (parts := urlsplit(url)).scheme in ("http", "https") and parts.hostname:
        # The page's own title with its address; the address alone otherwise.
        where = short(f"{parts.hostname}{parts.path}".rstrip("/"), 60)
        return f"{facts.event.title} ({where})" if facts.event.title else where
    if _names_something(facts):
        # The event's own words, when they name something ("reads the OAuth documentation
        # on token scopes", "configures the EC2 instance in the AWS Pricing Calculator").
        return _NARRATOR.sub("", facts.now.summary).rstrip(" .")
    return None


def what_is_done(facts: Facts) -> str | None:
    """The event's own words for what the user is doing (its text, the narrator left
    out: "writes a reply about the Q3 invoice"), for an event that names nothing more
    specific; None for an event with no text of its own, which shows only an app and a
    window's title. On the recordings, the moments with nothing specific still wanted
    help about a third of the time: a plain offer there costs less than silence at the
    default costs (see docs/evaluation.md)."""
    text = _NARRATOR.sub("", facts.event.text or "").rstrip(" .")
    return text or None


def _names_something(facts: Facts) -> bool:
    """Whether the event's words name a thing beyond the app it happens in: a proper
    name or an identifier (OAuth, Katla, getOAuthToken, model.fit), not keys pressed."""
    app = {w.lower() for w in _WORD.findall(facts.event.app or "")}
    words = _WORD.findall(facts.now.summary)[1:]  # the first word is capitalised anyway
    return any(
        (w[0].isupper() or _IDENTIFIER.search(w))
        and w.lower() not in app
        and w.lower() not in _GENERIC_NAMES
        and not _KEYS.search(w)
        for w in words
    )


def _terms(text: str) -> set[str]:
    """The content words of `text`, lower case: names split at underscores and case
    changes ("TaskGroup" is "task" and "group"), stop words and narration left out."""
    spaced = _CASE_CHANGE.sub(" ", text).replace("_", " ")
    return {
        w
        for w in (m.lower() for m in _TERM.findall(spaced))
        if w not in ENGLISH_STOP_WORDS and w not in _NARRATION
    }


def related(query: str, task: str) -> bool:
    """Whether a search is about the task: a content word in common, a plural or other
    ending aside ("invoices" and "invoice")."""
    return any(
        a == b or (min(len(a), len(b)) >= 4 and (a.startswith(b) or b.startswith(a)))
        for a in _terms(query)
        for b in _terms(task)
    )
