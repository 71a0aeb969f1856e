"""Arrow helpers the SQL drivers share: nested name validation, in-batch dedup.

Private to :mod:`d8a.warehouse`; the names may change without notice.
"""

from __future__ import annotations

import pyarrow as pa

from d8a.warehouse.base import validate_identifier

__all__ = ["first_occurrences", "nested_fields", "validate_field", "validate_schema"]


def nested_fields(arrow_type: pa.DataType) -> list[pa.Field]:
    """The child fields of a struct type (the struct inside lists too), else ``[]``."""
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return nested_fields(arrow_type.value_type)
    if pa.types.is_struct(arrow_type):
        return [arrow_type.field(i) for i in range(arrow_type.num_fields)]
    return []


def validate_field(field: pa.Field) -> pa.Field:
    """Validate ``field``'s name and every struct field name inside its type."""
    validate_identifier(field.name)
    for child in nested_fields(field.type):
        validate_field(child)
    return field


def validate_schema(schema: pa.Schema) -> pa.Schema:
    """Validate every column name of ``schema`` and the names nested in its types."""
    for field in schema:
        validate_field(field)
    return schema


def first_occurrences(data: pa.Table) -> pa.Table:
    """``data`` without the rows repeating an earlier row's non-null ``id``."""
    if "id" not in data.column_names:
        return data
    seen: set[object] = set()
    keep = []
    for value in data.column("id").to_pylist():
        keep.append(value is None or value not in seen)
        seen.add(value)
    return data if all(keep) else data.filter(pa.array(keep, pa.bool_()))
