"""A driver that writes to several drivers: how ``replay(warehouse=...)`` keeps a copy."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from typing_extensions import override

from d8a.warehouse.base import Driver

__all__ = ["TeeDriver"]


class TeeDriver(Driver):
    """Sends every call to each driver in turn; answers questions from the first.

    Writes are idempotent on ``id`` in each driver, so retrying after one of them
    failed is safe."""

    def __init__(self, first: Driver, *others: Driver) -> None:
        self.drivers: tuple[Driver, ...] = (first, *others)

    @override
    def create_table(self, table: str, schema: pa.Schema) -> None:
        for driver in self.drivers:
            driver.create_table(table, schema)

    @override
    def add_column(self, table: str, field: pa.Field) -> None:
        for driver in self.drivers:
            if field.name in {f.name for f in driver.missing_columns(table, pa.schema([field]))}:
                driver.add_column(table, field)

    @override
    def missing_columns(self, table: str, schema: pa.Schema) -> list[pa.Field]:
        missing: dict[str, pa.Field] = {}
        for driver in self.drivers:
            for field in driver.missing_columns(table, schema):
                missing.setdefault(field.name, field)
        return [field for field in schema if field.name in missing]

    @override
    def write(self, table: str, data: pa.Table) -> None:
        for driver in self.drivers:
            driver.write(table, data)

    @override
    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        found = set(ids)
        for driver in self.drivers:  # written means written everywhere
            found &= driver.existing_ids(table, ids)
        return found

    @override
    def close(self) -> None:
        for driver in self.drivers:
            driver.close()
