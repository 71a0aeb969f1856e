"""Core session columns of the page views, the referrer and the split (reference §4.5).

The page-view columns read the session's page-view positions from
:mod:`d8a.columns.session_index` (one pass over the events per session, shared
by all of them); each column is then a look-up. The functions return the
columns of one block of the reference's table order (§4.10):
:func:`page_columns` (entry/second/exit pages, first-page-view UTM and click
ids), :func:`page_view_totals` and :func:`split_cause_column`.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Interface, Session, SessionColumn, describe_field
from d8a.columns.core import CLICK_IDS, UTM_PARAMS, event_id
from d8a.columns.session_index import NAME_ID, PAGE_VIEW, page_view_indices, unique_named
from d8a.sessions.split import SPLIT_CAUSE

__all__ = [
    "NthPageView",
    "PageViewTotal",
    "SessionReferrer",
    "SplitCause",
    "page_columns",
    "page_view_totals",
    "session_interface_id",
    "split_cause_column",
]


def session_interface_id(name: str) -> str:
    """The interface id of core session column ``name``: ``core.d8a.tech/sessions/<x>``
    with ``x`` the name without its ``session_`` prefix."""
    return f"core.d8a.tech/sessions/{name.removeprefix('session_')}"


def _interface(
    name: str, type_: pa.DataType, description: str, *, low_cardinality: bool = False
) -> Interface:
    return Interface(
        session_interface_id(name),
        describe_field(name, type_, description=description, low_cardinality=low_cardinality),
    )


class SessionReferrer(SessionColumn):
    """``session_referrer``: the ``page_referrer`` of the session's first event."""

    interface = _interface(
        "session_referrer", pa.string(), "page_referrer of the session's first event."
    )
    depends_on: tuple[str, ...] = (event_id("page_referrer"),)

    @override
    def write(self, session: Session) -> None:
        events = session.events
        session.values["session_referrer"] = (
            events[0].values.get("page_referrer") if events else None
        )


class NthPageView(SessionColumn):
    """``session_<name>``: event column ``column`` of the ``n``-th page view
    (0: the first, 1: the second, -1: the last); NULL without such a page view."""

    def __init__(self, name: str, column: str, n: int, description: str) -> None:
        self.interface = _interface(name, pa.string(), description)
        self.depends_on = (NAME_ID, event_id(column))
        self._name = name
        self._column = column
        self._n = n

    @override
    def write(self, session: Session) -> None:
        self.write_all([session])

    @override
    def write_all(self, sessions: list[Session]) -> None:
        name, column, n = self._name, self._column, self._n
        for session in sessions:
            views = page_view_indices(session)
            value = None
            if -len(views) <= n < len(views):
                value = session.events[views[n]].values.get(column)
            session.values[name] = value


def page_columns() -> list[SessionColumn]:
    """Entry/second/exit page location and title, then ``session_utm_*`` and
    ``session_click_id_*`` of the first page view, in table order."""
    columns: list[SessionColumn] = []
    for column in ("page_location", "page_title"):
        short = column.removeprefix("page_")
        for n, which in ((0, "entry"), (1, "second"), (-1, "exit")):
            order = {0: "first", 1: "second", -1: "last"}[n]
            columns.append(
                NthPageView(
                    f"session_{which}_page_{short}",
                    column,
                    n,
                    f"{column} of the session's {order} page_view; NULL if none.",
                )
            )
    for column in (*UTM_PARAMS, *(f"click_id_{c}" for c in CLICK_IDS)):
        columns.append(
            NthPageView(
                f"session_{column}",
                column,
                0,
                f"{column} of the session's first page_view; NULL if none.",
            )
        )
    return columns


class PageViewTotal(SessionColumn):
    """``session_total_page_views`` (``which="total"``), ``session_unique_page_views``
    (``"unique"``: distinct ``page_location``) or ``session_is_bounced``
    (``"bounced"``: exactly one page view)."""

    _SPECS: dict[str, tuple[str, pa.DataType, str]] = {
        "total": ("session_total_page_views", pa.int64(), "Number of page_view events."),
        "unique": (
            "session_unique_page_views",
            pa.int64(),
            "Number of distinct page_location values among the page_view events.",
        ),
        "bounced": (
            "session_is_bounced",
            pa.bool_(),
            "The session has exactly one page_view event.",
        ),
    }

    def __init__(self, which: str) -> None:
        name, type_, description = self._SPECS[which]
        self.interface = _interface(name, type_, description)
        self.depends_on = (NAME_ID, event_id("page_location"))
        self._name = name
        self._which = which

    @override
    def write(self, session: Session) -> None:
        value: Any
        if self._which == "total":
            value = len(page_view_indices(session))
        elif self._which == "unique":
            value = unique_named(session, (PAGE_VIEW,), "page_location")
        else:
            value = len(page_view_indices(session)) == 1
        session.values[self._name] = value


def page_view_totals() -> list[SessionColumn]:
    """``session_total_page_views``, ``session_unique_page_views``, ``session_is_bounced``."""
    return [PageViewTotal("total"), PageViewTotal("unique"), PageViewTotal("bounced")]


class SplitCause(SessionColumn):
    """``session_split_cause``: why this session was split from the previous one
    (``max_time_since_first_event_reached``, ``max_events_reached``,
    ``user_id_changed``, ``utm_campaign_changed``); NULL for a first or unsplit
    session. Read from the session metadata the splitter sets."""

    interface = _interface(
        "session_split_cause",
        pa.string(),
        "Why the session was split from the previous one; NULL when it was not.",
        low_cardinality=True,
    )

    @override
    def write(self, session: Session) -> None:
        session.values["session_split_cause"] = session.metadata.get(SPLIT_CAUSE)


def split_cause_column() -> SessionColumn:
    """The ``session_split_cause`` column."""
    return SplitCause()
