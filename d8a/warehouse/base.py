"""The warehouse ``Driver``: where finished rows go.

A driver maps Arrow types to its own, creates tables, adds missing columns
(never drops any) and writes Arrow tables. Writes are idempotent on the
column ``id``: writing a row whose ``id`` is already in the table leaves the
table as it was, so a retried or replayed batch creates no duplicates.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence

import pyarrow as pa

from d8a.errors import ConfigurationError, TableNotFoundError
from d8a.lifecycle import Closeable

__all__ = ["Driver", "quote_identifier", "validate_identifier"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def validate_identifier(name: str) -> str:
    """Return ``name`` if it is a safe SQL identifier, else raise ConfigurationError."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ConfigurationError(
            f"invalid identifier {name!r}: use letters, digits and '_', not starting with a digit"
        )
    return name


def quote_identifier(name: str) -> str:
    """Validate ``name`` and quote it for SQL (double quotes)."""
    return f'"{validate_identifier(name)}"'


class Driver(Closeable, ABC):
    """Abstracts a warehouse's DDL and inserts behind Arrow schemas.

    Methods may raise ``TransientError`` for failures worth a retry; every method
    may be retried. Not thread-safe unless a driver says so.
    """

    @abstractmethod
    def create_table(self, table: str, schema: pa.Schema) -> None:
        """Create ``table`` with ``schema``. An existing table is left as it is."""

    @abstractmethod
    def add_column(self, table: str, field: pa.Field) -> None:
        """Add one column to an existing table."""

    @abstractmethod
    def missing_columns(self, table: str, schema: pa.Schema) -> list[pa.Field]:
        """Fields of ``schema`` the table lacks. Raises TableNotFoundError when the
        table does not exist."""

    @abstractmethod
    def write(self, table: str, data: pa.Table) -> None:
        """Insert ``data`` (whose schema the table has) in one transaction where the
        backend has them. Rows whose ``id`` already exists are skipped."""

    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` already written to ``table``.

        Used only when a queue redelivers a batch after a crash, never on the hot
        path. The default answers "none", which is right for drivers whose writes
        are idempotent anyway."""
        return set()

    def create_table_sql(self, table: str, schema: pa.Schema) -> list[str]:
        """The statements :meth:`create_table` runs; ``[]`` for a driver without DDL
        (memory, files: their schema is recorded as data is written)."""
        return []

    def add_column_sql(self, table: str, field: pa.Field) -> list[str]:
        """The statements :meth:`add_column` runs; ``[]`` for a driver without DDL."""
        return []

    def plan(self, table: str, schema: pa.Schema) -> list[str]:
        """What :meth:`ensure_table` would run now, without running it (a dry run)."""
        try:
            missing = self.missing_columns(table, schema)
        except TableNotFoundError:
            return self.create_table_sql(table, schema)
        return [sql for field in missing for sql in self.add_column_sql(table, field)]

    def ensure_table(self, table: str, schema: pa.Schema) -> None:
        """Create the table if needed and add any column it lacks."""
        self.create_table(table, schema)
        for field in self.missing_columns(table, schema):
            self.add_column(table, field)
