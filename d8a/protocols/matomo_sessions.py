"""Session-scoped event columns and session columns of the Matomo protocol
(reference §4.7, order §4.10). Work in progress."""

from __future__ import annotations

from d8a.columns.base import SessionColumn, SessionScopedEventColumn
from d8a.config import Settings

__all__ = ["matomo_session_columns", "matomo_session_scoped_columns"]


def matomo_session_scoped_columns(settings: Settings) -> list[SessionScopedEventColumn]:
    """The session-scoped event columns of a Matomo table, in table order."""
    from d8a.columns.session_core import core_session_scoped_columns

    return list(core_session_scoped_columns())


def matomo_session_columns(
    settings: Settings,
) -> tuple[list[SessionColumn], list[SessionColumn]]:
    """Matomo's own session columns: (those before ``session_split_cause``, those after)."""
    return [], []
