"""Validate a set of columns and put them in the order they run.

:meth:`ColumnSet.build` sorts every column by its dependencies with
``graphlib.TopologicalSorter`` (ties keep declaration order) and fails with
:class:`ConfigurationError` naming the columns on a cycle, a missing
dependency, a duplicate, or a column that depends on a later phase.
"""

from __future__ import annotations

import graphlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pyarrow as pa

from d8a.columns.base import Column, EventColumn, SessionColumn, SessionScopedEventColumn
from d8a.errors import ConfigurationError

__all__ = ["ColumnSet"]

_PHASES = {EventColumn: 0, SessionScopedEventColumn: 1, SessionColumn: 2}
_PHASE_NAMES = ("event", "session-scoped event", "session")


def _phase(column: Column) -> int:
    for kind, phase in _PHASES.items():
        if isinstance(column, kind):
            return phase
    raise ConfigurationError(
        f"column {type(column).__name__} must subclass EventColumn, "
        "SessionScopedEventColumn or SessionColumn"
    )


@dataclass(frozen=True)
class ColumnSet:
    """Columns of one protocol, in run order, and the table schema in table order."""

    event: tuple[EventColumn, ...]
    session_scoped: tuple[SessionScopedEventColumn, ...]
    session: tuple[SessionColumn, ...]
    event_fields: tuple[pa.Field, ...]
    session_scoped_fields: tuple[pa.Field, ...]
    session_fields: tuple[pa.Field, ...]

    @classmethod
    def build(
        cls,
        event: Sequence[EventColumn],
        session_scoped: Sequence[SessionScopedEventColumn],
        session: Sequence[SessionColumn],
    ) -> ColumnSet:
        """Validate and sort; see the module docstring for what raises."""
        declared: list[Column] = [*event, *session_scoped, *session]
        by_id: dict[str, Column] = {}
        names: dict[str, str] = {}
        for column in declared:
            iid = column.interface.id
            if iid in by_id:
                raise ConfigurationError(f"two columns implement interface {iid!r}")
            if column.name in names:
                raise ConfigurationError(
                    f"columns {names[column.name]!r} and {iid!r} share the name {column.name!r}"
                )
            by_id[iid] = column
            names[column.name] = iid
        order = {column.interface.id: i for i, column in enumerate(declared)}
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for column in declared:
            iid = column.interface.id
            for dependency in column.depends_on:
                target = by_id.get(dependency)
                if target is None:
                    raise ConfigurationError(
                        f"column {column.name!r} ({iid}) depends on {dependency!r}, "
                        "which no configured column implements"
                    )
                if _phase(target) > _phase(column):
                    raise ConfigurationError(
                        f"{_PHASE_NAMES[_phase(column)]} column {column.name!r} cannot depend "
                        f"on {_PHASE_NAMES[_phase(target)]} column {target.name!r}, "
                        "which runs later"
                    )
            sorter.add(iid, *column.depends_on)
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            cycle = " -> ".join(by_id[i].name for i in exc.args[1])
            raise ConfigurationError(f"column dependencies form a cycle: {cycle}") from None
        ran: list[Column] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=order.__getitem__)
            ran.extend(by_id[i] for i in ready)
            sorter.done(*ready)
        return cls(
            event=tuple(c for c in ran if isinstance(c, EventColumn)),
            session_scoped=tuple(c for c in ran if isinstance(c, SessionScopedEventColumn)),
            session=tuple(c for c in ran if isinstance(c, SessionColumn)),
            event_fields=tuple(c.interface.field for c in event),
            session_scoped_fields=tuple(c.interface.field for c in session_scoped),
            session_fields=tuple(c.interface.field for c in session),
        )

    @cached_property
    def event_row_names(self) -> tuple[str, ...]:
        """Names of the event and session-scoped event columns, in table order."""
        return tuple(f.name for f in (*self.event_fields, *self.session_scoped_fields))

    @cached_property
    def event_row_template(self) -> dict[str, Any]:
        """``{name: None}`` for :attr:`event_row_names` but the
        :attr:`sparse <d8a.columns.base.EventColumn.sparse>` event columns, in that order.

        The closer starts every event's values from a copy of it, so that a
        column's key is in the row before the column runs (sparse ones excepted:
        they add theirs when they have a value). Do not modify it."""
        sparse = {column.name for column in self.event if column.sparse}
        return dict.fromkeys(name for name in self.event_row_names if name not in sparse)

    @property
    def columns(self) -> tuple[Column, ...]:
        """Every column, in run order."""
        return (*self.event, *self.session_scoped, *self.session)
