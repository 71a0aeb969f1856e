"""Closing protosessions: columns, splitting, layout, warehouse (reference §4.1, §7).

For each protosession, in order: every event column over every event, split
into sessions, session-scoped event columns, session columns; then all the
sessions of one ``close`` call become one write per table. A column that fails
on one event marks only that event broken (the original abandoned the column
for the rest of the protosession); broken events and sessions are left out of
the write and counted with their reason.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Event, Session
from d8a.columns.columnset import ColumnSet
from d8a.config import Settings
from d8a.errors import BrokenEventError, BrokenSessionError
from d8a.hits import Hit
from d8a.layouts.base import Layout
from d8a.layouts.embedded import BadValuesError
from d8a.protosessions.closer import Closer
from d8a.sessions.filters import TrafficFilters
from d8a.sessions.split import split
from d8a.warehouse.base import Driver

__all__ = ["DirectCloser", "SessionStats", "build_sessions"]


@dataclass
class SessionStats:
    """What closing produced and dropped, with reasons."""

    sessions: int = 0
    events: int = 0
    broken_events: Counter[str] = field(default_factory=Counter)
    broken_sessions: Counter[str] = field(default_factory=Counter)
    dropped_events: Counter[str] = field(default_factory=Counter)
    """Events left out on purpose, by the setting that did it (``drop_bots``), or by
    traffic filter condition (``filters: <name>``)."""


def build_sessions(
    protosession: Sequence[Hit], columns: ColumnSet, settings: Settings, stats: SessionStats
) -> list[Session]:
    """Run the columns over one protosession and return its finished sessions."""
    kept = [Event(hit) for hit in protosession]
    for column in columns.event:
        try:
            column.write_all(kept)
        except Exception:  # find the failing events; the others keep their values
            for event in kept:
                try:
                    column.write(event)
                except BrokenEventError as exc:
                    event.broken = f"{column.name}: {exc}"
                except Exception as exc:  # a bug in one column must not lose other rows
                    event.broken = f"{column.name}: {type(exc).__name__}: {exc}"
            broken = [event for event in kept if event.broken is not None]
            for event in broken:
                stats.broken_events[event.broken or ""] += 1
            kept = [event for event in kept if event.broken is None]
    if settings.drop_bots:
        humans = [event for event in kept if event.values.get("device_category") != "bot"]
        if len(humans) < len(kept):
            stats.dropped_events["drop_bots"] += len(kept) - len(humans)
            kept = humans
    sessions = split(kept, settings)
    if isinstance(settings.filters, TrafficFilters):  # Settings normalised it
        sessions = settings.filters.apply(sessions, stats.dropped_events)
    finished = []
    for session in sessions:
        try:
            for sse in columns.session_scoped:
                sse.write_all(session)
            for session_column in columns.session:
                session_column.write(session)
        except BrokenSessionError as exc:
            stats.broken_sessions[str(exc)] += 1
            continue
        except Exception as exc:  # see above: keep the other sessions
            stats.broken_sessions[f"{type(exc).__name__}: {exc}"] += 1
            continue
        finished.append(session)
    return finished


class DirectCloser(Closer):
    """Computes rows and writes them to the warehouse before returning.

    ``columns`` maps a protocol id to its column set; a protosession is written
    with the columns of its first hit's protocol.
    """

    def __init__(
        self,
        columns: Mapping[str, ColumnSet],
        settings: Settings,
        layout: Layout,
        driver: Driver,
    ) -> None:
        self._columns = columns
        self._settings = settings
        self._layout = layout
        self._driver = driver
        self._lock = threading.Lock()
        self.stats = SessionStats()

    @override
    def close(self, protosessions: Sequence[Sequence[Hit]]) -> None:
        by_protocol: dict[str, list[Session]] = {}
        with self._lock:
            for protosession in protosessions:
                protocol = protosession[0].protocol
                by_protocol.setdefault(protocol, []).extend(
                    build_sessions(
                        protosession, self._columns[protocol], self._settings, self.stats
                    )
                )
        written: list[Session] = []
        for protocol, sessions in by_protocol.items():
            if not sessions:
                continue
            tables = self._tables(self._columns[protocol], sessions)
            for table, data in tables.items():
                self._driver.write(table, data)
            written.extend(sessions)
        with self._lock:
            self.stats.sessions += len(written)
            self.stats.events += sum(len(s.events) for s in written)

    def _tables(self, columns: ColumnSet, sessions: list[Session]) -> dict[str, pa.Table]:
        """Layout the sessions; events whose values do not fit their column's type are
        left out (and counted as broken), not the whole write."""
        while True:
            try:
                return self._layout.to_tables(columns, sessions)
            except BadValuesError as exc:
                bad = set(exc.rows)
                row = 0
                kept_sessions = []
                for session in sessions:
                    kept = []
                    for event in session.events:
                        if row in bad:
                            with self._lock:
                                self.stats.broken_events[
                                    f"{exc.column}: value does not fit the column type"
                                ] += 1
                        else:
                            kept.append(event)
                        row += 1
                    if kept:
                        session.events = kept
                        kept_sessions.append(session)
                sessions[:] = kept_sessions
                if not sessions:
                    return {}
