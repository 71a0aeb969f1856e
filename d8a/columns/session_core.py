"""Core session-scoped event columns and session columns (reference §4.3, §4.5)."""

from __future__ import annotations

import pyarrow as pa

from d8a.columns.attribution import Attribution, attribution_columns
from d8a.columns.base import (
    Interface,
    Session,
    SessionColumn,
    SessionScopedEventColumn,
    describe_field,
)
from d8a.columns.core import TIMESTAMP, event_id
from d8a.columns.session_columns import SessionReferrer, page_columns
from d8a.columns.session_scoped import session_scoped_columns
from d8a.columns.simple import SessionEventValue, SessionValue

__all__ = ["core_session_columns", "core_session_scoped_columns", "session_id"]


def session_id(name: str) -> str:
    """The interface id of core session column ``name``."""
    return f"core.d8a.tech/sessions/{name.removeprefix('session_')}"


def _session(name: str, type_: pa.DataType, description: str, nullable: bool = True) -> Interface:
    return Interface(
        session_id(name), describe_field(name, type_, nullable=nullable, description=description)
    )


def _first_time(session: Session) -> int:
    return int(session.events[0].hit.received_at // 1)


def _last_time(session: Session) -> int:
    return int(session.events[-1].hit.received_at // 1)


def core_session_scoped_columns() -> list[SessionScopedEventColumn]:
    """Session-scoped event columns, in table order."""
    return [
        SessionEventValue(
            Interface(
                event_id("session_hit_number"),
                describe_field(
                    "session_hit_number",
                    pa.int64(),
                    description="0-based position of the event in its session.",
                ),
            ),
            lambda session, index: index,
        ),
        *session_scoped_columns(),
    ]


def core_session_columns(attribution: Attribution | None = None) -> list[SessionColumn]:
    """Core session columns up to ``session_click_id_msclkid``, in table order
    (``attribution``: the source/medium/term lists; None for the bundled ones)."""
    first = session_id("session_first_event_time")
    last = session_id("session_last_event_time")
    return [
        SessionValue(
            _session(
                "session_id",
                pa.string(),
                "Id of the session's first event.",
                nullable=False,
            ),
            lambda s: s.events[0].hit.id,
        ),
        SessionValue(
            _session("session_client_id", pa.string(), "Client id of the session's first event."),
            lambda s: s.events[0].hit.client_id,
        ),
        *attribution_columns(attribution),
        SessionReferrer(),
        SessionValue(
            _session(
                "session_duration",
                pa.int64(),
                "Seconds between the first and the last event.",
            ),
            lambda s: s.values["session_last_event_time"] - s.values["session_first_event_time"],
            (first, last),
        ),
        SessionValue(
            _session("session_total_events", pa.int64(), "Number of events in the session."),
            lambda s: len(s.events),
        ),
        SessionValue(
            _session("session_first_event_time", TIMESTAMP, "Time of the first event."),
            _first_time,
        ),
        SessionValue(
            _session("session_last_event_time", TIMESTAMP, "Time of the last event."),
            _last_time,
        ),
        *page_columns(),
    ]
