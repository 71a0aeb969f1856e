"""``MemoryDriver``: a warehouse of Arrow tables kept in memory.

Meant for tests, notebooks and :func:`d8a.replay`: what a pipeline writes can
be read back at once with :meth:`MemoryDriver.table`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from typing_extensions import override

from d8a.errors import TableNotFoundError
from d8a.warehouse.base import Driver, validate_identifier

__all__ = ["MemoryDriver", "conform_table"]


@dataclass
class _Table:
    """One in-memory table: its schema, the batches written, the ids seen."""

    schema: pa.Schema
    batches: list[pa.Table] = field(default_factory=list)
    ids: set[object] = field(default_factory=set)


def _validated_schema(schema: pa.Schema) -> pa.Schema:
    for name in schema.names:
        validate_identifier(name)
    return schema


def conform_table(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """Arrange ``data`` as ``schema``: its columns in order, cast, absent ones null."""
    if data.schema.equals(schema, check_metadata=False):  # the usual case: no copy
        return pa.Table.from_arrays(data.columns, schema=schema)
    columns = []
    for target in schema:
        index = data.schema.get_field_index(target.name)
        if index < 0:
            columns.append(pa.nulls(data.num_rows, target.type))
            continue
        column = data.column(index)
        columns.append(column if column.type == target.type else column.cast(target.type))
    return pa.Table.from_arrays(columns, schema=schema)


class MemoryDriver(Driver):
    """Keeps every table as a list of Arrow batches, in write order.

    Idempotent on ``id``: a row whose ``id`` was written before (in an earlier
    batch or earlier in the same one) is skipped; rows with a null ``id`` are
    always kept. Columns are never dropped; a write whose data has columns the
    table lacks adds them. Thread-safe: every method holds one lock. Data stays
    readable after :meth:`close`.
    """

    def __init__(self) -> None:
        self._tables: dict[str, _Table] = {}
        self._lock = threading.Lock()

    def _get(self, table: str) -> _Table:
        found = self._tables.get(validate_identifier(table))
        if found is None:
            raise TableNotFoundError(f"table {table!r} does not exist")
        return found

    @override
    def create_table(self, table: str, schema: pa.Schema) -> None:
        validate_identifier(table)
        _validated_schema(schema)
        with self._lock:
            self._tables.setdefault(table, _Table(schema=schema))

    @override
    def add_column(self, table: str, field: pa.Field) -> None:
        validate_identifier(field.name)
        with self._lock:
            entry = self._get(table)
            if entry.schema.get_field_index(field.name) < 0:
                entry.schema = entry.schema.append(field)

    @override
    def missing_columns(self, table: str, schema: pa.Schema) -> list[pa.Field]:
        with self._lock:
            have = set(self._get(table).schema.names)
        return [f for f in schema if f.name not in have]

    @override
    def write(self, table: str, data: pa.Table) -> None:
        _validated_schema(data.schema)
        with self._lock:
            entry = self._get(table)
            for f in data.schema:
                if entry.schema.get_field_index(f.name) < 0:
                    entry.schema = entry.schema.append(f)
            if "id" in data.column_names:
                keep = []
                for value in data.column("id").to_pylist():
                    fresh = value is None or value not in entry.ids
                    if fresh and value is not None:
                        entry.ids.add(value)
                    keep.append(fresh)
                if not all(keep):
                    data = data.filter(pa.array(keep, pa.bool_()))
            if data.num_rows:
                entry.batches.append(data)

    @override
    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        with self._lock:
            seen = self._get(table).ids
            return {i for i in ids if i in seen}

    def table(self, name: str) -> pa.Table:
        """Everything written to ``name``, in write order, as one Arrow table.

        Batches written before a column was added read as null in that column.
        Raises TableNotFoundError for an unknown table.
        """
        with self._lock:
            entry = self._get(name)
            schema, batches = entry.schema, list(entry.batches)
        if not batches:
            return schema.empty_table()
        return pa.concat_tables([conform_table(batch, schema) for batch in batches])

    def table_names(self) -> list[str]:
        """Names of the tables created so far, sorted."""
        with self._lock:
            return sorted(self._tables)
