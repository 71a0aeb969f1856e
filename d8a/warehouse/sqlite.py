"""``SQLiteDriver``: a warehouse in one SQLite file (stdlib ``sqlite3``).

Arrow types map to SQLite storage classes:

============================  ==============================================
Arrow                         SQLite
============================  ==============================================
string                        TEXT
int8 … uint64                 INTEGER
float16/32/64                 REAL
bool                          INTEGER (0/1)
timestamp (any unit, tz)      TEXT ``YYYY-MM-DD HH:MM:SS`` in UTC, truncated to
                              the second; a timestamp without tz is taken as UTC
date32/date64                 TEXT ``YYYY-MM-DD``
decimal                       TEXT
binary                        BLOB
list/struct/map               TEXT holding JSON (``json.dumps`` of the Python
                              value; dates and timestamps as the strings above,
                              a top-level map as a JSON object)
============================  ==============================================

The column ``id`` is the PRIMARY KEY and writes are ``INSERT OR IGNORE``, so a
replayed batch adds nothing. ``NOT NULL`` is never declared (columns added
later could not have it anyway).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pyarrow as pa
from typing_extensions import override

from d8a._sqlite import is_locked, use_wal
from d8a.errors import ConfigurationError, TableNotFoundError, TerminalError, TransientError
from d8a.warehouse.base import Driver, quote_identifier
from d8a.warehouse.sqlite_values import bind_none_quickly, column_values, present_columns

__all__ = ["SQLiteDriver", "sqlite_type"]

_IDS_PER_QUERY = 500  # below SQLite's historical 999 host-parameter limit


def sqlite_type(arrow_type: pa.DataType) -> str:
    """The SQLite column type used for ``arrow_type``; ConfigurationError if none."""
    t = pa.types
    if t.is_boolean(arrow_type) or t.is_integer(arrow_type):
        return "INTEGER"
    if t.is_floating(arrow_type):
        return "REAL"
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type):
        return "BLOB"
    if t.is_fixed_size_binary(arrow_type):
        return "BLOB"
    if (
        t.is_string(arrow_type)
        or t.is_large_string(arrow_type)
        or t.is_timestamp(arrow_type)
        or t.is_date(arrow_type)
        or t.is_decimal(arrow_type)
        or t.is_nested(arrow_type)
    ):
        return "TEXT"
    raise ConfigurationError(f"no SQLite column type for Arrow type {arrow_type}")


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Map sqlite3's errors to d8a's: a locked database is worth a retry."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if is_locked(exc):
            raise TransientError(f"SQLite: {exc}") from exc
        if "no such table" in str(exc).lower():
            raise TableNotFoundError(f"SQLite: {exc}") from exc
        raise


class SQLiteDriver(Driver):
    """Writes Arrow tables to a SQLite database at ``path`` (``":memory:"`` works).

    The connection uses WAL and waits up to ``timeout`` seconds for a lock
    (``busy_timeout``); a database still locked after that raises
    TransientError. A write runs in one ``BEGIN IMMEDIATE`` transaction that
    first adds the columns the table lacks, then inserts with ``INSERT OR
    IGNORE``. Thread-safe: calls are serialised by a lock. Methods called
    after :meth:`close` raise TerminalError.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = path
        self._lock = threading.RLock()
        bind_none_quickly()
        with _translated_errors():
            conn = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            use_wal(conn, timeout)
        self._conn: sqlite3.Connection | None = conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise TerminalError("SQLiteDriver is closed")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _translated_errors():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @staticmethod
    def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
        """Lower-cased column names of ``table``; raises TableNotFoundError if none."""
        rows = conn.execute(f"PRAGMA table_info({quote_identifier(table)})").fetchall()
        if not rows:
            raise TableNotFoundError(f"table {table!r} does not exist")
        return {str(row[1]).lower() for row in rows}

    @override
    def add_column_sql(self, table: str, field: pa.Field) -> list[str]:
        quoted = quote_identifier(table)
        column = quote_identifier(field.name)
        statements = [f"ALTER TABLE {quoted} ADD COLUMN {column} {sqlite_type(field.type)}"]
        if field.name == "id":
            # ALTER TABLE cannot add a PRIMARY KEY; a unique index keeps INSERT OR IGNORE right.
            index = quote_identifier(f"{table}_id_key"[:128])
            statements.append(f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {quoted} ({column})")
        return statements

    def _add_column(self, conn: sqlite3.Connection, table: str, field: pa.Field) -> None:
        for sql in self.add_column_sql(table, field):
            conn.execute(sql)

    @override
    def create_table_sql(self, table: str, schema: pa.Schema) -> list[str]:
        if not len(schema):
            raise ConfigurationError(f"cannot create table {table!r} without columns")
        columns = []
        for field in schema:
            key = " PRIMARY KEY" if field.name == "id" else ""
            columns.append(f"{quote_identifier(field.name)} {sqlite_type(field.type)}{key}")
        return [f"CREATE TABLE IF NOT EXISTS {quote_identifier(table)} ({', '.join(columns)})"]

    @override
    def create_table(self, table: str, schema: pa.Schema) -> None:
        statements = self.create_table_sql(table, schema)
        with self._transaction() as conn:
            for sql in statements:
                conn.execute(sql)

    @override
    def add_column(self, table: str, field: pa.Field) -> None:
        sqlite_type(field.type)
        with self._transaction() as conn:
            if field.name.lower() not in self._columns(conn, table):
                self._add_column(conn, table, field)

    @override
    def missing_columns(self, table: str, schema: pa.Schema) -> list[pa.Field]:
        with self._lock, _translated_errors():
            have = self._columns(self._connection(), table)
        return [f for f in schema if f.name.lower() not in have]

    @override
    def write(self, table: str, data: pa.Table) -> None:
        quoted_table = quote_identifier(table)
        present = present_columns(data)
        for field in data.schema:
            sqlite_type(field.type)  # refuse unsupported types before touching the database
        all_names = data.column_names  # a new list at every access: read it once
        names = [quote_identifier(all_names[i]) for i in present]
        # Convert before taking the write lock: one to_pylist per column, then zip.
        columns = [column_values(data.column(i)) for i in present]
        sql = (
            f"INSERT OR IGNORE INTO {quoted_table} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' * len(names))})"
        )
        with self._transaction() as conn:
            have = self._columns(conn, table)
            for field in data.schema:
                if field.name.lower() not in have:
                    self._add_column(conn, table, field)
            if data.num_rows and names:
                conn.executemany(sql, zip(*columns, strict=True))

    @override
    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        quoted_table = quote_identifier(table)
        found: set[str] = set()
        with self._lock, _translated_errors():
            conn = self._connection()
            if "id" not in self._columns(conn, table):
                return found
            unique = list(dict.fromkeys(ids))
            for start in range(0, len(unique), _IDS_PER_QUERY):
                chunk = unique[start : start + _IDS_PER_QUERY]
                marks = ", ".join("?" * len(chunk))
                sql = f'SELECT "id" FROM {quoted_table} WHERE "id" IN ({marks})'
                found.update(row[0] for row in conn.execute(sql, chunk))
        return found

    @override
    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
