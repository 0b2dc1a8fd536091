"""Which festina tool serves each of ProactiveBench's most common agent operations.

The scenes in ProactiveBench's scenes.yaml name their operations freely (`browser.open`,
`browser_open`, `file.save`...); this table lets evaluations judge a plan over festina's
pool against them.
"""

from __future__ import annotations

import re

_OPS = {
    "browser.open": "open_url",
    "browser.search": "web_search_query",
    "file.open": "open_file",
    "file.save": "save_file",
    "file.list": "list_directory",
    "file.list_directory": "list_directory",
    "file_system.open": "open_file",
    "file_system.save": "save_file",
    "terminal.run": "run_terminal_command",
    "text.summarize": "summarize_text",
    "text.generate_summary": "summarize_text",
    "generate_summary": "summarize_text",
    "text.translate": "translate_text",
    "text.compare": "compare_texts",
    "text.read": "read_file",
    "read_text": "read_file",
    "text.extract": "extract_keywords",
    "extract_keywords": "extract_keywords",
    "email.send": "draft_email",
    "set_reminder": "set_reminder",
    "display_message": "show_notification",
    "capture_screenshot": "take_screenshot",
    "image.capture": "take_screenshot",
    "doc_search": "search_notes",
}


def normalise(op: str) -> str:
    """`browser_open(url)` and `browser.open` name the same operation."""
    name = re.sub(r"\(.*", "", op).strip().lower()
    return name if name in _OPS else name.replace("_", ".", 1)


def tool_for(op: str) -> str | None:
    """The festina tool for a ProactiveBench operation, or None when there is none."""
    return _OPS.get(normalise(op))


def known_operations() -> dict[str, str]:
    return dict(_OPS)
