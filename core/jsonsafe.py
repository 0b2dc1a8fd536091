"""Hostile JSON and text, told apart from good input before anything stores or logs it.

Python's json module hands back lone UTF-16 surrogates (from `\\ud800` escapes, or from
undecodable bytes read with `surrogateescape`), NaN and Infinity, and recurses once per
nesting level. None of that can be encoded as UTF-8 or stored as strict JSON, so each
is found here and refused with a reason; rejected text is kept in an escaped form.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: Nesting allowed in a whole request body or line: deep enough for any real event, far
#: below the interpreter's recursion limit.
MAX_DEPTH = 64

# Lone surrogates cannot be encoded as UTF-8; PostgreSQL cannot store NUL in text.
_UNSAFE_CHAR = re.compile("[\x00\ud800-\udfff]")


class TooDeep(ValueError):
    """A JSON document nested deeper than allowed."""


def unsafe_char(text: str) -> str | None:
    """Why `text` cannot be stored as it is, or None when it can."""
    found = _UNSAFE_CHAR.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain NUL characters"
    return f"must not contain lone surrogates (U+{ord(found.group()):04X}): not valid Unicode"


def escaped(text: str) -> str:
    """`text` with NUL and lone surrogates written as JSON-style `\\uXXXX` escapes."""
    return _UNSAFE_CHAR.sub(lambda char: f"\\u{ord(char.group()):04x}", text)


def _parse_int(digits: str) -> int | float:
    try:
        return int(digits)
    except ValueError:
        # Beyond the interpreter's digit limit: infinite, so it is refused per record as
        # out of range instead of failing the whole document.
        return math.inf


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Decode JSON; nesting beyond `max_depth` raises `TooDeep`, bad JSON ValueError.

    Bytes are read as UTF-8 with undecodable bytes kept as lone surrogates, so a bad byte
    inside one string costs that record, not the whole document.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", "surrogateescape")
    try:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise
        except ValueError:
            # An integer beyond the digit limit; the slower hook is paid only then.
            value = json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels") from None
    if depth(value) > max_depth:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    return value


def depth(value: Any) -> int:
    """How many arrays and objects are nested in `value` (0 for a scalar)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def json_problem(value: Any, max_depth: int) -> str | None:
    """Why `value` is not strict, storable JSON (NaN, infinities, NUL, lone surrogates,
    nesting beyond `max_depth`), naming where; None when it is fine."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, where, level = stack.pop()
        at = f" at {where}" if where else ""
        if isinstance(item, float) and not math.isfinite(item):
            return f"{item} is not a JSON number{at}"
        if isinstance(item, str):
            if why := unsafe_char(item):
                return f"text{at} {why}"
            continue
        if isinstance(item, dict):
            children: list[tuple[Any, str]] = []
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"key {key!r}{at} is not a string"
                if why := unsafe_char(key):
                    return f"key{at} {why}"
                children.append((child, f"{where}.{key}" if where else key))
        elif isinstance(item, list):
            children = [(child, f"{where}[{index}]") for index, child in enumerate(item)]
        else:
            continue
        if level + 1 > max_depth:
            return f"nested deeper than {max_depth} levels{at}"
        stack.extend((child, path, level + 1) for child, path in children)
    return None


def strict_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON (call after `json_problem` found nothing)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
