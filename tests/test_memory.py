"""Memory on both backends: redaction on the way in, export, forget, retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import update

from agent.pipeline import Pipeline, PipelineOptions
from agent.slowpath import GateRuleSlowPath
from agent.sources.jsonl import JsonlSource
from agent.surface import LogSurface
from festina_cli import cli
from gate.cues import CueGate
from gate.policy import GatePolicy
from memory.schema import EventRow
from memory.store import Store
from tests.helpers import event_record, run_daemon_here, write_jsonl


async def replay(url, path, **options):
    store = Store(url)
    pipeline = Pipeline(
        source=JsonlSource(str(path)),
        gate=CueGate(),
        policy=GatePolicy(),
        store=store,
        slow_path=GateRuleSlowPath(),
        surface=LogSurface(),
        options=PipelineOptions(**options),
    )
    await pipeline.run()
    return store


async def test_secrets_are_redacted_before_storage(database_url, tmp_path):
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [event_record(1, text="The user types password=correcthorse into the terminal")],
    )
    store = await replay(database_url, path)
    dumped = json.dumps(list(store.export_records()))
    assert "correcthorse" not in dumped
    assert "password=[REDACTED:secret]" in dumped


async def test_malformed_lines_are_kept_without_their_secrets(database_url, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", ['{"text": "password=correcthorse"'])
    store = await replay(database_url, path)
    [rejected] = store.rejections()
    assert "correcthorse" not in rejected.raw
    assert "[REDACTED:secret]" in rejected.raw


async def test_redaction_can_be_turned_off(database_url, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [event_record(1, text="password=correcthorse")])
    store = await replay(database_url, path, redact_secrets=False)
    assert "correcthorse" in json.dumps(list(store.export_records()))


async def test_export_holds_every_event_decision_and_rejection(database_url, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [event_record(1), "broken", event_record(2)])
    store = await replay(database_url, path)
    records = list(store.export_records())
    assert [r["type"] for r in records] == ["event", "event", "rejected_input"]
    assert all(r["decision"]["final_action"] for r in records[:2])
    assert records[2]["raw"] == "broken"


async def test_forget_by_source_and_age(database_url, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [event_record(i) for i in range(4)])
    store = await replay(database_url, path)
    with store.engine.begin() as connection:  # pretend two events were stored long ago
        old = datetime.now(UTC) - timedelta(days=400)
        ids = [event.id for event, _ in store.decisions(2)]
        connection.execute(update(EventRow).where(EventRow.id.in_(ids)).values(received_at=old))
    deleted = store.forget(before=datetime.now(UTC) - timedelta(days=30))
    assert deleted == {"events": 2, "decisions": 2, "rejected_inputs": 0}
    assert store.forget(source="nope")["events"] == 0
    assert store.forget(source="test")["events"] == 2
    assert store.totals()["events"] == 0


async def test_retention_runs_when_the_daemon_starts(database_url, tmp_path):
    first = write_jsonl(tmp_path / "a.jsonl", [event_record(1)])
    store = await replay(database_url, first)
    with store.engine.begin() as connection:
        old = datetime.now(UTC) - timedelta(days=100)
        connection.execute(update(EventRow).values(received_at=old))
    second = write_jsonl(tmp_path / "b.jsonl", [event_record(2)])
    store = await replay(database_url, second, retention_days=90)
    assert [e.text for e, _ in store.decisions()] == [event_record(2)["text"]]


def test_memory_cli_exports_then_forgets(festina_home, tmp_path):
    runner = CliRunner()
    run_daemon_here(tmp_path / "t.jsonl", [event_record(i) for i in range(3)])
    out = tmp_path / "export.jsonl"
    assert runner.invoke(cli, ["memory", "export", "-o", str(out)]).exit_code == 0
    assert len(out.read_text().splitlines()) == 3
    refused = runner.invoke(cli, ["memory", "forget"])
    assert refused.exit_code != 0
    assert "say what to forget" in refused.output
    forgot = runner.invoke(cli, ["memory", "forget", "--all", "--yes"])
    assert forgot.exit_code == 0, forgot.output
    assert "forgot 3 events, 3 decisions" in forgot.output
