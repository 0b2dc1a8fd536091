"""`local_docs`: a search answered from this machine's own documentation. The real
standard library read by a real child interpreter, and real `man` reading pages written
here (the image may ship without Debian's pages), for programs that record being run."""

from __future__ import annotations

import inspect
import json
import os
import shutil
from datetime import UTC, datetime

import pytest

from agent.slowpath.drafter import DraftRequest
from agent.slowpath.proposal import parse_proposal
from agent.slowpath.template_drafter import TemplateDrafter
from core.events import Event
from core.outcome import StepStatus, outcomes_of
from tools import default_pool
from tools.local_docs import look_up, may_answer, python_entries

needs_man = pytest.mark.skipif(not shutil.which("man"), reason="needs man")

FESTAR_PAGE = r""".TH FESTAR 1
.SH NAME
festar \- an archiving utility
.SH SYNOPSIS
.B festar
[\fIOPTIONS\fR] [\fIFILE\fR...]
.SH OPTIONS
.TP
\fB\-A\fR, \fB\-\-catenate\fR
Append archive to the end of another archive.
.TP
\fB\-\-keep\-old\-files\fR
Don't replace existing files when extracting.
.TP
\fB\-C\fR, \fB\-\-directory\fR=\fIDIR\fR
Change to DIR before performing any operations.
.TP
\fB\-x\fR, \fB\-\-extract\fR
Extract files from an archive.
-T option.  This line is prose: the paragraph goes on.
.TP
\fB\-v\fR, \fB\-\-verbose\fR
List the files processed.
"""

REBASE_PAGE = r""".TH FESGIT-REBASE 1
.SH NAME
fesgit-rebase \- Reapply commits on top of another base tip
.SH SYNOPSIS
.B fesgit rebase
[\fB\-\-onto\fR \fInewbase\fR] [\fIupstream\fR]
.SH OPTIONS
.TP
\fB\-\-onto\fR \fInewbase\fR
Starting point at which to create the new commits.
.TP
\fB\-\-root\fR
Rebase all commits reachable from branch.
"""

LASTLOG_PAGE = r""".TH FESLAST 1
.SH NAME
feslast \- show a listing of last logged in users
.SH OPTIONS
.TP
\fB\-f\fR, \fB\-\-file\fR \fIfile\fR
Use a specific file instead of wtmp.
"""


@pytest.fixture
def pool(tmp_path):
    return default_pool(tmp_path / "workspace")


@pytest.fixture
def manuals(tmp_path, monkeypatch):
    """Programs on PATH that record it when run, and their manual pages (MANPATH)."""
    pages = tmp_path / "man" / "man1"
    pages.mkdir(parents=True)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    ran = tmp_path / "ran"
    for program, page in (
        ("festar", FESTAR_PAGE),
        ("fesgit", REBASE_PAGE),
        ("feslast", LASTLOG_PAGE),
    ):
        name = page.split("\n")[0].split()[1].lower()
        (pages / f"{name}.1").write_text(page)
        script = bin_ / program
        script.write_text(f"#!/bin/sh\necho {program} >> {ran}\n")
        script.chmod(0o755)
    monkeypatch.setenv("MANPATH", str(tmp_path / "man"))
    monkeypatch.setenv("PATH", f"{bin_}:{os.environ['PATH']}")
    return ran


def _docs(pool, query: str):
    [outcome] = outcomes_of([pool.call("local_docs", {"query": query}).as_step(0, "local_docs")])
    return outcome


def test_it_is_a_typed_read_only_tool(pool):
    tool = pool.get("local_docs")
    assert tool.side_effect is False  # runs unconfirmed, like any look-up
    assert tool.schema()["parameters"]["required"] == ["query"]
    assert not pool.call("local_docs", {"query": "tar", "page": "tar"}).ok  # unknown field
    assert not pool.call("local_docs", {"query": ""}).ok


def test_a_standard_library_name_is_answered_with_its_docstring_and_signature(pool):
    import asyncio

    outcome = _docs(pool, "asyncio TaskGroup cancel example")
    assert outcome.status is StepStatus.DONE
    doc = inspect.getdoc(asyncio.TaskGroup)
    assert outcome.text.startswith("asyncio.TaskGroup() (Python 3.")
    assert doc.splitlines()[0] in outcome.text
    # The paragraph about cancelling, and the example the query asked for.
    assert "a task will cancel all remaining tasks and wait for them to exit." in outcome.text
    assert "async with asyncio.TaskGroup() as group:" in outcome.text


def test_a_built_in_s_method_is_found_from_words_in_any_order(pool):
    expected = f"dict.get{inspect.signature(dict.get)}"
    for query in ("python dict get default", "how to get a python dict default"):
        text = _docs(pool, query).text
        assert text.startswith(expected), query
        assert inspect.getdoc(dict.get) in text


def test_a_module_s_namesake_class_and_dotted_names_are_followed(pool):
    import datetime as datetime_module
    import os.path

    strptime = _docs(pool, "datetime strptime format").text
    assert strptime.startswith("datetime.datetime.strptime")
    assert inspect.getdoc(datetime_module.datetime.strptime).splitlines()[0] in strptime
    joined = _docs(pool, "os.path.join").text
    assert joined.startswith(f"os.path.join{inspect.signature(os.path.join)}")


def test_a_bare_module_or_built_in_names_nothing_specific():
    # "socket" in a question about postgres, "time" in a question about time series: a
    # common word that names a module is no question about it; its attribute would be.
    assert python_entries("postgres connection refused socket") == []
    assert python_entries("advanced time series analysis techniques in Python") == []
    assert [name for name, _ in python_entries("socket timeout")] == ["socket.timeout"]
    # A built-in counts in a question about Python only ("set difference" in SQL).
    assert python_entries("set difference") == []
    assert [name for name, _ in python_entries("python set difference")] == ["set.difference"]


def test_only_the_standard_library_is_ever_imported(pool, tmp_path, monkeypatch):
    # A json.py of someone's project, first on every path Python might take: never run.
    planted = tmp_path / "project"
    planted.mkdir()
    marker = tmp_path / "imported"
    (planted / "json.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(planted)
    monkeypatch.setenv("PYTHONPATH", str(planted))
    text = _docs(pool, "json dumps indent").text
    assert text.startswith("json.dumps(") and "indent" in text
    assert not marker.exists()
    # A package installed beside festina is no standard library: nothing is imported.
    assert python_entries("python pydantic BaseModel") == []
    assert python_entries("pydantic.BaseModel") == []
    # Modules whose import acts are never imported: antigravity would open a browser.
    browser = tmp_path / "browser"
    opener = tmp_path / "opener"
    opener.write_text(f"#!/bin/sh\necho $1 >> {browser}\n")
    opener.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(opener))
    assert python_entries("python antigravity fly") == []
    assert python_entries("python antigravity.geohash") == []
    assert python_entries("python this.s") == []
    assert not browser.exists()


@needs_man
def test_a_command_is_answered_from_its_manual_never_by_running_it(pool, manuals):
    outcome = _docs(pool, "festar extract to directory")
    assert outcome.status is StepStatus.DONE
    lines = outcome.text.splitlines()
    assert lines[:2] == ["festar(1): festar - an archiving utility", "  festar [OPTIONS] [FILE...]"]
    assert lines[2] == "Options about 'extract', 'directory':"
    # The options the words name, named ones first; the prose line starting with an
    # option and the options the words do not name are left out.
    assert lines[3:] == [
        "  -C, --directory=DIR: Change to DIR before performing any operations.",
        "  -x, --extract: Extract files from an archive.",
        "  --keep-old-files: Don't replace existing files when extracting.",
    ]
    assert not manuals.exists()  # festar itself never ran


@needs_man
def test_a_subcommand_s_own_page_is_read(pool, manuals):
    text = _docs(pool, "fesgit rebase onto").text
    assert text.splitlines() == [
        "fesgit-rebase(1): fesgit-rebase - Reapply commits on top of another base tip",
        "  fesgit rebase [--onto newbase] [upstream]",
        "Options about 'onto':",
        "  --onto newbase: Starting point at which to create the new commits.",
    ]
    assert not manuals.exists()


@needs_man
def test_a_command_named_in_passing_is_not_what_the_query_asks(pool, manuals):
    # "festar" is not the query's first word, but its options name what it asks.
    assert _docs(pool, "how to extract a festar").text.startswith("festar(1)")
    assert _docs(pool, "how to use festar").text.startswith("festar(1)")  # the command alone
    # "feslast" is a word of the sentence: one option heading shares one word with it.
    text = _docs(pool, "find files modified in the feslast day").text
    assert text.startswith("Nothing on this machine answers")
    assert not look_up("festar not found").names  # no option of festar says so
    # Most of what is asked, in one option's words, is asked of it (find's -mtime for
    # "files modified in the last day"); one word of three is not.
    assert look_up("festar change to another directory before operations").names == ("festar(1)",)
    assert not look_up("festar archive error found").names
    assert not manuals.exists()


def test_nothing_found_says_so(pool, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    outcome = _docs(pool, "css grid center element")
    assert outcome.status is StepStatus.DONE
    assert outcome.text == (
        "Nothing on this machine answers 'css grid center element': no Python "
        "standard-library name and no installed command's manual page matches it."
    )


# --- in the plans of a search ---------------------------------------------------------------

MORNING = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def _search(query: str) -> list[Event]:
    return [
        Event(time=MORNING, source="t", kind="browser", text=f"The user searches for '{query}'")
    ]


def test_only_a_query_naming_such_a_word_is_looked_up(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert may_answer("asyncio TaskGroup cancel example")
    assert may_answer("python dict get default")
    assert may_answer("os.path.join")
    assert not may_answer("postgres connection refused socket")  # socket, the last word
    assert not may_answer("dict get")  # a built-in counts in a Python question only
    assert not may_answer("css grid center element")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "tar").write_text("#!/bin/sh\n")
    (tmp_path / "empty" / "tar").chmod(0o755)
    assert may_answer("how to extract a tar to a directory")


def test_what_was_found_is_said_in_words():
    from tools.local_docs import LocalAnswer

    assert LocalAnswer(("dict.get",)).described() == "Python's documentation of dict.get"
    both = LocalAnswer(("json.dumps", "json.loads", "tar(1)", "git-rebase(1)")).described()
    assert both == (
        "Python's documentation of json.dumps and json.loads and tar and git-rebase's manual page"
    )


def test_a_search_naming_something_gets_the_answer_here_first(pool, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    drafter = TemplateDrafter(pool)
    [best, *_] = drafter.rank(DraftRequest(_search("asyncio TaskGroup cancel example")))
    offer = best.candidate
    assert offer.key == "search"
    assert offer.speak == (
        "Searching for 'asyncio TaskGroup cancel example'? I can show Python's documentation "
        "of asyncio.TaskGroup, open the search in your browser and keep it in today's session "
        "note."
    )
    # Three steps, as a proposal holds: the answer here takes the notes' place.
    assert [call.tool for call in offer.plan] == ["local_docs", "open_url", "add_to_session_note"]
    # What the graph checks of every draft: the schema, and each call against the pool.
    request = DraftRequest(_search("asyncio TaskGroup cancel example"))
    assert parse_proposal(drafter.draft(request).text, pool).task == offer.task
    assert offer.plan[0].args == {"query": "asyncio TaskGroup cancel example"}
    [how, *_] = drafter.rank(DraftRequest(_search("how to cancel an asyncio TaskGroup")))
    assert how.candidate.key == "how-to"
    assert how.candidate.plan[0].tool == "local_docs"
    assert how.candidate.speak == (
        "Looking up 'how to cancel an asyncio TaskGroup'? I can show Python's documentation "
        "of asyncio.TaskGroup, find a worked example and check your notes for it."
    )
    # Accepted and run, the answer is the first thing the person sees.
    first = pool.call("local_docs", json.loads(json.dumps(offer.plan[0].args)))
    assert first.ok and "asyncio.TaskGroup()" in first.output


def test_a_how_to_search_is_looked_up_once_for_every_template_that_uses_it(
    pool, tmp_path, monkeypatch
):
    # Both the how-to and the search template offer the answer here; each look-up
    # starts a child interpreter, so drafting pays for one.
    import agent.slowpath.facts as facts_module

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    queries: list[str] = []

    def counted(query: str):
        queries.append(query)
        return look_up(query)

    monkeypatch.setattr(facts_module, "look_up", counted)
    ranked = TemplateDrafter(pool).rank(DraftRequest(_search("how to cancel an asyncio TaskGroup")))
    keys = {r.candidate.key for r in ranked if r.candidate.plan[0].tool == "local_docs"}
    assert keys == {"how-to", "search"}
    assert queries == ["how to cancel an asyncio TaskGroup"]


@pytest.mark.parametrize(
    "query",
    [
        "css grid center element",  # no word the documentation here could hold
        "advanced time series analysis techniques in Python",  # a module, nothing of it
        "How to split a string in ruby?",  # a module and a command, neither asked about
    ],
)
def test_a_search_with_no_answer_here_keeps_its_plan(pool, query):
    [best, *_] = TemplateDrafter(pool).rank(DraftRequest(_search(query)))
    assert best.candidate.plan[0].tool == "search_notes"
    assert "local_docs" not in [call.tool for call in best.candidate.plan]
    assert "documentation" not in best.candidate.speak
