"""Event rows (dicts) to Arrow arrays, the step every layout starts with.

The closer leaves one dict per event holding every event and session-scoped
column but the sparse ones, most of them NULL: of a GA4 row's 53 keys and
its sparse values, generated traffic fills about 37. Arrow converts a list of dicts as one struct
array in a single C++ pass, one dict look-up per field and row, so the NULL
columns cost as much as the others. :class:`RowConverter` therefore remembers
which fields of a column set have held a value so far and converts only those;
the batch is right when the rows hold no other value, which one C-level count
of each row's ``None`` values proves. Otherwise the batch is converted in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from operator import countOf, itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from d8a.columns.columnset import ColumnSet
from d8a.errors import BadValuesError
from d8a.layouts.memory_pool import arrow_pool

__all__ = [
    "BadValuesError",
    "RowConverter",
    "event_arrays",
    "nulls",
    "take_rows",
    "to_array",
    "transpose",
]

_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError)


class RowConverter:
    """Converts the event rows of one column set, learning which fields hold values.

    A field enters the "seen" set the first time a batch holds a non-NULL value for
    it and never leaves it, so the struct type changes only while the set grows (a
    few batches at the start of a run). Rows may lack keys (sparse columns: NULL);
    a row holding a value under a key that is no field sends every batch through
    the full conversion, which is right but slower."""

    def __init__(self, columns: ColumnSet) -> None:
        self.columns = columns  # kept so that the id() cache key stays valid
        self.fields: list[pa.Field] = [*columns.event_fields, *columns.session_scoped_fields]
        self._full = pa.struct(self.fields)
        self._learn(set())

    def _learn(self, seen: set[int]) -> None:
        self._seen = sorted(seen)
        self._seen_struct = pa.struct([self.fields[i] for i in self._seen])
        self._unseen = [i for i in range(len(self.fields)) if i not in seen]

    @staticmethod
    def _only(rows: list[dict[str, Any]], converted: list[pa.Array]) -> bool:
        """Whether ``converted`` (some fields of ``rows``) holds every value of the rows
        that is not None: the rows' keys less their ``None`` values, both counted in
        C, number the arrays' non-NULL entries. A row that is no dict, or a value
        whose ``== None`` raises, answers False (convert in full)."""
        count = len(rows)
        held: int = sum(count - array.null_count for array in converted)
        try:
            nones: int = sum(map(countOf, map(dict.values, rows), repeat(None)))
            keys: int = sum(map(len, rows))
        except Exception:
            return False
        return keys - nones == held

    def convert(self, rows: list[dict[str, Any]]) -> list[pa.Array]:
        """One array per field of :attr:`fields`; BadValuesError names the rows of
        a value that does not fit its type."""
        count = len(rows)
        pool = arrow_pool()
        try:
            if self._seen:
                seen = pa.array(rows, type=self._seen_struct, memory_pool=pool).flatten(pool)
                if self._only(rows, seen):
                    filled = dict(zip(self._seen, seen, strict=True))
                    for index in self._unseen:
                        filled[index] = nulls(count, self.fields[index].type)
                    return [filled[index] for index in range(len(self.fields))]
            arrays = pa.array(rows, type=self._full, memory_pool=pool).flatten(pool)
        except _CONVERSION_ERRORS:
            values = transpose(rows, [field.name for field in self.fields])
            pairs = zip(values, self.fields, strict=True)
            return [to_array(column, field) for column, field in pairs]
        found = {index for index, array in enumerate(arrays) if array.null_count < count}
        if not found.issubset(self._seen):
            self._learn(found.union(self._seen))
        return arrays  # type: ignore[no-any-return]


_CONVERTERS: dict[int, RowConverter] = {}


def event_arrays(rows: list[dict[str, Any]], columns: ColumnSet) -> list[pa.Array]:
    """The event and session-scoped columns of ``rows`` (event values), one array each
    (a missing key is NULL), by the column set's :class:`RowConverter`."""
    converter = _CONVERTERS.get(id(columns))
    if converter is None or converter.columns is not columns:
        converter = _CONVERTERS[id(columns)] = RowConverter(columns)
    return converter.convert(rows)


def transpose(rows: list[dict[str, Any]], names: Sequence[str]) -> list[Sequence[Any]]:
    """Per-name value lists of ``rows`` (a missing value is NULL).

    Rows whose keys are exactly ``names`` in that order are transposed by their
    ``dict.values`` in one C-level pass; otherwise by ``itemgetter`` when every
    row has every name, else one ``dict.get`` pass per name."""
    if not rows:
        return [[] for _ in names]
    if len(names) > 1:
        expected = list(names)
        if all(map(expected.__eq__, map(list, rows))):
            return list(zip(*map(dict.values, rows), strict=True))
        getter = itemgetter(*names)
        try:
            return list(zip(*map(getter, rows), strict=True))
        except KeyError:
            pass
    return [[row.get(name) for row in rows] for name in names]


_NULLS: dict[pa.DataType, pa.Array] = {}
"""One long all-NULL array per type, sliced for columns without a value in a batch."""


def nulls(count: int, type_: pa.DataType) -> pa.Array:
    """An all-NULL array of ``count`` values of ``type_`` (a slice of a cached one)."""
    found = _NULLS.get(type_)
    if found is None or len(found) < count:
        found = _NULLS[type_] = pa.nulls(max(count, 4096), type_, memory_pool=arrow_pool())
    return found.slice(0, count)


def to_array(values: Sequence[Any], field: pa.Field) -> pa.Array:
    """``values`` as an Arrow array of ``field``'s type; BadValuesError names the
    rows that do not fit it."""
    try:
        empty = values.count(None) == len(values)
    except Exception:  # a value whose == raises is a value: convert, and name its row
        empty = False
    if empty:
        return nulls(len(values), field.type)
    try:
        return pa.array(values, type=field.type, memory_pool=arrow_pool())
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        rows = []
        for row, value in enumerate(values):
            try:
                pa.scalar(value, type=field.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                rows.append(row)
        raise BadValuesError(field.name, rows) from None


def take_rows(table: pa.Table, indices: pa.Array) -> pa.Table:
    """``table.take(indices)`` for ``indices`` that are valid row numbers, without
    taking the columns NULL on every row: their result is NULL whatever the order
    (about half the columns of a GA4 events table)."""
    count = len(indices)
    pool = arrow_pool()
    columns = [
        nulls(count, column.type)
        if column.null_count == len(column)
        else pc.take(column, indices, memory_pool=pool)
        for column in table.columns
    ]
    return pa.Table.from_arrays(columns, schema=table.schema)
