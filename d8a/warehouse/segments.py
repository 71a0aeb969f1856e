"""``FilesDriver``: Parquet or CSV (optionally gzip) files under the original's path template.

Each write conforms the rows to the table's current schema, splits them by
**event** date (``date_utc``) and writes one file per date at
:class:`~d8a.warehouse.path_template.PathTemplate`'s path, under a temporary
dot-name first, fsynced and renamed (``os.replace``), so a reader never sees
half a file. The segment id is a hash of the rows' ids, so a retried batch
replaces its own files and adds nothing; a later batch repeating some ids
does add them again (readers that need exactly-once deduplicate by ``id``).

Table schemas are kept as Arrow IPC in ``<root>/_d8a/tables/<table>.arrow``;
the ``Schema`` variable is their fingerprint, so after a column is added new
files go to a new ``schema=`` directory.

CSV follows the original's form: a header row; null as an empty field and
the empty string as ``""``; booleans ``true``/``false``; timestamps RFC 3339
in UTC (``2024-01-31T12:00:00Z``); dates ``YYYY-MM-DD``; lists, structs and
maps as JSON. :func:`read_files` reads either format back with the schema.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from typing_extensions import override

from d8a.errors import ConfigurationError, TableNotFoundError
from d8a.warehouse._arrow import first_occurrences, validate_field, validate_schema
from d8a.warehouse.base import Driver, validate_identifier
from d8a.warehouse.files import NULL_PARTITION, _file_name, _partitions, _replace_atomically
from d8a.warehouse.memory import conform_table
from d8a.warehouse.path_template import DEFAULT_TEMPLATE, PathTemplate, date_variables

__all__ = ["FilesDriver", "read_files"]

Format = Literal["parquet", "csv"]
_META = Path("_d8a") / "tables"


def _schema_path(root: Path, table: str) -> Path:
    return root / _META / f"{validate_identifier(table)}.arrow"


def _read_schema(root: Path, table: str) -> pa.Schema:
    try:
        raw = _schema_path(root, table).read_bytes()
    except FileNotFoundError:
        raise TableNotFoundError(f"table {table!r} does not exist") from None
    return pa.ipc.read_schema(pa.py_buffer(raw))


def fingerprint(schema: pa.Schema) -> str:
    """16 hex digits of the SHA-256 of the serialised schema."""
    return hashlib.sha256(schema.serialize().to_pybytes()).hexdigest()[:16]


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date | dt.time | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _csv_ready(data: pa.Table) -> pa.Table:
    """``data`` with nested columns as JSON text and timestamps as RFC 3339 UTC text."""
    columns = []
    for field, column in zip(data.schema, data.columns, strict=True):
        if pa.types.is_nested(field.type):
            values = column.to_pylist()
            if pa.types.is_map(field.type):
                values = [None if v is None else dict(v) for v in values]
            column = pa.array(
                [None if v is None else json.dumps(v, default=_json_default) for v in values],
                pa.string(),
            )
        elif pa.types.is_timestamp(field.type):
            zone = "Z" if field.type.tz is not None else ""
            utc = column.cast(pa.timestamp(field.type.unit, "UTC" if zone else None))
            column = pc.strftime(utc, format=f"%Y-%m-%dT%H:%M:%S{zone}")
        columns.append(column)
    return pa.Table.from_arrays(columns, names=data.column_names)


class FilesDriver(Driver):
    """Writes each batch as Parquet or CSV files under ``root`` (module docstring).

    ``compression``: for Parquet any codec ``pyarrow.parquet`` accepts
    (default ``zstd``); for CSV ``None`` or ``"gzip"`` (``.csv.gz``).
    ``path_template`` uses the original's variables (see
    :mod:`d8a.warehouse.path_template`); a template that could escape ``root``
    raises ConfigurationError here. Thread-safe within one process.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        format: Format = "parquet",
        compression: str | None = None,
        path_template: str = DEFAULT_TEMPLATE,
        fsync: bool = True,
    ) -> None:
        if format not in ("parquet", "csv"):
            raise ConfigurationError(f"unknown file format {format!r}; use parquet or csv")
        if format == "csv" and compression not in (None, "", "gzip"):
            raise ConfigurationError(f"CSV compression {compression!r}: use gzip or none")
        self.root = Path(root)
        self.format = format
        self.compression = compression or ("zstd" if format == "parquet" else None)
        self.extension = "parquet" if format == "parquet" else "csv"
        if self.compression == "gzip" and format == "csv":
            self.extension = "csv.gz"
        self.template = PathTemplate(path_template)
        self._fsync = fsync
        self._lock = threading.Lock()

    def _store_schema(self, table: str, schema: pa.Schema) -> None:
        raw: bytes = schema.serialize().to_pybytes()
        path = _schema_path(self.root, table)
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_atomically(path, lambda temp: Path(temp).write_bytes(raw), self._fsync)

    def _extend(self, table: str, fields: Sequence[pa.Field]) -> pa.Schema:
        with self._lock:
            schema = _read_schema(self.root, table)
            new = [f for f in fields if schema.get_field_index(f.name) < 0]
            if new:
                schema = pa.schema([*schema, *new], schema.metadata)
                self._store_schema(table, schema)
            return schema

    @override
    def create_table(self, table: str, schema: pa.Schema) -> None:
        validate_schema(schema)
        with self._lock:
            if not _schema_path(self.root, table).exists():
                self._store_schema(table, schema)

    @override
    def add_column(self, table: str, field: pa.Field) -> None:
        self._extend(table, [validate_field(field)])

    @override
    def missing_columns(self, table: str, schema: pa.Schema) -> list[pa.Field]:
        have = set(_read_schema(self.root, table).names)
        return [f for f in schema if f.name not in have]

    @override
    def write(self, table: str, data: pa.Table) -> None:
        schema = self._extend(table, list(validate_schema(data.schema)))
        data = first_occurrences(data)
        if not data.num_rows:
            return
        data = conform_table(data, schema)
        common = {"Table": table, "Schema": fingerprint(schema), "Extension": self.extension}
        for partition, rows in _partitions(data):
            date = None if partition == NULL_PARTITION else partition
            variables = {**common, **date_variables(date), "SegmentID": _file_name(rows)}
            path = self.root / self.template.render(variables)
            path.parent.mkdir(parents=True, exist_ok=True)
            _replace_atomically(path, functools.partial(self._write, rows), self._fsync)

    def _write(self, rows: pa.Table, path: str) -> None:
        if self.format == "parquet":
            import pyarrow.parquet as pq  # heavy: loaded on first use

            pq.write_table(rows, path, compression=self.compression)
            return
        import pyarrow.csv as csv  # heavy: loaded on first use

        ready = _csv_ready(rows)
        if self.compression == "gzip":
            with pa.CompressedOutputStream(path, "gzip") as sink:
                csv.write_csv(ready, sink)
        else:
            csv.write_csv(ready, path)

    def files(self, table: str) -> list[Path]:
        """Every data file of ``table``, sorted by path."""
        validate_identifier(table)
        return sorted(p for p in self.root.glob(self.template.glob(table)) if p.is_file())

    @override
    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        """Reads every file: slow, and meant for recovery only."""
        wanted = set(ids)
        column = read_files(self, table).column("id") if wanted else pa.chunked_array([[]])
        return {v for v in column.to_pylist() if v in wanted}


def _read_csv(path: Path, schema: pa.Schema) -> pa.Table:
    import pyarrow.csv as csv  # heavy: loaded on first use

    types = {
        f.name: pa.string()
        if pa.types.is_nested(f.type) or pa.types.is_timestamp(f.type)
        else f.type
        for f in schema
    }
    options = csv.ConvertOptions(
        column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
    )
    raw = csv.read_csv(path, convert_options=options)  # .gz is decompressed by its name
    fields = [schema.field(name) for name in raw.column_names]
    columns: list[Any] = []
    for field in fields:
        column = raw.column(field.name)
        if pa.types.is_nested(field.type):
            values = [None if v is None else json.loads(v) for v in column.to_pylist()]
            if pa.types.is_map(field.type):
                values = [None if v is None else list(v.items()) for v in values]
            column = pa.array(values, field.type)
        elif pa.types.is_timestamp(field.type):
            column = column.cast(field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def read_files(driver: FilesDriver, table: str) -> pa.Table:
    """Every row of ``table`` as one Arrow table with its recorded schema.

    Files written before a column was added read as null in it. Row order is
    by file path, not write order. Raises TableNotFoundError."""
    schema = _read_schema(driver.root, table)
    parts = []
    for path in driver.files(table):
        if driver.format == "parquet":
            import pyarrow.parquet as pq  # heavy: loaded on first use

            part = pq.read_table(path, partitioning=None)
        else:
            part = _read_csv(path, schema)
        parts.append(conform_table(part, schema))
    return pa.concat_tables(parts) if parts else schema.empty_table()
