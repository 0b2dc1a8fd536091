"""Exclusion rules, applied at ingest: an excluded event is never stored, embedded or
logged, only counted.

The user lists apps, window-title and URL patterns; private browsing windows are excluded
by default (ActivityWatch's web watcher marks them `incognito`; browsers also say so in
their window titles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.config import PrivacySettings
from core.events import Event

# How browsers title their private windows: Chrome's "Incognito", Firefox's "Private
# Browsing", Edge's "InPrivate".
_PRIVATE_WINDOW = re.compile(r"\b(incognito|private browsing|inprivate)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ExclusionRules:
    """Which events festina must not keep at all."""

    apps: frozenset[str]
    titles: tuple[re.Pattern[str], ...]
    urls: tuple[re.Pattern[str], ...]
    incognito: bool

    @classmethod
    def from_settings(cls, settings: PrivacySettings) -> ExclusionRules:
        return cls(
            apps=frozenset(app.casefold() for app in settings.exclude_apps),
            titles=tuple(re.compile(p, re.IGNORECASE) for p in settings.exclude_titles),
            urls=tuple(re.compile(p, re.IGNORECASE) for p in settings.exclude_urls),
            incognito=settings.exclude_incognito,
        )

    def rule_for(self, event: Event) -> str | None:
        """The kind of rule excluding `event` ("app", "title", "url", "incognito"), or
        None to keep it. Never says which pattern matched: that would describe the event."""
        if event.app and event.app.casefold() in self.apps:
            return "app"
        if event.title and any(p.search(event.title) for p in self.titles):
            return "title"
        if event.url and any(p.search(event.url) for p in self.urls):
            return "url"
        if self.incognito and (
            event.attributes.get("incognito") is True
            or (event.title is not None and _PRIVATE_WINDOW.search(event.title))
        ):
            return "incognito"
        return None
