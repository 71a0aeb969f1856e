"""Session columns the GA4 and d8a protocols add to the core ones (reference §4.6).

Two groups, placed apart in the table order (§4.10):
:func:`ga4_session_counters` (core interface ids, GA4 event names; they sit
before ``session_split_cause``) and :func:`ga4_session_flags` (engagement,
returning user, abandoned cart, under the protocol's own namespace; after it).

Counters read the session's events-by-name index
(:mod:`d8a.columns.session_index`), so each is a few dict look-ups; "unique"
counters deduplicate on (event name, column value) as the original does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Event, Interface, Session, SessionColumn, describe_field
from d8a.columns.casts import to_int
from d8a.columns.session_columns import session_interface_id
from d8a.columns.session_index import (
    NAME_ID,
    PAGE_VIEW,
    count_named,
    events_by_name,
    unique_named,
)
from d8a.columns.simple import SessionValue

__all__ = [
    "COUNTED_COLUMNS",
    "EventCount",
    "SessionFlag",
    "ga4_session_counters",
    "ga4_session_flags",
]

_T64 = "CODEC(T64, LZ4)"

# (column, event names, column that makes events unique or None, description)
_COUNTERS: tuple[tuple[str, tuple[str, ...], str | None, str], ...] = (
    ("session_total_purchases", ("purchase",), None, "Number of purchase events."),
    ("session_total_scrolls", ("scroll",), None, "Number of scroll events."),
    ("session_total_outbound_clicks", ("click",), None, "Number of click events."),
    (
        "session_unique_outbound_clicks",
        ("click",),
        "params_link_url",
        "Distinct params_link_url over click events.",
    ),
    (
        "session_total_site_searches",
        ("view_search_results", "search"),
        None,
        "Number of view_search_results and search events.",
    ),
    (
        "session_unique_site_searches",
        ("view_search_results", "search"),
        "params_search_term",
        "Distinct (event name, params_search_term) over view_search_results and search.",
    ),
    (
        "session_total_form_interactions",
        ("form_submit", "form_start"),
        None,
        "Number of form_submit and form_start events.",
    ),
    (
        "session_unique_form_interactions",
        ("form_submit", "form_start"),
        "params_form_id",
        "Distinct (event name, params_form_id) over form_submit and form_start.",
    ),
    (
        "session_total_video_engagements",
        ("video_start", "video_complete", "video_progress"),
        None,
        "Number of video_start, video_complete and video_progress events.",
    ),
    ("session_total_file_downloads", ("file_download",), None, "Number of file_download events."),
    (
        "session_unique_file_downloads",
        ("file_download",),
        "params_link_url",
        "Distinct params_link_url over file_download events.",
    ),
)

COUNTED_COLUMNS = frozenset(unique for _, _, unique, _ in _COUNTERS if unique)
"""The event columns whose distinct values the counters count. The counters tell an
event that did not send the value (None) from one whose column is left out of the
set (the empty key), so these columns stay in every row (they are not sparse)."""


class EventCount(SessionColumn):
    """Events of the session named one of ``names``; with ``unique``, the distinct
    (name, ``unique`` column value) pairs among them instead.

    ``unique`` columns (``params_*``) are read when present but not declared as
    dependencies, so the counters build with or without them; an event without
    the column counts under one empty key, as in the original."""

    def __init__(
        self, name: str, names: tuple[str, ...], unique: str | None, description: str
    ) -> None:
        self.interface = Interface(
            session_interface_id(name), describe_field(name, pa.int64(), description=description)
        )
        self.depends_on = (NAME_ID,)
        self._name = name
        self._names = names
        self._unique = unique

    @override
    def write(self, session: Session) -> None:
        self.write_all([session])

    @override
    def write_all(self, sessions: list[Session]) -> None:
        name, names, unique = self._name, self._names, self._unique
        if unique is None:
            for session in sessions:
                session.values[name] = count_named(session, names)
        else:
            for session in sessions:
                session.values[name] = unique_named(session, names, unique)


def ga4_session_counters() -> list[SessionColumn]:
    """The eleven GA4 event counters, in table order (core interface ids)."""
    return [EventCount(*spec) for spec in _COUNTERS]


def _session_number(event: Event) -> int | None:
    """``client_session_number`` of the event (its column, else its ``sct`` param)."""
    values = event.values
    if "client_session_number" in values:
        number: Any = values["client_session_number"]
        return number if isinstance(number, int) else None
    return to_int(event.hit.params.get("sct"))


def _is_engaged(session: Session) -> bool:
    index = events_by_name(session)
    if (
        len(index.get(PAGE_VIEW, ())) >= 2
        or len(index.get("screen_view", ())) >= 2
        or index.get("purchase")
    ):
        return True
    return any(to_int(event.hit.params.get("seg")) for event in session.events)


def _returning_user(session: Session) -> bool:
    for event in session.events:
        number = _session_number(event)
        if number is not None and number >= 2:
            return True
    return False


def _abandoned_cart(session: Session) -> bool:
    index = events_by_name(session)
    carts = index.get("add_to_cart")
    if not carts:
        return False
    purchases = index.get("purchase")
    return not purchases or carts[-1] > purchases[-1]


_FLAGS = {
    "session_is_engaged": (
        _is_engaged,
        "Any event has an integer seg != 0, or there are >= 2 page_view, >= 2 "
        "screen_view or >= 1 purchase events.",
    ),
    "session_returning_user": (
        _returning_user,
        "Any event's client_session_number (sct) is 2 or more.",
    ),
    "session_abandoned_cart": (
        _abandoned_cart,
        "An add_to_cart with no purchase after the last one.",
    ),
}


class SessionFlag(SessionValue):
    """A GA4 boolean session column (``session_is_engaged``, ``session_returning_user``,
    ``session_abandoned_cart``) under ``<namespace>/session/<name without session_>``."""

    def __init__(self, name: str, namespace: str) -> None:
        fn, description = _FLAGS[name]
        interface = Interface(
            f"{namespace}/session/{name.removeprefix('session_')}",
            describe_field(name, pa.bool_(), description=description, codec=_T64),
        )
        super().__init__(interface, fn, (NAME_ID,))


def ga4_session_flags(namespace: str) -> Sequence[SessionColumn]:
    """``session_is_engaged``, ``session_returning_user``, ``session_abandoned_cart``."""
    return [SessionFlag(name, namespace) for name in _FLAGS]
