"""The dashboard's feed and figures: event-time order with dates, Home/End, offers only,
latency per event, placeholders that read as placeholders, a visible do-not-disturb."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from textual.widgets import DataTable, Input, Label, Switch

from core.decision import Action, Decision
from core.events import Event
from gate.policy import GatePolicy
from memory.store import Store
from tests.helpers import event_record, gate_decision, press_without_toasts
from tui.app import FestinaApp
from tui.stats import per_event_latencies, summarize

SIZE = (140, 40)


def _decision(event: Event, action: Action, latency_ms: float = 4.0) -> Decision:
    return gate_decision(event, action, gate_latency_ms=latency_ms)


@pytest.fixture
def store(tmp_path) -> Store:
    """Decided out of event-time order: the oldest event is decided last (a replay), and
    one event happened today."""
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        (now - timedelta(minutes=1), "today's edit", Action.SILENT),
        (datetime(2023, 11, 14, 22, 14, tzinfo=UTC), "an offer in 2023", Action.INTERVENE),
        (datetime(2023, 11, 14, 22, 0, tzinfo=UTC), "replayed later", Action.SILENT),
    ]
    for batch, (moment, text, action) in enumerate(rows):  # one batch each: 4, 5, 6 ms
        event = Event.model_validate({**event_record(0, text=text), "time": moment.timestamp()})
        store.record_decisions(None, [(event, _decision(event, action, 4.0 + batch))])
    return store


def _column(table: DataTable, index: int) -> list[str]:
    return [str(table.get_row_at(row)[index]) for row in range(table.row_count)]


async def test_the_feed_is_in_event_time_order_with_the_date_unless_today(store):
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#feed", DataTable)
        assert [text.split(" | ")[-1] for text in _column(table, 9)] == [
            "today's edit",
            "an offer in 2023",
            "replayed later",  # decided last, happened first
        ]
        today, offer, replayed = _column(table, 0)
        assert len(today) == 8  # HH:MM:SS
        assert (offer, replayed) == ("2023-11-14 22:14:00", "2023-11-14 22:00:00")


async def test_home_and_end_jump_to_the_first_and_last_row(store):
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#feed", DataTable)
        table.focus()
        await pilot.press("end")
        assert table.cursor_row == 2
        assert "replayed later" in str(app.query_one("#detail").render())
        await pilot.press("home")
        assert table.cursor_row == 0


async def test_o_shows_only_the_offers_and_back(store):
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#feed", DataTable)
        await pilot.press("o")
        await pilot.pause()
        assert _column(table, 2) == ["intervene"]
        assert "an offer in 2023" in str(app.query_one("#detail").render())
        assert "last 3 decisions" in str(app.query_one("#figures").render())  # stats: all
        await pilot.press("o")
        await pilot.pause()
        assert table.row_count == 3


def test_the_latency_figure_is_per_event_not_per_batch():
    events = [Event.model_validate(event_record(i)) for i in range(3)]
    # One batch of two scored in 10 ms (each decision stores the batch's time), one of one.
    decisions = [
        _decision(events[0], Action.SILENT, 10.0),
        _decision(events[1], Action.SILENT, 10.0),
        _decision(events[2], Action.SILENT, 4.0),
    ]
    assert per_event_latencies(decisions) == [5.0, 5.0, 4.0]
    assert (
        summarize([(e, d, None) for e, d in zip(events, decisions, strict=True)]).latency_p50_ms
        == 5.0
    )


async def test_no_placeholder_reads_as_a_value_and_do_not_disturb_shows(store):
    app = FestinaApp(store, GatePolicy())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        muted = app.query_one("#muted", Input)
        assert muted.value == "" and muted.placeholder.startswith("none")
        figures = str(app.query_one("#figures").render())
        assert "accepted n/a, false alarms n/a" in figures  # no answers yet: no "-"
        assert "gate time per event, p50: 5.0 ms" in figures
        assert str(app.query_one("#dnd_state", Label).render()) == "off"
        app.query_one("#feed").focus()
        await pilot.press("d")
        await pilot.pause()
        assert app.query_one("#dnd", Switch).value is True
        assert "on: offers are silenced" in str(app.query_one("#dnd_state", Label).render())


def test_offers_only_snapshot(store, snap_compare):
    # Dates from today's clock would change the picture daily: only the 2023 rows here.
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "delete from decisions where event_id in "
            '(select id from events where text = "today\'s edit")'
        )
        connection.exec_driver_sql('delete from events where text = "today\'s edit"')
    assert snap_compare(
        FestinaApp(store, GatePolicy()), run_before=press_without_toasts("o"), terminal_size=SIZE
    )
