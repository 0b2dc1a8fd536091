"""Reading manual pages: `man` renders a page as text and festina reads that text, the
program it describes is never run (a `--help` would be: any program on PATH, with
whatever it does when started).

The page is rendered without hyphenation or justification (`--nh --nj`) at a fixed
width, so its words and option lines read as written; the parts festina shows are its
NAME line, its SYNOPSIS, and option entries (a line starting with `-`, then the lines
indented under it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

MAN_TIMEOUT_S = 5.0
_PAGE = re.compile(r"\w[\w.+-]{0,63}")
_HEADING = re.compile(r"^[A-Z][A-Z0-9 /-]*$")
# Where a sentence starts after an option's words: "-gid n File's numeric group ID...".
_SENTENCE = re.compile(r"\s+([A-Z][a-z'].*)$")
_OPTION = re.compile(r"^(-{1,2}[\w?#]|\+\w)")


@dataclass(frozen=True)
class OptionEntry:
    """One option as the page lists it: its heading line and its first paragraph."""

    heading: str
    description: str


def manual_text(page: str, sections: str = "") -> str | None:
    """The page rendered as plain text, or None: no `man`, no such page, not a page name.
    `sections`: where to look, as man's `-s` takes them ("1,8"); default: man's order."""
    man = shutil.which("man")
    if man is None or not _PAGE.fullmatch(page):
        return None
    where = ["-s", sections] if sections else []
    try:
        done = subprocess.run(
            [man, *where, "--nh", "--nj", "-P", "cat", "--", page],
            capture_output=True,
            text=True,
            timeout=MAN_TIMEOUT_S,
            env={
                "MANWIDTH": "100",
                "LANG": "C.UTF-8",
                "PATH": "/usr/bin:/bin",
                **({"MANPATH": os.environ["MANPATH"]} if "MANPATH" in os.environ else {}),
            },
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and done.stdout.strip() else None


def _section(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == name)
    except StopIteration:
        return []
    body = []
    for line in lines[start + 1 :]:
        if line and not line[0].isspace() and _HEADING.match(line.strip()):
            break
        body.append(line)
    return body


def section(text: str) -> str:
    """The page's section, from its header line ("LS(1)  User Commands  LS(1)"); "1" if
    the header does not say."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    found = re.match(r"\s*\S+\((\w+)\)", header)
    return found.group(1) if found else "1"


def name_line(text: str) -> str | None:
    """The NAME section's line ("tar - an archiving utility")."""
    lines = [" ".join(line.split()) for line in _section(text, "NAME") if line.strip()]
    return lines[0] if lines else None


def synopsis(text: str, limit: int = 4) -> list[str]:
    """The SYNOPSIS section's first `limit` lines, spaces collapsed."""
    lines = [" ".join(line.split()) for line in _section(text, "SYNOPSIS") if line.strip()]
    return lines[:limit]


def option_entries(text: str) -> list[OptionEntry]:
    """Every option entry of the page, in order: a line that starts a paragraph with an
    option ("-C, --directory=DIR") and the lines indented deeper under it, up to the
    first blank line. A heading that also holds its description ("-t     sort by time",
    "-empty File is empty") is split where its sentence starts. A line starting with an
    option inside a paragraph ("-T option.  The default N is 1.") is prose, not an entry."""
    lines = text.splitlines()
    entries = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not _OPTION.match(stripped) or not _starts_paragraph(lines, index, indent):
            continue
        heading, *inline = re.split(r"\s{3,}", stripped, maxsplit=1)
        if not inline and (sentence := _SENTENCE.search(heading)):
            heading, inline = heading[: sentence.start()], [sentence.group(1)]
        description = list(inline)
        for following in lines[index + 1 :]:
            if not following.strip() or len(following) - len(following.lstrip()) <= indent:
                break
            description.append(following.strip())
        entries.append(OptionEntry(heading, " ".join(" ".join(description).split())))
    return entries


def _starts_paragraph(lines: list[str], index: int, indent: int) -> bool:
    """After a blank line, or right under a heading (a line indented less: "OPTIONS")."""
    if index == 0 or not lines[index - 1].strip():
        return True
    above = lines[index - 1]
    return len(above) - len(above.lstrip()) < indent
