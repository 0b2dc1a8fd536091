"""What the template drafter reads off the event window: the activity and its entities.

Events are short sentences or window titles ("The user searches on Google for 'ruby
capitalize'", "vscode | gate.py | editing /src/gate.py", a terminal's output), so plain
patterns find what an offer needs: the query searched, the file edited, the page read,
the error shown. Nothing here guesses beyond what the events say; an entity that is not
there stays None and the templates that need it do not apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import parse_qs, urlparse

from core.events import Event, EventKind
from tools.local_docs import LocalAnswer, look_up, may_answer

# An event text this long is a document worth outlining, not a one-line description.
LONG_TEXT = 400
# Two queries with this share of words in common are the same search, typos aside.
SAME_QUERY = 0.6

_QUOTED = re.compile(r"(?<!\w)'([^'\n]{2,200}?)'(?!\w)|\"([^\"\n]{2,200}?)\"")
_SEARCH = re.compile(
    r"\b(search(es|ed|ing)?|googl(e|es|ed|ing)|bing|quer(y|ies)|looks? up)\b|搜索", re.I
)
# Words right before a quoted term that make it the query of a search event.
_QUERY_MARK = re.compile(
    r"(search\w*|quer\w*|for|about|related to|types?|typed|typing|enters?|entered)\s*"
    r"(on\s*(\w+\s*)?)?$",
    re.I,
)
# Words right before a quoted term that make it keystrokes rather than a name.
_TYPED_MARK = re.compile(r"(types?|typed|typing|inputs?|inputting|enters?|press\w*)\s*$", re.I)
# Quoted names that are the app or a key, not what the user works on.
_NOT_A_SUBJECT = re.compile(
    r"^(\S+\.exe|visual studio code|vs ?code|code|enter|space|tab|esc|escape|backspace|"
    r"ctrl\+\w|cmd\+\w|\w)$",
    re.I,
)
_SEARCH_TITLE = re.compile(
    r"^(.{2,200}?)\s+(-|\u2013|·|at)\s+(google search|bing|搜索|duckduckgo|search)$", re.I
)
_ERROR = re.compile(
    r"\b(error|exception|traceback|fail(s|ed|ure)?|crash(es|ed)?|not found|denied|"
    r"segmentation fault|panic)\b",
    re.I,
)
# A line that is an error message itself, not a sentence about one ("... after an error").
# An exception is named (KeyError, IOException) or followed by its message ("Exception:
# boom"): the bare word, as in a page titled "Exception Groups", is not one.
_ERROR_MESSAGE = re.compile(
    r"\b\w+(Error|Exception)\b|\b(Error|Exception):|\berror:|Traceback|\bFAILED\b|failed with|"
    r"exit (code|status) [1-9]|command not found|No such file|Permission denied|"
    r"Segmentation fault|panic:|undefined reference"
)
# An error described in words with its message quoted: "an error message in the terminal
# indicating 'Invalid OAuth token'", "the same 'Invalid OAuth token' error".
_ERROR_BEFORE_QUOTE = re.compile(
    r"\b(error|exception)\b[^'\".]{0,40}\b(indicating|saying|reading|says|reads|stating)\s*$"
    r"|\b(error|exception)( message)?:\s*$",
    re.I,
)
# The line a traceback ends with: "KeyError: 'price'", "json.decoder.JSONDecodeError: ...".
_RAISED = re.compile(r"^[\w.]*(Error|Exception|Exit|Interrupt)\b(:|$)")
_SUMMARY = re.compile(r"collect2: error|make: \*\*\*|exit (code|status) \d|^\d+ failed")
# pytest marks the lines of a failure's report with "E" ("E   KeyError: 'price'").
_PYTEST_MARK = re.compile(r"^\s*E\s{2,}")
_READ_BEFORE_QUOTE = re.compile(
    r"\b(reads?|reading|views?|viewing|opens?|opened|visits?|visiting|browses?|browsing)\b"
    r"[^'\"]{0,30}$",
    re.I,
)
_ERROR_AFTER_QUOTE = re.compile(r"^['\"]?\s*(error|exception)\b", re.I)
_READING = re.compile(
    r"\b(reads?|reading|scroll\w*|review\w*|views?|viewing|brows\w*|article|documentation|"
    r"docs|discussion|answers?)\b",
    re.I,
)
_WRITING = re.compile(r"\b(types?|typing|typed|writes?|writing|wrote|edit\w*|notes?)\b", re.I)
# Keystroke names ("ctrl_l", "Shift", pynput's "Key.space"), not the word "key" itself.
_KEY_NOISE = re.compile(r"ctrl_l|shift|\bkey\.\w", re.I)
_EXTENSIONS = (
    "py|rb|js|jsx|ts|tsx|java|go|rs|c|h|cc|cpp|hpp|cs|swift|kt|php|scala|sh|sql|r|m|"
    "md|markdown|txt|rst|tex|json|ya?ml|toml|ini|cfg|csv|html?|css|scss|ipynb|docx?|pptx?|"
    "xlsx?|pdf"
)
_FILE = re.compile(rf"(?<![\w/\\.-])([\w\-]+(?: \(\d+\))?\.(?:{_EXTENSIONS}))(?![\w.])", re.I)
_FILE_ONLY = re.compile(rf"^[\w\-. ()]{{1,120}}\.(?:{_EXTENSIONS})$", re.I)
_COMMAND = re.compile(r"^\s*[$>#]\s+(.+)$", re.M)
_BATTERY = re.compile(r"battery\D{0,20}?(\d{1,3})\s*%", re.I)
_WORDS = re.compile(r"\w+")


def short(text: str, limit: int = 60) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0] if " " in flat[: limit - 1] else flat[: limit - 1]
    return cut.rstrip(" ,;:-") + "…"


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORDS.findall(text)}


def same_query(a: str, b: str) -> bool:
    """The same search, allowing for case, spacing and a typo or two."""
    left, right = _words(a), _words(b)
    if not left or not right:
        return False
    return len(left & right) / len(left | right) >= SAME_QUERY


@dataclass(frozen=True)
class EventFacts:
    """What one event says on its own."""

    summary: str
    query: str | None
    file: str | None
    subject: str | None
    """A quoted name that is neither the query nor a file: a page, article or topic."""
    error: str | None
    command: str | None
    searching: bool
    reading: bool
    writing: bool

    @classmethod
    def of(cls, event: Event) -> EventFacts:
        summary = event.summary()
        searching = bool(_SEARCH.search(summary))
        query = _search_query(event, summary) if searching else None
        file = _file(summary)
        subject = None
        for start, term in _quoted(summary):
            typed = _TYPED_MARK.search(summary[max(0, start - 20) : start])
            if (
                term not in (query, file)
                and not typed
                and not _FILE_ONLY.match(term)
                and not _NOT_A_SUBJECT.match(term)
                and term != event.app
            ):
                subject = term
                break
        error = _error(event, summary)
        if error and query and (query in error or error in query):
            error = None  # a search for an error's words is a search, not an error
        return cls(
            summary=summary,
            query=query,
            file=file,
            subject=subject,
            error=error,
            command=_command(event),
            searching=searching,
            # A page open at its address, other than a search, with no words saying what
            # is done there (a browser watcher's title and URL), is being read.
            reading=bool(_READING.search(summary))
            or (
                event.kind is EventKind.BROWSER
                and bool(event.url)
                and not event.text
                and not searching
            ),
            writing=bool(_WRITING.search(summary)),
        )


def _quoted(text: str) -> list[tuple[int, str]]:
    """Quoted terms with where they start, keystroke noise left out."""
    found = []
    for match in _QUOTED.finditer(text):
        term = (match.group(1) or match.group(2)).strip(" ,.;:#")
        if len(term) >= 2 and not _KEY_NOISE.search(term):
            found.append((match.start(), term))
    return found


def _search_query(event: Event, summary: str) -> str | None:
    for start, term in _quoted(summary):
        if _QUERY_MARK.search(summary[max(0, start - 40) : start]) and not _FILE_ONLY.match(term):
            return term
    if event.url:
        values = parse_qs(urlparse(event.url).query).get("q")
        if values and values[0].strip():
            return values[0].strip()
    if event.title and (match := _SEARCH_TITLE.match(event.title.strip())):
        return match.group(1)
    return None


def _file(summary: str) -> str | None:
    for _, term in _quoted(summary):
        if _FILE_ONLY.match(term):
            return term.replace("\\", "/").rsplit("/", 1)[-1]
    match = _FILE.search(summary)
    return match.group(1) if match else None


def _error(event: Event, summary: str) -> str | None:
    if event.kind is EventKind.FAILED_COMMAND and (failed := _failed_command(event)):
        return failed
    quoted = _quoted(summary)
    for start, term in quoted:
        # "The user reads 'PEP 654 - Exception Groups'": a title being read, not an error.
        if _ERROR.search(term) and not _READ_BEFORE_QUOTE.search(
            summary[max(0, start - 40) : start]
        ):
            return term
    # A summary line joins the app, the title and the text with " | ": the error is the
    # part that says it, not the app's name before it.
    messages = [
        _PYTEST_MARK.sub("", part).strip()
        for line in (event.text or summary).splitlines()
        for part in (line.split(" | ") if not event.text else [line])
        if _ERROR_MESSAGE.search(part)
    ]
    if messages:
        # A traceback's own line says only that one follows: its exception line is the error.
        raised = [line for line in messages if _RAISED.match(line)]
        if raised:
            return raised[-1]
        # "collect2: error: ld returned 1 exit status" sums up the line that says what.
        specific = [line for line in messages if not _SUMMARY.search(line)]
        return (specific or messages)[0]
    for start, term in quoted:
        end = summary.find(term, start) + len(term)
        if _ERROR_BEFORE_QUOTE.search(summary[max(0, start - 80) : start]) or (
            _ERROR_AFTER_QUOTE.match(summary[end : end + 20])
        ):
            return term
    return None


def _failed_command(event: Event) -> str | None:
    """What the shell hook says of a failed command: its line and exit status."""
    command, status = event.attributes.get("command"), event.attributes.get("exit_status")
    if not isinstance(command, str) or not command.strip():
        return None
    ending = f" with exit status {status}" if isinstance(status, int) else ""
    return f"{short(command, 120)} failed{ending}"


def _command(event: Event) -> str | None:
    if event.kind not in (EventKind.TERMINAL, EventKind.FAILED_COMMAND):
        return None
    if match := _COMMAND.search(event.text or ""):
        return match.group(1).strip()
    quoted = _quoted(event.text or "")
    return quoted[0][1] if quoted else None


@dataclass(frozen=True)
class Facts:
    """The window as the templates see it: the current event's facts, and what the
    events before it add (how often the query came back, what was searched before)."""

    event: Event
    now: EventFacts
    query: str | None
    """The query searched now: this event's own, or the one whose results it browses."""
    query_count: int
    """Events in the window with that query in their own words."""
    query_minutes: float
    """Minutes since the first of those events."""
    earlier_query: str | None
    """The newest query searched before this event, when this event is not a search."""
    page_title: str | None
    battery: int | None
    window_summaries: tuple[str, ...]
    """Every event of the window in one line, oldest first."""

    @property
    def kind(self) -> EventKind:
        return self.event.kind

    @cached_property
    def local_answer(self) -> LocalAnswer:
        """What this machine's documentation holds for the query (`tools.local_docs`),
        looked up once however many templates ask: each look-up starts a child
        interpreter, a few hundred milliseconds. Nothing is run for a query naming no
        word the documentation may answer for."""
        if not self.query or not may_answer(self.query):
            return LocalAnswer()
        return look_up(self.query)

    @property
    def document(self) -> str | None:
        """The text of a long document the user has open, if the event carries it."""
        text = self.event.text or ""
        return text if len(text) >= LONG_TEXT and not self.now.error else None


def read_facts(window: list[Event]) -> Facts:
    """The facts of the window's last event, in the light of the events before it."""
    event = window[-1]
    facts = [EventFacts.of(e) for e in window]
    now = facts[-1]
    earlier_query = next((f.query for f in reversed(facts[:-1]) if f.query), None)
    # Browsing results ("clicks on the search results page") continues the last search.
    query = now.query or (earlier_query if now.searching else None)
    matching = [
        e
        for e, f in zip(window, facts, strict=True)
        if query and f.query and same_query(f.query, query)
    ]
    battery = None
    if event.kind is EventKind.DEVICE and (match := _BATTERY.search(now.summary)):
        battery = int(match.group(1))
    return Facts(
        event=event,
        now=now,
        query=query,
        query_count=len(matching),
        query_minutes=(event.timestamp - matching[0].timestamp) / 60.0 if matching else 0.0,
        earlier_query=None if now.searching else earlier_query,
        page_title=event.title or now.subject,
        battery=battery,
        window_summaries=tuple(f.summary for f in facts),
    )
