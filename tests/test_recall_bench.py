"""`festina eval recall`: float16 memory against exact float32 ranking, on real recordings."""

from __future__ import annotations

from pathlib import Path

from evals.recall_bench import measure_recall
from gate.data import load_traces
from gate.onnx_gate import OnnxGate

SHIPPED_GATE = Path(__file__).resolve().parents[1] / "gate" / "default_model"


def test_recall_from_float16_memory_finds_what_float32_ranking_finds(proactivebench):
    traces = load_traces(proactivebench)[:6]
    gate = OnnxGate(SHIPPED_GATE, device="cpu")

    result = measure_recall(traces, gate, k=5, capacity=300)

    assert result.episodes == sum(len(t.events) for t in traces)
    assert result.stored_bytes_per_vector * 2 == result.float32_bytes_per_vector
    # Rounding to float16 may swap near ties, not what recall finds.
    assert result.overlap_with_float32 >= 0.95
    assert abs(result.need_agreement_float16 - result.need_agreement_float32) <= 0.02
    assert result.recall_ms_full_index > 0 and result.capacity == 300
