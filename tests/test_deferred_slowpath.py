"""The slow path built when first needed: a daemon starts without LangGraph, and threads
an earlier run left suspended are acted on as soon as there is something to do."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.slowpath.deferred import DeferredSlowPath, suspended_work
from agent.slowpath.deferred import checkpoint_threads as threads_in_saver
from core.decision import Action
from memory.feedback import Outcome
from memory.store import Store
from tests.test_slowpath import (
    PLAN,
    ScriptedChat,
    checkpoint_threads,
    offered,
    proposal,
    slow_path,
    stored_event,
)
from tools import default_pool


@pytest.fixture
def store(tmp_path):
    return Store(f"sqlite:///{tmp_path / 'festina.db'}")


def deferred(tmp_path, store, chat=None) -> tuple[DeferredSlowPath, list[int]]:
    """A deferred slow path over the tests' checkpoint file, counting its builds."""
    builds: list[int] = []

    def build():
        builds.append(1)
        return slow_path(tmp_path, store, chat or ScriptedChat(proposal()))

    path = DeferredSlowPath(
        build,
        pool=default_pool(tmp_path / "ws"),
        pending=lambda: suspended_work(store, tmp_path / "checkpoints.sqlite"),
    )
    return path, builds


def test_the_configured_daemon_slow_path_starts_without_langgraph(tmp_path):
    code = """
import asyncio, sys
from pathlib import Path
from agent.config import SlowPathSettings
from agent.paths import FestinaPaths
from agent.slowpath.factory import build_slow_path
from gate.cues import CueGate
from memory.store import Store

root = sys.argv[1]
store = Store(f"sqlite:///{root}/memory.db")
paths = FestinaPaths(*(Path(root) / name for name in ("festina.toml", "data", "logs")))
slow = build_slow_path(SlowPathSettings(), paths=paths, store=store, gate=CueGate())
assert asyncio.run(slow.poll()) == []
print(sorted({m.split(".")[0] for m in sys.modules} & {"langgraph", "langchain_core"}))
"""
    started = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "[]"


async def test_the_first_deliberation_builds_it_once(tmp_path, store):
    path, builds = deferred(tmp_path, store)
    assert not path.built
    first, decision = stored_event(store, 1)
    verdict = await path.deliberate([first], decision)
    assert verdict.action is Action.INTERVENE and path.built
    second, decision = stored_event(store, 2)
    await path.deliberate([second], decision)
    assert builds == [1]


async def test_an_offer_still_waiting_for_its_answer_does_not_build_it(tmp_path, store):
    await offered(tmp_path, store)  # an earlier run's offer, suspended on the user
    path, builds = deferred(tmp_path, store)
    assert await path.poll() == [] and await path.poll() == []
    assert builds == [] and checkpoint_threads(tmp_path) == 1


async def test_an_answer_to_an_earlier_runs_offer_builds_it_and_runs_the_plan(tmp_path, store):
    event, _ = await offered(tmp_path, store, plan=PLAN[:1])
    path, builds = deferred(tmp_path, store)
    assert await path.poll() == []
    store.record_feedback(event.id, Outcome.ACCEPTED)  # answered after this start
    assert await path.poll() == [event.id]
    assert builds == [1]
    [run] = store.deliberation(event.id).executions
    assert run["tool"] == "web_search_query" and run["ok"]


async def test_an_offer_forgotten_while_no_daemon_ran_loses_its_checkpoint_at_once(tmp_path, store):
    event, _ = await offered(tmp_path, store)
    store.forget(source=event.source)
    path, builds = deferred(tmp_path, store)
    assert await path.poll() == []
    assert builds == [1] and checkpoint_threads(tmp_path) == 0


def test_the_fallback_offer_needs_no_build(tmp_path, store):
    event, _ = stored_event(store, 1, text="pytest failed: KeyError 'price' in invoice.py")
    path, builds = deferred(tmp_path, store)
    offer = path.fallback_offer([event])
    assert offer.speak and offer.drafted_by.startswith("templates")
    assert builds == []


async def test_suspended_threads_are_read_from_either_saver(tmp_path, database_url):
    store = Store(database_url)
    file = tmp_path / "checkpoints.sqlite"  # used by the SQLite saver only
    assert threads_in_saver(store, file) == set()  # no saver has run yet
    event, _ = await offered(tmp_path, store)
    assert threads_in_saver(store, file) == {event.id}
    assert not suspended_work(store, file)
    store.record_feedback(event.id, Outcome.REJECTED)
    assert suspended_work(store, file)
