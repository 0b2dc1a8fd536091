"""The reasoning graph: proposals, retries, counterfactual checks, memory, resumption."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from typing import ClassVar

import pytest

from agent.pipeline import Pipeline, PipelineOptions
from agent.slowpath.graph import ReasoningSlowPath, checkpoint_saver
from agent.slowpath.llm import ChatError, ChatReply
from core.decision import Action, Decision
from core.events import Event
from core.sources import StaticSource
from evals.stand_in_llm import ChatCompletionHandler
from gate.base import GateScores
from gate.cues import CueGate
from gate.policy import GatePolicy
from memory.feedback import Outcome
from memory.store import Store
from tests.helpers import event_record, write_jsonl
from tools import default_pool

NODES = ["recall", "draft", "counterfactual", "capability", "memory_reflection", "decide"]


def proposal(
    task="Show how to capitalize each word of a name in Ruby",
    speak="You searched this twice: shall I show how to capitalize names in Ruby?",
    plan=None,
) -> str:
    return json.dumps(
        {
            "speak": speak,
            "task": task,
            "why_now": "the user searched for it twice",
            "tool_plan": plan
            if plan is not None
            else [{"tool": "web_search_query", "args": {"query": "ruby capitalize name"}}],
            "expected_benefit": "saves a search",
        }
    )


class ScriptedChat:
    """Stands in for a remote LLM: answers from a script, remembers what it was asked."""

    name = "scripted"

    def __init__(self, *answers: str | BaseException) -> None:
        self.answers = list(answers)
        self.prompts: list[list[dict[str, str]]] = []

    def complete(self, messages, schema):
        self.prompts.append(messages)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return ChatReply(answer, 100, 40)


def slow_path(tmp_path, store, chat, gate=None, **options) -> ReasoningSlowPath:
    return ReasoningSlowPath(
        chat=chat,
        pool=default_pool(tmp_path / "ws"),
        store=store,
        gate=gate or CueGate(),
        saver=checkpoint_saver(store.url, tmp_path / "checkpoints.sqlite"),
        **options,
    )


def escalated(event: Event, p_accept: float = 0.6) -> Decision:
    return Decision(
        event_id=event.id,
        p_need=1.0,
        p_accept=p_accept,
        tau=0.5,
        delta=0.1,
        gate_action=Action.ESCALATE,
        model_version="t",
        gate_latency_ms=1.0,
    )


@pytest.fixture
def store(tmp_path):
    return Store(f"sqlite:///{tmp_path / 'festina.db'}")


def stored_event(store: Store, i: int, **fields) -> tuple[Event, Decision]:
    event = Event.model_validate({**event_record(i), **fields})
    decision = escalated(event)
    store.record_decisions(None, [(event, decision)])
    return event, decision


async def test_a_good_proposal_becomes_an_offer_with_a_full_trace(tmp_path, store):
    event, decision = stored_event(store, 1)
    path = slow_path(tmp_path, store, ScriptedChat(proposal()))
    verdict = await path.deliberate([event], decision)
    assert verdict.action is Action.INTERVENE
    assert "capitalize each word" in verdict.reason
    record = store.deliberation(event.id)
    assert [step["node"] for step in record.trace] == NODES
    assert record.tokens == 140
    assert record.counterfactual["speaking_beats_silence"] is True


async def test_an_unusable_answer_is_retried_once_with_the_reason(tmp_path, store):
    event, decision = stored_event(store, 1)
    chat = ScriptedChat(
        proposal(plan=[{"tool": "launch_rockets", "args": {}}]),
        proposal(),
    )
    verdict = await slow_path(tmp_path, store, chat).deliberate([event], decision)
    assert verdict.action is Action.INTERVENE
    assert "unknown tool 'launch_rockets'" in chat.prompts[1][-1]["content"]
    trace = [s["node"] for s in store.deliberation(event.id).trace]
    assert trace.count("draft") == 2


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (["not json at all"], "no JSON object"),
        (['{"speak": true}'], "task: Field required"),
        ([ChatError("connection refused")], "model unavailable"),
        ([proposal(plan=[{"tool": "save_file", "args": {"name": "x"}}])], "save_file: content"),
    ],
)
async def test_no_usable_proposal_means_a_reasoned_silence(tmp_path, store, answers, expected):
    event, decision = stored_event(store, 1)
    verdict = await slow_path(tmp_path, store, ScriptedChat(*answers)).deliberate([event], decision)
    assert verdict.action is Action.SILENT
    assert "no usable proposal after 2 tries" in verdict.reason
    assert expected in verdict.reason


async def test_the_model_or_the_costs_can_prefer_silence(tmp_path, store):
    event, decision = stored_event(store, 1)
    verdict = await slow_path(tmp_path, store, ScriptedChat(proposal(speak=""))).deliberate(
        [event], decision
    )
    assert verdict.action is Action.SILENT and "the draft has nothing to say" in verdict.reason
    other, low = stored_event(store, 2)
    low = low.model_copy(update={"p_accept": 0.3})
    verdict = await slow_path(tmp_path, store, ScriptedChat(proposal())).deliberate([other], low)
    assert (
        verdict.action is Action.SILENT
        and "p_accept of the draft 0.300 vs tau 0.500" in verdict.reason
    )


class RejectEverything:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.offered: list[Event] = []

    def offer(self, event, decision):
        self.offered.append(event)
        self.store.record_feedback(event.id, Outcome.REJECTED)


class OnTheBoundary:
    version = "boundary"

    def score(self, windows):
        return [GateScores(p_need=1.0, p_accept=0.55) for _ in windows]


async def test_a_refused_offer_is_held_back_within_the_repeat_window_and_not_for_good(
    tmp_path, store
):
    """A hold that ignores the costs must end: after the window, whether to make a
    refused offer again is the person's model's to weigh, not a silence for good."""
    hour = 3600

    def browsing(i: int, after_s: float = 0.0) -> Event:
        record = {**event_record(i), "kind": "browser", "app": "Firefox"}
        return Event.model_validate({**record, "time": record["time"] + after_s})

    events = [browsing(1), browsing(2), browsing(3, after_s=hour + 1)]
    user = RejectEverything(store)
    chat = ScriptedChat(proposal())  # the model keeps drafting the same offer
    pipeline = Pipeline(
        source=StaticSource(events),
        gate=OnTheBoundary(),
        policy=GatePolicy(cost_false_alarm=1.0, cost_missed_help=1.0, delta=0.1),
        store=store,
        slow_path=slow_path(tmp_path, store, chat, repeat_window_s=hour),
        surface=user,
        options=PipelineOptions(batch_size=1, queue_size=1, learn_from_feedback=False),
    )
    await pipeline.run()
    assert [e.id for e in user.offered] == [events[0].id, events[2].id]
    held_back = store.deliberation(events[1].id)
    assert held_back.action == "silent"
    assert "within the repeat window" in held_back.reason
    assert held_back.counterfactual["repeat_of_rejected"] is True
    lessons = [r.lesson for r in store.reflections("browser:Firefox")]
    assert any(lesson.startswith("Held back an offer") for lesson in lessons)
    # After the window the same refused offer is made again, and says what it repeats.
    assert store.deliberation(events[2].id).counterfactual["repeat_of_rejected"] is True


class FakeOpenAI(ChatCompletionHandler):
    """A stand-in for a remote OpenAI-compatible server: the first request hangs."""

    requests: ClassVar[list[dict]] = []
    hang = threading.Event()
    usage: ClassVar[dict[str, int]] = {"prompt_tokens": 120, "completion_tokens": 30}

    def reply(self, body):
        FakeOpenAI.requests.append(body)
        if len(FakeOpenAI.requests) == 1:
            FakeOpenAI.hang.wait(60)  # the daemon is killed while it waits
            return None
        return proposal()


def test_a_daemon_killed_mid_deliberation_resumes_it_after_restart(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeOpenAI.requests = []
    config = tmp_path / "festina.toml"
    config.write_text(
        "[gate]\ndelta = 0.49\n\n"  # the cue gate then escalates everything
        f'[slow_path]\nbackend = "openai"\nurl = "http://127.0.0.1:{server.server_port}/v1"\n'
        'model = "fake"\ntimeout_s = 120\n'
    )
    trace = write_jsonl(
        tmp_path / "t.jsonl", [event_record(1, text="The user searches for 'ruby'")]
    )
    env = {**os.environ, "FESTINA_HOME": str(tmp_path / "home")}
    command = [
        sys.executable,
        "-m",
        "festina_cli",
        "--config",
        str(config),
        "daemon",
        "run",
        "--source",
        f"jsonl:{trace}",
    ]
    try:
        first = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while not FakeOpenAI.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert FakeOpenAI.requests, "the daemon never asked the model"
        first.send_signal(signal.SIGKILL)  # no drain, no goodbye
        first.wait(timeout=30)
        FakeOpenAI.hang.set()
        # The cut-off deliberation left a checkpoint: recall done, draft next.
        with sqlite3.connect(tmp_path / "home" / "data" / "deliberations.sqlite") as saved:
            threads = saved.execute("select count(distinct thread_id) from checkpoints").fetchone()[
                0
            ]
        assert threads == 1

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert "resuming 1 unfinished deliberations" in second.stderr
    finally:
        server.shutdown()
    with sqlite3.connect(tmp_path / "home" / "data" / "festina.db") as db:
        backend, action, trace_json = db.execute(
            "select backend, action, trace from deliberations"
        ).fetchone()
        final = db.execute("select final_action, decided_by from decisions").fetchone()
    steps = [step["node"] for step in json.loads(trace_json)]
    assert steps.count("recall") == 1  # resumed from its checkpoint, not started over
    assert steps[-1] == "decide"
    # Deliberated by the model's graph whether the gate escalated the event or offered
    # on it (the gate's own offers are drafted by the graph too).
    assert backend == "graph:openai:fake"
    assert action == final[0]
    assert len(FakeOpenAI.requests) == 2
    assert FakeOpenAI.requests[1]["response_format"]["type"] == "json_schema"


class Crash(BaseException):
    """Stands in for the process dying mid-draft (not an Exception: nothing catches it)."""


async def test_a_cut_off_deliberation_resumes_on_either_backend(tmp_path, database_url):
    store = Store(database_url)
    event, decision = stored_event(store, 1)
    with pytest.raises(Crash):
        await slow_path(tmp_path, store, ScriptedChat(Crash())).deliberate([event], decision)
    assert store.deliberation(event.id) is None

    verdict = await slow_path(tmp_path, store, ScriptedChat(proposal())).deliberate(
        [event], decision
    )
    assert verdict.action is Action.INTERVENE
    steps = [step["node"] for step in store.deliberation(event.id).trace]
    assert steps == NODES  # recall ran once, before the crash; the rest after the resume


def checkpoint_threads(tmp_path) -> int:
    with sqlite3.connect(tmp_path / "checkpoints.sqlite") as saved:
        return saved.execute("select count(distinct thread_id) from checkpoints").fetchone()[0]


PLAN = [
    {"tool": "web_search_query", "args": {"query": "ruby capitalize name"}},
    {"tool": "create_note", "args": {"title": "Ruby names", "body": "use split and capitalize"}},
]


async def offered(tmp_path, store, plan=PLAN):
    """An event the slow path offered help on, with `plan`, as the pipeline leaves it."""
    event, decision = stored_event(store, 1)
    path = slow_path(tmp_path, store, ScriptedChat(proposal(plan=plan)))
    verdict = await path.deliberate([event], decision)
    store.resolve(event.id, verdict.action, verdict.decided_by, verdict.reason)
    return event, path


async def test_an_offer_waits_for_the_answer_and_a_rejection_runs_nothing(tmp_path, store):
    event, path = await offered(tmp_path, store)
    assert path.poll_once() == 0 and checkpoint_threads(tmp_path) == 1
    store.record_feedback(event.id, Outcome.REJECTED)
    assert path.poll_once() == 1
    assert store.deliberation(event.id).executions == []
    assert checkpoint_threads(tmp_path) == 0  # nothing left in flight
    assert not (tmp_path / "ws" / "notes").exists()


async def test_an_accepted_plan_runs_and_asks_before_its_side_effect(tmp_path, store):
    event, path = await offered(tmp_path, store)
    store.record_feedback(event.id, Outcome.ACCEPTED)
    assert path.poll_once() == 1
    [pending] = store.pending_confirmations(event.id)
    assert (pending.step, pending.tool) == (1, "create_note")
    assert not (tmp_path / "ws" / "notes").exists()  # nothing written before the go-ahead
    assert path.poll_once() == 0  # still waiting
    store.answer_confirmation(pending.id, approved=True)
    assert path.poll_once() == 1
    runs = store.deliberation(event.id).executions
    assert [(r["tool"], r["ran"], r["ok"]) for r in runs] == [
        ("web_search_query", True, True),
        ("create_note", True, True),
    ]
    assert "q=ruby+capitalize+name" in runs[0]["output"]
    assert (tmp_path / "ws" / "notes" / "Ruby names.md").read_text().startswith("# Ruby names")
    assert checkpoint_threads(tmp_path) == 0


async def test_a_denied_side_effect_is_skipped(tmp_path, store):
    event, path = await offered(tmp_path, store, plan=PLAN[1:])
    store.record_feedback(event.id, Outcome.ACCEPTED)
    path.poll_once()
    [pending] = store.pending_confirmations(event.id)
    store.answer_confirmation(pending.id, approved=False)
    path.poll_once()
    [run] = store.deliberation(event.id).executions
    assert (run["tool"], run["ran"], run["message"]) == ("create_note", False, "not confirmed")
    assert not (tmp_path / "ws" / "notes").exists()


async def test_answers_given_while_the_daemon_was_down_are_acted_on_after_restart(tmp_path, store):
    event, _ = await offered(tmp_path, store, plan=PLAN[:1])
    store.record_feedback(event.id, Outcome.ACCEPTED)
    restarted = slow_path(tmp_path, store, ScriptedChat(proposal()))  # a new process, same memory
    assert restarted.poll_once() == 1
    [run] = store.deliberation(event.id).executions
    assert run["tool"] == "web_search_query" and run["ok"]


async def test_forgetting_a_waiting_offer_drops_its_checkpoint(tmp_path, store):
    event, path = await offered(tmp_path, store)
    assert checkpoint_threads(tmp_path) == 1
    store.forget(source=event.source)
    assert path.poll_once() == 0
    assert checkpoint_threads(tmp_path) == 0


async def test_an_offer_forgotten_while_the_daemon_was_down_loses_its_checkpoint(tmp_path, store):
    event, _ = await offered(tmp_path, store)
    store.forget(source=event.source)  # `festina memory forget`, no daemon running
    restarted = slow_path(tmp_path, store, ScriptedChat(proposal()))  # a new process
    assert restarted.poll_once() == 0
    assert checkpoint_threads(tmp_path) == 0


def test_the_configured_slow_path_reads_the_folders_the_config_allows(tmp_path):
    from agent.config import SlowPathSettings
    from agent.paths import FestinaPaths
    from agent.slowpath.factory import build_slow_path

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plan.txt").write_text("allowed")
    paths = FestinaPaths(tmp_path / "festina.toml", tmp_path / "data", tmp_path / "logs")
    store = Store(f"sqlite:///{tmp_path / 'memory.db'}")
    try:
        slow = build_slow_path(
            SlowPathSettings(backend="templates", read_paths=[str(docs)]),
            paths=paths,
            store=store,
            gate=CueGate(),
        )
        read = slow.pool.call("read_file", {"path": str(docs / "plan.txt")})
        assert read.ok, read.message
        assert not slow.pool.call("read_file", {"path": str(tmp_path / "memory.db")}).ok
    finally:
        store.close()


@pytest.mark.parametrize("encoder", [False, True])
def test_the_graph_s_repeat_check_skips_offers_about_other_things(tmp_path, encoder):
    from agent.slowpath.checks import closest
    from gate.cues import CueGate
    from gate.loader import load_gate

    gate = load_gate("default", tmp_path) if encoder else CueGate()
    psql = "Explain the error 'psql: error: connection to server failed' and find a fix"
    linker = "Explain the error 'undefined reference to `json_loads`' and find a fix"
    assert closest(gate, linker, [psql]) == (0.0, None)
    similarity, nearest = closest(gate, psql, [linker, psql])
    assert nearest == 1 and similarity == pytest.approx(1.0, abs=1e-3)
