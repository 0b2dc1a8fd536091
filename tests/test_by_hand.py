"""Implicit answers: a declined offer whose task the user then does by hand."""

from __future__ import annotations

from click.testing import CliRunner

from core.decision import Action
from core.events import Event
from core.offer import Offer, PlannedCall
from festina_cli import cli
from memory.by_hand import DONE_WITHIN_S, done_by_hand, key_phrases
from memory.feedback import Outcome
from memory.learning import learn_from_answers
from memory.personal import PersonalModel
from memory.store import Store
from tests.helpers import event_record, gate_decision, run_daemon_here

QUERY = "python read csv skip header"
SEARCH = f"The user searches Google for '{QUERY}'"
BY_HAND = f"The user opens notes.md and looks up {QUERY}"


def event(i: int, text: str, *, kind: str = "browser", app: str = "Firefox") -> Event:
    return Event.model_validate({**event_record(i, text=text), "kind": kind, "app": app})


def offer(*calls: PlannedCall, task: str = "Check your notes") -> Offer:
    return Offer(speak="Shall I?", task=task, plan=list(calls), drafted_by="templates")


NOTES_SEARCH = offer(PlannedCall(tool="search_notes", args={"query": QUERY}))


def test_doing_the_offered_task_soon_after_answers_the_offer():
    offered_on = event(0, SEARCH)
    assert done_by_hand(NOTES_SEARCH, offered_on, event(60, BY_HAND, kind="editor", app="Editor"))
    # Too late, or before the offer, it answers nothing.
    late = event(int(DONE_WITHIN_S) + 1, BY_HAND, kind="editor", app="Editor")
    assert not done_by_hand(NOTES_SEARCH, offered_on, late)
    assert not done_by_hand(NOTES_SEARCH, event(100, SEARCH), event(60, BY_HAND))


def test_the_activity_the_offer_quoted_still_on_screen_is_not_doing_it():
    offered_on = event(0, SEARCH)
    assert not done_by_hand(NOTES_SEARCH, offered_on, event(5, SEARCH + " and scrolls"))
    # Nor is an event about something else.
    assert not done_by_hand(NOTES_SEARCH, offered_on, event(5, "The user edits parse.py"))


def test_what_an_offer_would_show_is_its_arguments_and_quotes_not_lone_words():
    quoted = offer(task="Open 'parse.py' and explain 'KeyError: username'")
    engine = offer(PlannedCall(tool="web_search_query", args={"query": "rust", "engine": "bing"}))
    assert key_phrases(quoted) == [{"parse.py"}, {"keyerror", "username"}]
    assert key_phrases(engine) == []  # "rust" or "bing" alone would match too much


def test_the_daemon_learns_from_a_declined_offer_the_user_then_did(festina_home, tmp_path):
    runner = CliRunner()
    run_daemon_here(
        tmp_path / "search.jsonl",
        [{**event_record(i, text=SEARCH), "kind": "browser", "app": "Firefox"} for i in range(4)],
    )
    store = Store(f"sqlite:///{festina_home / 'data' / 'festina.db'}")
    offers = [e for e, d in store.decisions() if d.final_action == "intervene"]
    assert offers, "the cue gate should offer help on a repeated search"
    declined = min(offers, key=lambda e: e.time)
    given = runner.invoke(cli, ["feedback", "give", declined.id, "reject"])
    assert given.exit_code == 0, given.output
    # Two minutes later, in the editor, the user looks it up in their notes themselves.
    run_daemon_here(
        tmp_path / "later.jsonl",
        [{**event_record(120, text=BY_HAND), "kind": "editor", "app": "Editor"}],
    )
    assert store.latest_feedback(declined.id) is Outcome.DID_BY_HAND
    updates = store.personal_updates()
    assert [u.outcome for u in updates[:2]] == ["did_by_hand", "rejected"]  # newest first
    assert updates[0].welcome_after > updates[0].welcome_before  # the help was needed
    # Once per offer: seeing it done again answers nothing more.
    run_daemon_here(
        tmp_path / "again.jsonl",
        [{**event_record(130, text=BY_HAND + " again"), "kind": "editor", "app": "Editor"}],
    )
    assert [u.outcome for u in store.personal_updates()].count("did_by_hand") == 1
    store.close()


def _held_back(store: Store, on: Event, speak: str | None) -> None:
    """A silent decision on `on` whose slow path drafted a notes search and held it back
    (`speak` None: the slow path drafted nothing)."""
    settled = {"final_action": Action.SILENT, "decided_by": "graph:templates"}
    store.record_decisions(None, [(on, gate_decision(on, Action.ESCALATE, **settled))])
    proposal = (
        None
        if speak is None
        else {
            "speak": speak,
            "task": f"Check your notes for '{QUERY}'",
            "why_now": "a search just started",
            "tool_plan": [{"tool": "search_notes", "args": {"query": QUERY}}],
            "expected_benefit": "",
        }
    )
    store.record_deliberation(on.id, "graph:templates", "silent", "held back", proposal, None, [])


def test_a_held_back_draft_the_user_then_did_is_a_missed_offer_learnt_once(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    held, silence, undrafted = event(0, SEARCH), event(1, SEARCH + " again"), event(2, SEARCH)
    _held_back(store, held, "Shall I check your notes?")
    _held_back(store, silence, "")  # an explicit silence drafted nothing to miss
    _held_back(store, undrafted, None)  # nor did a slow path that drafted nothing
    later = event(60, BY_HAND, kind="editor", app="Editor")
    assert store.record_done_by_hand([later]) == [held.id]
    assert store.latest_feedback(held.id) is Outcome.DID_BY_HAND
    assert store.latest_feedback(silence.id) is None
    assert store.record_done_by_hand([event(70, BY_HAND + " again")]) == []
    # The personal model takes it as an offer that would have been welcome.
    personal = PersonalModel()
    [applied] = learn_from_answers(store, personal, later.time, window=4)
    assert applied.event_id == held.id
    [update] = store.personal_updates()
    assert update.welcome_after > update.welcome_before
    store.close()


def test_the_rules_benchmark_counts_offers_seen_done_where_help_was_needed():
    from evals.by_hand_signal import measure_by_hand
    from gate.data import Trace

    searched, done = event(0, SEARCH), event(120, BY_HAND, kind="editor", app="Editor")
    report = measure_by_hand([Trace("t", [searched, done], [True, False])], window=8)
    assert (report.offers, report.needed) == (2, 1)
    # The notes search offered on the search is seen done in the editor; nothing follows
    # the last event, so its offer cannot be.
    assert (report.fired, report.fired_needed, report.precision) == (1, 1, 1.0)
    assert report.examples[0]["task"] == (
        f"Check your notes for '{QUERY}' and keep the search in today's session note"
    )
