"""Help after "yes": `festina eval help` (real failures, reminders, notifications,
searches and pages, each offer accepted and its plan run, the result scored) and
`festina eval answer` (the real daemon, accepted offers timed until their results)."""

from __future__ import annotations

import asyncio
import inspect
import json
import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from tests.helpers import festina


@pytest.mark.skipif(not shutil.which("cc"), reason="the compiler situations need cc")
def test_every_accepted_offer_ends_in_a_visible_result_that_holds_what_is_needed(tmp_path):
    done = festina("eval", "help", "--json", home=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    situations = result["situations"]
    # 60, and the how-to searches whose object or manual page this machine has.
    assert len(situations) >= 66 and sum(s["held_out"] for s in situations) == 20
    assert {s["kind"] for s in situations} == {
        "python error",
        "shell error",
        "compiler error",
        "calendar",
        "notification",
        "search",
        "how-to search",
        "reading",
    }
    assert all(s["offered"] and s["visible"] for s in situations)
    assert sum(s["false_done"] for s in situations) == 0
    parts = {row["group"]: row for row in result["summary"]}
    # The target, on the kept-out part as well as the tuning part.
    assert parts["tuning part"]["holds_what_is_needed"] >= 0.8
    assert parts["kept out"]["holds_what_is_needed"] >= 0.8


def test_eval_answer_times_accepted_offers_on_the_real_daemon(tmp_path):
    done = festina("eval", "answer", "--events", "3", "--json", home=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["offers"] + result["not_offered"] == 3 and result["offers"] >= 1
    assert 0 < result["answer_to_result_ms_p50"] <= result["answer_to_result_ms_p95"]
    assert result["answer_to_result_ms_p95"] <= result["answer_to_result_ms_max"]
    assert result["busy"] is False and result["held_throughout"] is None


def test_eval_answer_busy_times_offers_while_another_plan_s_step_is_held(tmp_path):
    """Each accepted search ends in its result while an accepted explanation is held
    mid-answer by the stand-in model all along (before plans ran side by side, the first
    search's result waited for the explanation, and the run failed)."""
    done = festina(
        "eval", "answer", "--busy", "--events", "3", "--json", home=tmp_path, timeout=240
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["busy"] is True and result["held_throughout"] is True
    assert result["offers"] == 3


def test_how_to_searches_must_hold_what_this_machine_s_documentation_says(tmp_path):
    from evals.help import situations

    made = {s.name: s for s in situations(tmp_path, datetime.now(UTC))}
    cancel = made["howto-python-1"]
    doc = inspect.getdoc(asyncio.TaskGroup).splitlines()
    assert cancel.needs == [
        "asyncio.TaskGroup",
        doc[0],
        "a task will cancel all remaining tasks and wait for them to exit.",
    ]
    assert made["howto-python-0"].needs[:1] == ["dict.get"]
    man = shutil.which("man")
    page = man and subprocess.run([man, "-w", "tar"], capture_output=True, check=False)
    if page and page.returncode == 0 and shutil.which("tar"):
        assert made["howto-man-tar-0"].needs == ["tar", "-C, --directory=DIR", "-x, --extract"]
    else:  # no page to read the needs from: the situation is not made
        assert "howto-man-tar-0" not in made
