"""The Python standard library's own documentation of the names a query holds.

Run by `tools.local_docs` in a child interpreter started with `-I -S` (isolated, no
`site`): no user or site packages and no current folder on its path, so whatever the
query names, only standard-library modules can be imported. It imports nothing outside
the standard library itself and prints one JSON object: the interpreter's version and, per
name found, its dotted name, kind, signature and docstring (paragraphs chosen, not cut).

A name is a standard-library module (`sys.stdlib_module_names`), or a built-in (`dict`)
in a query that says it is about Python, then the query's other words that are its
attributes or submodules, in any case ("asyncio TaskGroup" is `asyncio.TaskGroup`,
"python dict get" is `dict.get`); a dotted word ("os.path.join") is followed part by
part. A bare module ("socket" in a question about postgres, "time" in "time series
analysis in Python") names nothing specific: a common word that happens to name a module
is not documentation of the question, so only a name with an attribute counts.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import inspect
import json
import re
import sys
from types import ModuleType
from typing import Any

# Modules whose import does something (opens a browser, prints, starts a program) or that
# are no one's documentation (the interpreter's own test suite).
NOT_IMPORTED = frozenset({"antigravity", "this", "idlelib", "turtledemo", "test"})
PYTHON_WORDS = frozenset({"python", "python3", "py"})
MAX_NAMES = 3
MAX_DOC_CHARS = 600
_TOKEN = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_WORD = re.compile(r"[a-z]{3,}")


def _importable(name: str) -> bool:
    parts = name.split(".")
    return (
        parts[0] in sys.stdlib_module_names
        and parts[0] not in NOT_IMPORTED
        and not any(part.startswith("_") for part in parts)
    )


def _module(name: str) -> ModuleType | None:
    if not _importable(name):
        return None
    try:
        if importlib.util.find_spec(name) is None:
            return None
        return importlib.import_module(name)
    except Exception:  # a module that cannot load here (a missing C library) is not found
        return None


def _root(word: str, about_python: bool) -> tuple[str, Any] | None:
    if (module := _module(word.lower())) is not None:
        return word.lower(), module
    if not about_python:
        return None
    public = {n.lower(): n for n in dir(builtins) if not n.startswith("_")}
    if (name := public.get(word.lower())) is not None:
        return name, getattr(builtins, name)
    return None


def _attribute(obj: Any, word: str) -> list[tuple[str, Any]]:
    """The steps from `obj` to its attribute (or, for a package, submodule) called `word`,
    in any case; none when there is none. A module's namesake class stands in for it
    ("datetime strptime" is `datetime.datetime.strptime`, "queue get" `queue.Queue.get`)."""
    public = {n.lower(): n for n in dir(obj) if not n.startswith("_")}
    if (name := public.get(word.lower())) is not None:
        try:
            return [(name, getattr(obj, name))]
        except AttributeError:
            return []
    if not isinstance(obj, ModuleType):
        return []
    if hasattr(obj, "__path__"):
        found = _module(f"{obj.__name__}.{word.lower()}")
        if found is not None:
            return [(word.lower(), found)]
    namesake = public.get(obj.__name__.rsplit(".", 1)[-1].lower())
    cls = getattr(obj, namesake, None) if namesake is not None else None
    if namesake is not None and inspect.isclass(cls) and (steps := _attribute(cls, word)):
        return [(namesake, cls), *steps]
    return []


def _kind(obj: Any) -> str:
    if isinstance(obj, ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj):
        return "function" if inspect.isfunction(obj) or inspect.isbuiltin(obj) else "method"
    return type(obj).__name__


def _signature(obj: Any) -> str:
    if isinstance(obj, ModuleType) or not callable(obj):
        return ""
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def _doc(obj: Any, words: set[str]) -> str:
    """The docstring's first paragraph, then those that hold the query's other words (an
    "Example use:" paragraph with the code after it), within MAX_DOC_CHARS."""
    paragraphs = [p.strip("\n") for p in re.split(r"\n\s*\n", inspect.getdoc(obj) or "")]
    paragraphs = [p for p in paragraphs if p.strip()]
    chosen: list[str] = []
    size = 0
    for index, paragraph in enumerate(paragraphs):
        wanted = index == 0 or bool(set(_WORD.findall(paragraph.lower())) & words)
        introduces = index > 0 and paragraphs[index - 1].rstrip().endswith(":")
        if (wanted or (introduces and paragraphs[index - 1] in chosen)) and (
            size + len(paragraph) <= MAX_DOC_CHARS or not chosen
        ):
            chosen.append(paragraph)
            size += len(paragraph)
    return "\n\n".join(chosen)[: MAX_DOC_CHARS * 2]


def look_up(query: str) -> list[dict[str, str]]:
    """The standard-library names `query` holds, each with its kind, signature and doc."""
    tokens = [t for t in _TOKEN.findall(query) if t.lower() not in PYTHON_WORDS]
    about_python = any(w.lower() in PYTHON_WORDS for w in re.findall(r"\w+", query))
    used: set[int] = set()  # words taken as an attribute are no name of their own
    found: list[dict[str, str]] = []
    for index, token in enumerate(tokens):
        if index in used or len(found) >= MAX_NAMES:
            continue
        first, *rest = token.split(".")
        root = _root(first, about_python)
        if root is None:
            continue
        path, obj = [root[0]], root[1]
        for part in rest:
            if not (steps := _attribute(obj, part)):
                break
            path += [name for name, _ in steps]
            obj = steps[-1][1]
        # The query's other words that are its attributes, wherever they stand ("how to
        # get a dict default" asks for dict.get).
        for other, word in enumerate(tokens):
            if other == index or other in used or "." in word:
                continue
            if steps := _attribute(obj, word):
                path += [name for name, _ in steps]
                obj = steps[-1][1]
                used.add(other)
        if len(path) < 2:
            continue
        name = ".".join(path)
        if any(entry["name"] == name for entry in found):
            continue
        others = {w for t in tokens for w in _WORD.findall(t.lower())} - {p.lower() for p in path}
        found.append(
            {
                "name": name,
                "kind": _kind(obj),
                "signature": _signature(obj),
                "doc": _doc(obj, others),
            }
        )
    return found


def main() -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(json.dumps({"python": version, "found": look_up(sys.argv[1])}))


if __name__ == "__main__":
    main()
