"""explain_error and the notes' full-text search: help for an error without a language
model, from the error's text, the source on disk, Python's documentation and `man`."""

from __future__ import annotations

import shutil

import pytest

from tools import default_pool

TRACEBACK = """\
$ pytest tests/test_invoice.py
Traceback (most recent call last):
  File "{path}", line 4, in total
    return sum(item["price"] * item["qty"] for item in items)
KeyError: 'price'
"""
SOURCE = """\
TAX = 0.2

def total(items):
    return sum(item["price"] * item["qty"] for item in items)
"""


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "invoice.py").write_text(SOURCE)
    return folder


def _explain(pool, **args) -> str:
    result = pool.call("explain_error", args)
    assert result.ok, result.message
    return result.output


def test_a_traceback_is_explained_with_its_failing_lines_and_the_exception(tmp_path, project):
    pool = default_pool(tmp_path / "ws", read_paths=[project])
    source = project / "invoice.py"
    text = _explain(
        pool, error="KeyError: 'price'", context=TRACEBACK.format(path=source)
    ).splitlines()
    assert text[0] == "KeyError: 'price'"
    assert "KeyError (a Python built-in exception): Mapping key not found." in text
    assert any("The key 'price' is missing" in line for line in text)
    where = text.index(f"at {source}, line 4, in total:")
    assert text[where + 1 :] == [
        "     2 | ",
        "     3 | def total(items):",
        '>    4 |     return sum(item["price"] * item["qty"] for item in items)',
    ]


def test_source_outside_the_allowed_folders_is_not_read_and_it_says_why(tmp_path, project):
    pool = default_pool(tmp_path / "ws")  # the project folder is not allowed
    source = project / "invoice.py"
    text = _explain(pool, error="KeyError: 'price'", context=TRACEBACK.format(path=source))
    assert f"at {source}, line 4, in total (source not shown:" in text
    assert "slow_path.read_paths" in text
    assert "return sum" not in text.split("source not shown")[1]


def test_shell_and_linker_errors_say_what_is_missing(tmp_path):
    pool = default_pool(tmp_path / "ws")
    linked = _explain(
        pool,
        error="/usr/bin/ld: cannot find -lssl: No such file or directory",
        command="cc -o shop main.o -lssl",
    )
    assert "no library libssl" in linked and "libssl-dev" in linked
    missing = _explain(pool, error="bash: pytset: command not found", command="pytset -x")
    assert "no program named 'pytset' on PATH" in missing


@pytest.mark.skipif(not (shutil.which("man") and shutil.which("ls")), reason="needs man and ls")
def test_a_failed_command_gets_its_manual_s_summary(tmp_path, monkeypatch):
    # This image drops Debian's manual pages: a page of our own, read by the real man.
    pages = tmp_path / "man" / "man1"
    pages.mkdir(parents=True)
    (pages / "ls.1").write_text(".TH LS 1\n.SH NAME\nls \\- list directory contents\n")
    monkeypatch.setenv("MANPATH", str(tmp_path / "man"))
    pool = default_pool(tmp_path / "ws")
    text = _explain(
        pool, error="ls: cannot access '/nope': No such file or directory", command="ls -l /nope"
    )
    assert text.splitlines()[-1] == "ls: ls - list directory contents"


def test_notes_are_found_by_their_words_best_first(tmp_path):
    notes = tmp_path / "ws" / "notes"
    notes.mkdir(parents=True)
    (notes / "Invoice bug.md").write_text(
        "# Invoice bug\nKeyError 'price': the CSV export lacks a price column for refunds."
    )
    (notes / "Prices.md").write_text("# Prices\nprice list, price rules, priced items: price")
    (notes / "Shopping.md").write_text("# Shopping\npriced items only")
    pool = default_pool(tmp_path / "ws")
    [hit] = pool.call("search_notes", {"query": "KeyError: 'price'"}).output
    assert hit["note"] == "Invoice bug" and "lacks a price column" in hit["passage"]
    ranked = [h["note"] for h in pool.call("search_notes", {"query": "price"}).output]
    assert ranked == ["Prices", "Invoice bug"]  # whole words only, most mentions first
    assert pool.call("search_notes", {"query": "nothing"}).output == []
