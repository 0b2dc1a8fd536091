"""The dashboard, driven by Textual's Pilot against a real database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from textual.widgets import DataTable, Input

from agent.pidlock import PidLock
from core.decision import Action, Decision
from core.events import Event
from core.offer import Offer, PlannedCall
from gate.policy import GatePolicy
from memory.feedback import Outcome
from memory.store import Store
from tests.helpers import event_record, eventually, press_without_toasts, write_jsonl
from tui.app import FestinaApp
from tui.stats import summarize

SIZE = (140, 40)


OFFER = Offer(
    speak="'ruby capitalize name' has come up 2 times in 1 minute. Shall I summarise the "
    "answers you opened in one note?",
    task="Summarise the answers you opened for 'ruby capitalize name' in one note",
    plan=[
        PlannedCall(tool="search_notes", args={"query": "ruby capitalize name"}),
        PlannedCall(
            tool="create_note", args={"title": "Answers ruby capitalize name", "body": "-"}
        ),
    ],
    drafted_by="graph:templates",
)


def decision(event: Event, action: Action, p_need: float = 0.6, p_accept: float = 0.7) -> Decision:
    policy = GatePolicy()
    return Decision(
        event_id=event.id,
        p_need=p_need,
        p_accept=p_accept,
        tau=policy.threshold(p_need),
        delta=policy.delta,
        gate_action=action,
        final_action=action,
        decided_by="gate",
        model_version="test",
        gate_latency_ms=4.0,
        offer=OFFER if action is Action.INTERVENE else None,
    )


@pytest.fixture
def store(tmp_path) -> Store:
    """Four decisions, the newest an offer: deterministic, so snapshots are stable."""
    store = Store(f"sqlite:///{tmp_path / 'festina.db'}")
    texts = [
        ("The user opens notes.md in the editor", Action.SILENT),
        ("The user searches for 'ruby capitalize name'", Action.SILENT),
        ("The user reads a Stack Overflow answer", Action.SILENT),
        ("The user searches again for 'ruby capitalize name' after an error", Action.INTERVENE),
    ]
    for i, (text, action) in enumerate(texts):
        event = Event.model_validate(event_record(i * 30, text=text))
        store.record_decisions(None, [(event, decision(event, action))])
    return store


def feedback_rows(store: Store) -> list[tuple[str, str]]:
    with store.engine.connect() as connection:
        return [
            tuple(r) for r in connection.exec_driver_sql("select event_id, outcome from feedback")
        ]


async def test_the_feed_shows_decisions_newest_first(store):
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#feed", DataTable)
        assert table.row_count == 4
        assert "again for 'ruby" in str(table.get_row_at(0)[-1])
        assert table.get_row_at(0)[2] == "intervene"


async def test_an_offer_shows_what_festina_says_in_the_feed_and_the_detail(store):
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#feed", DataTable)
        assert table.get_row_at(0)[4] == "Summarise the answers you ope…"
        assert table.get_row_at(1)[4] == ""  # no offer, no words
        detail = str(app.query_one("#detail").render())
        assert f"says: {OFFER.speak}" in detail
        assert f"task: {OFFER.task}" in detail
        assert "1. search_notes(query='ruby capitalize name')" in detail
        assert "2. create_note(title='Answers ruby capitalize name', body='-')" in detail
        assert "drafted by graph:templates" in detail


async def test_an_accepted_plan_s_results_show_in_the_detail(store):
    offer_id = store.recent_activity(1)[0][0].id
    store.record_deliberation(offer_id, "graph:templates", "intervene", "drafted", None, None, [])
    store.record_executions(
        offer_id,
        [
            {"step": 0, "tool": "search_notes", "ran": True, "ok": True, "output": []},
            {"step": 1, "tool": "create_note", "ran": False, "message": "not confirmed"},
            {"step": 2, "tool": "toggle_setting", "ran": True, "ok": True, "dry_run": True,
             "message": "recorded, not performed: turn battery_saver on"},
        ],
    )  # fmt: skip
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = str(app.query_one("#detail").render())
    assert "search_notes: done\n  nothing found" in detail
    assert "create_note: skipped\n  not confirmed" in detail
    assert "toggle_setting: not performed\n  recorded, not performed" in detail
    assert " ok" not in detail


async def test_a_plan_waiting_for_a_confirmation_shows_what_it_did_so_far(store):
    offer_id = store.recent_activity(1)[0][0].id
    store.record_deliberation(offer_id, "graph:templates", "intervene", "drafted", None, None, [])
    store.record_progress(
        offer_id,
        [{"step": 0, "tool": "search_notes", "ran": True, "ok": True, "output": []}],
        [{"step": 1, "tool": "create_note", "args": {"title": "Fix"}, "confirm": True}],
    )
    store.request_confirmation(offer_id, 1, "create_note", {"title": "Fix"})
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = str(app.query_one("#detail").render())
    assert "search_notes: done\n  nothing found" in detail
    assert "y run / n skip: create_note(title='Fix')" in detail


async def test_the_selection_stays_on_its_event_when_newer_decisions_arrive(store):
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        offer_id = app.activity[0][0].id
        assert app.activity[0][1].final_action is Action.INTERVENE
        newer = [Event.model_validate(event_record(200 + i, text=f"new {i}")) for i in range(3)]
        store.record_decisions(None, [(e, decision(e, Action.SILENT)) for e in newer])
        app.refresh_data()
        await pilot.pause()
        # Answering now must answer the offer that was selected, not what slid under it.
        await pilot.press("a")
        assert feedback_rows(store) == [(offer_id, "accepted")]


async def test_answering_an_offer_goes_to_memory(store):
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("r", "1")  # the newest row, an offer: rejected, no reason given
        await pilot.pause()
        offer_id = app.activity[0][0].id
        assert feedback_rows(store) == [(offer_id, "rejected")]
        assert app.query_one("#feed", DataTable).get_row_at(0)[3] == "rejected"
        await pilot.press("down", "a")  # a silent decision: nothing to answer
        await pilot.pause()
        assert feedback_rows(store) == [(offer_id, "rejected")]


async def test_costs_and_do_not_disturb_are_saved_as_preferences(store):
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        field = app.query_one("#cost_missed_help", Input)
        field.focus()
        field.value = ""
        await pilot.press("9", "enter")
        await pilot.pause()
        revision, preferences = store.preferences()
        assert (revision, preferences.cost_missed_help) == (1, 9.0)
        assert "tau here with these costs" in str(app.query_one("#tau").render())
        app.query_one("#feed").focus()
        await pilot.press("d")
        await pilot.pause()
        assert store.preferences()[1].do_not_disturb is True


async def test_invalid_costs_are_refused_with_a_reason(store):
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        field = app.query_one("#delta", Input)
        field.focus()
        field.value = ""
        await pilot.press("0", ".", "7", "enter")
        await pilot.pause()
        assert store.preferences()[0] == 0
        assert "less than 0.5" in str(app.query_one("#tau").render())


def test_stats_summarize_rates():
    events = [Event.model_validate(event_record(i)) for i in range(4)]
    activity = [
        (events[0], decision(events[0], Action.INTERVENE), "accepted"),
        (events[1], decision(events[1], Action.INTERVENE), "rejected"),
        (events[2], decision(events[2], Action.INTERVENE), None),
        (events[3], decision(events[3], Action.SILENT), None),
    ]
    stats = summarize(activity)
    assert stats.intervention_rate == 0.75
    assert (stats.answered, stats.acceptance_rate, stats.false_alarm_rate) == (2, 0.5, 0.5)
    assert stats.offer_series == [0.0, 1.0, 1.0, 1.0]  # oldest first


def test_main_screen_snapshot(store, snap_compare):
    assert snap_compare(FestinaApp(store, GatePolicy()), terminal_size=SIZE)


def test_answered_offer_snapshot(store, snap_compare):
    assert snap_compare(
        FestinaApp(store, GatePolicy()), run_before=press_without_toasts("a"), terminal_size=SIZE
    )


async def until(pilot, app: FestinaApp, condition, timeout_s: float = 60.0) -> None:
    """Let the dashboard refresh until `condition` holds; fail rather than hang."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the daemon's decisions never showed up"
        await pilot.pause(0.2)
        app.refresh_data()


async def test_watch_accept_and_steer_a_running_daemon(tmp_path):
    """The whole loop: a daemon replays a trace; the dashboard shows its decisions, an
    offer is accepted, costs change, and the decisions after that use the new costs."""
    home = tmp_path / "home"
    home.mkdir()
    # Offers all along (three recurring searches would otherwise be offered once an hour);
    # the cue gate, whose tau is the cost rule's at p_need itself (a trained gate's falls
    # back to the base rate's where p_need is not trusted, see gate.policy).
    (home / "config.toml").write_text(
        '[etiquette]\nrepeat_window_s = 0\n[gate]\nmodel = "cues"\n', encoding="utf-8"
    )
    trace = write_jsonl(
        tmp_path / "trace.jsonl",
        [
            event_record(i, text=f"The user searches for 'error {i % 3}' after a crash")
            for i in range(600)
        ],
    )
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "festina_cli",
            "daemon",
            "run",
            "--source",
            f"jsonl:{trace}",
            "--speed",
            "20",
        ],
        env={**os.environ, "FESTINA_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not (home / "data" / "festina.db").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        store = Store(f"sqlite:///{home / 'data' / 'festina.db'}")
        app = FestinaApp(store, GatePolicy(), home / "data" / "festina.pid")
        async with app.run_test(size=SIZE) as pilot:
            await until(
                pilot,
                app,
                lambda: any(d.final_action is Action.INTERVENE for _, d, _ in app.activity),
            )
            assert "daemon running" in app.sub_title
            offer = next(
                i for i, (_, d, _) in enumerate(app.activity) if d.final_action is Action.INTERVENE
            )
            offer_id = app.activity[offer][0].id
            app.query_one("#feed", DataTable).move_cursor(row=offer)
            await pilot.press("a")
            field = app.query_one("#cost_missed_help", Input)
            field.focus()
            field.value = "50"
            await pilot.press("enter")
            await pilot.pause()
            saved_at = store.preferences()
            assert saved_at[1].cost_missed_help == 50.0
            # Ten decisions after the change (the feed shows at most 200, so count memory).
            seen = store.totals()["events"]
            await until(pilot, app, lambda: store.totals()["events"] >= seen + 10)
            # Asked of memory: on a slow machine the accepted row can leave the 200-row feed.
            assert store.latest_feedback(offer_id) is Outcome.ACCEPTED
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    newest_first = [d for _, d, _ in store.recent_activity(1000)]
    # Decisions made after the change use C_FN = 50 (the daemon picks it up between batches).
    newest = newest_first[:5]
    for d in newest:
        assert d.tau == pytest.approx(GatePolicy(cost_missed_help=50.0).threshold(d.p_need))
    oldest = newest_first[-1]
    assert oldest.tau == pytest.approx(GatePolicy(cost_missed_help=3.0).threshold(oldest.p_need))


async def test_the_slow_path_trace_of_a_selected_decision(store):
    event = store.recent_activity(1)[0][0]
    store.record_deliberation(
        event.id,
        "graph:openai:test",
        "intervene",
        "offer: show the Ruby fix",
        {
            "task": "Show how to capitalize names in Ruby [with .split]",
            "speak": True,
            "why_now": "",
            "expected_benefit": "",
            "tool_plan": [{"tool": "web_search_query", "args": {"query": "ruby"}}],
        },
        {"p_accept_task": 0.71, "tau": 0.36, "repeat_of_rejected": False},
        [
            {"node": "recall", "ms": 3.0, "tokens": 0},
            {"node": "draft", "ms": 812.0, "tokens": 640},
            {"node": "decide", "ms": 0.1, "tokens": 0},
        ],
    )
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = str(app.query_one("#detail").render())
        assert "slow path (graph:openai:test, 640 tokens)" in detail
        assert (
            "draft: Show how to capitalize names in Ruby [with .split] [web_search_query]" in detail
        )
        assert "draft p_accept 0.710 vs tau 0.360" in detail
        assert "recall 3 ms → draft 812 ms (640 tok) → decide 0 ms" in detail


async def test_confirming_a_planned_side_effect(store):
    event = store.recent_activity(1)[0][0]
    store.record_deliberation(
        event.id,
        "graph:test",
        "intervene",
        "offer",
        {
            "task": "Save the fix as a note",
            "speak": True,
            "why_now": "",
            "expected_benefit": "",
            "tool_plan": [{"tool": "create_note", "args": {"title": "Fix", "body": "x"}}],
        },
        None,
        [],
    )
    store.request_confirmation(event.id, 0, "create_note", {"title": "Fix", "body": "x"})
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "run / n skip: create_note(title='Fix', body='x')" in str(
            app.query_one("#detail").render()
        )
        await pilot.press("y")
        await pilot.pause()
        assert store.pending_confirmations(event.id) == []
        assert store.confirmation(event.id, 0).status == "approved"
        await pilot.press("n")  # nothing left to answer
        await pilot.pause()
        assert store.confirmation(event.id, 0).status == "approved"


async def test_the_header_says_when_the_running_daemon_cannot_write_memory(store, tmp_path):
    asked: list[bool] = []

    def fault() -> str:
        asked.append(True)
        return "database or disk is full"

    pid_file = tmp_path / "festina.pid"
    app = FestinaApp(store, GatePolicy(), pid_file, storage_fault=fault)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "MEMORY CANNOT BE WRITTEN" not in app.sub_title and not asked  # no daemon
        with PidLock(pid_file):  # this process stands for a running daemon
            # Asked by the reading every second, in its worker thread.
            await eventually(lambda: "MEMORY CANNOT BE WRITTEN (database or disk" in app.sub_title)
            assert "(database or disk is full): no events taken" in app.sub_title


async def test_every_second_memory_is_read_in_a_worker_so_a_slow_daemon_freezes_nothing(
    store, tmp_path, monkeypatch
):
    screen = threading.get_ident()
    ticks: list[int] = []
    every_second = FestinaApp._refresh_in_background

    def tick(self) -> None:
        ticks.append(1)
        every_second(self)

    monkeypatch.setattr(FestinaApp, "_refresh_in_background", tick)
    answer = threading.Event()
    askers: list[int] = []

    def hanging_daemon() -> str:
        askers.append(threading.get_ident())
        answer.wait(30)  # the daemon's API takes its time
        return "database or disk is full"

    def rows() -> int:
        return app.query_one("#feed", DataTable).row_count

    pid_file = tmp_path / "festina.pid"
    app = FestinaApp(store, GatePolicy(), pid_file, storage_fault=hanging_daemon)
    async with app.run_test(size=SIZE) as pilot:
        with PidLock(pid_file):
            try:
                await eventually(lambda: askers)
                assert askers[0] != screen
                # While the reading waits on the daemon, the screen answers the user.
                await pilot.press("o")
                await pilot.pause()
                assert app.offers_only and rows() == 1
                # Two more seconds' turns while the first reading waits: none started.
                seen = len(ticks)
                await eventually(lambda: len(ticks) >= seen + 2)
                assert len(askers) == 1
                newer = Event.model_validate(event_record(500, text="a newer offer"))
                store.record_decisions(None, [(newer, decision(newer, Action.INTERVENE))])
            finally:
                answer.set()
            # What the worker read shows once the daemon answered, without any key.
            await eventually(lambda: "MEMORY CANNOT BE WRITTEN" in app.sub_title)
            await eventually(lambda: rows() == 2)
