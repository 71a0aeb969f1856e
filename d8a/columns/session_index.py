"""Per-session indexes shared by the session-scoped and session columns.

Many session columns ask the same questions of a session: where are its
page views, how many ``purchase`` events does it hold. :func:`events_by_name`
answers all of them from one pass over the events, made the first time a
column asks and kept in ``session.metadata``, so each column then costs a few
dict look-ups instead of its own loop. The index is taken once the session's
events are final (after splitting and filtering); nothing may add or remove
events afterwards without dropping :data:`BY_NAME` from the metadata.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from d8a.columns.base import Session

__all__ = [
    "BY_NAME",
    "NAME_ID",
    "PAGE_VIEW",
    "count_named",
    "events_by_name",
    "page_view_indices",
    "unique_named",
]

PAGE_VIEW = "page_view"
"""The event name that makes an event a page view."""
NAME_ID = "core.d8a.tech/events/name"
"""Interface id of the event-name column the indexes read."""
BY_NAME = "events_by_name"
"""Session metadata key holding :func:`events_by_name`'s result."""

_EMPTY: list[int] = []


def events_by_name(session: Session) -> dict[str, list[int]]:
    """Event name -> indices (ascending) of the session's events with that name.

    The name is the event's ``name`` column value. Computed once per session."""
    found: dict[str, list[int]] | None = session.metadata.get(BY_NAME)
    if found is None:
        found = {}
        for index, event in enumerate(session.events):
            name: str = event.values.get("name", "")
            bucket = found.get(name)
            if bucket is None:
                found[name] = [index]
            else:
                bucket.append(index)
        session.metadata[BY_NAME] = found
    return found


def page_view_indices(session: Session) -> list[int]:
    """Indices of the session's ``page_view`` events, ascending (maybe empty)."""
    return events_by_name(session).get(PAGE_VIEW, _EMPTY)


def count_named(session: Session, names: Iterable[str]) -> int:
    """How many events of the session have one of ``names``."""
    index = events_by_name(session)
    return sum(len(index.get(name, _EMPTY)) for name in names)


_ABSENT = object()


def unique_named(session: Session, names: Iterable[str], column: str) -> int:
    """Distinct ``(event name, column value)`` pairs over the events named ``names``.

    The original's key is the string ``"<name>||<value>"``; an event whose
    values lack ``column`` altogether counts under one empty key."""
    index = events_by_name(session)
    events = session.events
    seen: set[Any] = set()
    for name in names:
        for position in index.get(name, _EMPTY):
            value = events[position].values.get(column, _ABSENT)
            seen.add("" if value is _ABSENT else (name, value))
    return len(seen)
