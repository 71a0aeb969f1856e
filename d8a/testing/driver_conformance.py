"""``DriverConformance``: the pytest suite every warehouse ``Driver`` should pass.

Subclass it in a test module (the class name must start with ``Test``), provide
the ``make_driver`` fixture and implement ``read_back``::

    class TestMyDriver(DriverConformance):
        @pytest.fixture
        def make_driver(self, tmp_path: Path) -> DriverFactory:
            return lambda: MyDriver(tmp_path / "warehouse")

        def read_back(self, driver: Driver, table: str) -> pa.Table:
            return my_read_everything(driver, table)

``read_back`` returns every row written, in any order. A backend that stores
some types as text (timestamps, JSON lists) decodes them back to Python values;
the Arrow type of every column the suite writes is in :data:`COLUMN_TYPES`.
Class attributes switch off checks a backend does not promise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import pyarrow as pa
import pytest

from d8a.errors import ConfigurationError, TableNotFoundError
from d8a.testing.driver_samples import (
    BAD_NAMES,
    COLUMN_TYPES,
    EXTRA_FIELD,
    SCHEMA,
    TABLE,
    sample_rows,
)
from d8a.warehouse.base import Driver

__all__ = [
    "COLUMN_TYPES",
    "EXTRA_FIELD",
    "SCHEMA",
    "DriverConformance",
    "DriverFactory",
    "sample_rows",
]

DriverFactory = Callable[[], Driver]
"""Builds a new driver; drivers built by one factory share one warehouse."""


def _sorted_rows(table: pa.Table, columns: Sequence[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.select(list(columns)).to_pylist()
    return sorted(rows, key=lambda row: (str(row["id"]), repr(sorted(row.items()))))


class DriverConformance:
    """The conformance tests; subclass and provide ``make_driver`` and ``read_back``."""

    deduplicates_across_batches: ClassVar[bool] = True
    """False if only an identical retried batch is idempotent (files drivers)."""

    adds_columns_on_write: ClassVar[bool] = True
    """False if ``write`` requires every column to exist already."""

    implements_existing_ids: ClassVar[bool] = True
    """False if the driver keeps the default ``existing_ids`` (always empty)."""

    null_lists_read_as_empty: ClassVar[bool] = False
    """True if a NULL list column reads back as ``[]`` (ClickHouse arrays, BigQuery
    REPEATED fields cannot be NULL); expected rows are compared that way."""

    @pytest.fixture
    def make_driver(self) -> DriverFactory:
        """Subclasses override this fixture to build the driver under test."""
        raise NotImplementedError("a DriverConformance subclass must provide make_driver")

    def read_back(self, driver: Driver, table: str) -> pa.Table:
        """Every row written to ``table``, decoded to the types in COLUMN_TYPES."""
        raise NotImplementedError("a DriverConformance subclass must implement read_back")

    @pytest.fixture
    def driver(self, make_driver: DriverFactory) -> Iterator[Driver]:
        built = make_driver()
        yield built
        built.close()

    def assert_rows(self, driver: Driver, expected: pa.Table) -> None:
        """The table holds exactly ``expected``'s rows (order ignored)."""
        got = self.read_back(driver, TABLE)
        assert got.num_rows == expected.num_rows
        columns = expected.column_names
        want = _sorted_rows(expected, columns)
        if self.null_lists_read_as_empty:
            lists = [f.name for f in expected.schema if pa.types.is_list(f.type)]
            want = [{**row, **{n: row[n] or [] for n in lists}} for row in want]
        assert _sorted_rows(got, columns) == want

    def test_create_table_is_idempotent(self, driver: Driver) -> None:
        driver.create_table(TABLE, SCHEMA)
        driver.create_table(TABLE, SCHEMA)
        assert driver.missing_columns(TABLE, SCHEMA) == []
        rows = sample_rows(["a", "b"])
        driver.write(TABLE, rows)
        driver.create_table(TABLE, COLUMN_TYPES)  # an existing table is left as it is
        assert [f.name for f in driver.missing_columns(TABLE, COLUMN_TYPES)] == ["extra"]
        self.assert_rows(driver, rows)

    def test_missing_table_raises(self, driver: Driver) -> None:
        with pytest.raises(TableNotFoundError):
            driver.missing_columns(TABLE, SCHEMA)
        with pytest.raises(TableNotFoundError):
            driver.add_column(TABLE, EXTRA_FIELD)
        with pytest.raises(TableNotFoundError):
            driver.write(TABLE, sample_rows(["a"]))

    def test_missing_columns_and_add_column(self, driver: Driver) -> None:
        driver.create_table(TABLE, SCHEMA)
        assert [f.name for f in driver.missing_columns(TABLE, COLUMN_TYPES)] == ["extra"]
        driver.add_column(TABLE, EXTRA_FIELD)
        driver.add_column(TABLE, EXTRA_FIELD)  # every method may be retried
        assert driver.missing_columns(TABLE, COLUMN_TYPES) == []
        driver.ensure_table(TABLE, COLUMN_TYPES)
        assert driver.missing_columns(TABLE, COLUMN_TYPES) == []

    def test_ensure_table_creates_then_extends(self, driver: Driver) -> None:
        driver.ensure_table(TABLE, SCHEMA)
        driver.ensure_table(TABLE, COLUMN_TYPES)
        assert driver.missing_columns(TABLE, COLUMN_TYPES) == []

    def test_write_then_read_back(self, driver: Driver) -> None:
        driver.create_table(TABLE, SCHEMA)
        rows = sample_rows([f"id-{i}" for i in range(7)])
        driver.write(TABLE, rows)
        self.assert_rows(driver, rows)

    def test_empty_write(self, driver: Driver) -> None:
        driver.create_table(TABLE, SCHEMA)
        driver.write(TABLE, SCHEMA.empty_table())
        assert self.read_back(driver, TABLE).num_rows == 0

    def test_rewriting_a_batch_adds_nothing(self, driver: Driver) -> None:
        driver.create_table(TABLE, SCHEMA)
        rows = sample_rows(["a", "b", "c", "d"])
        driver.write(TABLE, rows)
        driver.write(TABLE, rows)
        self.assert_rows(driver, rows)

    def test_duplicate_ids_in_one_batch_keep_the_first(self, driver: Driver) -> None:
        driver.create_table(TABLE, SCHEMA)
        rows = sample_rows(["a", "a", "b"])
        driver.write(TABLE, rows)
        self.assert_rows(driver, rows.take([0, 2]))

    def test_known_ids_are_skipped(self, driver: Driver) -> None:
        driver.create_table(TABLE, SCHEMA)
        first = sample_rows(["a", "b"])
        second = sample_rows(["b", "c"])  # "b" differs from the first "b"
        driver.write(TABLE, first)
        driver.write(TABLE, second)
        if self.deduplicates_across_batches:  # the known "b" is skipped
            self.assert_rows(driver, pa.concat_tables([first, second.slice(1)]))
        else:  # documented: only an identical retried batch is idempotent
            self.assert_rows(driver, pa.concat_tables([first, second]))
            driver.write(TABLE, second)
            self.assert_rows(driver, pa.concat_tables([first, second]))

    def test_existing_ids(self, driver: Driver) -> None:
        driver.create_table(TABLE, SCHEMA)
        driver.write(TABLE, sample_rows(["a", "b"]))
        found = driver.existing_ids(TABLE, ["a", "c", "b", "a"])
        assert found == ({"a", "b"} if self.implements_existing_ids else set())
        assert driver.existing_ids(TABLE, []) == set()

    def test_plan_is_a_dry_run_of_ensure_table(self, driver: Driver) -> None:
        has_ddl = type(driver).create_table_sql is not Driver.create_table_sql
        creating = driver.plan(TABLE, SCHEMA)
        with pytest.raises(TableNotFoundError):  # planning created nothing
            driver.missing_columns(TABLE, SCHEMA)
        driver.ensure_table(TABLE, SCHEMA)
        assert driver.plan(TABLE, SCHEMA) == []
        wider = SCHEMA.append(EXTRA_FIELD)
        adding = driver.plan(TABLE, wider)
        assert [f.name for f in driver.missing_columns(TABLE, wider)] == [EXTRA_FIELD.name]
        if has_ddl:
            assert creating and "CREATE" in creating[0].upper()
            assert adding and EXTRA_FIELD.name in adding[0]
        else:
            assert creating == adding == []

    def test_write_after_add_column(self, driver: Driver) -> None:
        driver.create_table(TABLE, SCHEMA)
        old = sample_rows(["a", "b"])
        driver.write(TABLE, old)
        driver.add_column(TABLE, EXTRA_FIELD)
        new = sample_rows(["c", "d"], extra=True)
        driver.write(TABLE, new)
        old_with_nulls = old.append_column(EXTRA_FIELD, pa.nulls(2, pa.string()))
        self.assert_rows(driver, pa.concat_tables([old_with_nulls, new]))

    def test_write_adds_missing_columns(self, driver: Driver) -> None:
        driver.create_table(TABLE, SCHEMA)
        old = sample_rows(["a", "b", "c"])
        driver.write(TABLE, old)
        new = sample_rows(["d", "e"], extra=True)
        if not self.adds_columns_on_write:  # documented: add the column first
            with pytest.raises(Exception):  # noqa: B017  # each backend has its own error
                driver.write(TABLE, new)
            driver.add_column(TABLE, EXTRA_FIELD)
        driver.write(TABLE, new)
        assert driver.missing_columns(TABLE, COLUMN_TYPES) == []
        old_with_nulls = old.append_column(EXTRA_FIELD, pa.nulls(3, pa.string()))
        self.assert_rows(driver, pa.concat_tables([old_with_nulls, new]))

    def test_write_without_some_columns_leaves_them_null(self, driver: Driver) -> None:
        driver.create_table(TABLE, COLUMN_TYPES)
        rows = sample_rows(["a", "b"])
        driver.write(TABLE, rows)
        self.assert_rows(driver, rows.append_column(EXTRA_FIELD, pa.nulls(2, pa.string())))

    @pytest.mark.parametrize("name", BAD_NAMES)
    def test_invalid_table_name(self, driver: Driver, name: str) -> None:
        with pytest.raises(ConfigurationError):
            driver.create_table(name, SCHEMA)
        with pytest.raises(ConfigurationError):
            driver.missing_columns(name, SCHEMA)
        with pytest.raises(ConfigurationError):
            driver.write(name, sample_rows(["a"]))

    @pytest.mark.parametrize("name", BAD_NAMES)
    def test_invalid_column_name(self, driver: Driver, name: str) -> None:
        with pytest.raises(ConfigurationError):
            driver.create_table(TABLE, SCHEMA.append(pa.field(name, pa.string())))
        driver.create_table(TABLE, SCHEMA)
        with pytest.raises(ConfigurationError):
            driver.add_column(TABLE, pa.field(name, pa.string()))

    def test_context_manager_closes(self, make_driver: DriverFactory) -> None:
        built = make_driver()
        calls: list[None] = []
        close = built.close

        def spy() -> None:
            calls.append(None)
            close()

        built.close = spy  # type: ignore[method-assign]  # spying on this one instance
        with built as entered:
            assert entered is built
            entered.create_table(TABLE, SCHEMA)
        assert len(calls) == 1
        built.close()  # closing twice is harmless
