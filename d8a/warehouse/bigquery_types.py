"""Arrow types in BigQuery terms: DDL text, API ``SchemaField`` objects and back.

Reference §9.3, except that no column is ``REQUIRED`` (see :mod:`d8a.warehouse.bigquery`):

=============================  ==============================================
Arrow                          BigQuery (DDL / legacy API name)
=============================  ==============================================
string, large_string           STRING
int8 … int64, uint8 … uint32   INT64 / INTEGER
float16, float32, float64      FLOAT64 / FLOAT
bool                           BOOL / BOOLEAN
timestamp with tz              TIMESTAMP
timestamp without tz           DATETIME
date32, date64                 DATE
decimal(p ≤ 38, s ≤ 9)         NUMERIC (else BIGNUMERIC)
binary, large_binary           BYTES
list<T>                        ARRAY<T> / mode REPEATED
struct<a: T, …>                STRUCT<a T, …> / RECORD
=============================  ==============================================

uint64, maps, lists of lists and other types raise ConfigurationError. Only
:func:`schema_field` imports google-cloud-bigquery. :func:`insert_all_row`
encodes values for streaming inserts.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from d8a.columns.base import DESCRIPTION_KEY
from d8a.errors import ConfigurationError
from d8a.warehouse._arrow import validate_field
from d8a.warehouse.base import validate_identifier

if TYPE_CHECKING:
    from google.cloud.bigquery import SchemaField

__all__ = [
    "arrow_type",
    "column_ddl",
    "ddl_type",
    "insert_all_row",
    "quote",
    "schema_field",
    "sql_string",
]

# DDL name -> the legacy name the tables API reports.
_API_NAMES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}
_ARROW_TYPES: dict[str, pa.DataType] = {
    "STRING": pa.string(),
    "INTEGER": pa.int64(),
    "INT64": pa.int64(),
    "FLOAT": pa.float64(),
    "FLOAT64": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "BOOL": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "DATETIME": pa.timestamp("us"),
    "DATE": pa.date32(),
    "BYTES": pa.binary(),
    "NUMERIC": pa.decimal128(38, 9),
    "BIGNUMERIC": pa.decimal256(76, 38),
}


def quote(name: str) -> str:
    """Validate ``name`` as an identifier and quote it with backticks."""
    return f"`{validate_identifier(name)}`"


def _scalar_type(arrow_type: pa.DataType) -> str:
    t = pa.types
    if t.is_string(arrow_type) or t.is_large_string(arrow_type):
        return "STRING"
    if t.is_boolean(arrow_type):
        return "BOOL"
    if t.is_signed_integer(arrow_type) or (
        t.is_unsigned_integer(arrow_type) and arrow_type.bit_width < 64
    ):
        return "INT64"
    if t.is_floating(arrow_type):
        return "FLOAT64"
    if t.is_timestamp(arrow_type):
        return "TIMESTAMP" if arrow_type.tz is not None else "DATETIME"
    if t.is_date(arrow_type):
        return "DATE"
    if t.is_decimal(arrow_type):
        small = arrow_type.precision <= 38 and arrow_type.scale <= 9
        return "NUMERIC" if small else "BIGNUMERIC"
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type):
        return "BYTES"
    raise ConfigurationError(f"no BigQuery column type for Arrow type {arrow_type}")


def _is_list(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type))


def _children(struct: pa.StructType) -> list[pa.Field]:
    return [struct.field(i) for i in range(struct.num_fields)]


def ddl_type(arrow_type: pa.DataType) -> str:
    """The GoogleSQL type of ``arrow_type`` (``ARRAY<…>``, ``STRUCT<…>`` for nested ones)."""
    if _is_list(arrow_type):
        if _is_list(arrow_type.value_type):
            raise ConfigurationError(f"BigQuery has no arrays of arrays: {arrow_type}")
        return f"ARRAY<{ddl_type(arrow_type.value_type)}>"
    if pa.types.is_struct(arrow_type):
        members = ", ".join(f"{quote(f.name)} {ddl_type(f.type)}" for f in _children(arrow_type))
        return f"STRUCT<{members}>"
    return _scalar_type(arrow_type)


def _description(field: pa.Field) -> str:
    raw: bytes = (field.metadata or {}).get(DESCRIPTION_KEY.encode(), b"")
    return raw.decode()


def column_ddl(field: pa.Field) -> str:
    """``name TYPE [OPTIONS(description=…)]`` for a CREATE TABLE or ADD COLUMN."""
    sql = f"{quote(validate_field(field).name)} {ddl_type(field.type)}"
    description = _description(field)
    if description:
        sql += f" OPTIONS(description={sql_string(description)})"
    return sql


def schema_field(field: pa.Field) -> SchemaField:
    """The tables-API ``SchemaField`` for ``field`` (every scalar NULLABLE)."""
    from google.cloud.bigquery import SchemaField

    arrow = field.type
    mode = "NULLABLE"
    if _is_list(arrow):
        ddl_type(arrow)  # refuses arrays of arrays
        mode, arrow = "REPEATED", arrow.value_type
    if pa.types.is_struct(arrow):
        children = tuple(schema_field(child) for child in _children(arrow))
        return SchemaField(field.name, "RECORD", mode, _description(field) or None, fields=children)
    name = _scalar_type(arrow)
    return SchemaField(field.name, _API_NAMES.get(name, name), mode, _description(field) or None)


def arrow_type(field: SchemaField) -> pa.DataType:
    """The Arrow type a column of the tables API holds (for NULL-filled columns)."""
    if field.field_type in ("RECORD", "STRUCT"):
        base: pa.DataType = pa.struct([pa.field(f.name, arrow_type(f)) for f in field.fields])
    elif field.field_type in _ARROW_TYPES:
        base = _ARROW_TYPES[field.field_type]
    else:  # GEOGRAPHY, JSON, RANGE…: columns d8a never creates; text holds their NULLs
        base = pa.string()
    return pa.list_(base) if field.mode == "REPEATED" else base


def sql_string(text: str) -> str:
    """A GoogleSQL string literal."""
    return json.dumps(text, ensure_ascii=False)


def _json_value(value: Any) -> Any:
    """``value`` as insertAll JSON: ISO dates and times, base64 bytes, no NULL members."""
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return insert_all_row(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value if v is not None]
    return value


def insert_all_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of ``Table.to_pylist()`` as insertAll JSON (NULLs left out)."""
    return {k: _json_value(v) for k, v in row.items() if v is not None}
