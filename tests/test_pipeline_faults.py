"""The pipeline outliving what fails around it while it runs: a slow path that cannot act
on an answer, a surface that cannot show a result, preferences that cannot be read,
recall that cannot embed, a fallback that cannot be drafted; and stops asked for twice,
early, or without draining. Each is logged and the run goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from agent.slowpath import GateRuleSlowPath
from agent.sources.jsonl import JsonlSource
from core.decision import Action
from core.outcome import StepOutcome, StepStatus
from core.progress import PlanProgress
from core.sources import EventSource, SourceItem
from gate.base import GateScores
from tests.helpers import (
    RecordingSurface,
    event_record,
    eventually,
    make_pipeline,
    write_jsonl,
)
from tests.test_pipeline import BrokenSlowPath, EndlessSource


class IdleSource(EventSource):
    """A live source with nothing to say until it is closed: only the background loops
    (answers, preferences) run."""

    name = "idle"

    def __init__(self) -> None:
        self._closed = asyncio.Event()

    async def items(self) -> AsyncIterator[SourceItem]:
        await self._closed.wait()
        return
        yield

    async def close(self) -> None:
        self._closed.set()


async def test_background_failures_are_logged_and_the_run_goes_on(tmp_path, caplog):
    polls = []

    class PlansFail(GateRuleSlowPath):
        def answered(self, skip=()):
            polls.append(True)
            if len(polls) == 1:
                raise RuntimeError("the graph's checkpoint is gone")
            return ["e1", "e2"] if len(polls) == 2 else []

        def advance(self, event_id):
            if event_id == "e2":
                raise RuntimeError("a step's bug")
            return True

    class ResultFails(RecordingSurface):
        def result(self, event_id, outcomes):
            raise OSError("notification daemon gone")

    source = IdleSource()
    pipeline, store = make_pipeline(
        f"sqlite:///{tmp_path / 'f.db'}",
        source,
        slow_path=PlansFail(),
        surface=ResultFails(),
    )
    reads = {"n": 0}
    real_marks = store.profile_marks

    def marks_fail_once():
        reads["n"] += 1
        if reads["n"] == 3:
            raise RuntimeError("database is locked")
        return real_marks()

    store.profile_marks = marks_fail_once
    done = StepOutcome(step=0, tool="search_notes", status=StepStatus.DONE, text="nothing found")
    store.plan_progress = lambda ids: {"e1": PlanProgress(done=[done], finished=True)}
    with caplog.at_level(logging.ERROR, logger="festina.pipeline"):
        running = asyncio.ensure_future(pipeline.run())
        await eventually(lambda: len(polls) >= 3 and reads["n"] >= 4, timeout=20, unless=running)
        assert not running.done()
        pipeline.request_stop()
        pipeline.request_stop()  # asked twice: once is enough
        await source.close()
        await asyncio.wait_for(running, 30)
    messages = [record.getMessage() for record in caplog.records]
    assert "the slow path failed to act on an answer" in messages
    assert "a surface failed to show where the plan of e1 stands" in messages
    assert "the accepted plan of e2 failed; retried at the next start" in messages
    assert "reading the preferences failed" in messages
    assert store.last_run().status == "interrupted"  # stopped as asked, not failed
    store.close()


async def test_recall_that_cannot_embed_and_a_fallback_that_cannot_draft_lose_nothing(
    tmp_path, caplog
):
    class EmbedFails:
        version = "embed-fails"
        encoder_id = "broken"

        def score(self, windows):
            return [GateScores(p_need=1.0, p_accept=0.95) for _ in windows]

        def embed_texts(self, texts):
            raise RuntimeError("encoder session lost")

        def preload_embeddings(self, texts, vectors):
            pass

    class NoFallback(BrokenSlowPath):
        def fallback_offer(self, window):
            raise KeyError("template")

    path = write_jsonl(tmp_path / "s.jsonl", [event_record(1, text="help")])
    surface = RecordingSurface()
    pipeline, store = make_pipeline(
        f"sqlite:///{tmp_path / 'f.db'}",
        JsonlSource(str(path)),
        gate=EmbedFails(),
        slow_path=NoFallback(),
        surface=surface,
        draft_offers=True,
    )
    with caplog.at_level(logging.ERROR, logger="festina.pipeline"):
        stats = await pipeline.run()
    messages = [record.getMessage() for record in caplog.records]
    assert "embedding 1 events for recall failed" in messages
    assert any(m.startswith("no fallback offer could be drafted for") for m in messages)
    [(_, decision)] = store.decisions()
    assert decision.final_action is Action.INTERVENE and decision.offer is None
    assert stats.decided == 1 and len(surface.offers) == 1
    store.close()


async def test_a_stop_asked_before_the_run_starts_is_kept(tmp_path):
    pipeline, store = make_pipeline(f"sqlite:///{tmp_path / 'f.db'}", EndlessSource())
    pipeline.request_stop()
    stats = await asyncio.wait_for(pipeline.run(), 30)
    assert store.last_run().status == "interrupted"
    assert stats.decided == stats.accepted
    store.close()


async def test_abandoning_twice_or_before_the_run_is_harmless(tmp_path):
    pipeline, store = make_pipeline(f"sqlite:///{tmp_path / 'f.db'}", EndlessSource())
    pipeline.abandon()
    pipeline.abandon()
    await asyncio.wait_for(pipeline.run(), 30)
    assert store.last_run().status == "interrupted"
    store.close()
