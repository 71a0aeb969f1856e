"""The page-view session-scoped event columns (reference §4.3).

Each column here computes and writes the values of a whole session in one
plain loop the first time it is asked for any of its events, and marks the
session in ``session.metadata``; the other ``write(session, i)`` calls of that
session are then a single dict look-up. Page-view positions come from
:mod:`d8a.columns.session_index`, shared with the session columns.

"Page view" means an event named ``page_view``. The values follow the
original exactly, including its choices for sessions without page views
(entry/exit/bounce false on every event, ``time_on_page`` measured from the
first event).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Interface, Session, SessionScopedEventColumn, describe_field
from d8a.columns.session_index import NAME_ID, PAGE_VIEW, page_view_indices

__all__ = [
    "TRAFFIC_FILTER_NAME",
    "PageNumber",
    "PageTransition",
    "PageViewFlag",
    "PerSessionColumn",
    "TimeOnPage",
    "TrafficFilterName",
    "session_scoped_columns",
]

TRAFFIC_FILTER_NAME = "traffic_filter_name"
"""Event metadata key: name of the last test-mode filter condition that matched."""

_LOCATION_ID = "core.d8a.tech/events/page_location"
_TITLE_ID = "core.d8a.tech/events/page_title"


def _interface(name: str, type_: pa.DataType, description: str) -> Interface:
    return Interface(
        f"core.d8a.tech/events/{name}", describe_field(name, type_, description=description)
    )


class PerSessionColumn(SessionScopedEventColumn):
    """A session-scoped column whose values for a session are computed all at once.

    Subclasses implement :meth:`compute`. The first ``write`` for a session
    writes every event of it and records that in the session's metadata (key
    ``values:<interface id>``); later writes for that session do nothing. So
    writes may come in any order, and each event gets its value whichever
    index is written first. The events of a session must not change between
    its writes."""

    def __init__(self, interface: Interface, depends_on: tuple[str, ...] = ()) -> None:
        self.interface = interface
        self.depends_on = depends_on
        self._name = interface.name
        self._key = f"values:{interface.id}"

    @abstractmethod
    def compute(self, session: Session) -> list[Any]:
        """One value per event of ``session``, in event order."""

    @override
    def write(self, session: Session, index: int) -> None:
        metadata = session.metadata
        if self._key in metadata:
            return
        metadata[self._key] = True
        self.write_all(session)

    @override
    def write_all(self, session: Session) -> None:
        name = self._name
        for event, value in zip(session.events, self.compute(session), strict=True):
            event.values[name] = value


class PageNumber(PerSessionColumn):
    """``session_page_number``: 0, plus one each time ``page_location`` differs from
    the previous event's (any event, not only page views)."""

    def __init__(self) -> None:
        super().__init__(
            _interface(
                "session_page_number",
                pa.int64(),
                "0-based page number: +1 whenever page_location differs from the previous event's.",
            ),
            (_LOCATION_ID,),
        )

    @override
    def compute(self, session: Session) -> list[Any]:
        values: list[Any] = []
        number = 0
        previous = session.events[0].values.get("page_location") if session.events else None
        for event in session.events:
            location = event.values.get("page_location")
            if location != previous:
                number += 1
                previous = location
            values.append(number)
        return values


class TimeOnPage(PerSessionColumn):
    """``time_on_page``: seconds from the event's page view to the next page view
    (for the last one: to the session's last event), truncated.

    The first event counts as a page view even when it is not one, so events
    before the first page view measure from the session start."""

    def __init__(self) -> None:
        super().__init__(
            _interface(
                "time_on_page",
                pa.int64(),
                "Seconds from this event's page view to the next page view (or to the last event).",
            ),
            (NAME_ID,),
        )

    @override
    def compute(self, session: Session) -> list[Any]:
        events = session.events
        if not events:
            return []
        starts = page_view_indices(session)
        if not starts or starts[0] != 0:
            starts = [0, *starts]
        values: list[Any] = []
        last_time = events[-1].hit.received_at
        for number, start in enumerate(starts):
            end = starts[number + 1] if number + 1 < len(starts) else len(events)
            until = events[end].hit.received_at if end < len(events) else last_time
            seconds = int(until - events[start].hit.received_at)
            values.extend([seconds] * (end - start))
        return values


class PageViewFlag(PerSessionColumn):
    """True on one page view of the session, false on every other event.

    ``which`` is ``"entry"`` (the first page view), ``"exit"`` (the last) or
    ``"bounce"`` (the only one, when the session has exactly one)."""

    _NAMES = {
        "entry": ("session_is_entry_page", "True only on the first page_view of the session."),
        "exit": ("session_is_exit_page", "True only on the last page_view of the session."),
        "bounce": (
            "page_is_bounce",
            "True only on the single page_view of a session with exactly one page_view.",
        ),
    }

    def __init__(self, which: str) -> None:
        name, description = self._NAMES[which]
        super().__init__(_interface(name, pa.bool_(), description), (NAME_ID,))
        self._which = which

    @override
    def compute(self, session: Session) -> list[Any]:
        values: list[Any] = [False] * len(session.events)
        views = page_view_indices(session)
        if views:
            if self._which == "entry":
                values[views[0]] = True
            elif self._which == "exit":
                values[views[-1]] = True
            elif len(views) == 1:
                values[views[0]] = True
        return values


class PageTransition(PerSessionColumn):
    """``previous_page_*`` / ``next_page_*``: the nearest *different* value of
    ``column`` on an earlier (later) page view.

    Every event belongs to the page of the last page view at or before it
    (events before the first page view to none); the previous value of an
    event is the value its page changed from, the next value the one its page
    changes to. NULL at the first (last) page. Repeated page views of the same
    value do not count as a change."""

    def __init__(self, column: str, direction: str) -> None:
        name = f"{direction}_page_{column.removeprefix('page_')}"
        what = "previous" if direction == "previous" else "next"
        super().__init__(
            _interface(
                name,
                pa.string(),
                f"The {column} of the {what} different page viewed in the session.",
            ),
            (NAME_ID, _LOCATION_ID if column == "page_location" else _TITLE_ID),
        )
        self._column = column
        self._forward = direction == "next"

    @override
    def compute(self, session: Session) -> list[Any]:
        column = self._column
        chain: list[Any] = []
        current: Any = None
        for event in session.events:
            if event.values.get("name") == PAGE_VIEW:
                value = event.values.get(column)
                current = value if isinstance(value, str) else None
            chain.append(current)
        if self._forward:
            chain.reverse()
        values: list[Any] = []
        page: Any = None
        before: Any = None
        for value in chain:
            if value != page:
                before, page = page, value
            values.append(before)
        if self._forward:
            values.reverse()
        return values


class TrafficFilterName(SessionScopedEventColumn):
    """``traffic_filter_name``: the test-mode filter condition that matched the event.

    Read from ``event.metadata["traffic_filter_name"]``, which traffic filters
    (reference §6.4) set; NULL when none did."""

    interface = _interface(
        "traffic_filter_name",
        pa.string(),
        "Name of the last test-mode traffic filter condition that matched the event.",
    )

    @override
    def write(self, session: Session, index: int) -> None:
        event = session.events[index]
        event.values["traffic_filter_name"] = event.metadata.get(TRAFFIC_FILTER_NAME)

    @override
    def write_sessions(self, sessions: list[Session]) -> None:
        for session in sessions:
            for event in session.events:
                event.values["traffic_filter_name"] = event.metadata.get(TRAFFIC_FILTER_NAME)


def session_scoped_columns() -> list[SessionScopedEventColumn]:
    """The session-scoped event columns after ``session_hit_number``, in table order."""
    return [
        PageNumber(),
        TimeOnPage(),
        PageViewFlag("entry"),
        PageViewFlag("exit"),
        PageViewFlag("bounce"),
        PageTransition("page_location", "previous"),
        PageTransition("page_location", "next"),
        PageTransition("page_title", "previous"),
        PageTransition("page_title", "next"),
        TrafficFilterName(),
    ]
