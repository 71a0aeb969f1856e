"""Events and sessions: what columns read and write their values into.

Defined apart from the column interfaces of :mod:`d8a.columns.base` (which
re-exports them) so that the compiled build (``benchmarks/build_compiled.py``)
can compile them: every column reads ``event.values`` and ``event.hit`` for
every event, and a compiled class answers those without a dictionary look-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from d8a.hits import Hit

__all__ = ["Event", "Session"]


@dataclass(slots=True)
class Event:
    """One hit on its way to a row: the hit, the column values, scratch metadata.

    In the pipeline ``values`` starts as a copy of
    :attr:`ColumnSet.event_row_template <d8a.columns.columnset.ColumnSet.event_row_template>`:
    every event and session-scoped column of the set is present, ``None`` until its
    column writes it, except the :attr:`sparse <d8a.columns.base.EventColumn.sparse>` ones, present
    only once they hold a value: read those with ``values.get(name)``. Test a value,
    not a key's presence, to know whether a column ran (or mark ``metadata``)."""

    hit: Hit
    values: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    broken: str | None = None
    """Why the event cannot be written; None while it is fine."""


@dataclass(slots=True)
class Session:
    """The events of one (split) session, in event order, and its column values."""

    events: list[Event]
    values: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    broken: str | None = None
