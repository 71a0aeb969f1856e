"""Two tables joined by ``session_id``: events, and one row per session.

The original only documents this layout. Session values are stored once, not
copied into every event row::

    events    event columns, session-scoped event columns, then session_id
    sessions  id (= session_id), property_id and date_utc of the session's
              first event, then the session columns (session_id among them)

``SELECT … FROM events JOIN sessions USING (session_id)`` gives the rows of
the embedded layout. The ``sessions`` table's ``id`` is what drivers
deduplicate on, so replayed sessions are not written twice.

Writes happen per table in order, events first. A crash between the two
writes of one batch leaves those sessions' rows missing from ``sessions``
while their events are there; the redelivered hits are then skipped as
written. Rebuild such rows with a ``GROUP BY session_id`` over ``events`` if
that matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Session
from d8a.columns.columnset import ColumnSet
from d8a.errors import ConfigurationError
from d8a.layouts.base import Layout
from d8a.layouts.row_arrays import BadValuesError, event_arrays, to_array
from d8a.warehouse.base import validate_identifier

__all__ = ["SplitLayout"]

_FROM_FIRST_EVENT = ("property_id", "date_utc")


def _field(fields: Sequence[pa.Field], name: str) -> pa.Field | None:
    for field in fields:
        if field.name == name:
            return field
    return None


class SplitLayout(Layout):
    """Event rows in ``events_table``, session rows in ``sessions_table``.

    The column set must include a ``session_id`` session column (the core
    columns do); :meth:`tables` raises ConfigurationError otherwise.
    """

    def __init__(self, events_table: str = "events", sessions_table: str = "sessions") -> None:
        self.events_table = validate_identifier(events_table)
        self.sessions_table = validate_identifier(sessions_table)
        if events_table.lower() == sessions_table.lower():
            raise ConfigurationError("the events and sessions tables need different names")

    def _schemas(self, columns: ColumnSet) -> tuple[pa.Schema, pa.Schema, list[pa.Field]]:
        session_id = _field(columns.session_fields, "session_id")
        if session_id is None:
            raise ConfigurationError("the split layout needs a session_id session column")
        events = pa.schema([*columns.event_fields, *columns.session_scoped_fields, session_id])
        copied = [f for f in map(lambda n: _field(columns.event_fields, n), _FROM_FIRST_EVENT) if f]
        key = pa.field("id", session_id.type, nullable=False, metadata=session_id.metadata)
        sessions = pa.schema([key, *copied, *columns.session_fields])
        return events, sessions, copied

    @override
    def tables(self, columns: ColumnSet) -> dict[str, pa.Schema]:
        events, sessions, _ = self._schemas(columns)
        return {self.events_table: events, self.sessions_table: sessions}

    @override
    def to_tables(self, columns: ColumnSet, sessions: Sequence[Session]) -> dict[str, pa.Table]:
        events_schema, sessions_schema, copied = self._schemas(columns)
        event_values = [event.values for session in sessions for event in session.events]
        arrays = event_arrays(event_values, columns)
        session_ids = [session.values.get("session_id") for session in sessions]
        repeated: list[Any] = []
        for session, value in zip(sessions, session_ids, strict=True):
            repeated.extend([value] * len(session.events))
        arrays.append(to_array(repeated, events_schema.field("session_id")))

        session_arrays = [to_array(session_ids, sessions_schema.field("id"))]
        try:
            for field in copied:
                firsts = [
                    s.events[0].values.get(field.name) if s.events else None for s in sessions
                ]
                session_arrays.append(to_array(firsts, field))
            for field in columns.session_fields:
                session_arrays.append(to_array([s.values.get(field.name) for s in sessions], field))
        except BadValuesError as exc:
            raise _as_event_rows(exc, sessions) from None
        return {
            self.events_table: pa.Table.from_arrays(arrays, schema=events_schema),
            self.sessions_table: pa.Table.from_arrays(session_arrays, schema=sessions_schema),
        }


def _as_event_rows(exc: BadValuesError, sessions: Sequence[Session]) -> BadValuesError:
    """The same error with session rows turned into the rows of their events.

    Callers drop bad rows by event index; dropping every event of a bad session
    drops the session."""
    bad = set(exc.rows)
    rows: list[int] = []
    start = 0
    for index, session in enumerate(sessions):
        if index in bad:
            rows.extend(range(start, start + len(session.events)))
        start += len(session.events)
    return BadValuesError(exc.column, rows)
