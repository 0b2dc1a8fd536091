"""The offline reward judge (evals/reward_judge.py) and the slow-path benchmark columns.

Most tests embed texts with hashed bags of words instead of MiniLM: the judge's logic
(neighbours, recordings, splits, protocols) does not depend on the encoder, and the real
encoder's figures are the report's business. One test runs the real command.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from evals import reward_judge as rj
from evals.judges import JudgeCase
from evals.metrics import JudgedEvent
from evals.runtime_replay import ReplayedEvent
from evals.slowpath_bench import slow_path_stats
from festina_cli import cli
from tests.helpers import PROACTIVEBENCH, bag_of_words

needs_data = pytest.mark.skipif(
    not (PROACTIVEBENCH / "reward_data").is_dir(), reason="ProactiveBench data not found"
)


@pytest.fixture(scope="module")
def examples():
    return (
        rj.load_examples(PROACTIVEBENCH / "reward_data" / "train_data.jsonl"),
        rj.load_examples(PROACTIVEBENCH / "reward_data" / "test_data.jsonl"),
    )


@pytest.fixture(scope="module")
def embeddings():
    return rj.Embeddings(bag_of_words)


def test_an_event_is_the_same_whatever_the_time_string_looks_like():
    assert rj.event_key({"time": "1717337280.0", "event": "x"}) == rj.event_key(
        {"time": "1717337280", "event": "x"}
    )
    assert rj.event_key({"time": "Day 1, 09:00", "event": "x"})[0] == "Day 1, 09:00"


def test_histories_sharing_an_event_even_through_others_are_one_recording():
    a, b, c, d = (("1", "a"), ("2", "b"), ("3", "c"), ("4", "d"))
    ids = rj.recordings([(a, b), (b, c), (d,), (c,)])
    assert ids[0] == ids[1] == ids[3] != ids[2]


def test_embeddings_are_saved_and_read_back(tmp_path):
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return bag_of_words(texts)

    first = rj.Embeddings(embed, tmp_path / "e.npz")
    vectors = first(["one text", "another"])
    first.save()
    again = rj.Embeddings(embed, tmp_path / "e.npz")
    assert np.array_equal(again(["another", "one text"]), vectors[::-1])
    assert calls == [["one text", "another"]]  # the second instance never embedded


@needs_data
def test_the_disjoint_split_keeps_no_training_history_sharing_an_event(examples):
    train, test = examples
    folds = rj.disjoint_folds(train, test)
    assert sorted(i for index, _ in folds for i in index) == list(range(len(test)))
    for index, kept in folds:
        events = {k for i in index for k in test[i].keys}
        assert not any(events & set(train[j].keys) for j in kept)
        assert len(kept) < len(train)  # the fold's recording was in the training data


@needs_data
def test_what_the_judge_scores_it_never_learnt_from(examples, embeddings):
    """The peers' recordings are all in the training judgements; each judged case goes to
    a judge trained without every judgement of its recording."""
    train, _ = examples
    judge = rj.DisjointJudge(train, embeddings)
    recording = rj.recordings(e.keys for e in train)
    first = train[0]
    case = JudgeCase(first.history, first.task, False)
    used = judge.judge_for(case)
    same_recording = [e for e, r in zip(train, recording, strict=True) if r == recording[0]]
    assert used.trained_on == len(train) - len(same_recording) > 0
    # A longer history of the same recording gets the same judge; a history seen nowhere
    # gets one trained on everything.
    assert judge.judge_for(JudgeCase(same_recording[-1].history, None, False)) is used
    unseen = JudgeCase(({"time": "1", "event": "nothing like any training event"},), None, False)
    assert judge.judge_for(unseen).trained_on == len(train)
    assert judge.verdicts([case, unseen]) == [judge.accepts(case), judge.accepts(unseen)]


@needs_data
def test_the_judge_reads_the_official_split_far_better_than_accepting_everything(
    examples, embeddings
):
    train, test = examples
    judge = rj.train_judge(train, embeddings)
    again = rj.train_judge(train, embeddings)
    cases = [JudgeCase(e.history, e.task, False) for e in test]
    assert np.array_equal(judge.probabilities(cases), again.probabilities(cases))  # seeded
    truth = [e.valid for e in test]
    verdicts = judge.verdicts([JudgeCase(e.history, e.task, False) for e in test])
    official = rj.agreement(verdicts, truth)
    everything = rj.agreement([True] * len(test), truth)
    assert official.f1 >= 0.75 and official.accuracy >= everything.accuracy + 0.2
    # The verdict never reads the case's human label.
    flipped = judge.verdicts([JudgeCase(e.history, e.task, True) for e in test])
    assert flipped == verdicts
    # An unseen recording is much harder: its histories have no neighbours in training.
    disjoint, smallest = rj.disjoint_verdicts(train, test, embeddings)
    assert smallest < len(train)
    assert rj.agreement(disjoint, truth).accuracy < official.accuracy - 0.1


class AcceptsEverything:
    name = "accepts everything"

    def accepts(self, case: JudgeCase) -> bool:
        return True


def test_a_literal_null_answer_is_an_offer_only_under_the_official_protocol(tmp_path):
    folder = tmp_path / rj.PEER_FOLDER / "agent"
    folder.mkdir(parents=True)
    items = [
        {"observation": {"time": "1", "event": "a"}, "agent_response": ["null"]},
        {"observation": {"time": "2", "event": "b"}, "agent_response": ["Do b"]},
        {"observation": {"time": "3", "event": "c"}, "agent_response": []},
    ]
    for item in items:
        item["task_status"] = True
    (folder / "t.json").write_text(json.dumps(items))
    official = rj.peer_verdicts(tmp_path, AcceptsEverything(), null_is_offer=True)
    assert [e.proposed_tasks > 0 for e in official["agent"]["t"]] == [True, True, False]
    ours = rj.peer_verdicts(tmp_path, AcceptsEverything(), null_is_offer=False)
    assert [e.proposed_tasks > 0 for e in ours["agent"]["t"]] == [False, True, False]


def test_rank_agreement_with_the_published_table_is_computed_on_common_peers():
    comparison = rj.compare_with_published(
        "p", {"a": 0.9, "b": 0.8, "c": 0.7, "mine": 0.1}, {"a": 0.6, "b": 0.5, "c": 0.4, "z": 1}
    )
    assert set(comparison.peers) == {"a", "b", "c"}
    assert comparison.spearman == pytest.approx(1.0)
    assert comparison.mean_abs_difference == pytest.approx(0.3)


def _recording(right: int, wrong: int) -> list[JudgedEvent]:
    """Offers at every event: `right` accepted, `wrong` rejected."""
    return [JudgedEvent(1, 1, True)] * right + [JudgedEvent(1, 0, False)] * wrong


def test_rank_agreement_comes_with_its_spread_over_recordings_and_per_series():
    published = {
        "real_average": {"a": 0.9, "b": 0.6, "c": 0.3},
        "real_coding": {"a": 0.9, "b": 0.6, "c": 0.3},
        "real_writing": {"a": 0.3, "b": 0.6, "c": 0.9},
    }
    # Coding recordings rank the peers as the table does, writing ones the other way round.
    verdicts = {
        peer: {
            "code_1": _recording(good, 9 - good),
            "code_2": _recording(good, 9 - good),
            "writing_1": _recording(9 - good, good),
        }
        for peer, good in (("a", 8), ("b", 5), ("c", 2))
    }
    comparison = rj.compare_peers("p", verdicts, published, resamples=300)
    assert comparison.spearman == pytest.approx(1.0)  # two coding recordings outweigh one
    low, high = comparison.spearman_interval
    assert low == pytest.approx(-1.0) and high == pytest.approx(1.0)
    assert comparison.spearman_by_series == {
        "real_coding": pytest.approx(1.0),
        "real_writing": pytest.approx(1.0),
    }


def test_the_published_table_is_compared_with_itself_over_the_judged_peers_only():
    published = {
        "real_average": {"a": 0.9, "b": 0.6, "c": 0.3, "other": 0.0},
        "real_coding": {"a": 0.9, "b": 0.6, "c": 0.3, "other": 1.0},
        "real_writing": {"a": 0.3, "b": 0.6, "c": 0.9, "other": 0.5},
    }
    consistency = rj.published_consistency(published, ["a", "b", "c"])
    assert consistency["real_coding vs real_writing"] == pytest.approx(-1.0)
    assert consistency["real_coding vs real_average"] == pytest.approx(1.0)


def _event(trace: str, index: int, draft: str | None, held: bool, ms: float) -> ReplayedEvent:
    return ReplayedEvent(
        trace=trace,
        index=index,
        observation={"time": str(index), "event": f"e{index}"},
        needed=False,
        task=None if held or draft is None else draft,
        decided_by="x",
        gate="g",
        p_need=0.5,
        p_accept=0.5,
        tau=0.5,
        escalated=ms > 0,
        gate_ms=1.0,
        slow_ms=ms,
        tokens=10 if ms else 0,
        draft=draft,
        held_back=held,
    )


class AcceptsGood:
    name = "likes 'good'"

    def __init__(self):
        self.histories = []

    def accepts(self, case: JudgeCase) -> bool:
        self.histories.append(len(case.history))
        return "good" in (case.task or "")


def test_the_slow_path_table_says_what_the_counterfactual_check_changed():
    events = [
        _event("t", 0, None, False, 0.0),
        _event("t", 1, "a good offer", False, 4.0),
        _event("t", 2, "a bad offer", True, 2.0),
        _event("t", 3, "another bad one", True, 6.0),
        _event("u", 0, "good too", True, 8.0),
    ]
    judge = AcceptsGood()
    stats = slow_path_stats(events, judge)
    assert (stats.deliberations, stats.drafted_offers, stats.kept, stats.held_back) == (4, 4, 1, 3)
    assert stats.accepted_kept == 1.0
    assert stats.accepted_held_back == pytest.approx(1 / 3)
    assert (stats.p50_ms, stats.tokens_per_deliberation) == (5.0, 10.0)
    assert judge.histories == [2, 3, 4, 1]  # each draft judged on its own trace's history


def test_the_gate_ceiling_offers_exactly_the_drafts_the_judge_accepts():
    from evals.drafts import ceiling_f1

    # Two drafts accepted (TP); of the other two events, one silence is rejected (FN).
    assert ceiling_f1([True, True, False, False], [True, False, False, True]) == 0.8
    # Nothing acceptable to offer: no gate scores.
    assert ceiling_f1([False, False], [False, True]) == 0.0


@needs_data
def test_drafts_gets_a_held_back_column_and_the_judge_reads_only_kept_offers(tmp_path):
    from agent.slowpath.drafter import ChatDrafter
    from evals.drafts import benchmark_drafter, draft_cases, test_traces
    from evals.recorded_chat import RecordedChat
    from evals.runtime_replay import recorded_tasks
    from tools import default_pool

    pool = default_pool(tmp_path / "ws", dry_run=True)
    traces = test_traces(PROACTIVEBENCH)[:1]
    cases = draft_cases(traces, 8)
    drafter = ChatDrafter(RecordedChat(recorded_tasks(PROACTIVEBENCH, traces)), pool)
    judges = {"likes 'code'": lambda case: "code" in (case.task or "").lower()}

    def keeps_code(window, task):
        return "code" in task.lower()

    row = benchmark_drafter("recorded", drafter, pool, cases, judges, check=keeps_code)
    assert 0.0 < row.held_back < 1.0
    assert row.judges["likes 'code'"]["accepted_kept"] == 1.0
    assert row.judges["likes 'code'"]["accepted"] < 1.0
    unchecked = benchmark_drafter("recorded", drafter, pool, cases, judges)
    assert unchecked.held_back is None and unchecked.judges["likes 'code'"]["accepted_kept"] is None


@needs_data
@pytest.mark.timeout(900)
def test_festina_eval_drafts_judges_offers_with_the_offline_judge(tmp_path, monkeypatch):
    monkeypatch.setenv("FESTINA_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    args = ["eval", "drafts", "--data", str(PROACTIVEBENCH), "--limit", "12", "--json"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    recorded = rows[0]
    assert recorded["drafter"].startswith("recorded drafts")
    offline = recorded["judges"]["offline judge"]
    assert 0.0 <= offline["accepted"] <= 1.0 and 0.0 <= offline["right"] <= 1.0
    assert 0.0 <= offline["ceiling_f1"] <= 1.0
    # The embeddings it paid for are kept for the next run.
    assert list((tmp_path / "reports" / "eval" / "cache").glob("judge-embeddings-*.npz"))
