"""The reasoning graph for near-boundary events and the gate's offers (LangGraph),
checkpointed per event.

    recall -> draft (retry once) -> counterfactual -> capability -> memory_reflection -> decide

* recall: similar past episodes (with the user's answers), lessons for this context, and
  the tasks the user accepted or turned down here;
* draft: a schema-locked proposal from the drafter (a chat model or the templates),
  validated against the tool pool;
* counterfactual: speaking against silence: the draft's own p_accept (the gate's
  task-aware head) against tau, and whether it repeats an offer made within the repeat
  window (a turned-down one included). An offer the gate made on its own (outside the
  band) already passed the cost rule by more than delta; the graph drafts its words and
  plan, and holds it back only for what the draft shows: nothing usable, nothing worth
  saying, or a repeat within the window. A refusal older than the window holds nothing
  back by itself: the person's model has learnt it and weighs it against the costs (a
  hold that ignored them silenced whole contexts for good after one "no", measured by
  `festina eval online`); it still ranks the drafts;
* capability: what the plan needs (tools, confirmations) and whether the pool has it;
* memory_reflection: record a lesson when a repeat was avoided;
* decide: intervene or stay silent, with the reason.

This module wires the graph and runs its threads; the nodes' work is in `recall`,
`drafting`, `checks` (counterfactual and capability) and `verdict` (decide), over the
state in `state`.

Each event's deliberation is a LangGraph thread checkpointed in SQLite (or in the
PostgreSQL database when memory lives there), so a daemon
killed mid-deliberation resumes it from the last finished node after a restart; the
thread is deleted once its result is stored in memory.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from agent.slowpath.base import Verdict
from agent.slowpath.checks import capability, counterfactual
from agent.slowpath.drafter import ChatDrafter, Drafter
from agent.slowpath.drafting import after_draft, draft
from agent.slowpath.explain import ErrorExplainer
from agent.slowpath.fallback import fallback_offer
from agent.slowpath.llm import ChatModel
from agent.slowpath.recall import recall
from agent.slowpath.state import DeliberationState, plan_of, window_of
from agent.slowpath.verdict import verdict
from core.decision import Action, Decision
from core.events import Event
from core.offer import Offer
from gate.base import Embedder, GateModel
from memory.feedback import context_of
from memory.retrieval import EpisodeIndex
from memory.store import Store
from tools.base import ToolResult
from tools.pool import ToolPool

logger = logging.getLogger("festina.slowpath")


class _Thread(Enum):
    """What `_resumption` says of a suspended thread, besides an answer to resume it with."""

    ENDED = "ran to its end"
    NOT_YET = "waits for an answer"


ENDED, NOT_YET = _Thread.ENDED, _Thread.NOT_YET


def checkpoint_saver(storage_url: str, sqlite_file: Path) -> BaseCheckpointSaver:
    """Where deliberations are checkpointed: the PostgreSQL database when memory lives in
    one (postgres extra), otherwise a SQLite file."""
    if storage_url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection
        from psycopg.rows import dict_row
        from sqlalchemy.engine import make_url

        url = make_url(storage_url).set(drivername="postgresql")
        connection = Connection.connect(
            url.render_as_string(hide_password=False),
            autocommit=True,
            prepare_threshold=0,
            row_factory=dict_row,
        )
        saver = PostgresSaver(connection)
        saver.setup()
        return saver
    sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    return SqliteSaver(sqlite3.connect(sqlite_file, check_same_thread=False))


class ReasoningSlowPath:
    """The slow path the daemon uses unless `gate-rule` is configured. It drafts with
    `drafter`, or with `chat` through the proposal prompt when only a chat model is given.
    With `explainer`, an accepted "explain this error" step ends in the model's streamed
    explanation instead of the offline one."""

    def __init__(
        self,
        *,
        pool: ToolPool,
        store: Store,
        gate: GateModel,
        saver: BaseCheckpointSaver,
        drafter: Drafter | None = None,
        chat: ChatModel | None = None,
        repeat_window_s: float = 0.0,
        explainer: ErrorExplainer | None = None,
    ) -> None:
        if (drafter is None) == (chat is None):
            raise ValueError("give a drafter or a chat model, not both")
        if drafter is None:
            assert chat is not None
            drafter = ChatDrafter(chat, pool)
        self.drafter = drafter
        self.pool = pool
        self.store = store
        self.gate = gate
        # Never the same offer twice within this many seconds (0: no such check), judged
        # on the drafted task: different events can draft the same offer.
        self.repeat_window_s = repeat_window_s
        self.explainer = explainer
        self.name = f"graph:{self.drafter.name}"
        self._index = EpisodeIndex(store, gate.encoder_id) if isinstance(gate, Embedder) else None
        self._saver = saver
        self._waiting: set[str] | None = None  # filled from memory on the first poll
        self._waiting_lock = threading.RLock()
        self.graph = self._build().compile(checkpointer=self._saver)

    # --- graph ----------------------------------------------------------------

    def _build(self) -> StateGraph:
        graph = StateGraph(DeliberationState)
        for name, node in (
            ("recall", self._recall),
            ("draft", self._draft),
            ("counterfactual", self._counterfactual),
            ("capability", self._capability),
            ("memory_reflection", self._memory_reflection),
            ("decide", verdict),
            ("await_answer", self._await_answer),
            ("execute_step", self._execute_step),
        ):
            graph.add_node(name, self._timed(name, node))
        graph.add_edge(START, "recall")
        graph.add_edge("recall", "draft")
        graph.add_conditional_edges("draft", after_draft, ["draft", "counterfactual", "decide"])
        graph.add_edge("counterfactual", "capability")
        graph.add_edge("capability", "memory_reflection")
        graph.add_edge("memory_reflection", "decide")
        graph.add_conditional_edges("decide", self._after_decide, ["await_answer", END])
        graph.add_conditional_edges("await_answer", self._next_step, ["execute_step", END])
        graph.add_conditional_edges("execute_step", self._next_step, ["execute_step", END])
        return graph

    @staticmethod
    def _timed(
        name: str, node: Callable[[DeliberationState], dict[str, Any]]
    ) -> Callable[..., dict[str, Any]]:
        def run(state: DeliberationState) -> dict[str, Any]:
            started = time.perf_counter()
            update = node(state)
            tokens = update.pop("_tokens", 0)
            entry = {
                "node": name,
                "ms": round((time.perf_counter() - started) * 1000, 2),
                "tokens": tokens,
            }
            return {**update, "trace": [entry]}

        return run

    # The nodes read the attributes when they run, not when the graph is built: a drafter
    # (or pool, memory, gate) put in place later is the one used.
    def _recall(self, state: DeliberationState) -> dict[str, Any]:
        return recall(
            state,
            store=self.store,
            gate=self.gate,
            index=self._index,
            repeat_window_s=self.repeat_window_s,
        )

    def _draft(self, state: DeliberationState) -> dict[str, Any]:
        return draft(state, drafter=self.drafter, pool=self.pool)

    def _counterfactual(self, state: DeliberationState) -> dict[str, Any]:
        return counterfactual(state, gate=self.gate)

    def _capability(self, state: DeliberationState) -> dict[str, Any]:
        return capability(state, pool=self.pool)

    def _memory_reflection(self, state: DeliberationState) -> dict[str, Any]:
        """Record a lesson when an offer was held back as a repeat of a recent one."""
        counterfactual = state["counterfactual"]
        if not counterfactual.get("repeat_of_offered"):
            return {"lesson": None}
        event = window_of(state)[-1]
        when, task = counterfactual["offered_before"]
        lesson = (
            f"Held back an offer ('{state['proposal']['task'][:120]}') too close to one made at "
            f"{datetime.fromisoformat(when):%H:%M} ('{task[:120]}')."
        )
        self.store.record_reflection(context_of(event), event.id, lesson)
        return {"lesson": lesson}

    def _after_decide(self, state: DeliberationState) -> str:
        offered = state["verdict"]["action"] == "intervene"
        return "await_answer" if offered and plan_of(state) else END

    def _await_answer(self, state: DeliberationState) -> dict[str, Any]:
        # Suspends the thread until the user answers the offer (see `poll`).
        answer = interrupt({"kind": "answer"})
        return {"answer": answer, "step": 0}

    def _next_step(self, state: DeliberationState) -> str:
        if state.get("answer") != "accepted":
            return END
        return "execute_step" if state.get("step", 0) < len(plan_of(state)) else END

    def _execute_step(self, state: DeliberationState) -> dict[str, Any]:
        """Run one planned call. A side effect first waits for the user's confirmation;
        one step per node run means a finished step is never repeated on resume."""
        step = state.get("step", 0)
        plan = plan_of(state)
        call = plan[step]
        tool = self.pool.get(call["tool"])
        event_id = state["decision"]["event_id"]
        self._keep_progress(event_id, state.get("executions", []), plan, step)
        confirmed = False
        if tool.side_effect:
            self.store.request_confirmation(event_id, step, tool.name, call["args"])
            confirmed = bool(interrupt({"kind": "confirm", "step": step}))
            if not confirmed:
                record = {"step": step, "tool": tool.name, "ran": False, "message": "not confirmed"}
                return {"step": step + 1, "executions": [record]}
        result = self.pool.call(tool.name, call["args"], confirmed=confirmed)
        if self.explainer is not None and tool.name == self.explainer.tool:
            result = self._explained(state["decision"]["event_id"], step, tool.name, result)
        return {"step": step + 1, "executions": [result.as_step(step, tool.name)]}

    def _keep_progress(
        self,
        event_id: str,
        done: list[dict[str, Any]],
        plan: list[dict[str, Any]],
        step: int,
    ) -> None:
        """Where the plan stands as step `step` starts, for the surfaces in other processes:
        the plan may now wait for the person for hours, and what it did so far (a notes
        search, say) is worth showing meanwhile. Run again when a suspended step resumes,
        with the same values."""
        to_come = [
            {
                "step": index,
                "tool": call["tool"],
                "args": call["args"],
                "confirm": self.pool.get(call["tool"]).side_effect,
            }
            for index, call in enumerate(plan)
            if index >= step
        ]
        try:
            self.store.record_progress(event_id, done, to_come)
        except Exception:  # showing it early is a nicety: the finished plan's record holds all
            logger.warning("could not keep the plan's progress", exc_info=True)

    def _explained(self, event_id: str, step: int, tool: str, result: ToolResult) -> ToolResult:
        """The model's explanation of `result`, its text so far kept in memory while it
        streams: the dashboard, another process, shows it from there as it grows."""
        assert self.explainer is not None

        def publish(text: str) -> None:
            try:
                self.store.record_partial(event_id, step, tool, text)
            except Exception:  # showing it early is a nicety: the explanation goes on
                logger.warning("could not keep the partial explanation", exc_info=True)

        return self.explainer.explain(result, publish)

    # --- running ----------------------------------------------------------------

    def run(self, window: list[Event], decision: Decision) -> DeliberationState:
        """Deliberate on one event, resuming its checkpointed thread if one was cut off."""
        config = {"configurable": {"thread_id": decision.event_id}}
        snapshot = self.graph.get_state(config)
        if snapshot.values.get("verdict"):
            return snapshot.values  # type: ignore[return-value]
        if snapshot.next:
            return self.graph.invoke(None, config)  # type: ignore[return-value]
        initial: DeliberationState = {
            "window": [e.model_dump(mode="json") for e in window],
            "decision": decision.model_dump(mode="json"),
            "attempts": 0,
            "trace": [],
        }
        return self.graph.invoke(initial, config)  # type: ignore[return-value]

    async def deliberate(self, window: list[Event], decision: Decision) -> Verdict:
        state = await asyncio.to_thread(self.run, window, decision)
        verdict = state["verdict"]
        await asyncio.to_thread(
            self.store.record_deliberation,
            decision.event_id,
            self.name,
            verdict["action"],
            verdict["reason"],
            state.get("proposal"),
            state.get("counterfactual"),
            state.get("trace", []),
        )
        await asyncio.to_thread(self._settle, decision.event_id)
        action = Action(verdict["action"])
        offer = (
            Offer.from_proposal(state["proposal"], self.name)
            if action is Action.INTERVENE and state.get("proposal")
            else None
        )
        # An offer of the gate's that stands is still the gate's decision; the graph
        # drafted it (offer.drafted_by) and would have said so had it held it back.
        gate_decided = decision.gate_action is Action.INTERVENE and action is Action.INTERVENE
        return Verdict(action, verdict["reason"], "gate" if gate_decided else self.name, offer)

    def _settle(self, event_id: str) -> bool:
        """After a run: keep a thread suspended on the user, or store its outcome and drop
        the checkpoint, which would otherwise hold the event's text outside memory's
        retention and `memory forget`. True when an answered plan moved to its end."""
        config = {"configurable": {"thread_id": event_id}}
        snapshot = self.graph.get_state(config)
        if snapshot.next:
            with self._waiting_lock:
                self._waiting_threads().add(event_id)
            return False
        answered = "answer" in snapshot.values
        if answered:
            self.store.record_executions(event_id, snapshot.values.get("executions", []))
        self._saver.delete_thread(event_id)
        with self._waiting_lock:
            self._waiting_threads().discard(event_id)
        return answered

    def _waiting_threads(self) -> set[str]:
        """The threads suspended on the person; call with `_waiting_lock` held, as the
        plans run on threads of their own (`agent.plan_runs`)."""
        if self._waiting is None:  # first use, perhaps after a restart: ask memory
            self._waiting = set(self.store.offers_awaiting_execution())
            # Events forgotten while no daemon ran leave checkpoints memory no longer
            # knows of, holding their text: drop them (a run merely cut off is kept).
            threads = {t.config["configurable"]["thread_id"] for t in self._saver.list(None)}
            for thread in threads - self.store.existing_events(threads):
                self._saver.delete_thread(thread)
        return self._waiting

    def _resumption(self, event_id: str) -> Command[Any] | _Thread | None:
        """How the suspended thread of `event_id` goes on now: the person's answer to what
        it waits for, as a Command; None where it was cut off mid-step (a stop that did
        not wait for the step, a crash), which runs that step again; ENDED where it ran
        to its end but its outcome was not stored; NOT_YET while it waits for an answer."""
        snapshot = self.graph.get_state({"configurable": {"thread_id": event_id}})
        if not snapshot.next:
            return ENDED
        pending = [i.value for task in snapshot.tasks for i in task.interrupts]
        if not pending:
            return None
        if pending[0]["kind"] == "answer":
            outcome = self.store.latest_feedback(event_id)
            return NOT_YET if outcome is None else Command(resume=outcome.value)
        row = self.store.confirmation(event_id, pending[0]["step"])
        if row is None or row.status == "pending":
            return NOT_YET
        return Command(resume=row.status == "approved")

    def answered(self, skip: Collection[str] = ()) -> list[str]:
        """The accepted plans (and turned-down offers) ready to move: their answer has
        arrived in memory, or they were cut off mid-step before a restart. `skip`: the
        plans running now, whose state must not be read as ready while they run. The
        first call also finds the threads suspended before a restart, and drops those of
        forgotten events."""
        with self._waiting_lock:
            waiting = sorted(self._waiting_threads() - set(skip))
        ready = []
        for event_id in waiting:
            if self.store.deliberation(event_id) is None:  # forgotten: drop its checkpoint too
                with self._waiting_lock:
                    self._waiting_threads().discard(event_id)
                self._saver.delete_thread(event_id)
            elif self._resumption(event_id) is not NOT_YET:
                ready.append(event_id)
        return ready

    def advance(self, event_id: str) -> bool:
        """Move one plan on with its answer: it runs to its end (or is turned down), or
        to the next step that waits for the person's confirmation. True if it moved.
        Plans advance on threads of their own, side by side (`agent.plan_runs`); one plan
        is never advanced by two at once."""
        resume = self._resumption(event_id)
        if resume is NOT_YET:
            return False
        if resume is ENDED:  # only its outcome is left to store
            return self._settle(event_id)
        self.graph.invoke(resume, {"configurable": {"thread_id": event_id}})
        self._settle(event_id)
        return True

    def poll_once(self, moved: list[str] | None = None) -> int:
        """Every ready plan advanced in turn (see `answered` and `advance`); returns how
        many moved, and adds them to `moved`. The daemon runs them side by side instead."""
        count = 0
        for event_id in self.answered():
            if self.advance(event_id):
                if moved is not None:
                    moved.append(event_id)
                count += 1
        return count

    def fallback_offer(self, window: list[Event]) -> Offer:
        """Words for an offer whose deliberation failed (see `fallback.fallback_offer`)."""
        return fallback_offer(self.pool, window)
