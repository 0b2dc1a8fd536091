"""One event's decision, in one place: the gate's scores, the person's model, the cost
rule, the user's preferences, etiquette, and how an escalation or a gate offer is
settled afterwards (by the slow path, by the gate when the slow path has no room, or by
the gate when the slow path fails).

    scores -> personal adjustment -> cost rule (gate.policy) -> exploration
           -> preferences -> etiquette
           -> made, or handed to the slow path -> settled (verdict, busy, or failure)

The chain owns every piece of etiquette bookkeeping (offers held, reserved, made,
withdrawn, answered, forgotten), so a suppression rule is read and changed here alone;
the pipeline only moves events through its stages and calls it. Synchronous and free of
I/O: the pipeline reads memory and hands the chain what it needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from agent.config import EtiquetteSettings, ExplorationSettings
from agent.etiquette import Etiquette
from agent.exploration import Exploration
from agent.slowpath.base import Verdict, rule_action
from core.decision import SLOW_PATH_FALLBACK, Action, Decision
from core.events import Event
from core.offer import Offer
from gate.base import GateScores
from gate.policy import GateCall, GatePolicy
from memory.feedback import Reason
from memory.personal import PersonalModel
from memory.preferences import Preferences
from memory.store import AppliedFeedback


def _gate_failed(common: dict[str, Any], error: Exception) -> Decision:
    """Festina lente: when the model cannot judge, stay silent and say why."""
    return Decision(
        **common,
        p_need=0.0,
        p_accept=0.0,
        tau=1.0,
        gate_action=Action.SILENT,
        final_action=Action.SILENT,
        decided_by="gate-error",
        reason=f"gate failed: {error!r}",
    )


class DecisionChain:
    """Decides events one at a time and keeps what deciding the next ones needs.

    `policy` is the config's; the user's live preferences (`preferences`) override its
    costs. `draft_offers`: the gate's own offers go to the slow path to be drafted before
    anyone sees them, instead of being made as the gate made them. `exploration`: ask
    now and then where the rule has long been silent (None: never)."""

    def __init__(
        self,
        policy: GatePolicy,
        etiquette: EtiquetteSettings | None,
        *,
        model_version: str,
        draft_offers: bool = False,
        exploration: ExplorationSettings | None = None,
    ) -> None:
        self.policy = policy
        self.model_version = model_version
        self.draft_offers = draft_offers
        self.personal = PersonalModel()
        self.preferences = Preferences()
        self.clock: datetime | None = None
        """The stream's clock: the newest event time decided (or, at start, stored), for
        answers, which carry no event time of their own."""
        self._etiquette = Etiquette(etiquette) if etiquette is not None else None
        explores = exploration is not None and exploration.after_minutes > 0
        self._exploration = Exploration(exploration) if explores else None

    def effective_policy(self) -> GatePolicy:
        """The config's policy with the user's live preference overrides."""
        return self.preferences.policy(self.policy)

    # --- deciding -------------------------------------------------------------------

    def decide(
        self,
        event: Event,
        window: Sequence[Event],
        scores: GateScores | Exception,
        latency_ms: float,
        vector: np.ndarray | None = None,
    ) -> Decision:
        """The gate's scores, adjusted to this person, through the cost rule, then the
        user's preferences, then etiquette (away, not now, a call, pending offer,
        cooldown, repeats, the daily cap). What is left is made, or handed to the slow
        path (the decision comes back unresolved)."""
        self._observe(event)
        policy = self.effective_policy()
        common = {
            "event_id": event.id,
            "delta": policy.delta,
            "model_version": self.model_version,
            "gate_latency_ms": latency_ms,
        }
        if isinstance(scores, Exception):
            return _gate_failed(common, scores)
        p_need, p_accept = self.personal.adjust(window, scores.p_need, scores.p_accept)
        evidence = scores.evidence.moved(scores.p_need, p_need) if scores.evidence else None
        ruled = policy.decide(p_need, p_accept, evidence)
        call = self._explore(event, p_need, scores, ruled)
        fields = {
            **common,
            "p_need": p_need,
            "p_accept": p_accept,
            "p_need_model": scores.p_need,
            "p_accept_model": scores.p_accept,
            "tau": call.tau,
            "gate_action": call.action,
        }
        if (held := self._held_back(event, vector, call, fields)) is not None:
            return held
        if call is not ruled:  # exploring, and nothing held it back
            assert self._exploration is not None
            self._exploration.explored(event.id)
        return self._made_or_handed_on(event, call, fields)

    def _observe(self, event: Event) -> None:
        """The stream's clock and etiquette move on to `event`, decided or not."""
        if self.clock is None or event.time > self.clock:
            self.clock = event.time
        if self._etiquette is not None:
            self._etiquette.observe(event)

    def _held_back(
        self, event: Event, vector: np.ndarray | None, call: GateCall, fields: dict[str, Any]
    ) -> Decision | None:
        """The silent decision when the user's preferences or etiquette hold back what the
        gate would say (None: nothing holds it); an offer let through holds its context."""
        if call.action is Action.SILENT:
            return None
        if why := self.preferences.silence_reason(event, datetime.now(UTC)):
            return Decision(
                **fields, final_action=Action.SILENT, decided_by="preferences", reason=why
            )
        if self._etiquette is not None:
            if why := self._etiquette.hold_reason(event, vector):
                return Decision(
                    **fields, final_action=Action.SILENT, decided_by="etiquette", reason=why
                )
            # An escalation holds the context too: the slow path may make the offer.
            self._etiquette.offered(event, vector)
        return None

    def _made_or_handed_on(self, event: Event, call: GateCall, fields: dict[str, Any]) -> Decision:
        """The gate's call as made (silence, or an offer not to be drafted first), else
        unresolved for the slow path."""
        resolved = call.action is Action.SILENT or (
            call.action is Action.INTERVENE and not self.draft_offers
        )
        if resolved and call.action is Action.INTERVENE and self._exploration is not None:
            self._exploration.offered(event.id, event.time)
        return Decision(
            **fields,
            final_action=call.action if resolved else None,
            decided_by="gate" if resolved else None,
            reason=call.reason,
        )

    def _explore(self, event: Event, p_need: float, scores: GateScores, call: GateCall) -> GateCall:
        """The rule's call, or an offer where it has long been silent (see `Exploration`)."""
        if self._exploration is None or call.action is not Action.SILENT:
            return call
        base_rate = scores.evidence.prior if scores.evidence else 0.5
        if not self._exploration.due(event.time, p_need, base_rate):
            return call
        return GateCall(Action.INTERVENE, call.tau, self._exploration.reason(event.time))

    # --- settling what the slow path was handed ---------------------------------------

    def settle_busy(self, event: Event, decision: Decision, waiting: int) -> Decision:
        """An escalation the slow path has no room for, settled by the gate's rule; an
        offer of the gate's it has no room to draft is not made (it would say nothing)."""
        if decision.gate_action is Action.INTERVENE:
            action, how = Action.SILENT, "no time to draft the offer"
        else:
            action, how = rule_action(decision), "settled by p_accept vs tau"
        why = f"slow path busy ({waiting} waiting); {how}"
        return self.settle(event, decision, Verdict(action, why, "gate-busy"))

    def fall_back(
        self, event: Event, decision: Decision, error: Exception, offer: Offer | None
    ) -> Decision:
        """The slow path failed on `decision`: the gate's own action stands (its offer,
        or its rule for an escalation), with whatever `offer` could still be drafted. A
        failure must never turn the gate's offer into silence unseen."""
        gate_offer = decision.gate_action is Action.INTERVENE
        action = Action.INTERVENE if gate_offer else rule_action(decision)
        verdict = Verdict(
            action,
            f"slow path failed ({error!r}); the gate's action stands",
            SLOW_PATH_FALLBACK,
            offer if action is Action.INTERVENE else None,
        )
        return self.settle(event, decision, verdict)

    def settle(self, event: Event, decision: Decision, verdict: Verdict) -> Decision:
        """`verdict` on `decision` (the slow path's, or one of the above), as the decision
        to store and show; etiquette keeps the offer or lets its context go."""
        if self._exploration is not None and verdict.action is Action.INTERVENE:
            self._exploration.offered(event.id, event.time)
        if self._etiquette is not None:
            if verdict.action is Action.INTERVENE:
                self._etiquette.offered(event)
            else:
                self._etiquette.withdrawn(event)
        return decision.model_copy(
            update={
                "final_action": verdict.action,
                "decided_by": verdict.decided_by,
                "reason": verdict.reason,
                "offer": verdict.offer,
            }
        )

    # --- what the chain keeps between events ----------------------------------------------

    def answered(self, answers: Iterable[AppliedFeedback]) -> None:
        """Answers the learner has just taken in: their contexts are free again, a
        "not now" holds every offer for a while, and an exploratory offer accepted lets
        festina explore again within the hour."""
        answers = list(answers)
        if self._exploration is not None:
            self._exploration.answered((a.event_id, a.outcome) for a in answers)
        if self._etiquette is None:
            return
        self._etiquette.answered(answer.event_id for answer in answers)
        for answer in answers:
            if answer.reason is Reason.NOT_NOW:
                self._etiquette.not_now(answer.event_time, self.clock or answer.event_time)

    def restore(
        self,
        history: Iterable[tuple[Event, bool, bool, datetime | None]],
        vectors: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Rebuild etiquette after a restart (see `Etiquette.restore`), and the time of
        the newest offer, from which exploring waits."""
        history = list(history)
        if self._exploration is not None:
            for event, offered, _, _ in history:
                if offered:
                    self._exploration.offered(event.id, event.time)
        if self._etiquette is not None:
            self._etiquette.restore(history, vectors)

    @property
    def keeps_history(self) -> bool:
        """Whether `restore` has anything to rebuild (etiquette, or exploring's clock)."""
        return self._etiquette is not None or self._exploration is not None

    def remembered(self) -> set[str]:
        """Events the chain keeps something of (pending offers, recent offers, offers
        made exploring)."""
        kept = self._etiquette.remembered() if self._etiquette is not None else set()
        if self._exploration is not None:
            kept |= self._exploration.remembered()
        return kept

    def forget(self, event_ids: set[str]) -> None:
        """These events were forgotten from memory: keep nothing of them."""
        if self._exploration is not None:
            self._exploration.forget(event_ids)
        if self._etiquette is not None:
            self._etiquette.forget(event_ids)
