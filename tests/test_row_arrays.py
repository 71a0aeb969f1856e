"""Event rows to Arrow: the converter that learns which fields hold values, and
``take_rows``."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from d8a.columns.base import Event, EventColumn, Interface
from d8a.columns.columnset import ColumnSet
from d8a.layouts.memory_pool import arrow_pool
from d8a.layouts.row_arrays import BadValuesError, RowConverter, take_rows

FIELDS = (
    pa.field("name", pa.string()),
    pa.field("count", pa.int64()),
    pa.field("value", pa.float64()),
    pa.field("flag", pa.bool_()),
    pa.field("params", pa.list_(pa.struct([("key", pa.string()), ("number", pa.float64())]))),
)
VALUES: dict[str, Any] = {
    "name": st.one_of(st.none(), st.text(max_size=5)),
    "count": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    "value": st.one_of(st.none(), st.floats(allow_nan=False)),
    "flag": st.one_of(st.none(), st.booleans()),
    "params": st.one_of(
        st.none(),
        st.lists(st.fixed_dictionaries({"key": st.text(max_size=3), "number": st.floats(0, 1)})),
    ),
}


def _columns() -> ColumnSet:
    return ColumnSet((), (), (), FIELDS, (), ())


def _full(rows: list[dict[str, Any]]) -> list[pa.Array]:
    """What Arrow makes of the rows in one full struct conversion (the reference)."""
    return pa.array(rows, type=pa.struct(FIELDS)).flatten()  # type: ignore[no-any-return]


def _rows(*filled: str, count: int = 3) -> list[dict[str, Any]]:
    row: dict[str, Any] = dict.fromkeys(f.name for f in FIELDS)
    samples = {"name": "a", "count": 7, "value": 1.5, "flag": False, "params": []}
    return [{**row, **{name: samples[name] for name in filled}} for _ in range(count)]


rows_strategy = st.lists(
    st.fixed_dictionaries({}, optional=VALUES),  # absent keys are NULL too
    max_size=6,
)


@given(st.lists(rows_strategy, min_size=1, max_size=6))
def test_every_batch_equals_a_full_conversion(batches: list[list[dict[str, Any]]]) -> None:
    """Whatever the converter has learnt from earlier batches, a batch converts to
    what a full struct conversion gives, fields first filled late included."""
    converter = RowConverter(_columns())
    for rows in batches:
        got = converter.convert(rows)
        assert [array.to_pylist() for array in got] == [a.to_pylist() for a in _full(rows)]
        assert [array.type for array in got] == [f.type for f in FIELDS]


def test_fields_seen_so_far_are_learnt_and_a_newly_filled_field_is_kept() -> None:
    converter = RowConverter(_columns())
    converter.convert(_rows("name", "count"))
    assert [converter.fields[i].name for i in converter._seen] == ["name", "count"]
    got = converter.convert(_rows("name", "flag"))  # flag: never seen before
    assert got[3].to_pylist() == [False, False, False]
    assert got[1].null_count == 3
    assert [converter.fields[i].name for i in converter._seen] == ["name", "count", "flag"]


def test_a_missing_key_is_null() -> None:
    converter = RowConverter(_columns())
    converter.convert(_rows("name", "count"))
    got = converter.convert([{"name": "x"}, {"count": 2}])
    assert got[0].to_pylist() == ["x", None] and got[1].to_pylist() == [None, 2]


def _array_types(monkeypatch: pytest.MonkeyPatch) -> list[pa.DataType]:
    """The types ``pa.array`` is called with from now on (each call checked to use
    d8a's memory pool), until ``monkeypatch.undo()``."""
    types: list[pa.DataType] = []
    real = pa.array

    def spy(values: Any, type: pa.DataType, memory_pool: pa.MemoryPool) -> pa.Array:
        types.append(type)
        assert memory_pool is arrow_pool()
        return real(values, type=type, memory_pool=memory_pool)

    monkeypatch.setattr(pa, "array", spy)
    return types


def test_rows_of_sparse_columns_take_the_narrow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows that leave out their NULL columns convert only the fields seen so far."""
    converter = RowConverter(_columns())
    converter.convert(_rows("name", "count"))
    types = _array_types(monkeypatch)
    got = converter.convert([{"name": "x"}, {"count": 2, "flag": None}])
    monkeypatch.undo()
    assert types == [converter._seen_struct]
    nothing = [None, None]
    assert [a.to_pylist() for a in got] == [["x", None], [None, 2], nothing, nothing, nothing]


class _Column(EventColumn):
    def __init__(self, field: pa.Field, sparse: bool) -> None:
        self.interface = Interface(f"test.example/events/{field.name}", field)
        self.depends_on = ()
        self.sparse = sparse

    def write(self, event: Event) -> None:
        raise AssertionError("not run")


DENSE = ("name", "count")


def _closer_columns() -> ColumnSet:
    """``name`` and ``count`` in the row template (every row holds them), the
    others sparse (in a row only when set), as the closer makes rows."""
    columns = tuple(_Column(f, f.name not in DENSE) for f in FIELDS)
    return ColumnSet(columns, (), (), FIELDS, (), ())


closer_rows = st.lists(
    st.fixed_dictionaries(
        {name: VALUES[name] for name in DENSE},
        optional={name: v for name, v in VALUES.items() if name not in DENSE},
    ),
    max_size=6,
)


@given(st.lists(closer_rows, min_size=1, max_size=6))
def test_closer_rows_convert_column_by_column_to_a_full_conversion(
    batches: list[list[dict[str, Any]]],
) -> None:
    """Rows holding the template's keys, sparse keys with values or None: every
    batch converts to what a full struct conversion gives."""
    converter = RowConverter(_closer_columns())
    for rows in batches:
        got = converter.convert(rows)
        assert [array.to_pylist() for array in got] == [a.to_pylist() for a in _full(rows)]
        assert [array.type for array in got] == [f.type for f in FIELDS]


@given(st.lists(closer_rows, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_closer_rows_in_any_key_order_convert_to_a_full_conversion(
    batches: list[list[dict[str, Any]]], random: Any
) -> None:
    """The sparse values are read from the keys beyond the template's count; a row
    whose template keys come after a sparse one (a key deleted and set again) is
    still converted right."""
    converter = RowConverter(_closer_columns())
    for rows in batches:
        shuffled = []
        for row in rows:
            items = list(row.items())
            random.shuffle(items)
            shuffled.append(dict(items))
        got = converter.convert(shuffled)
        assert [array.to_pylist() for array in got] == [a.to_pylist() for a in _full(rows)]


def test_a_template_key_after_a_sparse_one_is_not_missed() -> None:
    converter = RowConverter(_closer_columns())
    converter.convert([{"name": "a", "count": 1, "flag": True, "value": 0.5}])  # all seen
    row: dict[str, Any] = {"name": "x", "flag": False, "count": 2}  # count after a sparse key
    got = converter.convert([row, {"name": "y", "count": 3}])
    assert [a.to_pylist() for a in got] == [
        a.to_pylist() for a in _full([row, {"name": "y", "count": 3}])
    ]
    assert got[1].to_pylist() == [2, 3] and got[3].to_pylist() == [False, None]


def test_closer_rows_convert_only_the_seen_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    converter = RowConverter(_closer_columns())
    converter.convert([{"name": "a", "count": 1, "flag": True}])  # learns name, count, flag
    types = _array_types(monkeypatch)
    rows = [{"name": "x", "count": None}, {"name": None, "count": 2, "flag": False}]
    got = converter.convert(rows)
    # a sparse key holding None: still the narrow path
    got_none = converter.convert([{"name": "y", "count": 3, "flag": None}])
    monkeypatch.undo()
    assert types == [pa.string(), pa.int64(), pa.bool_()] * 2  # one array per seen field
    assert [a.to_pylist() for a in got] == [
        ["x", None],
        [None, 2],
        [None, None],
        [None, False],
        [None, None],
    ]
    assert [a.to_pylist() for a in got_none] == [["y"], [3], [None], [None], [None]]
    # a value under a template key not seen yet, or a sparse key never seen: learnt
    assert converter.convert([{"name": "z", "count": 4, "value": 0.5}])[2].to_pylist() == [0.5]
    assert [converter.fields[i].name for i in converter._seen] == ["name", "count", "value", "flag"]


class _Odd:
    def __eq__(self, other: object) -> bool:
        raise ValueError("no comparing")

    __hash__ = object.__hash__


def test_other_keys_holding_values_send_the_batch_through_the_full_conversion() -> None:
    converter = RowConverter(_columns())
    converter.convert(_rows("name"))
    rows = [{"name": "a", "scratch": 1}, {"name": "b", "count": 3}]  # count: never seen
    got = converter.convert(rows)
    assert [a.to_pylist() for a in got] == [a.to_pylist() for a in _full(rows)]
    assert [converter.fields[i].name for i in converter._seen] == ["name", "count"]
    # A value whose == raises cannot be counted: the full conversion decides.
    with pytest.raises(BadValuesError) as caught:
        converter.convert([{"name": "a"}, {"name": "b", "value": _Odd()}])
    assert caught.value.column == "value" and caught.value.rows == [1]


def test_a_value_that_does_not_fit_is_named_by_its_row() -> None:
    converter = RowConverter(_columns())
    converter.convert(_rows("count"))  # count is seen: the narrow struct path runs first
    rows = _rows("count")
    rows[1]["count"] = "seven"
    with pytest.raises(BadValuesError) as caught:
        converter.convert(rows)
    assert caught.value.column == "count" and caught.value.rows == [1]


@given(st.permutations(range(6)))
def test_take_rows_equals_take_and_skips_nothing_it_should_not(order: list[int]) -> None:
    table = pa.table(
        {
            "id": [f"e{i}" for i in range(6)],
            "empty": pa.nulls(6, pa.string()),
            "nested": pa.nulls(6, FIELDS[4].type),
            "count": [None, 1, None, 3, None, 5],
        }
    )
    indices = pa.array(order, pa.int64())
    got = take_rows(table, indices)
    assert got.equals(table.take(indices))
    assert got.schema == table.schema
