"""The template drafter: concrete offers with no language model.

For the window's last event it fills every template of `agent.slowpath.templates` that
applies, ranks the candidates, and answers with the best one as a proposal (JSON, like a
model's answer, so the graph validates, checks and executes it the same way):

    score = prior (how specific the cue is)
          + FIT x similarity of the event to the template's intent and tools' descriptions
          + MEMORY x (similarity of the filled task to tasks accepted here
                      - its similarity to tasks turned down here)
          - REPEAT if the filled task is one the graph would hold back as a repeat
                   (of a turned-down offer, or of an offer made within the repeat window)

Similarities use the gate's encoder when it has one (the event was just embedded by the
gate, the templates once; past tasks are cached, and the chosen task's vector is reused
by the graph's checks), and shared words otherwise (the untrained cue gate). Fallback
templates (a note to resume from) are filled only when no other template applies: the gate
has judged an offer worth its cost here, and a drafter that stays silent for want of a
sharper cue turns that into a missed offer. When nothing applies at all (a bare switch
with no work before it) the answer is an explicit silence: an offer that says nothing is
worse than none. A second attempt (the first draft was unusable) takes the next candidate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from agent.slowpath.drafter import REPEAT_SIMILARITY, Draft, DraftRequest, about_other_things
from agent.slowpath.facts import Facts, read_facts
from agent.slowpath.templates import TEMPLATES, Candidate, Template
from tools.pool import ToolPool

FIT = 0.5
MEMORY = 1.0
REPEAT = 1.0
# A filled task sharing this much of its words with a turned-down one is the same offer.
REPEAT_OVERLAP = 0.6

Embed = Callable[[Sequence[str]], np.ndarray]
_WORD = re.compile(r"\w{3,}")


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class Ranked:
    """A candidate with its score and the parts of it (shown in tests and benchmarks)."""

    candidate: Candidate
    score: float
    fit: float
    memory: float
    repeat: bool


class TemplateDrafter:
    """Drafts from templates over the tool pool, ranked with the encoder when there is one."""

    def __init__(
        self,
        pool: ToolPool,
        embed: Embed | None = None,
        templates: Sequence[Template] = TEMPLATES,
    ) -> None:
        self.pool = pool
        self.embed = embed
        self.name = "templates"
        # A template whose tools this pool lacks could never be carried out.
        self.templates = [t for t in templates if all(tool in pool for tool in t.tools)]
        self._descriptions = [self._describe(t) for t in self.templates]
        self._description_words = [_words(d) for d in self._descriptions]
        self._vectors: np.ndarray | None = None

    def _describe(self, template: Template) -> str:
        tools = " ".join(self.pool.get(tool).description for tool in template.tools)
        return f"{template.intent}. {tools}"

    def warm_up(self) -> None:
        """Embed the templates now rather than on the first draft (a one-time cost)."""
        if self.embed is not None and self._vectors is None:
            self._vectors = _unit(np.asarray(self.embed(self._descriptions), dtype=np.float32))

    def rank(self, request: DraftRequest) -> list[Ranked]:
        """Every applicable candidate for the request's window, best first."""
        facts = read_facts(request.window)
        built = self._build(facts, fallback=False) or self._build(facts, fallback=True)
        if not built:
            return []
        indices = [index for index, _ in built]
        fit = self._fit(facts, indices)
        memory, repeats = self._memory(request, [c.task for _, c in built])
        ranked = []
        for row, (index, candidate) in enumerate(built):
            score = (
                self.templates[index].prior
                + FIT * fit[row]
                + MEMORY * memory[row]
                - REPEAT * repeats[row]
            )
            ranked.append(
                Ranked(candidate, float(score), float(fit[row]), memory[row], repeats[row])
            )
        return sorted(ranked, key=lambda r: -r.score)

    def _build(self, facts: Facts, *, fallback: bool) -> list[tuple[int, Candidate]]:
        return [
            (index, candidate)
            for index, template in enumerate(self.templates)
            if template.fallback is fallback and (candidate := template.build(facts)) is not None
        ]

    def _fit(self, facts: Facts, indices: list[int]) -> np.ndarray:
        """How well each template's intent and tools match the current event."""
        if self.embed is not None:
            self.warm_up()
            assert self._vectors is not None
            event = _unit(np.asarray(self.embed([facts.now.summary]), dtype=np.float32))[0]
            return self._vectors[indices] @ event
        words = _words(" ".join(facts.window_summaries[-2:]))
        return np.array(
            [
                len(words & self._description_words[i]) / max(len(self._description_words[i]), 1)
                for i in indices
            ]
        )

    def _memory(self, request: DraftRequest, tasks: list[str]) -> tuple[list[float], list[bool]]:
        """Per filled task: closeness to what the user accepted here minus closeness to
        what they turned down, and whether the graph would hold it back as a repeat (of a
        turned-down offer, or of one made within the repeat window): by the graph's own
        measure when there is an encoder, or sharing most of its words."""
        accepted, rejected = request.accepted_tasks, request.rejected_tasks
        repeatable = [*rejected, *request.offered_tasks]
        words = [_words(task) for task in tasks]
        # Pairs about clearly different things never repeat (see `about_other_things`).
        same = np.array(
            [[not about_other_things(task, other) for other in repeatable] for task in tasks],
            dtype=bool,
        ).reshape(len(tasks), len(repeatable))
        repeats = [
            any(
                same[row, col] and _jaccard(w, _words(other)) >= REPEAT_OVERLAP
                for col, other in enumerate(repeatable)
            )
            for row, w in enumerate(words)
        ]
        if not (accepted or repeatable):
            return [0.0] * len(tasks), repeats
        if self.embed is not None:
            past = [*accepted, *repeatable]
            vectors = _unit(np.asarray(self.embed([*tasks, *past]), np.float32))
            own = vectors[: len(tasks)]
            similarity = own @ vectors[len(tasks) :].T  # tasks x past
            to_accepted = similarity[:, : len(accepted)].max(axis=1) if accepted else 0.0
            to_rejected = (
                similarity[:, len(accepted) : len(accepted) + len(rejected)].max(axis=1)
                if rejected
                else 0.0
            )
            closeness = np.broadcast_to(to_accepted - to_rejected, (len(tasks),))
            # Accepted tasks alone say nothing of repeats: with nothing repeatable the
            # lexical check stands (and the slice below would be empty).
            if repeatable:
                near = (
                    np.where(same, similarity[:, len(accepted) :], -1.0).max(axis=1)
                    >= REPEAT_SIMILARITY
                )
                repeats = [bool(n) or lexical for n, lexical in zip(near, repeats, strict=True)]
            return [float(v) for v in closeness], repeats

        def overlap(own: set[str], others: list[str]) -> float:
            return max((_jaccard(own, _words(t)) for t in others), default=0.0)

        return [overlap(w, accepted) - overlap(w, rejected) for w in words], repeats

    def draft(self, request: DraftRequest) -> Draft:
        ranked = self.rank(request)
        if len(ranked) < request.attempt:
            why = (
                "no cue in the recent activity matches an offer festina can make"
                if not ranked
                else "no other offer fits"
            )
            answer = {
                "speak": "",
                "task": "stay silent",
                "why_now": why,
                "tool_plan": [],
                "expected_benefit": "",
            }
        else:
            chosen = ranked[request.attempt - 1].candidate
            answer = {
                "speak": chosen.speak,
                "task": chosen.task,
                "why_now": chosen.why_now,
                "tool_plan": [call.model_dump(mode="json") for call in chosen.plan],
                "expected_benefit": chosen.expected_benefit,
            }
        # Not validated here: the graph validates every drafter's answer the same way, and
        # an unusable one sends it back for the next candidate.
        return Draft(json.dumps(answer, ensure_ascii=False))
