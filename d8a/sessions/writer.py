"""Closing protosessions: columns, splitting, layout, warehouse (reference §4.1, §7).

For each protosession, in order: every event column over every event, split
into sessions, session-scoped event columns, session columns; then all the
sessions of one ``close`` call become one write per table. Each column runs
once over the events (or sessions) of several consecutive protosessions. A
column that fails on one event marks only that event broken (the original
abandoned the column for the rest of the protosession), and one that fails on
one session drops only that session; broken events and sessions are left out
of the write and counted with their reason.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Event, Session
from d8a.columns.columnset import ColumnSet
from d8a.config import Settings
from d8a.errors import BrokenEventError, BrokenSessionError
from d8a.hits import Hit
from d8a.layouts.base import Layout
from d8a.layouts.row_arrays import BadValuesError
from d8a.protosessions.closer import Closer
from d8a.sessions.filters import TrafficFilters
from d8a.sessions.split import split
from d8a.warehouse.base import Driver

__all__ = ["DirectCloser", "SessionStats", "build_sessions", "build_sessions_many"]

log = logging.getLogger(__name__)


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
    rows: Counter[str] = field(default_factory=Counter)
    """Rows written, by table."""
    write_errors: int = 0
    """Warehouse writes that raised (the worker retries them)."""


def build_sessions(
    protosession: Sequence[Hit], columns: ColumnSet, settings: Settings, stats: SessionStats
) -> list[Session]:
    """Run the columns over one protosession and return its finished sessions."""
    return build_sessions_many([protosession], columns, settings, stats)


_CHUNK_EVENTS = 128
"""Columns run over the events (and sessions) of consecutive protosessions
together, about this many at a time: fewer calls, while the rows stay in the CPU
cache (measured: all the events of a close call at once, often over 1,000, run
slower than one protosession at a time; chunks of about 128 events run faster
than either)."""


def build_sessions_many(
    protosessions: Sequence[Sequence[Hit]],
    columns: ColumnSet,
    settings: Settings,
    stats: SessionStats,
) -> list[Session]:
    """:func:`build_sessions` for several protosessions of one column set, in order.

    Each column runs once over the events (or the sessions) of several
    protosessions (see :data:`_CHUNK_EVENTS`); dropping bots, splitting and
    filtering run protosession by protosession."""
    finished: list[Session] = []
    chunk: list[Sequence[Hit]] = []
    size = 0
    for protosession in protosessions:
        chunk.append(protosession)
        size += len(protosession)
        if size >= _CHUNK_EVENTS:
            finished.extend(_build_chunk(chunk, columns, settings, stats))
            chunk, size = [], 0
    if chunk:
        finished.extend(_build_chunk(chunk, columns, settings, stats))
    return finished


def _build_chunk(
    protosessions: Sequence[Sequence[Hit]],
    columns: ColumnSet,
    settings: Settings,
    stats: SessionStats,
) -> list[Session]:
    template = columns.event_row_template  # every column but the sparse ones, in table order
    groups = [
        [Event(hit, template.copy()) for hit in protosession] for protosession in protosessions
    ]
    events = groups[0] if len(groups) == 1 else [event for group in groups for event in group]
    if _write_event_columns(events, columns, stats):
        groups = [[event for event in group if event.broken is None] for group in groups]
    sessions: list[Session] = []
    for kept in groups:
        sessions.extend(_sessions_of(kept, settings, stats))
    for sse in columns.session_scoped:
        sessions = _write_sessions(sessions, sse.write_sessions, sse.write_all, stats)
    for session_column in columns.session:
        sessions = _write_sessions(sessions, session_column.write_all, session_column.write, stats)
    return sessions


def _write_event_columns(kept: list[Event], columns: ColumnSet, stats: SessionStats) -> bool:
    """Run every event column over ``kept``; True if some events broke (marked)."""
    any_broken = False
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
            if broken:
                any_broken = True
                kept = [event for event in kept if event.broken is None]
    return any_broken


def _sessions_of(kept: list[Event], settings: Settings, stats: SessionStats) -> list[Session]:
    """Drop bots, split, filter: the sessions of one protosession's kept events."""
    if not kept:
        return []
    if settings.drop_bots:
        humans = [event for event in kept if event.values.get("device_category") != "bot"]
        if len(humans) < len(kept):
            stats.dropped_events["drop_bots"] += len(kept) - len(humans)
            kept = humans
    sessions = split(kept, settings)
    if isinstance(settings.filters, TrafficFilters):  # Settings normalised it
        sessions = settings.filters.apply(sessions, stats.dropped_events)
    return sessions


def _write_sessions(
    sessions: list[Session],
    write_all: Callable[[list[Session]], None],
    write_one: Callable[[Session], None],
    stats: SessionStats,
) -> list[Session]:
    """Run one session-scoped or session column over ``sessions``; return those that
    did not break. When ``write_all`` raises, ``write_one`` runs session by session
    to find the failing ones: they are counted and left out, the others kept."""
    try:
        write_all(sessions)
    except Exception:
        kept = []
        for session in sessions:
            try:
                write_one(session)
            except BrokenSessionError as exc:
                stats.broken_sessions[str(exc)] += 1
                continue
            except Exception as exc:  # a bug in one column must not lose other sessions
                stats.broken_sessions[f"{type(exc).__name__}: {exc}"] += 1
                continue
            kept.append(session)
        return kept
    return sessions


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
            grouped: dict[str, list[Sequence[Hit]]] = {}
            for protosession in protosessions:
                grouped.setdefault(protosession[0].protocol, []).append(protosession)
            for protocol, group in grouped.items():
                by_protocol[protocol] = build_sessions_many(
                    group, self._columns[protocol], self._settings, self.stats
                )
        written: list[Session] = []
        for protocol, sessions in by_protocol.items():
            if not sessions:
                continue
            tables = self._tables(self._columns[protocol], sessions)
            for table, data in tables.items():
                try:
                    self._driver.write(table, data)
                except Exception as exc:
                    with self._lock:
                        self.stats.write_errors += 1
                    log.warning(
                        "warehouse write failed: %s",
                        exc,
                        extra={"table": table, "rows": data.num_rows},
                    )
                    raise
                with self._lock:
                    self.stats.rows[table] += data.num_rows
                log.debug(
                    "wrote %d rows to %s",
                    data.num_rows,
                    table,
                    extra={"table": table, "rows": data.num_rows},
                )
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
