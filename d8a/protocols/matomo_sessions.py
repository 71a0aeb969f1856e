"""Session columns of the Matomo protocol (reference §3.3, §4.7, order §4.10).

A Matomo table has the same eleven session-scoped event columns as every
protocol (:func:`~d8a.columns.session_core.core_session_scoped_columns`), so
:func:`matomo_session_scoped_columns` adds none. :func:`matomo_session_columns`
returns Matomo's 17 session columns in two groups, placed apart in the table
order:

- before ``session_split_cause``, the eleven counters every protocol has, under
  their core interface ids, counting Matomo's event names (``ecommerce_order``,
  ``outlink``, ``site_search``, ``video_play``, ``download``); scrolls and form
  interactions have no Matomo event and are always NULL;
- after it, under ``matomo.protocols.d8a.tech/session/...``: the merged custom
  variables (``_cvar``) and custom dimensions (``dimension<N>``), the goal
  conversion and content counters, and ``session_returning_user`` (``_idn``),
  followed by the session-scope custom columns of the settings
  (:mod:`d8a.protocols.matomo_custom`).

Counters read the session's events-by-name index; the merged columns read the
raw request parameters of each hit, as the original does, with the parsers of
the event columns ``custom_variables`` and ``custom_dimensions``
(:mod:`d8a.protocols.matomo_columns`), so a pair reads the same in ``cvar`` and
``_cvar``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from d8a.columns.base import (
    Interface,
    Session,
    SessionColumn,
    SessionScopedEventColumn,
    describe_field,
)
from d8a.columns.session_columns import session_interface_id
from d8a.columns.session_index import NAME_ID, count_named
from d8a.columns.simple import SessionValue
from d8a.config import Settings
from d8a.protocols.ga4_sessions import EventCount
from d8a.protocols.matomo_columns import (
    CUSTOM_DIMENSIONS_TYPE,
    CUSTOM_VARIABLES_TYPE,
    custom_dimensions,
    custom_variables,
)

__all__ = [
    "SESSION_CUSTOM_DIMENSIONS_ID",
    "SESSION_CUSTOM_VARIABLES_ID",
    "matomo_session_columns",
    "matomo_session_scoped_columns",
]

NAMESPACE = "matomo.protocols.d8a.tech"
SESSION_CUSTOM_VARIABLES_ID = f"{NAMESPACE}/session/session_custom_variables"
"""Interface id of ``session_custom_variables`` (the original's, ``session_`` kept)."""
SESSION_CUSTOM_DIMENSIONS_ID = f"{NAMESPACE}/session/session_custom_dimensions"
"""Interface id of ``session_custom_dimensions`` (the original's, ``session_`` kept)."""

# (column, Matomo event names, column that makes events unique or None, description);
# names None: not tracked by Matomo, always NULL.
_COUNTERS: tuple[tuple[str, tuple[str, ...] | None, str | None, str], ...] = (
    (
        "session_total_purchases",
        ("ecommerce_order",),
        None,
        "Number of ecommerce_order events (idgoal=0 with an ec_id).",
    ),
    ("session_total_scrolls", None, None, "Always NULL: Matomo does not track scrolls."),
    ("session_total_outbound_clicks", ("outlink",), None, "Number of outlink events."),
    (
        "session_unique_outbound_clicks",
        ("outlink",),
        "params_link_url",
        "Distinct params_link_url over outlink events.",
    ),
    ("session_total_site_searches", ("site_search",), None, "Number of site_search events."),
    (
        "session_unique_site_searches",
        ("site_search",),
        "params_search_term",
        "Distinct params_search_term over site_search events.",
    ),
    (
        "session_total_form_interactions",
        None,
        None,
        "Always NULL: Matomo does not track form interactions.",
    ),
    (
        "session_unique_form_interactions",
        None,
        None,
        "Always NULL: Matomo does not track form interactions.",
    ),
    ("session_total_video_engagements", ("video_play",), None, "Number of video_play events."),
    ("session_total_file_downloads", ("download",), None, "Number of download events."),
    (
        "session_unique_file_downloads",
        ("download",),
        "params_download_url",
        "Distinct params_download_url over download events.",
    ),
)


def _column(
    interface_id: str,
    field: pa.Field,
    fn: Callable[[Session], Any],
    depends_on: tuple[str, ...] = (),
) -> SessionColumn:
    """A session column ``fn(session)`` under ``interface_id``."""
    return SessionValue(Interface(interface_id, field), fn, depends_on)


def _always_null(session: Session) -> None:
    return None


def _counter(
    name: str, names: tuple[str, ...] | None, unique: str | None, about: str
) -> SessionColumn:
    if names is None:
        return _column(
            session_interface_id(name),
            describe_field(name, pa.int64(), description=about),
            _always_null,
        )
    return EventCount(name, names, unique, about)


# --- merged custom variables (``_cvar``) and dimensions (``dimension<N>``) -------------


def _session_custom_variables(session: Session) -> list[dict[str, str]] | None:
    merged: dict[str, str] = {}
    for event in session.events:
        for variable in custom_variables(event.hit.params.get("_cvar")) or ():
            merged[variable["name"]] = variable["value"]
    if not merged:
        return None
    return [{"name": name, "value": merged[name]} for name in sorted(merged)]


def _session_custom_dimensions(session: Session) -> list[dict[str, Any]] | None:
    merged: dict[int, str] = {}
    for event in session.events:
        for dimension in custom_dimensions(event.hit.params) or ():
            merged[dimension["slot"]] = dimension["value"]
    if not merged:
        return None
    return [{"slot": slot, "value": merged[slot]} for slot in sorted(merged)]


# --- the other Matomo session columns ---------------------------------------------------


def _returning_user(session: Session) -> bool:
    events = session.events
    return bool(events) and events[0].hit.params.get("_idn") == "0"


def _count_of(name: str) -> Callable[[Session], int]:
    def count(session: Session) -> int:
        return count_named(session, (name,))

    return count


def _after_split_cause() -> list[SessionColumn]:
    """Matomo's own session columns, in table order (after ``session_split_cause``)."""
    columns: list[SessionColumn] = [
        _column(
            SESSION_CUSTOM_VARIABLES_ID,
            describe_field(
                "session_custom_variables",
                CUSTOM_VARIABLES_TYPE,
                description="Custom variables (_cvar) of the session's events, merged by "
                "name (a later event wins), sorted by name; NULL if none.",
            ),
            _session_custom_variables,
        ),
        _column(
            SESSION_CUSTOM_DIMENSIONS_ID,
            describe_field(
                "session_custom_dimensions",
                CUSTOM_DIMENSIONS_TYPE,
                description="Custom dimensions (dimension<N>) of the session's events, "
                "merged by slot (a later event wins), sorted by slot; NULL if none.",
            ),
            _session_custom_dimensions,
        ),
    ]
    for short, event_name, about in (
        ("total_goal_conversions", "goal_conversion", "Number of goal_conversion events."),
        (
            "total_content_impressions",
            "content_impression",
            "Number of content_impression events.",
        ),
        (
            "total_content_interactions",
            "content_interaction",
            "Number of content_interaction events.",
        ),
    ):
        columns.append(
            _column(
                f"{NAMESPACE}/session/{short}",
                describe_field(f"session_{short}", pa.int64(), description=about),
                _count_of(event_name),
                (NAME_ID,),
            )
        )
    columns.append(
        _column(
            f"{NAMESPACE}/session/returning_user",
            describe_field(
                "session_returning_user",
                pa.bool_(),
                description="The session's first event says the visitor is not new (_idn=0).",
            ),
            _returning_user,
        )
    )
    return columns


def matomo_session_scoped_columns(settings: Settings) -> list[SessionScopedEventColumn]:
    """Session-scoped event columns Matomo adds to the core ones: none (the eleven of
    reference §4.3 are the core's)."""
    return []


def matomo_session_columns(
    settings: Settings,
) -> tuple[list[SessionColumn], list[SessionColumn]]:
    """Matomo's own session columns: (the eleven counters placed before
    ``session_split_cause``, the six Matomo columns and the session-scope custom
    columns of ``settings`` placed after it), each in table order."""
    from d8a.protocols.matomo_custom import matomo_custom_session_columns

    counters: list[SessionColumn] = [_counter(*spec) for spec in _COUNTERS]
    return counters, [*_after_split_cause(), *matomo_custom_session_columns(settings)]
