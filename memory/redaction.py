"""Secret redaction: passwords, tokens, keys and card numbers never reach memory.

Applied to every event right after it is accepted, before the gate, the slow path or the
database see it. A redacted event keeps its id, so replays still deduplicate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from core.events import Event

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private-key",
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    ),
    ("jwt", re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")),
    ("aws-key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github-token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("api-key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
    ("slack-token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    # A `keep` group is put back before the marker, so "password: x" still reads as such.
    ("bearer", re.compile(r"(?i)(?P<keep>\bbearer\s+)[A-Za-z0-9._~+/-]{12,}=*")),
    (
        "secret",
        re.compile(
            r"(?i)(?P<keep>\b(?:password|passwd|pwd|passphrase|secret|api[_-]?key|"
            r"access[_-]?token|auth[_-]?token|token)[\"']?\s{0,3}[:=]\s{0,3}[\"']?)"
            r"[^\s\"'&,;]{3,}"
        ),
    ),
    ("url-password", re.compile(r"(?P<keep>://[^/\s:@]+:)[^/\s@]+(?=@)")),
)
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _redact_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[REDACTED:card]" if 13 <= len(digits) <= 19 and _luhn_valid(digits) else match.group()


def redact_text(text: str) -> str:
    """`text` with every recognised secret replaced by ``[REDACTED:<kind>]``."""
    for kind, pattern in _RULES:
        marker = f"[REDACTED:{kind}]"
        if "keep" in pattern.groupindex:
            text = pattern.sub(lambda m, marker=marker: m.group("keep") + marker, text)
        else:
            text = pattern.sub(marker, text)
    return _CARD.sub(_redact_card, text)


def _redact_value(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_value(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: _redact_value(v, redact) for k, v in value.items()}
    return value


def redact_event(event: Event) -> Event:
    """A copy of `event` with secrets removed from every text field and attribute."""
    update = {
        name: redact_text(value)
        for name in ("app", "title", "url", "text")
        if isinstance(value := getattr(event, name), str)
    }
    update["attributes"] = _redact_value(event.attributes, redact_text)
    return event.model_copy(update=update)
