"""`festina eval recall`: the int8 index over float16 memory against exact float32
ranking, on real recordings."""

from __future__ import annotations

from pathlib import Path

from evals.recall_bench import measure_recall
from gate.data import load_traces
from gate.onnx_gate import OnnxGate

SHIPPED_GATE = Path(__file__).resolve().parents[1] / "gate" / "default_model"


def test_recall_from_the_int8_index_finds_what_float32_ranking_finds(proactivebench):
    traces = load_traces(proactivebench)[:6]
    gate = OnnxGate(SHIPPED_GATE, device="cpu")

    result = measure_recall(traces, gate, k=5, capacity=300)

    assert result.episodes == sum(len(t.events) for t in traces)
    assert result.stored_bytes_per_vector * 2 == result.float32_bytes_per_vector
    # Rounding to float16 and int8 may swap near ties, not what recall finds.
    assert result.overlap_with_float32 >= 0.95
    assert abs(result.need_agreement_index - result.need_agreement_float32) <= 0.02
    assert 0 < result.largest_similarity_error <= 0.02
    assert result.recall_ms_full_index > 0 and result.capacity == 300
    # int8 codes, a float32 scale, a float64 time and a 32-byte id a vector, in blocks
    # of 1024 (float32 vectors alone would be 4 times the codes):
    assert result.index_mb_full * 1e6 <= 1024 * (result.float32_bytes_per_vector / 4 + 44)
