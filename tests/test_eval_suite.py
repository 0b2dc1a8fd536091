from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from typing import ClassVar

import pytest
from click.testing import CliRunner

from agent.slowpath.llm import ChatError, ChatReply, OpenAICompatibleChat
from evals import mobile, pira
from evals.gate_as_judge import _result, agreement
from evals.judges import HumanJudge, JudgeCase, JudgeError, LLMJudge
from evals.metrics import JudgedEvent, score, timing
from evals.recorded_chat import RecordedChat
from evals.reward_judge import Embeddings
from evals.stand_in_llm import ChatCompletionHandler
from festina_cli import cli
from gate.data import RewardItem, load_traces
from tests.helpers import bag_of_words, free_port


def test_metrics_follow_proactivebench_definitions():
    judged = [
        JudgedEvent(1, 1, True),  # TP
        JudgedEvent(2, 0, False),  # FP: two tasks, none accepted
        JudgedEvent(0, 0, True),  # TN
        JudgedEvent(0, 0, False),  # FN
    ]
    s = score("x", judged)
    assert (s.tp, s.fp, s.tn, s.fn) == (1, 1, 1, 1)
    assert (s.precision, s.recall, s.accuracy, s.false_alarm) == (0.5, 0.5, 0.5, 0.5)
    assert s.f1 == pytest.approx(0.5)
    # Accept rate counts tasks: 1 accepted of 3 proposed.
    assert s.accept_rate == pytest.approx(1 / 3)


def test_under_human_labels_accept_rate_is_precision():
    s = timing("x", [True, True, False, False], [True, False, True, False])
    assert s.accept_rate == s.precision == 0.5
    assert s.accuracy == 0.5


def test_the_human_judge_accepts_offers_when_needed_and_silence_when_not():
    judge = HumanJudge()
    assert judge.accepts(JudgeCase((), "help", True))
    assert not judge.accepts(JudgeCase((), "help", False))
    assert judge.accepts(JudgeCase((), None, False))
    assert not judge.accepts(JudgeCase((), None, True))


PROPOSAL = {
    "speak": "Shall I look this up for you?",
    "task": "Look this up for you",
    "why_now": "you are searching",
    "expected_benefit": "saves time",
    "tool_plan": [{"tool": "web_search_query", "args": {"query": "ruby capitalize"}}],
}


class FakeJudgeServer(ChatCompletionHandler):
    """Stands in for a remote model. As judge it accepts every proposal and no silence;
    asked for a proposal, it always offers to search the web."""

    requests: ClassVar[list[dict]] = []  # shared by the handler instances of one server

    def reply(self, body):
        FakeJudgeServer.requests.append(body)
        if body["response_format"]["json_schema"]["name"] == "Proposal":
            return json.dumps(PROPOSAL)
        proposed = "The assistant proposes" in body["messages"][-1]["content"]
        return json.dumps({"thought": "fine", "judgement": proposed})


@pytest.fixture
def judge_url():
    FakeJudgeServer.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJudgeServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_the_llm_judge_asks_the_endpoint_once_per_case_and_caches(judge_url, tmp_path):
    case = JudgeCase(({"time": "1", "event": "The user searches for 'x'"},), "Explain x", False)
    judge = LLMJudge(OpenAICompatibleChat(judge_url, "judge"), tmp_path)
    assert judge.accepts(case) is True  # the model's verdict, not the human label
    assert judge.accepts(JudgeCase(case.history, None, True)) is False
    assert judge.accepts(case) is True
    assert len(FakeJudgeServer.requests) == 2
    assert judge.tokens == 120
    judge.save()
    again = LLMJudge(OpenAICompatibleChat(judge_url, "judge"), tmp_path)
    assert again.accepts(case) is True
    assert len(FakeJudgeServer.requests) == 2  # answered from the saved cache


def test_an_llm_judge_without_a_judgement_is_an_error():
    class Babbler:
        name = "babbler"

        def complete(self, messages, schema):
            return ChatReply("I think so")

    with pytest.raises(JudgeError, match="no judgement"):
        LLMJudge(Babbler()).accepts(JudgeCase((), None, True))


def test_the_recorded_chat_answers_with_the_current_events_recorded_task():
    chat = RecordedChat({"The user searches for 'x'": ["Explain x"], "The user types": []})
    prompt = (
        "Recent activity, oldest first (the last line is happening now):\n"
        "- 10:00:00 [editor] The user types\n- 10:00:05 [browser] The user searches for 'x'"
        "\n\nSimilar past moments and what happened:\n- 10:00:00 [editor] The user types"
    )
    answer = json.loads(chat.complete([{}, {"content": prompt}], {}).text)
    assert (answer["speak"], answer["task"]) == ("Explain x", "Explain x")
    silent = json.loads(
        chat.complete(
            [
                {},
                {
                    "content": prompt.replace(
                        "- 10:00:05 [browser] The user searches for 'x'",
                        "- 10:00:05 [editor] The user types",
                    )
                },
            ],
            {},
        ).text
    )
    assert silent["speak"] == ""
    unseen = chat.complete([{}, {"content": "Recent activity:\n- 10:00:00 [editor] other"}], {})
    assert json.loads(unseen.text)["speak"] == ""
    with pytest.raises(ChatError, match="no activity"):
        chat.complete([{}, {"content": "nothing here"}], {})


def test_reward_agreement_is_reported_per_category():
    def item(category: str, valid: bool) -> RewardItem:
        return RewardItem([], None, valid, True, category)

    items = [item("Missed-Need (MN)", False), item("Correct-Rejection (CR)", True)]
    result = _result("judge", items, [False, False])
    assert result.by_category["Missed-Need"].accuracy == 1.0
    assert result.by_category["Correct-Rejection"].accuracy == 0.0
    assert result.overall == agreement([False, False], [False, True])


def test_the_shipped_pira_set_is_what_the_generator_makes(proactivebench):
    regenerated = pira.generate(load_traces(proactivebench, ["test_data"]))
    shipped = pira.shipped_set_path().read_text()
    assert "".join(t.to_json() + "\n" for t in regenerated) == shipped
    trajectories = pira.load_set(pira.shipped_set_path())
    noise = [e for t in trajectories for e in t.events if e.thread is None]
    assert noise and not any(e.need for e in noise)
    for t in trajectories:
        times = [e.time for e in t.events]
        assert times == sorted(times)
        assert 2 <= len(t.threads) <= 4
        assert {e.thread for e in t.events} - {None} == set(t.threads)


def test_pira_scores_detection_timing_and_false_triggers():
    trajectory = pira.Trajectory(
        "t",
        {"a": {"trace": "x", "start": "0"}, "b": {"trace": "y", "start": "0"}},
        [
            pira.PiraEvent(1.0, "The user opens a file in an editor", "a", False),
            pira.PiraEvent(2.0, "A Slack notification", None, False, "notification", "Slack"),
            pira.PiraEvent(3.0, "The user searches for an error", "a", True),
            pira.PiraEvent(4.0, "The user scrolls the results", "a", False),
            pira.PiraEvent(5.0, "The user types in a document", "b", True),
        ],
    )
    # Offers: the noise event, and thread a one event after its need point.
    result = pira.score_variant([trajectory], [[False, True, False, True, False]], "v")
    assert (result.threads, result.threads_detected) == (2, 1)
    assert result.mean_delay_events == 1.0
    assert (result.noise_events, result.noise_offers, result.false_trigger_rate) == (1, 1, 1.0)
    assert result.premature_offers == 0


def test_the_shipped_mobile_set_is_what_the_generator_makes():
    instances = mobile.generate()
    lines = "".join(json.dumps(i.__dict__, sort_keys=True) + "\n" for i in instances)
    assert lines == mobile.shipped_set_path().read_text()
    for instance in instances:
        events = instance.events()
        assert [e.attributes["dimension"] for e in events] == list(mobile.DIMENSIONS)


def test_partial_success_takes_the_best_gold_sequence():
    gold = [["directions_url", "open_url"], ["directions_url"]]
    assert mobile.partial_success(["directions_url", "open_url"], gold) == 1.0
    assert mobile.partial_success(["open_url"], gold) == 0.5
    assert mobile.partial_success([], [[]]) == 1.0
    assert mobile.partial_success(["calculate"], [[]]) == 0.0


def test_the_drafting_planner_plans_with_the_slow_paths_prompt_and_validation(tmp_path):
    from tools import default_pool

    pool = default_pool(tmp_path)

    class Planner:
        name = "scripted"

        def __init__(self, answer: dict) -> None:
            self.answer = answer

        def complete(self, messages, schema):
            assert "Battery at 5%" in messages[1]["content"]
            return ChatReply(json.dumps(self.answer))

    plan = {
        "speak": "Battery is low: shall I turn on battery saver?",
        "task": "Save battery",
        "why_now": "battery low",
        "expected_benefit": "lasts the trip",
        "tool_plan": [
            {"tool": "toggle_setting", "args": {"setting": "battery_saver", "enabled": True}}
        ],
    }
    [instance] = [
        i for i in mobile.load_set(mobile.shipped_set_path()) if i.id == "battery-low-navigating-0"
    ]
    instance = mobile.MobileInstance(
        **{**instance.__dict__, "signals": {**instance.signals, "device": "Battery at 5%"}}
    )
    scores = mobile.run_mobile([instance], mobile.drafting_planner(Planner(plan), pool), "p")
    assert (scores.exact, scores.partial, scores.act_accuracy) == (1.0, 1.0, 1.0)
    # A plan naming a tool the pool lacks is no plan at all.
    bad = {**plan, "tool_plan": [{"tool": "teleport", "args": {}}]}
    scores = mobile.run_mobile([instance], mobile.drafting_planner(Planner(bad), pool), "p")
    assert (scores.exact, scores.act_accuracy) == (0.0, 0.0)


def test_one_command_writes_the_report_with_llm_judge_and_slow_path(
    trained_home, proactivebench, judge_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("FESTINA_HOME", str(trained_home))
    # The offline reward judge on a stand-in encoder: its wiring, not MiniLM's figures.
    monkeypatch.setattr("evals.cli._offline_judge_embeddings", lambda *_: Embeddings(bag_of_words))
    out = tmp_path / "report"
    args = ["eval", "report", "--data", str(proactivebench), "--out", str(out), "--quiet"]
    args += ["--trace", "code_11", "--trace", "writing_11"]
    args += ["--section", "proactivebench", "--section", "mobile"]
    args += ["--judge-url", judge_url, "--judge-model", "judge"]
    args += ["--slow-path", "llm", "--llm-url", judge_url, "--llm-model", "drafter"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for name in (
        "report.md",
        "report.html",
        "results.json",
        "delta_sweep.png",
        "cost_sweep.png",
        "reliability.png",
    ):
        assert (out / name).stat().st_size > 0
    results = json.loads((out / "results.json").read_text())
    replay = results["proactivebench"]["replay"]
    rows = replay["scores"]["all"]
    assert [r["name"] for r in rows[:2]] == ["festina (replay)", "always propose"]
    assert len(rows) == 17  # festina, always propose and the 15 peers
    # The fake judge accepts every proposal and no silence: precision 1 for everyone.
    assert all(r["precision"] == 1.0 for r in rows if r["tp"] + r["fp"])
    assert all(r["tn"] == 0 for r in rows)
    traces = {
        p.stem: json.loads(p.read_text()) for p in (out / "traces" / "festina").glob("*.json")
    }
    assert set(traces) == {"code_11", "writing_11"}
    expected = {t.name: len(t.events) for t in load_traces(proactivebench)}
    for name, items in traces.items():
        assert len(items) == expected[name]
        assert all(isinstance(i["agent_response"], list) and "observation" in i for i in items)
        # Leave-one-trace-out: each trace was decided by a gate that never saw it.
        assert {i["festina"]["gate"] for i in items} == {f"loto-without-{name}"}
    assert [r["delta"] for r in results["proactivebench"]["delta_sweep"]] == sorted(
        r["delta"] for r in results["proactivebench"]["delta_sweep"]
    )
    # The band decides escalation: none without it, some at its widest. The rows between
    # need not rise steadily: an offer the user then did by hand is learnt as welcome, so
    # each run's later p_accept depends on what its own earlier decisions offered.
    escalated = [r["escalated_fraction"] for r in results["proactivebench"]["delta_sweep"]]
    assert escalated[0] == 0.0 < escalated[-1]
    # Across collections: the two test recordings replayed by a gate trained on the other
    # collection, priced at every ratio beside the constant policies.
    [transfer] = results["proactivebench"]["transfer"]
    assert transfer["scheme"] == "extra_traces -> test_data"
    assert transfer["recordings"] == ["code_11", "writing_11"]
    assert {r["agent"] for r in transfer["costs"]} == {"festina", "always offer", "never offer"}
    assert {r["cost_ratio"] for r in transfer["costs"]} == {1, 2, 3, 5, 8, 13}
    # Cost: the slow path drafted on the model and the judge was asked, both paid in tokens.
    cost = replay["cost"]
    assert cost["deliberations"] > 0 and cost["slow_path_tokens"] == 60 * cost["deliberations"]
    assert replay["judge_tokens"] > 0
    offered = [i["agent_response"][0] for items in traces.values() for i in items]
    assert PROPOSAL["task"] in offered  # drafted by the model, offered by the runtime
    mobile_rows = {r["planner"]: r for r in results["mobile"]["results"]}
    # Retrieval and templates at two cost ratios, templates without the gate, the model.
    assert len(mobile_rows) == 6 and all(r["instances"] == 48 for r in mobile_rows.values())
    assert mobile_rows["templates (no gate)"]["act_accuracy"] == 40 / 48
    drafted = mobile_rows["slow path (openai:drafter)"]
    # It always plans a web search: never a gold sequence, but it acts in the 40 instances
    # (10 scenarios) where acting is right.
    assert (drafted["exact"], drafted["act_accuracy"]) == (0.0, 40 / 48)
    assert "## ProactiveBench replay" in (out / "report.md").read_text()
    # Beside the LLM judge, the offline reward judge scored festina and every peer too,
    # and said what the slow path's counterfactual check changed.
    offline = results["proactivebench"]["offline_judge"]
    assert offline["replay"]["judge"].startswith("offline judge")
    assert len(offline["replay"]["scores"]["all"]) == 17
    slow = offline["slow_path"]
    assert slow["deliberations"] == cost["deliberations"]
    assert slow["kept"] + slow["held_back"] == slow["drafted_offers"] > 0


def test_bad_records_in_a_pira_set_are_reported_with_their_place():
    bad = pira.Trajectory("bad", {}, [pira.PiraEvent(-1e30, "x", None, False, "device", "S")])
    with pytest.raises(ValueError, match="bad:1"):
        bad.festina_events()


class ScoresByText:
    """A gate that needs help exactly on events whose text says "error"."""

    version = "by-text"

    def score(self, windows):
        from gate.base import GateScores

        return [
            GateScores(0.9, 0.9) if "error" in w[-1].text else GateScores(0.05, 0.05)
            for w in windows
        ]


def test_pira_runs_the_runtime_for_each_variant_through_a_simulated_user():
    from gate.policy import GatePolicy

    trajectory = pira.Trajectory(
        "t",
        {"a": {"trace": "x", "start": "0"}},
        [
            pira.PiraEvent(1.0, "The user opens a file in an editor", "a", False),
            pira.PiraEvent(2.0, "A Slack notification", None, False, "notification", "Slack"),
            pira.PiraEvent(3.0, "The user sees an error in the terminal", "a", True),
        ],
    )
    gates = []

    def gate_for(t):
        gates.append(t.id)
        return ScoresByText()

    results = pira.run_pira([trajectory], gate_for, GatePolicy(delta=0.0))
    assert gates == ["t"]  # one gate per trajectory, shared by the variants
    assert [r.variant for r in results] == [v.name for v in pira.VARIANTS]
    for r in results:
        assert (r.events.tp, r.events.fp, r.threads_detected, r.noise_offers) == (1, 0, 1, 0)


def test_an_unreachable_judge_is_a_clear_error_not_a_traceback(
    trained_home, proactivebench, tmp_path, monkeypatch
):
    monkeypatch.setenv("FESTINA_HOME", str(trained_home))
    args = ["eval", "report", "--data", str(proactivebench), "--out", str(tmp_path), "--quiet"]
    args += ["--section", "proactivebench", "--trace", "code_11", "--no-offline-judge"]
    args += ["--judge-url", f"http://127.0.0.1:{free_port()}/v1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "the judge failed" in result.output
    assert list((tmp_path / "cache").glob("judge-*.json"))  # saved even though the run failed
