"""Custom Matomo columns from the ``matomo_custom_dimensions`` and
``matomo_custom_variables`` settings (reference §4.9). Work in progress."""

from __future__ import annotations

from d8a.columns.base import EventColumn, SessionScopedEventColumn
from d8a.config import Settings

__all__ = ["matomo_custom_event_columns", "matomo_custom_session_scoped_columns"]


def matomo_custom_event_columns(settings: Settings) -> list[EventColumn]:
    """The custom columns of scope ``event``, in setting order."""
    return []


def matomo_custom_session_scoped_columns(settings: Settings) -> list[SessionScopedEventColumn]:
    """The custom columns of scope ``session``, in setting order."""
    return []
