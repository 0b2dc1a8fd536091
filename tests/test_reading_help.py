"""Help after "yes" to a page being read: the saved note is named by what the event shows
(the title its text quotes, the page's own title, its address), never by the browser's
window title with the browser's name on it. The plan is run on a real notes folder."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.slowpath.drafter import DraftRequest
from agent.slowpath.naming import without_browser
from agent.slowpath.template_drafter import TemplateDrafter
from core.events import Event
from core.outcome import StepStatus, outcomes_of
from tools import default_pool

MORNING = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
GIT_BOOK = "https://git-scm.com/book/en/v2/Git-Basics-Undoing-Things"


@pytest.fixture
def pool(tmp_path):
    return default_pool(tmp_path / "workspace")


def _offer(pool, **fields):
    event = Event(time=MORNING, source="t", kind="browser", app="firefox", **fields)
    ranked = TemplateDrafter(pool).rank(DraftRequest([event]))
    return next((r.candidate for r in ranked if r.candidate.key == "save-page"), None)


@pytest.mark.parametrize(
    ("title", "page"),
    [
        ("Git - Undoing things - Mozilla Firefox", "Git - Undoing things"),
        ("Coroutines and Tasks — Python 3.11 documentation — Chromium", None),
        ("Inbox (3) - Google Chrome (Incognito)", "Inbox (3)"),
        ("Task groups | Microsoft\u200b Edge", "Task groups"),
        ("Budget 2026 - Mozilla Firefox Private Browsing", "Budget 2026"),
        ("Mozilla Firefox", ""),
        ("New Tab - Mozilla Firefox", ""),
        ("Firefox - a browser review", "Firefox - a browser review"),  # a page about it
    ],
)
def test_the_browser_s_name_is_taken_off_a_window_title(title, page):
    expected = page if page is not None else "Coroutines and Tasks — Python 3.11 documentation"
    assert without_browser(title) == expected


def test_the_title_the_event_s_text_quotes_names_the_note(pool):
    offer = _offer(
        pool,
        title="Stack Overflow - Mozilla Firefox",
        text="The user reads the answer 'How do I undo the most recent local commits in Git?'",
    )
    assert offer.speak == (
        "Shall I keep 'How do I undo the most recent local commits in Git?' in your notes so "
        "you can find it again?"
    )


def test_a_page_s_own_title_comes_with_its_address(pool):
    # A browser's extension reports the tab's title (and the address) on its own.
    offer = _offer(pool, title="Git - Undoing Things", url=GIT_BOOK, text="The user reads the book")
    assert offer.task == "Save 'Git - Undoing Things' to your notes with where you found it"


def test_an_address_that_spells_a_title_names_the_page(pool):
    # ActivityWatch's web watcher gives the address as the title when the tab has none.
    offer = _offer(pool, title=GIT_BOOK, url=GIT_BOOK, text="The user reads the book")
    assert offer.task == "Save 'Git Basics Undoing Things' to your notes with where you found it"
    plain = "https://calmtech.com/"
    offer = _offer(pool, title=plain, url=plain, text="The user reads the article")
    assert offer.task == "Save 'calmtech.com' to your notes with where you found it"


def test_the_window_title_names_it_only_without_the_browser_and_when_nothing_else_does(
    pool,
):
    offer = _offer(
        pool,
        title="Coroutines and Tasks — Python 3.11 documentation — Mozilla Firefox",
        text="The user reads the documentation",
    )
    assert offer.speak == (
        "Shall I keep 'Coroutines and Tasks — Python 3.11 documentation' in your notes so you "
        "can find it again?"
    )
    assert "Firefox" not in offer.task and "Firefox" not in offer.plan[0].args["title"]
    # A window that shows nothing but the browser is no page to keep.
    assert _offer(pool, title="New Tab - Mozilla Firefox", text="The user reads") is None


def test_accepted_the_note_is_named_by_the_page_and_holds_its_address(pool, tmp_path):
    offer = _offer(
        pool,
        title="Git - Undoing Things - Mozilla Firefox",
        url=GIT_BOOK,
        text="The user reads the book",
    )
    [call] = offer.plan
    [outcome] = outcomes_of([pool.call(call.tool, call.args, confirmed=True).as_step(0, call.tool)])
    assert outcome.status is StepStatus.DONE
    [note] = (tmp_path / "workspace" / "notes").iterdir()
    assert note.name == f"Git - Undoing Things {MORNING:%Y-%m-%d %H%M}.md"
    assert f"Found at: {GIT_BOOK}" in note.read_text()
    assert outcome.paths == [str(note)] and outcome.links == [GIT_BOOK]
