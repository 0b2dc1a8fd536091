"""The user's preferences, one validated document with a revision."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from memory.preferences import Preferences
from memory.schema import ProfileRow, utcnow
from memory.stores.base import StoreBase


def profile_row(session: Session) -> ProfileRow:
    """The profile row, locked for the update to come; a new one (default preferences)
    before the first."""
    row = session.get(ProfileRow, 1, with_for_update=True)
    if row is None:
        row = ProfileRow(
            id=1, preferences=Preferences().model_dump(mode="json"), revision=0, forgets=0
        )
        session.add(row)
    return row


def set_preferences(row: ProfileRow, preferences: Preferences) -> None:
    row.preferences = preferences.model_dump(mode="json")
    row.revision += 1
    row.updated_at = utcnow()


class PreferenceMemory(StoreBase):
    """The user's preferences, one validated document with a revision."""

    def profile_marks(self) -> tuple[int, int]:
        """(preferences revision, forgets so far): what a running daemon watches for
        changes made by other surfaces."""
        with self._session() as session:
            row = session.execute(
                select(ProfileRow.revision, ProfileRow.forgets).where(ProfileRow.id == 1)
            ).first()
            return (row.revision, row.forgets) if row is not None else (0, 0)

    def preferences(self) -> tuple[int, Preferences]:
        """The user's preferences and their revision (0: never set)."""
        with self._session() as session:
            row = session.get(ProfileRow, 1)
            if row is None:
                return 0, Preferences()
            return row.revision, Preferences.model_validate(row.preferences)

    def save_preferences(self, preferences: Preferences) -> int:
        """Replace the preferences; returns the new revision the daemon will notice."""
        with self._session() as session, session.begin():
            row = profile_row(session)
            set_preferences(row, preferences)
            session.flush()
            return row.revision
