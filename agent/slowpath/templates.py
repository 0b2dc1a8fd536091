"""The template drafter's catalogue: concrete offers keyed by activity and cues.

Each template applies only when the window holds what it needs (a query, a file, an
error...), and fills its words and its tool plan with those entities, so an offer always
says what it offers and its plan can be run as drafted. Plans use only what the pool can
do with arguments known now: a plan step never depends on an earlier step's output.

`prior` orders templates by how specific their cue is (a repeated search or an error
says more than an open file); the drafter adds how well the template's intent fits the
event and what the user answered before (see `agent.slowpath.template_drafter`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote_plus

from agent.slowpath.facts import Facts, short
from agent.slowpath.naming import page_name, related, what_is_done, what_is_shown
from core.events import EventKind
from core.offer import PlannedCall

_UNSAFE_IN_NAMES = re.compile(r"[^\w .,()-]+")
_IDLE = re.compile(
    r"\b(switch(ed|es)?( back)? to|return(ed|s)? to|remain(ed|s)? (active|focused|in|on)|"
    r"paus(ed|es) (their|the) activity|continu(ed|es) (working|using|to use))\b",
    re.I,
)
MAX_NOTE_LINES = 8
OUTLINE_SOURCE_CHARS = 20_000


@dataclass(frozen=True)
class Candidate:
    """One filled template: a proposal before validation."""

    key: str
    speak: str
    task: str
    why_now: str
    plan: list[PlannedCall]
    expected_benefit: str


@dataclass(frozen=True)
class Template:
    key: str
    intent: str
    """What the offer does, in plain words: ranked against the event with the encoder."""
    tools: tuple[str, ...]
    prior: float
    build: Callable[[Facts], Candidate | None]
    fallback: bool = False
    """Drafted only when no other template applies: a weak offer beats none where the gate
    judged an offer worth its cost, but never beats a sharper one."""


# A path two folders deep or more ("/home/ana/shop/src/main.c"): its folders say little
# beside the message. "/srv/data" stays whole: "data" alone would name another place.
_ABSOLUTE_PATH = re.compile(r"(/[^\s:'\"/]+/[^\s:'\"]+/)([^/\s:'\"]+)")


def _call(tool: str, **args: object) -> PlannedCall:
    return PlannedCall(tool=tool, args=args)  # type: ignore[arg-type]


def note_title(text: str, facts: Facts) -> str:
    """A note title the notes tools accept (letters, digits, spaces and . , ( ) - _),
    stamped with the event's time: create_note refuses a title that exists, so an offer
    accepted again later must not collide with the note it made before."""
    cleaned = " ".join(_UNSAFE_IN_NAMES.sub(" ", text).split()).strip(" .")
    name = short(cleaned, 80).replace("…", "") or "festina note"
    return f"{name} {facts.event.time:%Y-%m-%d %H%M}"


def _since(facts: Facts) -> str:
    minutes = round(facts.query_minutes)
    if minutes < 1:
        return "in the last minute"
    return "in 1 minute" if minutes == 1 else f"in {minutes} minutes"


def _bullets(summaries: tuple[str, ...]) -> str:
    return "\n".join(f"- {short(e, 160)}" for e in summaries)


def _related_lines(facts: Facts, *, limit: int = MAX_NOTE_LINES) -> str:
    """The window's events as Markdown bullets, newest last: what a note collects."""
    return _bullets(facts.window_summaries[-limit:])


def _repeated_search(facts: Facts) -> Candidate | None:
    query = facts.query
    if not query or facts.query_count < 2:
        return None
    q = short(query)
    link = search_link(query)
    return Candidate(
        key="repeated-search",
        speak=(
            f"'{q}' has come up {facts.query_count} times {_since(facts)}. "
            "Shall I summarise the answers you opened in one note?"
        ),
        task=f"Summarise the answers you opened for '{q}' in one note",
        why_now=f"the same search came back {facts.query_count} times {_since(facts)}",
        plan=[
            _call("search_notes", query=short(query, 200)),
            _call(
                "create_note",
                title=note_title(f"Answers {query}", facts),
                body=f"Search: {link}\n\n{_related_lines(facts)}",
            ),
        ],
        expected_benefit="no further search for it; what you found stays findable",
    )


def _error(facts: Facts) -> Candidate | None:
    error = facts.now.error
    if not error:
        return None
    # Files by their names: a compiler's absolute paths would crowd out the message.
    e = short(_ABSOLUTE_PATH.sub(r"\2", error), 80)
    # What can be known without a model first (the failing lines, the exception's
    # documentation), then the notes that met the same error, then a search.
    plan = [
        _call(
            "explain_error",
            error=short(error, 500),
            context=(facts.event.text or "")[-8000:],
            command=short(facts.now.command or "", 2000),
        ),
        _call("search_notes", query=short(error, 60).rstrip("…")),
        _call("web_search_query", query=short(error, 200)),
    ]
    return Candidate(
        key="error",
        speak=f"That ended in an error: '{e}'. Shall I look up what it means and how it is fixed?",
        task=f"Explain the error '{e}' and find a fix",
        why_now="an error just appeared",
        plan=plan,
        expected_benefit="the cause and a fix without searching by hand",
    )


def _outline(facts: Facts) -> Candidate | None:
    document = facts.document
    if not document:
        return None
    name = short(facts.page_title or facts.now.file or "this document", 60)
    source = document[:OUTLINE_SOURCE_CHARS]
    return Candidate(
        key="outline",
        speak=f"'{name}' is a long read. Want a five-sentence outline and its key terms?",
        task=f"Outline '{name}' in five sentences with its key terms",
        why_now=f"a {len(document.split())}-word text is open",
        plan=[
            _call("summarize_text", text=source, sentences=5),
            _call("extract_keywords", text=source, limit=8),
        ],
        expected_benefit="the gist before reading it all",
    )


def _how_to(facts: Facts) -> Candidate | None:
    query = facts.query
    if not query or facts.query_count >= 2 or not re.search(r"\bhow\b|如何|怎么", query, re.I):
        return None
    q = short(query)
    docs, what = _local_docs(facts)
    shown = f"show {what}, " if docs else ""
    return Candidate(
        key="how-to",
        speak=f"Looking up '{q}'? I can {shown}find a worked example and check your notes for it.",
        task=f"Find a worked example for '{q}'",
        why_now="a how-to search just started",
        plan=[
            *docs,
            _call("search_notes", query=short(query, 200)),
            _call("web_search_query", query=short(f"{query} example", 500)),
        ],
        expected_benefit="an example to follow instead of a page of results",
    )


def _local_docs(facts: Facts) -> tuple[list[PlannedCall], str]:
    """The answer on this machine, first in the plan, where its documentation holds one
    (a Python standard-library name, an installed command's manual page): the person sees
    it, not only a link; with what it is, in words, for the offer. Looked up while
    drafting, since an offer promising an answer that turns out to be "nothing found"
    would say more than it does."""
    found = facts.local_answer
    if not facts.query or not found.names:
        return [], ""
    return [_call("local_docs", query=short(facts.query, 200))], found.described()


def search_link(query: str) -> str:
    """The search's results page (the web_search_query tool's default engine)."""
    return "https://duckduckgo.com/?q=" + quote_plus(query)


def _search(facts: Facts) -> Candidate | None:
    query = facts.query
    if not query or facts.query_count >= 2:
        return None
    q = short(query)
    link = search_link(short(query, 200))
    # First what can be known here: the answer in this machine's documentation where the
    # query names something it holds, else the notes. A plan holds three steps (the
    # proposal's limit): with an answer here, the notes give way to it.
    docs, what = _local_docs(facts)
    if docs:
        first = docs
        speak = (
            f"Searching for '{q}'? I can show {what}, open the search in your browser "
            "and keep it in today's session note."
        )
        task = f"Look up '{q}' on this machine and keep the search in today's session note"
    else:
        first = [_call("search_notes", query=short(query, 200))]
        speak = (
            f"Searching for '{q}'? I can check your notes for it, open the search in your "
            "browser and keep it in today's session note."
        )
        task = f"Check your notes for '{q}' and keep the search in today's session note"
    return Candidate(
        key="search",
        speak=speak,
        task=task,
        why_now="a search just started",
        # Then the search itself, opened, and its query kept in the day's session note with
        # its time and link (both side effects: each waits for the person's confirmation
        # after the offer is accepted).
        plan=[
            *first,
            _call("open_url", url=link),
            _call(
                "add_to_session_note",
                text=f"Searched for '{short(query, 200)}': {link}",
                at=facts.event.time.isoformat(),
            ),
        ],
        expected_benefit="what you already found, the search at hand, and a trail of it",
    )


def _back_to_code(facts: Facts) -> Candidate | None:
    file, query = facts.now.file, facts.earlier_query
    # Joined only when the search was for this work: a search for something else (an
    # asyncio example, back in invoice.py) is not "what you found" for the file.
    if (
        not file
        or not query
        or not related(query, f"{file} {facts.now.summary.replace(query, ' ')}")
    ):
        return None
    q = short(query)
    return Candidate(
        key="back-to-file",
        speak=f"Back in '{file}' after looking up '{q}'. Shall I keep what you found in a note?",
        task=f"Keep what you found on '{q}' in a note for '{file}'",
        why_now=f"you returned to {file} from a search",
        plan=[
            _call(
                "create_note",
                title=note_title(f"{file} {query}", facts),
                body=f"While working on {file}:\n\n{_related_lines(facts)}",
            )
        ],
        expected_benefit="the answer next to the work it is for",
    )


def _writing_topic(facts: Facts) -> Candidate | None:
    topic = facts.now.subject
    if not topic or not facts.now.writing or facts.kind not in (EventKind.EDITOR, EventKind.TEXT):
        return None
    t = short(topic)
    return Candidate(
        key="writing-topic",
        speak=f"Writing about '{t}'? I can pull up your other notes on it.",
        task=f"Find your other notes on '{t}'",
        why_now=f"you are writing about {t}",
        plan=[_call("search_notes", query=short(topic, 200))],
        expected_benefit="earlier notes at hand while you write",
    )


def _save_page(facts: Facts) -> Candidate | None:
    if not facts.page_title or not facts.now.reading or facts.query == facts.page_title:
        return None
    # Named by what the event shows (the title its text quotes, the page's own title, the
    # address), the window's title only without the browser's name and as a last resort:
    # "Git - Undoing things - Mozilla Firefox" is not what the note is about.
    title = page_name(facts)
    if not title:
        return None
    t = short(title)
    where = facts.event.url or facts.event.app or "the web"
    return Candidate(
        key="save-page",
        speak=f"Shall I keep '{t}' in your notes so you can find it again?",
        task=f"Save '{t}' to your notes with where you found it",
        why_now=f"you are reading {t}",
        plan=[
            _call(
                "create_note",
                title=note_title(title, facts),
                body=f"Found at: {where}\n\n{_related_lines(facts, limit=3)}",
            )
        ],
        expected_benefit="the page stays findable after the tab is closed",
    )


def _file_progress(facts: Facts) -> Candidate | None:
    file = facts.now.file
    if not file:
        return None
    return Candidate(
        key="file-progress",
        speak=f"Shall I note where you are in '{file}', so you can pick it up later?",
        task=f"Note your progress on '{file}'",
        why_now=f"you are working on {file}",
        plan=[
            _call(
                "create_note",
                title=note_title(f"Progress on {file}", facts),
                body=f"{facts.event.time:%Y-%m-%d %H:%M} UTC\n\n{_related_lines(facts, limit=4)}",
            )
        ],
        expected_benefit="a place to resume from",
    )


def _calendar(facts: Facts) -> Candidate | None:
    if facts.kind is not EventKind.CALENDAR:
        return None
    event = facts.event
    # The calendar source names the entry in the title and says when and where in the
    # text ("Team stand-up at 09:30 (in 10 min), Room 4"). A reminder posted by another
    # program may carry a title that names no entry ("Reminder"): its text does.
    from_source = "starts" in event.attributes
    said = short(event.text, 100) if event.text else short(facts.page_title or facts.now.summary)
    entry = short(event.title) if from_source and event.title else said
    # The calendar the reminder came from (the calendar source names it), else the
    # workspace's own; the reminder's own words lead the result when that calendar does
    # not hold the entry.
    source = event.source
    where = {"calendar": source.removeprefix("calendar:")} if source.startswith("calendar:") else {}
    return Candidate(
        key="calendar",
        speak=f"Coming up: {said}. Want to see the rest of today's events?",
        # The task names its entry: two entries' offers are not the same offer (the repeat
        # rule held the newcomer's dentist back as a repeat of the stand-up).
        task=f"Show the day around '{entry}'",
        why_now=f"a calendar entry came up: {entry}",
        plan=[
            _call("list_calendar_events", days=1, **where)
            if from_source
            else _call("list_calendar_events", days=1, entry=short(event.text or said, 300))
        ],
        expected_benefit="the rest of the day at a glance",
    )


def _battery(facts: Facts) -> Candidate | None:
    if facts.battery is None or facts.battery > 20:
        return None
    return Candidate(
        key="battery",
        speak=f"The battery is at {facts.battery}%. Shall I turn on battery saver?",
        task="Turn on battery saver",
        why_now=f"battery at {facts.battery}%",
        plan=[
            _call("battery_status"),
            _call("toggle_setting", setting="battery_saver", enabled=True),
        ],
        expected_benefit="more time before the machine shuts down",
    )


def _notification(facts: Facts) -> Candidate | None:
    if facts.kind is not EventKind.NOTIFICATION:
        return None
    # The message is the to-do, who sent it where says where it came from: "Slack:
    # #billing" alone is not a task, and a to-do list read by its first words should
    # show the message's.
    sender, message = facts.event.title, facts.event.text
    what = message or facts.page_title
    if not what:
        return None
    w = short(what)
    came = f" from {short(sender, 40)}" if sender and message else ""
    return Candidate(
        key="notification-todo",
        speak=f"Shall I put '{w}'{came} on your to-do list so it is not lost?",
        task=f"Add '{w}' to your to-do list",
        why_now="a notification arrived",
        plan=[
            _call(
                "create_todo",
                text=short(f"{what} ({sender})" if came else what, 500),
            )
        ],
        expected_benefit="the notification becomes something you can tick off",
    )


def _bare_switch(facts: Facts) -> bool:
    """A switch or pause that says nothing about the work ("switched to the web browser")."""
    text = facts.event.text or facts.now.summary
    return bool(_IDLE.search(text)) and len(text) < 90


def _session_note(facts: Facts) -> Candidate | None:
    """The weakest offer, for a moment the gate judged worth an offer but no sharper
    template fits: keep a note of what the user is in the middle of, named by what the
    event shows, else by its own words; never by an app's or a window's title alone
    ("what you are doing in Web browser" says nothing)."""
    if _bare_switch(facts):
        return None  # not work in progress: see _left_off
    thing = what_is_shown(facts) or what_is_done(facts)
    if thing is None:
        return None
    t = short(thing)
    return Candidate(
        key="session-note",
        speak=f"Shall I note where you are with {_quote(t)}, so you can come back to it?",
        task=f"Note where you are with {_quote(t)}",
        why_now=f"you are busy with {t}",
        plan=[
            _call(
                "create_note",
                title=note_title(f"Where I was with {thing}", facts),
                body=f"{facts.event.time:%Y-%m-%d %H:%M} UTC\n\n{_related_lines(facts)}",
            )
        ],
        expected_benefit="a place to resume from",
    )


def _quote(thing: str) -> str:
    """A name in quotes; a phrase ("the e-mail to Dana") as it is."""
    return thing if thing.startswith("the ") else f"'{thing}'"


def _left_off(facts: Facts) -> Candidate | None:
    """At a bare switch or pause, a bookmark of the work just before it: the switch says
    nothing about what comes next, but the window says what was left. Nothing before the
    switch, nothing to keep: the drafter stays silent."""
    earlier = facts.window_summaries[:-1]
    if not _bare_switch(facts) or not earlier:
        return None
    return Candidate(
        key="left-off",
        speak="Switching away? Shall I note where you left off, so you can pick it up again?",
        task="Note where you left off before switching",
        why_now="you switched away from work in progress",
        plan=[
            _call(
                "create_note",
                title=note_title("Where I left off", facts),
                body=f"{facts.event.time:%Y-%m-%d %H:%M} UTC\n\n"
                f"{_bullets(earlier[-MAX_NOTE_LINES:])}",
            )
        ],
        expected_benefit="a place to resume from after the switch",
    )


TEMPLATES: tuple[Template, ...] = (
    Template(
        "repeated-search",
        "collect and summarise the answers of a search repeated several times into a note",
        ("search_notes", "create_note"),
        0.9,
        _repeated_search,
    ),
    Template(
        "error",
        "explain an error or failing command and find how to fix it",
        ("explain_error", "search_notes", "web_search_query"),
        0.9,
        _error,
    ),
    Template(
        "outline",
        "outline a long document in a few sentences with its key terms",
        ("summarize_text", "extract_keywords"),
        0.8,
        _outline,
    ),
    Template(
        "battery",
        "save battery when the charge is low",
        ("battery_status", "toggle_setting"),
        0.8,
        _battery,
    ),
    Template(
        "how-to",
        "find a worked example for a how-to question being searched",
        ("local_docs", "search_notes", "web_search_query"),
        0.7,
        _how_to,
    ),
    Template(
        "calendar",
        "show the day's calendar when an event comes up",
        ("list_calendar_events",),
        0.6,
        _calendar,
    ),
    Template(
        "back-to-file",
        "keep what was found in a search in a note for the file being worked on",
        ("create_note",),
        0.6,
        _back_to_code,
    ),
    Template(
        "search",
        "check the notes for what is being searched, open the search and keep it in a note",
        ("local_docs", "search_notes", "open_url", "add_to_session_note"),
        0.5,
        _search,
    ),
    Template(
        "writing-topic",
        "find earlier notes on the topic being written about",
        ("search_notes",),
        0.45,
        _writing_topic,
    ),
    Template(
        "notification-todo",
        "turn a notification into a to-do item",
        ("create_todo",),
        0.4,
        _notification,
    ),
    Template(
        "save-page",
        "save the page or article being read to the notes with its link",
        ("create_note",),
        0.35,
        _save_page,
    ),
    Template(
        "file-progress",
        "note the progress on the file being edited to resume later",
        ("create_note",),
        0.2,
        _file_progress,
    ),
    Template(
        "session-note",
        "note what the user is in the middle of, to resume later",
        ("create_note",),
        0.1,
        _session_note,
        fallback=True,
    ),
    Template(
        "left-off",
        "note where the user left off when they switch away from their work",
        ("create_note",),
        0.1,
        _left_off,
        fallback=True,
    ),
)
