"""The columns machinery: interfaces, the three column kinds, events and sessions.

An :class:`Interface` says *what* a column is (id, version, Arrow field); a
column class says *how* its value is computed and which interfaces it reads
(``depends_on``). Three kinds run in this order for each closed protosession
(each column over the events or sessions of several protosessions at once):

1. :class:`EventColumn` -- one value per event, from that event alone;
2. (sessions are split and filtered here);
3. :class:`SessionScopedEventColumn` -- one value per event, seeing its session;
4. :class:`SessionColumn` -- one value per session, copied to its events' rows.

Values are written to ``event.values[name]`` / ``session.values[name]``;
scratch data that is not a column goes to ``metadata``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from d8a.columns.rows import Event, Session

__all__ = [
    "Column",
    "Event",
    "EventColumn",
    "Interface",
    "Session",
    "SessionColumn",
    "SessionScopedEventColumn",
    "describe_field",
]

DESCRIPTION_KEY = "d8a.column.description"
LOW_CARDINALITY_KEY = "d8a.warehouse.clickhouse.low_cardinality"
CODEC_KEY = "d8a.warehouse.clickhouse.codec"


def describe_field(
    name: str,
    type_: pa.DataType,
    *,
    nullable: bool = True,
    description: str = "",
    low_cardinality: bool = False,
    codec: str | None = None,
) -> pa.Field:
    """An Arrow field with d8a's metadata keys (description, ClickHouse hints)."""
    metadata = {DESCRIPTION_KEY: description}
    if low_cardinality:
        metadata[LOW_CARDINALITY_KEY] = "true"
    if codec:
        metadata[CODEC_KEY] = codec
    return pa.field(name, type_, nullable=nullable, metadata=metadata)


@dataclass(frozen=True, slots=True)
class Interface:
    """What a column is: a unique id, a version and the Arrow field it fills."""

    id: str
    field: pa.Field
    version: str = "1.0.0"

    @property
    def name(self) -> str:
        """The column name (the field's name)."""
        return str(self.field.name)

    @property
    def description(self) -> str:
        """The field's description metadata, or ``""``."""
        meta: Mapping[bytes, bytes] = self.field.metadata or {}
        return meta.get(DESCRIPTION_KEY.encode(), b"").decode()


class Column(ABC):
    """Common part of every column: its interface and what it depends on.

    Implementations are stateless after construction and may be shared between
    threads: ``write`` must not keep per-call state on ``self``.
    """

    interface: Interface
    depends_on: tuple[str, ...] = ()
    """Interface ids whose values this column reads; sorted before it runs."""

    @property
    def name(self) -> str:
        """The column name."""
        return self.interface.name


class EventColumn(Column):
    """A value per event, computed from that event alone."""

    sparse: bool = False
    """True for a column that sets its key in ``event.values`` only on the events
    that have a value: the closer's rows leave it out until then, and a missing key
    is NULL in the table. Read a sparse column with ``event.values.get(name)``.
    GA4's flat ``params_*`` columns are sparse (an event sends a few of them), as
    are the UTM and click-id columns: smaller rows convert to Arrow faster."""

    @abstractmethod
    def write(self, event: Event) -> None:
        """Set ``event.values[self.name]``. Raise ``BrokenEventError`` to drop the event."""

    def write_all(self, events: list[Event]) -> None:
        """Write every event; a tight loop that hot columns may override.

        If it raises, the caller runs :meth:`write` event by event instead, so that
        only the failing events are marked broken; overriding is therefore safe."""
        write = self.write
        for event in events:
            write(event)


class SessionScopedEventColumn(Column):
    """A value per event that may look at the whole (split) session."""

    @abstractmethod
    def write(self, session: Session, index: int) -> None:
        """Set ``session.events[index].values[self.name]``."""

    def write_all(self, session: Session) -> None:
        """Write every event of ``session``; columns that compute a whole session at
        once override it."""
        write = self.write
        for index in range(len(session.events)):
            write(session, index)

    def write_sessions(self, sessions: list[Session]) -> None:
        """Write every event of every session; a tight loop that hot columns may
        override.

        The closer calls it once for all the sessions of a batch of protosessions.
        If it raises, the closer runs :meth:`write_all` session by session instead,
        so that only the failing sessions are dropped; overriding is therefore safe."""
        write_all = self.write_all
        for session in sessions:
            write_all(session)


class SessionColumn(Column):
    """One value per session, embedded into every row of that session."""

    @abstractmethod
    def write(self, session: Session) -> None:
        """Set ``session.values[self.name]``. Raise ``BrokenSessionError`` to drop it."""

    def write_all(self, sessions: list[Session]) -> None:
        """Write every session; a tight loop that hot columns may override.

        The closer calls it once for all the sessions of a batch of protosessions.
        If it raises, the closer runs :meth:`write` session by session instead, so
        that only the failing sessions are dropped; overriding is therefore safe."""
        write = self.write
        for session in sessions:
            write(session)
