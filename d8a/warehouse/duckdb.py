"""``DuckDBDriver``: a warehouse in one DuckDB file (``pip install 'd8a[duckdb]'``).

Arrow types map to DuckDB's native ones, nested types included:

=============================  ==============================================
Arrow                          DuckDB
=============================  ==============================================
string, large_string           VARCHAR
int8 … int64, uint8 … uint64   TINYINT … BIGINT, UTINYINT … UBIGINT
float32 / float64              FLOAT / DOUBLE
bool                           BOOLEAN
timestamp with tz              TIMESTAMPTZ (the connection's TimeZone is UTC)
timestamp without tz           TIMESTAMP (TIMESTAMP_NS for nanoseconds)
date32/date64                  DATE
decimal(p, s)                  DECIMAL(p, s)
binary                         BLOB
list<T>                        T[]  (a native LIST)
struct<a: T, …>                STRUCT("a" T, …)
map<K, V>                      MAP(K, V)
=============================  ==============================================

The column ``id`` is the PRIMARY KEY (a unique index when ``id`` is added
later) and rows go in with one ``INSERT OR IGNORE … SELECT`` from the Arrow
table, never row by row, so a replayed batch adds nothing. ``NOT NULL`` is
never declared. ``duckdb`` is imported when the first driver is built.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pyarrow as pa
from typing_extensions import override

from d8a.errors import (
    ConfigurationError,
    MissingDependencyError,
    TableNotFoundError,
    TerminalError,
    TransientError,
)
from d8a.warehouse._arrow import first_occurrences, validate_field, validate_schema
from d8a.warehouse.base import Driver, quote_identifier

if TYPE_CHECKING:
    import duckdb

__all__ = ["DuckDBDriver", "create_table_sql", "duckdb_type"]

_BATCH_VIEW = "_d8a_batch"
_INTEGERS = {
    8: ("TINYINT", "UTINYINT"),
    16: ("SMALLINT", "USMALLINT"),
    32: ("INTEGER", "UINTEGER"),
    64: ("BIGINT", "UBIGINT"),
}


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB column type for ``arrow_type``; ConfigurationError if none.

    Struct field names are validated and quoted like column names."""
    t = pa.types
    if t.is_string(arrow_type) or t.is_large_string(arrow_type):
        return "VARCHAR"
    if t.is_boolean(arrow_type):
        return "BOOLEAN"
    if t.is_integer(arrow_type):
        return _INTEGERS[arrow_type.bit_width][0 if t.is_signed_integer(arrow_type) else 1]
    if t.is_float32(arrow_type) or t.is_float16(arrow_type):
        return "FLOAT"
    if t.is_float64(arrow_type):
        return "DOUBLE"
    if t.is_timestamp(arrow_type):
        if arrow_type.tz is not None:
            return "TIMESTAMPTZ"
        return "TIMESTAMP_NS" if arrow_type.unit == "ns" else "TIMESTAMP"
    if t.is_date(arrow_type):
        return "DATE"
    if t.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision}, {arrow_type.scale})"
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type):
        return "BLOB"
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        return f"{duckdb_type(arrow_type.value_type)}[]"
    if t.is_struct(arrow_type):
        members = ", ".join(
            f"{quote_identifier(f.name)} {duckdb_type(f.type)}"
            for f in (arrow_type.field(i) for i in range(arrow_type.num_fields))
        )
        return f"STRUCT({members})"
    if t.is_map(arrow_type):
        return f"MAP({duckdb_type(arrow_type.key_type)}, {duckdb_type(arrow_type.item_type)})"
    raise ConfigurationError(f"no DuckDB column type for Arrow type {arrow_type}")


def create_table_sql(table: str, schema: pa.Schema) -> str:
    """The ``CREATE TABLE IF NOT EXISTS`` statement for ``schema`` (``id`` is the key)."""
    if not len(schema):
        raise ConfigurationError(f"cannot create table {table!r} without columns")
    columns = []
    for field in validate_schema(schema):
        key = " PRIMARY KEY" if field.name == "id" else ""
        columns.append(f"{quote_identifier(field.name)} {duckdb_type(field.type)}{key}")
    return f"CREATE TABLE IF NOT EXISTS {quote_identifier(table)} ({', '.join(columns)})"


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Map duckdb's errors to d8a's; conflicts and file locks are worth a retry."""
    import duckdb

    try:
        yield
    except duckdb.CatalogException as exc:
        if "does not exist" in str(exc):
            raise TableNotFoundError(f"DuckDB: {exc}") from exc
        raise
    except duckdb.TransactionException as exc:
        raise TransientError(f"DuckDB: {exc}") from exc
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise TransientError(f"DuckDB: {exc}") from exc
        raise


def _connect(path: str) -> duckdb.DuckDBPyConnection:
    """Import duckdb (first use only) and open ``path``."""
    try:
        import duckdb
    except ImportError as exc:
        raise MissingDependencyError("duckdb", "duckdb") from exc
    with _translated_errors():
        conn = duckdb.connect(path)
        conn.execute("SET TimeZone = 'UTC'")
    return conn


class DuckDBDriver(Driver):
    """Writes Arrow tables to the DuckDB database at ``path`` (``":memory:"`` works).

    One connection per driver; calls are serialised by a lock, so the driver is
    thread-safe. DuckDB lets one process at a time open a file for writing:
    building a driver on a file another process holds raises TransientError,
    as does a transaction conflict. A write runs in one transaction that first
    adds the columns the table lacks. Methods called after :meth:`close` raise
    TerminalError.
    """

    def __init__(self, path: str | os.PathLike[str] = ":memory:") -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn: duckdb.DuckDBPyConnection | None = _connect(os.fspath(path))

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            raise TerminalError("DuckDBDriver is closed")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock, _translated_errors():
            conn = self._connection()
            conn.execute("BEGIN TRANSACTION")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @staticmethod
    def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> set[str]:
        """Lower-cased column names of ``table``; TableNotFoundError if it does not exist."""
        quote_identifier(table)
        rows = conn.execute(
            "SELECT lower(column_name) FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND lower(table_name) = lower(?)",
            [table],
        ).fetchall()
        if not rows:
            raise TableNotFoundError(f"table {table!r} does not exist")
        return {str(row[0]) for row in rows}

    @override
    def add_column_sql(self, table: str, field: pa.Field) -> list[str]:
        quoted = quote_identifier(table)
        column = quote_identifier(validate_field(field).name)
        statements = [f"ALTER TABLE {quoted} ADD COLUMN {column} {duckdb_type(field.type)}"]
        if field.name == "id":
            # ALTER TABLE cannot add a PRIMARY KEY; a unique index serves INSERT OR IGNORE.
            index = quote_identifier(f"{table}_id_key"[:128])
            statements.append(f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {quoted} ({column})")
        return statements

    def _add_column(self, conn: duckdb.DuckDBPyConnection, table: str, field: pa.Field) -> None:
        for sql in self.add_column_sql(table, field):
            conn.execute(sql)

    @override
    def create_table_sql(self, table: str, schema: pa.Schema) -> list[str]:
        return [create_table_sql(table, schema)]

    @override
    def create_table(self, table: str, schema: pa.Schema) -> None:
        sql = create_table_sql(table, schema)
        with self._transaction() as conn:
            conn.execute(sql)

    @override
    def add_column(self, table: str, field: pa.Field) -> None:
        duckdb_type(validate_field(field).type)
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
        validate_schema(data.schema)
        for field in data.schema:
            duckdb_type(field.type)  # refuse unsupported types before touching the database
        data = first_occurrences(data)
        names = ", ".join(quote_identifier(name) for name in data.column_names)
        with self._transaction() as conn:
            have = self._columns(conn, table)
            for field in data.schema:
                if field.name.lower() not in have:
                    self._add_column(conn, table, field)
            if not data.num_rows or not names:
                return
            verb = "INSERT OR IGNORE" if "id" in data.column_names or "id" in have else "INSERT"
            conn.register(_BATCH_VIEW, data)
            try:
                conn.execute(
                    f"{verb} INTO {quoted_table} ({names}) SELECT {names} FROM {_BATCH_VIEW}"
                )
            finally:
                conn.unregister(_BATCH_VIEW)

    @override
    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        quoted_table = quote_identifier(table)
        wanted = pa.table({"id": pa.array(list(dict.fromkeys(ids)), pa.string())})
        with self._lock, _translated_errors():
            conn = self._connection()
            if "id" not in self._columns(conn, table) or not wanted.num_rows:
                return set()
            conn.register(_BATCH_VIEW, wanted)
            try:
                rows = conn.execute(
                    f'SELECT DISTINCT "id" FROM {quoted_table} '
                    f'WHERE "id" IN (SELECT "id" FROM {_BATCH_VIEW})'
                ).fetchall()
            finally:
                conn.unregister(_BATCH_VIEW)
        return {str(row[0]) for row in rows}

    def query(self, sql: str, parameters: Sequence[object] = ()) -> pa.Table:
        """Run ``sql`` on the driver's connection and return the result as Arrow.

        For reading back and for tests; ``sql`` is trusted text, values go in
        ``parameters``."""
        with self._lock, _translated_errors():
            relation = self._connection().sql(sql, params=list(parameters) or None)
            # duckdb 2 renamed Relation.arrow() to to_arrow_table()
            fetch = getattr(relation, "to_arrow_table", None) or getattr(relation, "arrow")  # noqa: B009  # the name differs by duckdb version
            table: pa.Table = fetch()
        return table

    @override
    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
