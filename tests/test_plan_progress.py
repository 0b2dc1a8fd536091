"""Where an accepted plan stands, shown where the person is: a real daemon on its HTTP
source offers to help with a search; once accepted, the API and the command line show the
notes search's result and the steps waiting for the person's go before any is given, and
each step is confirmed (or skipped) through the API or the command line, once."""

from __future__ import annotations

import time

import httpx
import pytest

from core.outcome import StepOutcome
from core.progress import Confirmation, progress_of
from tests.helpers import AUTH, festina, free_port, http_daemon, stand_in_opener, wait_for

SEARCH = "The user searches on Google for 'ruby capitalize name'"
URL = "https://duckduckgo.com/?q=ruby+capitalize+name"
WAIT_S = 60.0


@pytest.fixture
def browser(tmp_path, monkeypatch):
    """A display, and a stand-in xdg-open (found by the daemon on its PATH) that records
    what it was asked to open, a line each."""
    return stand_in_opener(tmp_path, monkeypatch)


def _listed(daemon) -> dict:
    """The offer on the search, as GET /v1/decisions lists it."""
    response = httpx.get(f"{daemon.url}/v1/decisions", headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    [offer] = [d for d in response.json() if d["event"]["text"] == SEARCH]
    return offer


def _waiting_on(daemon, tool: str) -> dict:
    """The offer once its plan waits for the person's confirmation of `tool`."""
    found: dict = {}

    def waiting() -> bool:
        found.update(_listed(daemon))
        plan = found["plan"] or {}
        steps = plan.get("waiting_for") or [{}]
        return steps[0].get("tool") == tool and steps[0].get("confirmation_id") is not None

    wait_for(waiting, WAIT_S)
    return found


def _confirm(daemon, confirmation_id: int, approve: bool) -> httpx.Response:
    return httpx.post(
        f"{daemon.url}/v1/confirmations/{confirmation_id}",
        json={"approve": approve},
        headers=AUTH,
        timeout=30,
    )


def test_an_accepted_search_is_shown_and_confirmed_step_by_step(tmp_path, browser):
    home = tmp_path / "home"
    with http_daemon(home, free_port(), config='[gate]\nmodel = "cues"\n') as daemon:
        event = {"time": time.time(), "source": "browser", "kind": "browser", "text": SEARCH}
        assert daemon.post(event).status_code == 200
        wait_for(lambda: _listed(daemon)["decision"]["final_action"] is not None, WAIT_S)
        offer = _listed(daemon)
        assert offer["decision"]["final_action"] == "intervene", offer["decision"]["reason"]
        assert [c["tool"] for c in offer["decision"]["offer"]["plan"]] == [
            "search_notes",
            "open_url",
            "add_to_session_note",
        ]
        assert offer["plan"] is None  # not accepted: nothing has started
        accepted = {"event_id": offer["event"]["id"], "outcome": "accepted"}
        answer = httpx.post(f"{daemon.url}/v1/feedback", json=accepted, headers=AUTH, timeout=30)
        assert answer.status_code == 200, answer.text

        # Before any confirmation: the notes were searched, and both side effects wait.
        offer = _waiting_on(daemon, "open_url")
        plan = offer["plan"]
        assert [(s["tool"], s["status"], s["text"]) for s in plan["done"]] == [
            ("search_notes", "done", "nothing found")
        ]
        assert plan["finished"] is False and plan["writing"] is None
        opening, noting = plan["waiting_for"]
        assert (opening["tool"], opening["args"]) == ("open_url", {"url": URL})
        assert noting["tool"] == "add_to_session_note" and noting["confirmation_id"] is None
        assert offer["results"] == []  # `results` is the finished plan's, as before
        assert not browser.exists()
        first = opening["confirmation_id"]
        listed = festina("decisions", "--offers", home=home)
        assert listed.returncode == 0, listed.stderr
        assert "search_notes: done: nothing found" in listed.stdout
        assert (
            f"waiting for your confirmation: open_url (url='{URL}'), add_to_session_note ("
            in listed.stdout
        )
        assert (
            f"answer open_url: festina confirm {first} / festina confirm {first} --no"
            in listed.stdout
        )

        # Confirmed through the API: the search opens, and the plan waits on the next step.
        given = _confirm(daemon, first, approve=True)
        assert given.status_code == 200, given.text
        assert given.json()["status"] == "approved" and given.json()["tool"] == "open_url"
        again = _confirm(daemon, first, approve=False)
        assert again.status_code == 409
        assert again.json()["detail"] == (
            f"confirmation {first} was already answered (approved): a step takes one answer"
        )
        unknown = _confirm(daemon, 424242, approve=True)
        assert unknown.status_code == 404
        assert unknown.json()["detail"].startswith("no confirmation 424242")
        plan = _waiting_on(daemon, "add_to_session_note")["plan"]
        assert [(s["tool"], s["status"]) for s in plan["done"]] == [
            ("search_notes", "done"),
            ("open_url", "done"),
        ]
        assert plan["done"][1]["links"] == [URL]
        # The handler may still run after the hand-off (a busy machine): it gets the link.
        wait_for(lambda: browser.exists() and browser.read_text() == f"{URL}\n", WAIT_S)
        second = plan["waiting_for"][0]["confirmation_id"]
        listed = festina("decisions", "--offers", home=home)
        assert "open_url: done: opened in the browser" in listed.stdout
        assert f"answer add_to_session_note: festina confirm {second}" in listed.stdout

        # Turned down through the command line, once: the plan finishes without it.
        skipped = festina("confirm", str(second), "--no", home=home)
        assert skipped.returncode == 0, skipped.stderr
        assert (
            skipped.stdout == "add_to_session_note skipped; the daemon acts on it within a second\n"
        )
        twice = festina("confirm", str(second), home=home)
        assert twice.returncode == 1
        assert f"confirmation {second} was already answered (denied)" in twice.stderr
        missing = festina("confirm", "424242", home=home)
        assert missing.returncode == 1 and "no confirmation 424242" in missing.stderr
        wait_for(lambda: (_listed(daemon)["plan"] or {}).get("finished"), WAIT_S)
        offer = _listed(daemon)
        assert [(s["tool"], s["status"]) for s in offer["results"]] == [
            ("search_notes", "done"),
            ("open_url", "done"),
            ("add_to_session_note", "skipped"),
        ]
        assert offer["plan"]["done"] == offer["results"]
        assert offer["plan"]["waiting_for"] == []
        listed = festina("decisions", "--offers", home=home)
        assert "add_to_session_note: skipped: not confirmed" in listed.stdout
        assert "waiting for your confirmation" not in listed.stdout
    notes = home / "data" / "workspace" / "notes"
    assert not list(notes.glob("session-*.md"))  # the skipped step wrote nothing


def _confirmation(step: int, status: str = "pending", id: int = 7) -> Confirmation:
    return Confirmation(id=id, step=step, tool="open_url", args={"url": URL}, status=status)


def test_a_plan_not_started_has_no_progress():
    assert progress_of(executions=None, progress=None, partial=None, confirmations=[]) is None


def test_a_finished_plan_is_its_record_whatever_was_kept_while_it_ran():
    done = [{"step": 0, "tool": "search_notes", "ran": True, "ok": True, "output": []}]
    plan = progress_of(
        executions=done,
        progress={"done": [], "to_come": []},
        partial={"step": 0, "tool": "search_notes", "text": "so far"},
        confirmations=[_confirmation(1, "denied")],
    )
    assert plan is not None and plan.finished
    assert [o.tool for o in plan.done] == ["search_notes"]
    assert plan.writing is None and plan.waiting_for == []


def test_a_step_answered_but_not_yet_resumed_waits_for_no_one():
    plan = progress_of(
        executions=None,
        progress={
            "done": [],
            "to_come": [
                {"step": 1, "tool": "open_url", "args": {"url": URL}, "confirm": True},
                {"step": 2, "tool": "add_to_session_note", "args": {}, "confirm": True},
            ],
        },
        partial=None,
        confirmations=[_confirmation(1, "approved")],
    )
    assert plan is not None and not plan.finished
    assert [(w.tool, w.confirmation_id) for w in plan.waiting_for] == [
        ("add_to_session_note", None)
    ]


def test_a_row_from_before_progress_was_kept_shows_the_step_it_waits_on():
    plan = progress_of(
        executions=None, progress=None, partial=None, confirmations=[_confirmation(1)]
    )
    assert plan is not None
    assert plan.done == [] and [(w.step, w.confirmation_id) for w in plan.waiting_for] == [(1, 7)]


def test_a_finished_steps_text_is_not_shown_as_still_writing():
    record = {"step": 0, "tool": "explain_error", "ran": True, "ok": True, "output": "All."}
    plan = progress_of(
        executions=None,
        progress={"done": [record], "to_come": []},
        partial={"step": 0, "tool": "explain_error", "text": "Al"},
        confirmations=[],
    )
    assert plan is not None and plan.writing is None
    assert plan.done == [
        StepOutcome(step=0, tool="explain_error", status="done", text="All.", output="All.")
    ]
