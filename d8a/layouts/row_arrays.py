"""Event rows (dicts) to Arrow arrays, the step every layout starts with.

The closer leaves one dict per event holding every event and session-scoped
column but the sparse ones (the column set's row template), most of them NULL:
of a GA4 row's 53 keys and its sparse values, generated traffic fills about 37.
Converting every field would cost as much for the NULL columns as for the
others. :class:`RowConverter` therefore remembers which fields of a column set
have held a value so far and converts only those, column by column; the batch
is right when the rows hold no other value, which a few C-level counts and a
look at each row's keys beyond the template's prove.
Otherwise the batch is converted in full, as one struct array.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress, islice, repeat
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
    it and never leaves it (a few batches at the start of a run). Rows may lack
    keys (sparse columns: NULL); a row holding a value under a key that is no
    field sends its batch through the full conversion, which is right but slower.

    The seen fields are converted column by column: the template's keys (in every
    row) are read by one ``itemgetter`` a row and transposed in C; the sparse ones
    by one pass over the few keys each row holds beyond the template's (rows
    without any are skipped in C). That the rows hold no other value is proved
    without looking at every value: the template's unseen columns hold only
    ``None`` (counted in C), and every key beyond the template's is a seen sparse
    field or holds ``None``. Rows lacking a template key (not made by the closer)
    convert their seen fields as one struct array."""

    def __init__(self, columns: ColumnSet) -> None:
        self.columns = columns  # kept so that the id() cache key stays valid
        self.fields: list[pa.Field] = [*columns.event_fields, *columns.session_scoped_fields]
        self._full = pa.struct(self.fields)
        index = {field.name: i for i, field in enumerate(self.fields)}
        template = list(columns.event_row_template)  # names of fields, by construction
        self._dense = [index[name] for name in template]
        self._getter = itemgetter(*template) if len(template) > 1 else None  # a tuple a row
        self._template_names = frozenset(template)
        self._learn(set())

    def _learn(self, seen: set[int]) -> None:
        self._seen = sorted(seen)
        self._seen_struct = pa.struct([self.fields[i] for i in self._seen])
        self._unseen = [i for i in range(len(self.fields)) if i not in seen]
        dense = set(self._dense)
        self._dense_seen = [(pos, i) for pos, i in enumerate(self._dense) if i in seen]
        self._dense_unseen = [pos for pos, i in enumerate(self._dense) if i not in seen]
        self._sparse_seen = [(i, self.fields[i].name) for i in self._seen if i not in dense]
        self._sparse_names = frozenset(name for _, name in self._sparse_seen)

    def _by_column(self, rows: list[dict[str, Any]]) -> list[pa.Array] | None:
        """The arrays of the seen fields, NULL arrays for the others; None when the
        rows hold a value elsewhere or cannot be counted. KeyError when a row lacks a
        key of the template (rows not made by the closer)."""
        count = len(rows)
        if count == 0 or self._getter is None:
            return None
        try:
            transposed = list(zip(*map(self._getter, rows), strict=True))
        except TypeError:  # a row that is no mapping
            return None
        try:
            if any(transposed[pos].count(None) != count for pos in self._dense_unseen):
                return None
        except Exception:  # a value whose == raises
            return None
        sparse = self._sparse_values(rows)
        if sparse is None:
            return None
        pool = arrow_pool()
        fields = self.fields
        arrays: list[pa.Array | None] = [None] * len(fields)
        for pos, i in self._dense_seen:
            arrays[i] = pa.array(transposed[pos], type=fields[i].type, memory_pool=pool)
        for i, name in self._sparse_seen:
            values = sparse.get(name)
            if values is not None:
                arrays[i] = pa.array(values, fields[i].type, memory_pool=pool)
        pairs = zip(arrays, fields, strict=True)
        return [nulls(count, field.type) if array is None else array for array, field in pairs]

    def _sparse_values(self, rows: list[dict[str, Any]]) -> dict[str, list[Any]] | None:
        """The values of the seen sparse fields, by name (a list a field with a value,
        None at the other rows), read in one pass over the keys each row holds beyond
        the template's (the closer appends them after the template's, which every
        row holds: ``_getter`` read them). None when one of those keys is a template
        key (then some other key hides among the first ones) or holds a value in a
        field not seen yet, or no field at all."""
        width = len(self._dense)
        known = self._sparse_names
        values: dict[str, list[Any]] = {}
        for index in compress(range(len(rows)), map(width.__lt__, map(len, rows))):
            for name, value in islice(rows[index].items(), width, None):
                if name in known:
                    found = values.get(name)
                    if found is None:
                        found = values[name] = [None] * len(rows)
                    found[index] = value
                elif value is not None or name in self._template_names:
                    return None
        return values

    def _by_struct(self, rows: list[dict[str, Any]]) -> list[pa.Array] | None:
        """The seen fields by one struct conversion, NULL arrays for the others;
        None when the rows hold a value elsewhere."""
        pool = arrow_pool()
        seen = pa.array(rows, type=self._seen_struct, memory_pool=pool).flatten(pool)
        if not self._only(rows, seen):
            return None
        count = len(rows)
        filled = dict(zip(self._seen, seen, strict=True))
        for index in self._unseen:
            filled[index] = nulls(count, self.fields[index].type)
        return [filled[index] for index in range(len(self.fields))]

    @staticmethod
    def _only(rows: list[dict[str, Any]], converted: list[pa.Array]) -> bool:
        """Whether ``converted`` (some fields of ``rows``) holds every value of the rows
        that is not None: the rows' keys less their ``None`` values, both counted in
        C, number the arrays' non-NULL entries (so a sparse key holding None counts
        in neither). A value whose ``== None`` raises answers False."""
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
                try:
                    found = self._by_column(rows)
                except KeyError:  # rows without the template's keys: one narrow struct
                    found = self._by_struct(rows)
                if found is not None:
                    return found
            arrays = pa.array(rows, type=self._full, memory_pool=pool).flatten(pool)
        except _CONVERSION_ERRORS:
            values = transpose(rows, [field.name for field in self.fields])
            pairs = zip(values, self.fields, strict=True)
            return [to_array(column, field) for column, field in pairs]
        seen = {index for index, array in enumerate(arrays) if array.null_count < count}
        if not seen.issubset(self._seen):
            self._learn(seen.union(self._seen))
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
