"""What the command line prints: no library chatter, whole summaries in group help, one
style of error message, plurals, and a legend for the `by` column."""

from __future__ import annotations

import logging
import warnings

from agent import logs
from agent.pidlock import PidLock
from tests.helpers import event_record, festina, write_jsonl


def test_a_first_run_prints_no_migration_lines_and_counts_in_good_english(tmp_path):
    home = tmp_path / "home"
    trace = write_jsonl(tmp_path / "t.jsonl", [event_record(1), "{broken"])
    result = festina("daemon", "run", "--source", f"jsonl:{trace}", home=home)
    assert result.returncode == 0, result.stderr
    assert "alembic" not in result.stderr  # a dozen INFO lines on a fresh database before
    assert "accepted 1 event: 1 decided" in result.stdout
    assert "1 malformed input rejected" in result.stdout
    offers = int(result.stdout.split(" made")[0].rsplit(" ", 2)[-2])
    assert (f"{offers} offer made" if offers == 1 else f"{offers} offers made") in result.stdout


def test_migration_lines_are_still_in_the_log_at_debug(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[daemon]\nlog_level = "DEBUG"\n', encoding="utf-8")
    trace = write_jsonl(tmp_path / "t.jsonl", [event_record(1)])
    result = festina("daemon", "run", "--source", f"jsonl:{trace}", home=home)
    assert result.returncode == 0, result.stderr
    log = (home / "logs" / "festina.log").read_text()
    assert "DEBUG alembic.runtime.migration: Running upgrade" in log


class TracerWarning(Warning):
    """Named like torch.jit.TracerWarning, which is matched by name (torch stays unimported)."""


def test_tracer_warnings_go_to_the_log_at_debug_not_the_terminal(monkeypatch, caplog):
    shown: list[str] = []
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    # Where other warnings still go: Python's own display, recorded here.
    monkeypatch.setattr(logs, "_show_warning", lambda message, *_: shown.append(str(message)))
    logs.quiet_library_noise()
    with caplog.at_level(logging.DEBUG, logger="festina.warnings"), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("Converting a tensor to a Python boolean", TracerWarning, stacklevel=1)
        warnings.warn("something else", UserWarning, stacklevel=1)
    assert shown == ["something else"]
    assert any("Converting a tensor" in r.getMessage() for r in caplog.records)


def test_group_help_shows_whole_summaries(tmp_path):
    for group in ([], ["daemon"], ["memory"], ["gate"], ["feedback"]):
        result = festina(*group, "--help", home=tmp_path)
        assert result.returncode == 0, result.stderr
        commands = result.stdout.split("Commands:", 1)[1]
        assert "..." not in commands, commands
    top = " ".join(festina("--help", home=tmp_path).stdout.split())
    assert "Tell festina what you did with its offers, and see what it learned." in top


def test_errors_share_one_style(tmp_path):
    home = tmp_path / "home"
    with PidLock(home / "data" / "festina.pid"):
        running = festina("daemon", "run", home=home)
        starting = festina("daemon", "start", home=home)
    unknown = festina("daemon", "run", "--source", "kafka:x", home=home)
    for result in (running, starting, unknown):
        assert result.returncode != 0
        assert result.stderr.splitlines()[-1].startswith("Error: "), result.stderr
    assert running.returncode == starting.returncode == 3


def test_decisions_end_with_a_legend_of_the_by_column(tmp_path):
    home = tmp_path / "home"
    trace = write_jsonl(
        tmp_path / "t.jsonl",
        [
            event_record(i, text=f"The user searches for 'error {i % 2}' after a crash")
            for i in range(6)
        ],
    )
    assert festina("daemon", "run", "--source", f"jsonl:{trace}", home=home).returncode == 0
    lines = festina("decisions", home=home).stdout.splitlines()
    legend = lines[-1]
    assert legend.startswith("by: ")
    shown = {line.split()[4] for line in lines[1:-1] if line[:1].strip()}
    for decider in shown:
        assert (decider if not decider.startswith("graph:") else "graph:…") in legend
    assert "gate = the gate's cost rule" in legend


def test_each_decision_is_one_row_even_for_a_terminal_s_many_lines(tmp_path):
    home = tmp_path / "home"
    output = "$ python3 invoice.py\nTraceback (most recent call last):\nKeyError: 'price'"
    trace = write_jsonl(tmp_path / "t.jsonl", [event_record(0, text=output)])
    assert festina("daemon", "run", "--source", f"jsonl:{trace}", home=home).returncode == 0
    rows = festina("decisions", home=home).stdout.splitlines()[1:-1]
    [row] = [line for line in rows if line[:1].strip()]  # one row; offers' lines are indented
    assert row.endswith("| $ python3 invoice.py Traceback (most recent call last): KeyEr")
