"""Help after "yes" to a search: the search opened through the desktop's handler, its
query kept in the day's session note; and the newcomers' offers that joined unrelated work
or named only an app. Real notes folders; a stand-in xdg-open that records its arguments."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from agent.slowpath.drafter import DraftRequest
from agent.slowpath.template_drafter import TemplateDrafter
from core.events import Event
from core.outcome import StepStatus, outcomes_of
from tests.helpers import stand_in_opener, wait_for
from tools import default_pool

URL = "https://duckduckgo.com/?q=asyncio+TaskGroup+cancel+example"
MORNING = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
AFTERNOON = datetime(2026, 12, 7, 15, 5, tzinfo=UTC)


@pytest.fixture
def pool(tmp_path):
    return default_pool(tmp_path / "workspace")


@pytest.fixture
def opened(tmp_path, monkeypatch):
    """A display and a stand-in xdg-open recording each call's arguments, a line each."""
    return stand_in_opener(tmp_path, monkeypatch)


def _step(pool, tool: str, args: dict):
    return outcomes_of([pool.call(tool, args, confirmed=True).as_step(0, tool)])[0]


def test_a_search_is_opened_through_the_desktops_handler(pool, opened):
    outcome = _step(pool, "open_url", {"url": URL})
    assert (outcome.status, outcome.text, outcome.links) == (
        StepStatus.DONE,
        f"opened in the browser\n{URL}",
        [URL],
    )
    assert opened.read_text() == f"{URL}\n"


def test_opening_needs_the_confirmation_every_side_effect_needs(pool, opened):
    from tools.pool import ConfirmationRequired

    with pytest.raises(ConfirmationRequired):
        pool.call("open_url", {"url": URL})
    with pytest.raises(ConfirmationRequired):
        pool.call("add_to_session_note", {"text": "x"})
    assert not opened.exists()


def test_only_web_links_are_opened(pool, opened):
    for url in ("file:///etc/passwd", "javascript:alert(1)", "ftp://example.org/x"):
        assert not pool.call("open_url", {"url": url}, confirmed=True).ok, url
    assert not opened.exists()


def test_with_no_display_the_step_says_it_opened_nothing(pool, opened, monkeypatch):
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    outcome = _step(pool, "open_url", {"url": URL})
    assert outcome.status is StepStatus.NOT_PERFORMED
    assert outcome.text == f"{URL} not opened: no display to open it on " + (
        "(DISPLAY and WAYLAND_DISPLAY are unset)"
    )
    assert not opened.exists()


def test_with_no_xdg_open_the_step_says_so(pool, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("DISPLAY", ":99")
    outcome = _step(pool, "open_url", {"url": URL})
    assert (outcome.status, outcome.text) == (
        StepStatus.NOT_PERFORMED,
        f"{URL} not opened: xdg-open is not installed",
    )


def test_a_handler_that_fails_is_a_failed_step(pool, tmp_path, monkeypatch):
    stand_in_opener(tmp_path, monkeypatch, "exit 4")
    outcome = _step(pool, "open_url", {"url": URL})
    assert outcome.status is StepStatus.FAILED
    assert outcome.text == f"xdg-open could not open {URL} (exit status 4)"


def test_a_pool_that_opens_no_links_opens_none(tmp_path, opened):
    quiet = default_pool(tmp_path / "workspace", opens_links=False)
    outcome = _step(quiet, "open_url", {"url": URL})
    assert outcome.status is StepStatus.NOT_PERFORMED and "this run opens no links" in outcome.text
    assert not opened.exists()


def test_the_session_note_keeps_each_search_of_the_day_appended(pool, tmp_path):
    notes = tmp_path / "workspace" / "notes"
    (notes).mkdir(parents=True)
    day = MORNING.astimezone()
    note = notes / f"session-{day:%Y-%m-%d}.md"
    first = _step(pool, "add_to_session_note", {"text": f"Searched for 'a': {URL}", "at": MORNING})
    second = _step(pool, "add_to_session_note", {"text": "Searched for 'b'", "at": AFTERNOON})
    later = AFTERNOON.astimezone()
    assert note.read_text() == (
        f"# Session {day:%Y-%m-%d}\n\n"
        f"- {day:%H:%M} Searched for 'a': {URL}\n"
        f"- {later:%H:%M} Searched for 'b'\n"
    )
    assert (first.status, first.paths, first.links) == (StepStatus.DONE, [str(note)], [URL])
    assert second.text == f"added to {note}\n- {later:%H:%M} Searched for 'b'"
    # The day's trail is found again like any note.
    [hit] = pool.call("search_notes", {"query": "Searched"}).output
    assert hit["note"] == f"session-{day:%Y-%m-%d}"


def test_the_session_note_is_never_written_through_a_link_or_into_a_fifo(pool, tmp_path):
    notes = tmp_path / "workspace" / "notes"
    notes.mkdir(parents=True)
    name = f"session-{MORNING.astimezone():%Y-%m-%d}.md"
    args = {"text": "Searched for 'a'", "at": MORNING}
    # A link to a file in the workspace (so the path check alone would let it by)...
    target = tmp_path / "workspace" / "files" / "other.md"
    target.parent.mkdir()
    target.write_text("mine\n")
    (notes / name).symlink_to(target)
    refused = _step(pool, "add_to_session_note", args)
    assert refused.status is StepStatus.FAILED and "symbolic link" in refused.text
    assert target.read_text() == "mine\n"
    # ... a link leading out of the workspace, a hard link, a FIFO: each refused, untouched.
    outside = tmp_path / "secret.md"
    outside.write_text("private\n")
    for plant in (
        lambda path: path.symlink_to(outside),
        lambda path: os.link(outside, path),
        lambda path: os.mkfifo(path),
    ):
        (notes / name).unlink()
        plant(notes / name)
        assert _step(pool, "add_to_session_note", args).status is StepStatus.FAILED
    assert outside.read_text() == "private\n"


def test_a_dry_run_adds_nothing(tmp_path):
    dry = default_pool(tmp_path / "workspace", dry_run=True)
    outcome = _step(dry, "add_to_session_note", {"text": "x", "at": MORNING})
    assert outcome.status is StepStatus.NOT_PERFORMED and "would add to" in outcome.text
    assert not (tmp_path / "workspace").exists()


# --- the newcomers' offers ------------------------------------------------------------------


def _event(minute: int, text: str, kind: str = "browser", **fields) -> Event:
    return Event.model_validate(
        {"time": MORNING.timestamp() + 60 * minute, "source": "t", "kind": kind, "text": text}
        | fields
    )


def _keys(pool, window: list[Event]) -> list[str]:
    return [r.candidate.key for r in TemplateDrafter(pool).rank(DraftRequest(window))]


def test_a_search_for_something_else_is_not_joined_to_the_file_returned_to(pool):
    # "Back in 'invoice.py' after looking up 'asyncio TaskGroup cancel example'": the
    # search had nothing to do with the invoice.
    window = [
        _event(0, "The user searches Google for 'asyncio TaskGroup cancel example'"),
        _event(2, "The user edits invoice.py in VS Code", kind="editor", app="Code"),
    ]
    assert "back-to-file" not in _keys(pool, window)


@pytest.mark.parametrize(
    "query",
    ["invoice total rounding python", "python decimal invoices", "InvoiceLine refund"],
)
def test_a_search_for_the_file_s_work_is_kept_with_it(pool, query):
    window = [
        _event(0, f"The user searches Google for '{query}'"),
        _event(2, "The user edits invoice.py in VS Code", kind="editor", app="Code"),
    ]
    [best, *_] = TemplateDrafter(pool).rank(DraftRequest(window))
    assert best.candidate.key == "back-to-file"
    assert best.candidate.speak.startswith(f"Back in 'invoice.py' after looking up '{query}'")


def test_an_e_mail_being_written_is_named_by_what_the_event_shows(pool):
    shown = {"app": "Web browser"}
    nothing = [_event(0, "The user is writing an e-mail in the web browser.", **shown)]
    [plain] = TemplateDrafter(pool).rank(DraftRequest(nothing))
    assert "Web browser" not in plain.candidate.speak  # not "what you are doing in Web browser"
    named = [_event(0, "The user is writing an e-mail to dana@example.org.", **shown)]
    [only] = TemplateDrafter(pool).rank(DraftRequest(named))
    assert only.candidate.speak == (
        "Shall I note where you are with the e-mail to dana@example.org, so you can come "
        "back to it?"
    )
    assert "Web browser" not in only.candidate.speak


def test_a_page_is_named_by_its_title_and_address_not_the_app(pool):
    window = [
        _event(
            0,
            "The user fills in a form.",
            app="Firefox",
            title="Expense claim",
            url="https://intranet.example.org/expenses/new?draft=1",
        )
    ]
    [only] = TemplateDrafter(pool).rank(DraftRequest(window))
    assert only.candidate.key == "session-note"
    assert only.candidate.task == (
        "Note where you are with 'Expense claim (intranet.example.org/expenses/new)'"
    )


def test_a_handler_still_running_after_the_handoff_has_the_link(tmp_path, monkeypatch):
    # xdg-open's generic fallback runs the browser in the foreground: still running when
    # the handoff time is up, it has the link (and is left running, on its own session).
    from tools.browser import open_link

    pid = tmp_path / "pid"
    stand_in_opener(tmp_path, monkeypatch, f"echo $$ > {pid}\nexec sleep 60")
    open_link(URL, handoff_s=0.2)  # returns, no error: the handler did not fail
    wait_for(lambda: pid.exists() and pid.read_text().strip(), timeout=10)
    os.kill(int(pid.read_text()), 9)
