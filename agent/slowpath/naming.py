"""What an offer may name, read off the event window: the specific thing an event shows
the user busy with, and whether a search was about the work returned to.

Issue #26's newcomers were offered "note what you are doing in Web browser" (an app's
name, nothing of the e-mail being written) and "Back in 'invoice.py' after looking up
'asyncio TaskGroup cancel example'" (two unrelated tasks joined). An offer's words come
from what the event shows, never from a window's or an app's title alone.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

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
# What a browser adds to its window's title: "Git - Undoing things - Mozilla Firefox",
# "Task groups — Chromium", "Inbox (3) - Google Chrome (Incognito)".
_BROWSERS = (
    r"(?:Mozilla Firefox|Firefox(?: Developer Edition| Nightly)?|Google Chrome|Chromium|Brave|"
    r"Microsoft\u200b? ?Edge|Opera|Vivaldi|Safari|Epiphany|GNOME Web|LibreWolf|Tor Browser)"
    r"(?: Private Browsing| \((?:Private|Private Browsing|Incognito)\))?"
)
_BROWSER_SUFFIX = re.compile(rf"\s+[-\u2013\u2014|]\s+{_BROWSERS}\s*$", re.I)
_BROWSER_ONLY = re.compile(rf"^\s*{_BROWSERS}\s*$", re.I)
_EMPTY_PAGES = frozenset({"new tab", "new private tab", "private browsing", "start page"})
_PAGE_EXTENSION = re.compile(r"\.(?:s?html?|php|aspx?|jsp|md)$", re.I)
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
    if url and (where := _address(url)):
        # The page's own title with its address; the address alone otherwise.
        title = without_browser(facts.event.title or "")
        return f"{title} ({where})" if title else where
    if _names_something(facts):
        # The event's own words, when they name something ("reads the OAuth documentation
        # on token scopes", "configures the EC2 instance in the AWS Pricing Calculator"):
        # its text, not the summary, which starts with the app's name and window's title.
        return _NARRATOR.sub("", facts.event.text or "").rstrip(" .")
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
    """Whether the event's own words (its text; a window's title is not the user's doing)
    name a thing beyond the app it happens in: a proper name or an identifier (OAuth,
    Katla, getOAuthToken, model.fit), not keys pressed."""
    app = {w.lower() for w in _WORD.findall(facts.event.app or "")}
    words = _WORD.findall(facts.event.text or "")[1:]  # the first word is capitalised anyway
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


def without_browser(title: str) -> str:
    """A window's title without what the browser adds ("Git - Undoing things - Mozilla
    Firefox" is "Git - Undoing things"); empty when nothing else is left (the browser's
    name alone, "New Tab")."""
    page = _BROWSER_SUFFIX.sub("", title).strip()
    if _BROWSER_ONLY.match(page) or page.casefold() in _EMPTY_PAGES:
        return ""
    return page


def page_name(facts: Facts) -> str | None:
    """What a page being read is called, from what the event shows: the title its text
    quotes ("reads the article 'Git - Undoing things'"); the page's own title where the
    event carries its address (a browser's extension reports the tab's title, not the
    window's); a title the address spells ("/Git-Basics-Undoing-Things" is "Git Basics
    Undoing Things"); only then the window's title, without the browser's name; else the
    address itself. None when the event shows none of these."""
    url = facts.event.url if facts.event.url and _address(facts.event.url) else None
    title = without_browser(facts.event.title or "")
    if title and _address(title):
        title = ""  # an address in the title's place (a tab with no title of its own)
    if facts.now.subject:
        return facts.now.subject
    if url and title:
        return title
    if url and (spelled := _url_title(url)):
        return spelled
    if title:
        return title
    return _address(url) if url else None


def _address(url: str) -> str | None:
    """An http(s) address as "host/path", cut; None for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return short(f"{parts.hostname}{parts.path}".rstrip("/"), 60)


def _url_title(url: str) -> str | None:
    """The words the address's last part spells ("ch04-02-references-and-borrowing" is
    "references and borrowing"), when it spells two or more; None for an id or a name."""
    segments = [part for part in urlsplit(url).path.split("/") if part]
    if not segments:
        return None
    last = _PAGE_EXTENSION.sub("", unquote(segments[-1]))
    words = [w for w in re.split(r"[-_+\s]+", last) if re.fullmatch(r"[^\W\d_]+", w)]
    return " ".join(words) if len(words) >= 2 else None
