"""User preferences: validation, what they silence, and that the daemon applies them live."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from agent.pipeline import Pipeline, PipelineOptions
from agent.slowpath import GateRuleSlowPath
from core.decision import Action
from core.events import Event
from core.sources import StaticSource
from festina_cli import cli
from gate.base import GateScores
from gate.policy import GatePolicy
from memory.preferences import Preferences, QuietHours
from memory.store import Store
from tests.helpers import event_record


def event(app: str = "Editor") -> Event:
    return Event.model_validate({**event_record(1), "app": app})


def test_quiet_hours_may_wrap_past_midnight():
    night = QuietHours(start=time(22), end=time(7))
    assert night.contains(time(23, 30)) and night.contains(time(6, 59))
    assert not night.contains(time(7)) and not night.contains(time(12))
    lunch = QuietHours(start=time(12), end=time(13))
    assert lunch.contains(time(12, 30)) and not lunch.contains(time(13, 1))
    with pytest.raises(ValidationError):
        QuietHours(start=time(9), end=time(9))


def test_what_preferences_silence():
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert Preferences().silence_reason(event(), now) is None
    assert Preferences(do_not_disturb=True).silence_reason(event(), now) == "do not disturb is on"
    muted = Preferences(muted_apps=["editor"])
    assert muted.silence_reason(event("Editor"), now) == "app 'Editor' is muted"
    assert muted.silence_reason(event("Browser"), now) is None
    local_now = now.astimezone().time()
    around = QuietHours(start=time((local_now.hour - 1) % 24), end=time((local_now.hour + 1) % 24))
    assert Preferences(quiet_hours=[around]).silence_reason(event(), now).startswith("quiet hours")


def test_costs_override_only_what_is_set():
    base = GatePolicy(cost_false_alarm=1.0, cost_missed_help=3.0, delta=0.1)
    assert Preferences().policy(base) == base
    changed = Preferences(cost_missed_help=9.0).policy(base)
    assert (changed.cost_false_alarm, changed.cost_missed_help, changed.delta) == (1.0, 9.0, 0.1)


class Confident:
    version = "confident"

    def score(self, windows):
        return [GateScores(p_need=1.0, p_accept=0.95) for _ in windows]


class TurnsOnDoNotDisturb:
    """Says "not now" for good after the first offer, as a person using the dashboard would."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.offers = 0

    def offer(self, event, decision):
        self.offers += 1
        self.store.save_preferences(Preferences(do_not_disturb=True))


async def test_the_daemon_applies_preference_changes_live(database_url):
    store = Store(database_url)
    surface = TurnsOnDoNotDisturb(store)
    events = [Event.model_validate(event_record(i)) for i in range(6)]
    pipeline = Pipeline(
        source=StaticSource(events),
        gate=Confident(),
        policy=GatePolicy(),
        store=store,
        slow_path=GateRuleSlowPath(),
        surface=surface,
        options=PipelineOptions(batch_size=1, queue_size=1),
    )
    await pipeline.run()
    assert surface.offers == 1
    decisions = [d for _, d in sorted(store.decisions(), key=lambda pair: pair[0].time)]
    assert decisions[0].final_action is Action.INTERVENE
    for later in decisions[1:]:
        assert later.gate_action is Action.INTERVENE  # what the gate would have done
        assert later.final_action is Action.SILENT
        assert (later.decided_by, later.reason) == ("preferences", "do not disturb is on")


def test_prefs_cli(festina_home):
    runner = CliRunner()
    assert runner.invoke(cli, ["prefs", "mute", "Slack"]).exit_code == 0
    assert runner.invoke(cli, ["prefs", "costs", "--missed-help", "5"]).exit_code == 0
    assert runner.invoke(cli, ["prefs", "quiet", "22:00-07:00", "12:00-12:30"]).exit_code == 0
    bad = runner.invoke(cli, ["prefs", "costs", "--delta", "0.7"])
    assert bad.exit_code != 0
    assert "delta" in bad.output
    shown = json.loads(runner.invoke(cli, ["prefs", "show"]).output)
    assert shown["muted_apps"] == ["Slack"]
    assert shown["cost_missed_help"] == 5.0
    assert len(shown["quiet_hours"]) == 2
    assert shown["revision"] == 3
    assert runner.invoke(cli, ["prefs", "mute", "slack", "--undo"]).exit_code == 0
    assert json.loads(runner.invoke(cli, ["prefs", "show"]).output)["muted_apps"] == []
