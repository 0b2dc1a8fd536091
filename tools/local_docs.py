"""`local_docs`: a search answered from the documentation already on this machine.

A how-to search ("asyncio TaskGroup cancel example", "python dict get default", "tar
extract to directory", "git rebase onto") has its answer on the person's own machine more
often than not: in Python's standard library and in the installed commands' manual pages.
This tool finds, in the query's words:
- Python standard-library names: a module of `sys.stdlib_module_names` (or a built-in,
  in a question about Python) with the words that are its attributes (`asyncio.TaskGroup`,
  `dict.get`; a bare module names nothing specific), with their signature and docstring's
  paragraphs (the first, and those holding the query's other words), looked up by a child
  interpreter that can import nothing but the standard library (`tools.stdlib_lookup`);
- commands installed here (on PATH) whose options hold what the query asks (see
  `manual_entries`), with their manual page's NAME line, SYNOPSIS and those options
  (`tools.manual`: the page is read, the program never run). A command's own page for a
  subcommand ("git rebase" is `git-rebase`) is read where there is one.

Where nothing matches it says so: the result is never empty. The template drafter looks
a search up before offering (`look_up`), so that an offer promises an answer only where
there is one.
"""

from __future__ import annotations

import builtins
import itertools
import json
import math
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from tools.base import Tool, ToolArgs, ToolContext, ToolResult
from tools.manual import (
    OptionEntry,
    manual_text,
    name_line,
    option_entries,
    section,
    synopsis,
)

LOOKUP_TIMEOUT_S = 10.0
MAX_PAGES = 2
MAX_OPTIONS = 4
MAX_COMMAND_WORDS = 3
MAX_DESCRIPTION = 160
BUDGET_CHARS = 1100
"""What a result holds at most: a step's text is shown cut at 1200 characters."""

# Words of a question, not of what it is about: "how to extract a tar file in linux".
QUESTION_WORDS = frozenset(
    """
how to do does doesn don i can cannot you we what whats why when where is isn are the a an
in on of for with using use and or by from into my it not no linux ubuntu debian bash shell
unix command commands terminal cli example examples
""".split()  # noqa: SIM905
)
PYTHON_WORDS = frozenset({"python", "python3", "py"})
_QUERY_WORD = re.compile(r"[\w.+-]+")
_TEXT_WORD = re.compile(r"[a-z0-9]+")
# How long an ending may be, for a word shorter than four letters and for a longer one:
# "day" and "days", "sort" and "sorting".
_ENDING = (1, 3)
# An option's own name in its heading: "--directory=DIR", "-mtime n".
_OPTION_NAME = re.compile(r"(?<![\w-])--?([a-z][\w-]+)")
_PROGRAM = re.compile(r"[A-Za-z0-9][\w.+-]{0,63}")
_LOOKUP_SOURCE = Path(__file__).with_name("stdlib_lookup.py")


class LocalDocsArgs(ToolArgs):
    query: str = Field(
        min_length=1, max_length=200, description="the search or question, in its own words"
    )


class LocalDocs(Tool):
    name = "local_docs"
    description = (
        "Answer a search from the documentation on this machine: Python standard-library "
        "docstrings and signatures, and installed commands' manual pages (synopsis and the "
        "options the query names). Reads only; runs no program it describes."
    )
    Args: ClassVar = LocalDocsArgs

    def run(self, args: LocalDocsArgs, context: ToolContext) -> ToolResult:
        found = look_up(args.query)
        if not found.text:
            return ToolResult(
                output=(
                    f"Nothing on this machine answers '{args.query}': no Python "
                    "standard-library name and no installed command's manual page matches it."
                )
            )
        return ToolResult(output=found.text)


@dataclass(frozen=True)
class LocalAnswer:
    """What the documentation here holds for a query: the names found (`asyncio.TaskGroup`,
    `tar(1)`: a manual page with its section) and their text, one block each, within
    BUDGET_CHARS."""

    names: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "\n\n".join(self.blocks)

    def described(self) -> str:
        """The names in words: "Python's documentation of dict.get and tar's manual page"."""
        python = [n for n in self.names if not n.endswith(")")]
        pages = [n.rsplit("(", 1)[0] for n in self.names if n.endswith(")")]
        parts = [f"Python's documentation of {' and '.join(python)}"] if python else []
        parts += [f"{' and '.join(pages)}'s manual page"] if pages else []
        return " and ".join(parts)


def look_up(query: str) -> LocalAnswer:
    """The standard-library names and the manual pages `query` names, as `local_docs`
    shows them. Starts a child interpreter and `man`: a few hundred milliseconds."""
    words = _words(query)
    python = python_entries(query)
    found = [*python, *manual_entries(words, after_python=bool(python))]
    kept: list[tuple[str, str]] = []
    for name, block in found:
        if kept and sum(len(b) for _, b in kept) + len(block) > BUDGET_CHARS:
            break
        kept.append((name, block))
    return LocalAnswer(tuple(n for n, _ in kept), tuple(b for _, b in kept))


def may_answer(query: str) -> bool:
    """Whether `query` holds a word the documentation here may answer for, cheaply
    (nothing read, nothing run): a standard-library module, or a built-in in a Python
    question, with another word after it (its attribute, maybe), or an installed
    command. Only then is it worth a `look_up`."""
    words = _words(query)
    about_python = bool(PYTHON_WORDS & set(words))
    for index, word in enumerate(words):
        root = word.split(".")[0]
        followed = "." in word or index + 1 < len(words)
        if not followed or root.startswith("_"):
            continue
        if root in sys.stdlib_module_names or (about_python and root in _BUILTIN_NAMES):
            return True
    return bool(_command_words(words))


_BUILTIN_NAMES = frozenset(n.lower() for n in dir(builtins) if not n.startswith("_"))


def _words(query: str) -> list[str]:
    return [w.strip(".,;:?!'\"()").lower() for w in _QUERY_WORD.findall(query)]


def python_entries(query: str) -> list[tuple[str, str]]:
    """The standard-library names the query holds, each with its block of text (see
    `tools.stdlib_lookup`); none when the lookup fails or finds nothing."""
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _LOOKUP_SOURCE.read_text(), query],
            capture_output=True,
            text=True,
            timeout=LOOKUP_TIMEOUT_S,
            check=False,
        )
        found = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    if not isinstance(found, dict):
        return []
    version = found.get("python", "")
    return [
        (
            entry["name"],
            f"{entry['name']}{entry['signature']} (Python {version} {entry['kind']}):\n"
            f"{entry['doc'] or 'no documentation'}",
        )
        for entry in found.get("found", [])
    ]


def _command_words(words: list[str]) -> list[str]:
    """The query's words that name an installed command, in order, at most
    MAX_COMMAND_WORDS (each is a manual page to read)."""
    content = [w for w in words if w not in QUESTION_WORDS and _installed(w)]
    return list(dict.fromkeys(content))[:MAX_COMMAND_WORDS]


def _installed(word: str) -> bool:
    return bool(_PROGRAM.fullmatch(word)) and shutil.which(word) is not None


def manual_entries(words: list[str], *, after_python: bool = False) -> list[tuple[str, str]]:
    """The manual pages of the commands the query names, each with its block of text.

    A word followed by one that names its own page ("git rebase": `git-rebase`) is read
    as that page. Any other installed command the query names counts when its options
    hold what the query asks: two of its other words in their headings, or its only one
    ("tar extract to directory", "how to extract a tar"), or most of them in one option
    ("find files modified in the last day"); not a command the sentence names in passing ("file
    not found", "how to test a flask app", "last" in "files modified in the last day"). A
    query that is the command alone ("how to use rsync") gets its page. After
    Python names were found, only a subcommand's page: "python" or "sort" in a Python
    question is not a question about those programs."""
    candidates = _command_words(words)
    pages: list[tuple[str, str]] = []
    for index, word in enumerate(words[:-1]):
        subcommand = f"{word}-{words[index + 1]}"
        if (
            word not in QUESTION_WORDS
            and _installed(word)
            and _page(subcommand, words, pages, named=True)
        ):
            candidates = [c for c in candidates if c not in (word, words[index + 1])]
    if not after_python:
        for word in candidates:
            _page(word, words, pages, named=False)
    return pages[:MAX_PAGES]


def _page(page: str, words: list[str], pages: list[tuple[str, str]], *, named: bool) -> bool:
    """Add `page` and its block to `pages` if it exists and, unless the query `named` it
    as a subcommand, its options' headings hold two of the query's other words (or its
    only one). Whether it was added."""
    if len(pages) >= MAX_PAGES or any(name.startswith(f"{page}(") for name, _ in pages):
        return False
    text = manual_text(page, "1,8")
    if text is None:
        return False
    own = set(page.split("-"))
    wanted = [w for w in dict.fromkeys(words) if w not in QUESTION_WORDS and w not in own]
    wanted = [w for w in wanted if len(w) >= 3 and w not in PYTHON_WORDS]
    phrase = " ".join(w for w in words if w not in own and w not in PYTHON_WORDS)
    options, in_headings, most = _matching(option_entries(text), wanted, phrase.strip())
    # A command the query names in passing ("last" in "files modified in the last day",
    # "file" in "file not found") is not what it asks about unless its options name what
    # it asks: in their headings, or most of its words in one option.
    asks = len(in_headings) >= min(2, len(wanted)) or (len(wanted) >= 2 and most > len(wanted) / 2)
    if not named and not asks:
        return False
    name = f"{page}({section(text)})"
    lines = [f"{name}: {name_line(text) or page}"]
    program = page.split("-")[0]
    lines += [f"  {line}" for line in synopsis(text, 6) if line.startswith(program)][:2]
    if options:
        lines.append(f"Options about {', '.join(repr(w) for w in wanted)}:")
        for entry in options:
            lines.append(f"  {entry.heading}: {_first_sentence(entry.description)}")
    pages.append((name, "\n".join(lines)))
    return True


def _matching(
    entries: list[OptionEntry], wanted: list[str], phrase: str
) -> tuple[list[OptionEntry], set[str], int]:
    """The entries holding the wanted words, best first, at most MAX_OPTIONS; the wanted
    words some option's heading holds; and the most wanted words one option holds.

    A word counts three times in the option's own name ("directory" is `--directory`,
    "ignore case" is `--ignore-case`), twice elsewhere in the heading
    (`--keep-directory-symlink`), once in the description; each by how rare it is among
    the page's options (a word most options mention, "file" in find's page, says little);
    the query's words as one phrase in the description ("sort by time" is `-t`'s) count
    as much as a name."""
    levels = [_levels(entry, wanted) for entry in entries]
    rarity = {
        word: math.log((1 + len(entries)) / (1 + sum(word in level for level in levels))) + 1
        for word in wanted
    }
    scored = []
    for position, (entry, level) in enumerate(zip(entries, levels, strict=True)):
        score = sum(rarity[word] * times for word, times in level.items())
        if " " in phrase and phrase in " ".join(entry.description.lower().split()):
            score += 3 * max(rarity.values(), default=1.0)
        if score:
            scored.append((-score, position, entry))
    in_headings = {word for level in levels for word, times in level.items() if times >= 2}
    most = max((len(level) for level in levels), default=0)
    return [entry for _, _, entry in sorted(scored)[:MAX_OPTIONS]], in_headings, most


def _levels(entry: OptionEntry, wanted: list[str]) -> dict[str, int]:
    """Per wanted word the entry holds: 3 in an option's own name, 2 elsewhere in the
    heading, 1 in the description."""
    names = set(_OPTION_NAME.findall(entry.heading.lower()))
    pairs = {f"{a}-{b}": (a, b) for a, b in itertools.pairwise(wanted)}
    found: dict[str, int] = {}
    for joined, pair in pairs.items():
        if any(_holds({name}, joined) for name in names):
            found.update(dict.fromkeys(pair, 3))
    heading = set(_TEXT_WORD.findall(entry.heading.lower()))
    description = set(_TEXT_WORD.findall(entry.description.lower()))
    for word in wanted:
        if word in found:
            continue
        if any(_holds({name}, word) for name in names):
            found[word] = 3
        elif _holds(heading, word):
            found[word] = 2
        elif _holds(description, word):
            found[word] = 1
    return found


def _holds(text_words: set[str], word: str) -> bool:
    """A word of the query among the text's, an ending aside: "recursive" holds
    "recursively", "files" holds "file's", "modified" holds "modification"; "extract"
    does not hold "extra", nor "day" "daystart": a longer word is another word."""
    for candidate in text_words:
        shorter, longer = sorted((candidate, word), key=len)
        if longer.startswith(shorter) and len(longer) - len(shorter) <= _ENDING[len(shorter) >= 4]:
            return True
        common = len(_common_prefix(candidate, word))
        if common >= 5 and common >= 0.75 * len(word):
            return True
    return False


def _common_prefix(a: str, b: str) -> str:
    size = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        size += 1
    return a[:size]


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0]
    return sentence if len(sentence) <= MAX_DESCRIPTION else sentence[: MAX_DESCRIPTION - 1] + "…"
