"""One table, one row per event, the session's values copied into each of its rows.

This is the original's only layout (``eventsWithEmbeddedSessionColumns``).
Event rows become arrays by :func:`d8a.layouts.row_arrays.event_arrays`; session
values by one struct conversion, repeated onto their rows by one ``take``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain, repeat

import pyarrow as pa
import pyarrow.compute as pc
from typing_extensions import override

from d8a.columns.base import Session
from d8a.columns.columnset import ColumnSet
from d8a.layouts.base import Layout
from d8a.layouts.memory_pool import arrow_pool
from d8a.layouts.row_arrays import BadValuesError, event_arrays, to_array, transpose
from d8a.warehouse.base import validate_identifier

__all__ = ["BadValuesError", "EmbeddedLayout", "event_arrays", "transpose"]


class EmbeddedLayout(Layout):
    """All columns in one table named ``table`` (default ``events``).

    ``session_prefix`` is put before the name of every session column in the
    table, as the original's ``sessionColumnsPrefix`` (default: none; session
    columns are already named ``session_*``)."""

    def __init__(self, table: str = "events", session_prefix: str = "") -> None:
        self.table = validate_identifier(table)
        if session_prefix:
            validate_identifier(session_prefix + "x")
        self.session_prefix = session_prefix
        self._schema_cache: dict[int, tuple[ColumnSet, pa.Schema, pa.Schema, pa.StructType]] = {}

    def schema(self, columns: ColumnSet) -> pa.Schema:
        """Event, then session-scoped event, then session columns (prefixed)."""
        prefix = self.session_prefix
        sessions = [f.with_name(prefix + f.name) for f in columns.session_fields]
        return pa.schema([*columns.event_fields, *columns.session_scoped_fields, *sessions])

    @override
    def tables(self, columns: ColumnSet) -> dict[str, pa.Schema]:
        return {self.table: self.schema(columns)}

    def _schemas(self, columns: ColumnSet) -> tuple[pa.Schema, pa.Schema, pa.StructType]:
        """The table schema, the session columns' schema and their struct type (what
        session values convert through), built once a column set."""
        found = self._schema_cache.get(id(columns))
        if found is None or found[0] is not columns:
            sessions = pa.schema(columns.session_fields)
            found = (columns, self.schema(columns), sessions, pa.struct(sessions))
            self._schema_cache[id(columns)] = found  # keeps ``columns`` alive: ids stay valid
        return found[1], found[2], found[3]

    @override
    def to_tables(self, columns: ColumnSet, sessions: Sequence[Session]) -> dict[str, pa.Table]:
        schema, session_schema, session_struct = self._schemas(columns)
        event_values = [event.values for session in sessions for event in session.events]
        counts = [len(session.events) for session in sessions]
        arrays = event_arrays(event_values, columns)
        # Session values: one per session, repeated onto its rows by one take (in C).
        pool = arrow_pool()
        owner = pa.array(
            list(chain.from_iterable(map(repeat, range(len(counts)), counts))),
            pa.int32(),
            memory_pool=pool,
        )
        per_session = _session_arrays(sessions, session_struct, owner)
        if per_session:
            session_table = pa.Table.from_arrays(per_session, schema=session_schema)
            arrays.extend(pc.take(session_table, owner, memory_pool=pool).columns)
        return {self.table: pa.Table.from_arrays(arrays, schema=schema)}


def _session_arrays(
    sessions: Sequence[Session], struct: pa.StructType, owner: pa.Array
) -> list[pa.Array]:
    """One array per session column (the fields of ``struct``), a value per session,
    by one struct conversion; column by column when a value does not fit, to name
    its rows (each session's rows are where ``owner`` holds its index)."""
    if not struct.num_fields:
        return []
    try:
        pool = arrow_pool()
        values = pa.array([s.values for s in sessions], type=struct, memory_pool=pool)
        return values.flatten(pool)  # type: ignore[no-any-return]
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        pass
    arrays = []
    for field in struct:
        name = field.name
        try:
            arrays.append(to_array([s.values.get(name) for s in sessions], field))
        except BadValuesError as exc:  # report the rows, as the event columns do
            bad = set(exc.rows)
            rows = [row for row, s in enumerate(owner.to_pylist()) if s in bad]
            raise BadValuesError(exc.column, rows) from None
    return arrays
