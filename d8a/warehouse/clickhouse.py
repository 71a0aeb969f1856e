"""``ClickHouseDriver``: MergeTree tables over clickhouse-connect.

Install with ``pip install 'd8a[clickhouse]'``.

Tables follow reference §9.2: ``ENGINE = MergeTree``, ``PARTITION BY
toYYYYMM(date_utc)`` and ``ORDER BY (property_id, date_utc, session_id)``
(the key columns a schema lacks are left out; with none, ``tuple()``).
Arrow types map as:

=========================  ====================================================
Arrow                      ClickHouse
=========================  ====================================================
string                     String (``LowCardinality(String)`` when the field's
                           ``d8a.warehouse.clickhouse.low_cardinality`` is "true")
int8 … int64, uint…        Int8 … Int64, UInt8 … UInt64
float32 / float64          Float32 / Float64
bool                       Bool
timestamp[unit, tz]        DateTime64(0|3|6|9, 'UTC')
date32                     Date32
list<T>                    Array(T)  (a NULL list is stored as ``[]``)
list<struct<…>>            Nested(name T, …)  (``flatten_nested = 0``)
struct<…>                  Tuple(name T, …)
nullable scalar            Nullable(T)
=========================  ====================================================

Unlike the original, nullable columns are ``Nullable(T)``, not ``T DEFAULT
<zero>``: a NULL revenue stays NULL instead of becoming 0. A field's
``d8a.warehouse.clickhouse.codec`` metadata is appended as the column's codec.

Idempotence: every insert carries an ``insert_deduplication_token`` (a hash of
the batch's ids) and tables keep ``non_replicated_deduplication_window``, so a
retried batch is dropped by the server; duplicate ids inside a batch keep the
first. :meth:`existing_ids` answers the pipeline's redelivery check.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import CODEC_KEY, LOW_CARDINALITY_KEY
from d8a.errors import (
    ConfigurationError,
    MissingDependencyError,
    TableNotFoundError,
    TerminalError,
    TransientError,
)
from d8a.warehouse._arrow import first_occurrences, validate_field, validate_schema
from d8a.warehouse.base import Driver, quote_identifier, validate_identifier

__all__ = ["DEFAULT_ORDER_BY", "ClickHouseDriver", "clickhouse_type", "create_table_sql"]

DEFAULT_ORDER_BY = ("property_id", "date_utc", "session_id")
DEDUPLICATION_WINDOW = 10_000
_DDL_SETTINGS = {"flatten_nested": 0}
_UNITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
_UNKNOWN_TABLE = (60, 81)  # UNKNOWN_TABLE, UNKNOWN_DATABASE


def _meta(field: pa.Field, key: str) -> str:
    raw: bytes = (field.metadata or {}).get(key.encode(), b"")
    return raw.decode()


def _base_type(arrow_type: pa.DataType) -> str:
    t = pa.types
    if t.is_string(arrow_type) or t.is_large_string(arrow_type):
        return "String"
    if t.is_boolean(arrow_type):
        return "Bool"
    if t.is_integer(arrow_type):
        return f"{'Int' if t.is_signed_integer(arrow_type) else 'UInt'}{arrow_type.bit_width}"
    if t.is_float32(arrow_type) or t.is_float64(arrow_type):
        return f"Float{arrow_type.bit_width}"
    if t.is_timestamp(arrow_type):
        return f"DateTime64({_UNITS[arrow_type.unit]}, 'UTC')"
    if t.is_date32(arrow_type):
        return "Date32"
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        item = arrow_type.value_field
        if t.is_struct(item.type):
            return f"Nested({_members(item.type)})"
        return f"Array({clickhouse_type(item)})"
    if t.is_struct(arrow_type):
        return f"Tuple({_members(arrow_type)})"
    raise ConfigurationError(f"no ClickHouse column type for Arrow type {arrow_type}")


def _members(struct: pa.StructType) -> str:
    fields = (struct.field(i) for i in range(struct.num_fields))
    return ", ".join(f"{quote_identifier(f.name)} {clickhouse_type(f)}" for f in fields)


def clickhouse_type(field: pa.Field) -> str:
    """The ClickHouse type for ``field`` (nullability and LowCardinality included)."""
    base = _base_type(field.type)
    nested = pa.types.is_nested(field.type)
    if field.nullable and not nested:
        base = f"Nullable({base})"
    if _meta(field, LOW_CARDINALITY_KEY) == "true" and not nested:
        base = f"LowCardinality({base})"
    return base


def _column_sql(field: pa.Field) -> str:
    codec = _meta(validate_field(field), CODEC_KEY)
    codec = f" {codec}" if codec.upper().startswith("CODEC(") else ""
    return f"{quote_identifier(field.name)} {clickhouse_type(field)}{codec}"


def create_table_sql(
    database: str, table: str, schema: pa.Schema, order_by: Sequence[str] = DEFAULT_ORDER_BY
) -> str:
    """The ``CREATE TABLE IF NOT EXISTS`` statement for ``schema`` (see the module docstring)."""
    if not len(schema):
        raise ConfigurationError(f"cannot create table {table!r} without columns")
    columns = ", ".join(_column_sql(f) for f in validate_schema(schema))
    key = [quote_identifier(n) for n in order_by if n in schema.names]
    partition = ' PARTITION BY toYYYYMM("date_utc")' if "date_utc" in schema.names else ""
    keys = [n for n in order_by if n in schema.names] + (["date_utc"] if partition else [])
    # A nullable key column needs the setting; nullable keys are legal but slower.
    nullable = ", allow_nullable_key = 1" if any(schema.field(n).nullable for n in keys) else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {quote_identifier(database)}.{quote_identifier(table)} "
        f"({columns}) ENGINE = MergeTree{partition} ORDER BY ({', '.join(key)}) "
        f"SETTINGS non_replicated_deduplication_window = {DEDUPLICATION_WINDOW}{nullable}"
    ).replace("ORDER BY ()", "ORDER BY tuple()")


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Unknown tables become TableNotFoundError; connection trouble TransientError."""
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    try:
        yield
    except OperationalError as exc:
        raise TransientError(f"ClickHouse: {exc}") from exc
    except DatabaseError as exc:
        if getattr(exc, "code", None) in _UNKNOWN_TABLE:
            raise TableNotFoundError(f"ClickHouse: {exc}") from exc
        raise


def _client(options: Mapping[str, Any]) -> Any:
    try:
        import clickhouse_connect
    except ImportError as exc:
        raise MissingDependencyError("clickhouse-connect", "clickhouse") from exc
    with _translated_errors():
        return clickhouse_connect.get_client(**options)


class ClickHouseDriver(Driver):
    """Writes Arrow tables to ``database`` through a clickhouse-connect client.

    Pass ``client`` to share one (it is then not closed by :meth:`close`), or
    keyword arguments for ``clickhouse_connect.get_client`` (``host``,
    ``port``, ``username``, ``password``, ``secure``, or ``dsn`` such as
    ``"chdb:///path"`` for in-process chDB). Calls are serialised by a lock.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        database: str = "default",
        order_by: Sequence[str] = DEFAULT_ORDER_BY,
        **options: Any,
    ) -> None:
        self.database = validate_identifier(database)
        self.order_by = tuple(validate_identifier(n) for n in order_by)
        self._owned = client is None
        self._client: Any = _client(options) if client is None else client
        self._lock = threading.RLock()

    def _live(self) -> Any:
        if self._client is None:
            raise TerminalError("ClickHouseDriver is closed")
        return self._client

    def _name(self, table: str) -> str:
        return f"{quote_identifier(self.database)}.{quote_identifier(table)}"

    def _columns(self, table: str) -> set[str]:
        validate_identifier(table)
        result = self._live().query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}",
            parameters={"db": self.database, "t": table},
        )
        if not result.result_rows:
            raise TableNotFoundError(f"table {self.database}.{table} does not exist")
        return {str(row[0]) for row in result.result_rows}

    @override
    def add_column_sql(self, table: str, field: pa.Field) -> list[str]:
        return [f"ALTER TABLE {self._name(table)} ADD COLUMN IF NOT EXISTS {_column_sql(field)}"]

    def _add(self, table: str, field: pa.Field) -> None:
        for sql in self.add_column_sql(table, field):
            self._live().command(sql, settings=_DDL_SETTINGS)

    @override
    def create_table_sql(self, table: str, schema: pa.Schema) -> list[str]:
        return [create_table_sql(self.database, table, schema, self.order_by)]

    @override
    def create_table(self, table: str, schema: pa.Schema) -> None:
        sql = create_table_sql(self.database, table, schema, self.order_by)
        with self._lock, _translated_errors():
            self._live().command(sql, settings=_DDL_SETTINGS)

    @override
    def add_column(self, table: str, field: pa.Field) -> None:
        _column_sql(field)
        with self._lock, _translated_errors():
            if field.name not in self._columns(table):
                self._add(table, field)

    @override
    def missing_columns(self, table: str, schema: pa.Schema) -> list[pa.Field]:
        with self._lock, _translated_errors():
            have = self._columns(table)
        return [f for f in schema if f.name not in have]

    @override
    def write(self, table: str, data: pa.Table) -> None:
        validate_identifier(table)
        for field in validate_schema(data.schema):
            _column_sql(field)
        data = first_occurrences(data)
        with self._lock, _translated_errors():
            have = self._columns(table)
            for field in data.schema:
                if field.name not in have:
                    self._add(table, field)
            if not data.num_rows or not data.num_columns:
                return
            self._live().insert_arrow(
                table,
                data,
                database=self.database,
                settings={"insert_deduplication_token": _token(table, data)},
            )

    @override
    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        wanted = list(dict.fromkeys(ids))
        with self._lock, _translated_errors():
            if not wanted or "id" not in self._columns(table):
                return set()
            result = self._live().query(
                f'SELECT DISTINCT "id" FROM {self._name(table)} '
                'WHERE "id" IN {ids:Array(String)}',
                parameters={"ids": wanted},
            )
        return {str(row[0]) for row in result.result_rows}

    def query_arrow(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table:
        """Run ``sql`` (server-side ``{name:Type}`` parameters) and return Arrow."""
        with self._lock, _translated_errors():
            table: pa.Table = self._live().query_arrow(sql, parameters=parameters)
        return table

    @override
    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._owned:
                self._client.close()
            self._client = None


def _token(table: str, data: pa.Table) -> str:
    """The batch's dedup token: its table, columns and sorted ids (content without ids)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{table}\0{','.join(data.column_names)}\0".encode())
    if "id" in data.column_names and data.column("id").null_count == 0:
        for value in sorted(str(v) for v in data.column("id").to_pylist()):
            digest.update(value.encode() + b"\0")
    else:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, data.schema) as writer:
            writer.write_table(data)
        digest.update(sink.getvalue())
    return digest.hexdigest()
