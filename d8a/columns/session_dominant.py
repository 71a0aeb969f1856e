"""Session geo and device columns by the "dominant client" rule (reference §4.5).

A (split) session may hold hits of several client ids once identities are
joined. Its ``session_geo_*`` and ``session_device_*`` values are those of one
event: count the events of each client id, take the client id with the most
(on a tie, the one that appears first) and use that client's first event.
"""

from __future__ import annotations

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Event, Interface, Session, SessionColumn, describe_field
from d8a.columns.session_core import session_id

__all__ = ["DOMINANT_EVENT", "DominantClientValue", "dominant_client_columns", "dominant_event"]

DOMINANT_EVENT = "dominant_event"
"""Session metadata key caching the event :func:`dominant_event` chose."""

# (event column, low cardinality), in the reference's table order of the twins.
_TWINS: tuple[tuple[str, bool], ...] = (
    ("geo_city", False),
    ("geo_region", False),
    ("geo_metro", False),
    ("geo_country", True),
    ("geo_continent", True),
    ("geo_sub_continent", False),
    ("device_category", True),
    ("device_language", False),
    ("device_mobile_brand_name", False),
    ("device_mobile_model_name", False),
    ("device_operating_system", True),
    ("device_operating_system_version", False),
    ("device_web_browser", True),
    ("device_web_browser_version", False),
    ("device_screen_resolution", False),
)


def dominant_event(session: Session) -> Event:
    """The first event of the session's client id with the most events (ties: the
    client id seen first). Computed once per session and kept in its metadata."""
    found: Event | None = session.metadata.get(DOMINANT_EVENT)
    if found is not None:
        return found
    events = session.events
    found = events[0]
    client = found.hit.client_id
    if any(event.hit.client_id != client for event in events):
        counts: dict[str, int] = {}
        firsts: dict[str, Event] = {}
        for event in events:
            client = event.hit.client_id
            counts[client] = counts.get(client, 0) + 1
            firsts.setdefault(client, event)
        # max() keeps the first of equal counts, and dicts keep first-seen order.
        found = firsts[max(counts, key=counts.__getitem__)]
    session.metadata[DOMINANT_EVENT] = found
    return found


class DominantClientValue(SessionColumn):
    """``session_<column>``: the event column's value on the dominant client's first event."""

    def __init__(self, column: str, low_cardinality: bool = False) -> None:
        name = f"session_{column}"
        self.interface = Interface(
            session_id(name),
            describe_field(
                name,
                pa.string(),
                description=f"{column} of the session's dominant client (most events).",
                low_cardinality=low_cardinality,
            ),
        )
        self.depends_on = (f"core.d8a.tech/events/{column}",)
        self._column = column
        self._name = name

    @override
    def write(self, session: Session) -> None:
        self.write_all([session])

    @override
    def write_all(self, sessions: list[Session]) -> None:
        name, column = self._name, self._column
        for session in sessions:
            session.values[name] = dominant_event(session).values.get(column)


def dominant_client_columns() -> list[SessionColumn]:
    """``session_geo_*`` and ``session_device_*``, in table order."""
    return [DominantClientValue(column, low) for column, low in _TWINS]
