"""``ParquetDriver``: one Parquet file per write, in date partitions.

The layout under ``root``::

    <table>/_schema.arrow                                 the table's schema (Arrow IPC)
    <table>/date_utc=2024-01-31/<hash>.parquet            rows of one write dated that day
    <table>/date_utc=__HIVE_DEFAULT_PARTITION__/<hash>.parquet
                                                          rows with no usable date

The partition is the row's ``date_utc`` value (a date32 column or a
``YYYY-MM-DD`` string). Rows whose ``date_utc`` is null or not such a date, and
every row of a table without that column, go to Hive's null partition, read as
a null date. Each file keeps ``date_utc`` as an ordinary column too, so
:func:`read_table` reads the files and ignores the directory names; to use
``pyarrow.dataset`` instead, name the partition type (``ds.partitioning(
pa.schema([("date_utc", pa.date32())]), flavor="hive")``) and pass the recorded
schema, so that files written before a column was added unify.

A file is written under a temporary dot-name in its directory, fsynced and
renamed over its final name (``os.replace``), so a reader never sees half a file.
The name is the blake2b hash of the sorted ``id`` values of the rows in it (of
the rows' content if the table has no ``id``, or some id is null), so writing
the same batch again replaces the same files: idempotency on ``id`` holds for
identical retried batches. A later batch that repeats some ids of an earlier
one does add duplicate rows; readers that need exactly-once should deduplicate
by ``id`` (:meth:`ParquetDriver.existing_ids` reads them).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
from typing_extensions import override

from d8a.errors import TableNotFoundError
from d8a.warehouse._arrow import first_occurrences
from d8a.warehouse.base import Driver, validate_identifier
from d8a.warehouse.memory import conform_table

__all__ = ["NULL_PARTITION", "ParquetDriver", "read_table"]

NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
"""Directory value of rows without a usable ``date_utc`` (Hive's null partition)."""

_SCHEMA_FILE = "_schema.arrow"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _validated(schema: pa.Schema) -> pa.Schema:
    for name in schema.names:
        validate_identifier(name)
    return schema


def _table_dir(root: Path, table: str) -> Path:
    return root / validate_identifier(table)


def _read_schema(table_dir: Path) -> pa.Schema:
    try:
        raw = (table_dir / _SCHEMA_FILE).read_bytes()
    except FileNotFoundError:
        raise TableNotFoundError(f"table {table_dir.name!r} does not exist") from None
    return pa.ipc.read_schema(pa.py_buffer(raw))


def _replace_atomically(path: Path, write: Callable[[str], object], fsync: bool) -> None:
    """Call ``write(temp_path)`` next to ``path``, fsync, then rename it to ``path``."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(temp)
        if fsync:
            fd = os.open(temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _write_schema(table_dir: Path, schema: pa.Schema, fsync: bool) -> None:
    raw: bytes = schema.serialize().to_pybytes()
    _replace_atomically(table_dir / _SCHEMA_FILE, lambda temp: Path(temp).write_bytes(raw), fsync)


def _partitions(data: pa.Table) -> list[tuple[str, pa.Table]]:
    """``data`` split by ``date_utc`` into (directory value, rows), sorted by value."""
    keys: list[str] = []
    if "date_utc" in data.column_names:
        column = data.column("date_utc")
        if pa.types.is_date(column.type):
            column = column.cast(pa.string())
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            for value in column.to_pylist():
                keys.append(
                    value if value is not None and _DATE.fullmatch(value) else NULL_PARTITION
                )
    if not keys:
        return [(NULL_PARTITION, data)]
    rows: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        rows.setdefault(key, []).append(index)
    if len(rows) == 1:
        return [(keys[0], data)]
    return [(key, data.take(pa.array(rows[key], pa.int64()))) for key in sorted(rows)]


def _file_name(rows: pa.Table) -> str:
    """A name determined by the rows' ids, or by their content when ids cannot tell."""
    digest = hashlib.blake2b(digest_size=16)
    ids = rows.column("id").to_pylist() if "id" in rows.column_names else [None]
    if None not in ids:
        for value in sorted(str(value) for value in ids):
            digest.update(value.encode())
            digest.update(b"\0")
        return digest.hexdigest()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema) as writer:
        writer.write_table(rows)
    digest.update(b"content:")
    digest.update(sink.getvalue())
    return digest.hexdigest()


def _data_files(table_dir: Path) -> list[Path]:
    return sorted(table_dir.glob("date_utc=*/*.parquet"))


def read_table(root: str | os.PathLike[str], table: str) -> pa.Table:
    """Every row of ``table`` under ``root`` as one Arrow table with its recorded schema.

    Files written before a column was added read as null in it. Row order is
    by partition, then file name; not write order. Raises TableNotFoundError.
    """
    import pyarrow.parquet as pq  # heavy: loaded on first use

    table_dir = _table_dir(Path(root), table)
    schema = _read_schema(table_dir)
    parts = [
        conform_table(pq.read_table(path, partitioning=None), schema)
        for path in _data_files(table_dir)
    ]
    return pa.concat_tables(parts) if parts else schema.empty_table()


class ParquetDriver(Driver):
    """Writes each batch as Parquet files under ``root`` (see the module docstring).

    ``compression`` is any codec ``pyarrow.parquet.write_table`` accepts;
    ``fsync=False`` skips the fsync before the rename (faster, less durable).
    Thread-safe within one process: schema updates hold a lock and every file is
    written under its own temporary name. Columns are never dropped; a write
    whose data has columns the table lacks records them first.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, compression: str = "zstd", fsync: bool = True
    ) -> None:
        self.root = Path(root)
        self._compression = compression
        self._fsync = fsync
        self._lock = threading.Lock()

    def _extend_schema(self, table: str, fields: Sequence[pa.Field]) -> None:
        table_dir = _table_dir(self.root, table)
        with self._lock:
            schema = _read_schema(table_dir)
            new = [f for f in fields if schema.get_field_index(f.name) < 0]
            if new:
                _write_schema(table_dir, pa.schema([*schema, *new], schema.metadata), self._fsync)

    @override
    def create_table(self, table: str, schema: pa.Schema) -> None:
        table_dir = _table_dir(self.root, table)
        _validated(schema)
        with self._lock:
            table_dir.mkdir(parents=True, exist_ok=True)
            if not (table_dir / _SCHEMA_FILE).exists():
                _write_schema(table_dir, schema, self._fsync)

    @override
    def add_column(self, table: str, field: pa.Field) -> None:
        validate_identifier(field.name)
        self._extend_schema(table, [field])

    @override
    def missing_columns(self, table: str, schema: pa.Schema) -> list[pa.Field]:
        have = set(_read_schema(_table_dir(self.root, table)).names)
        return [f for f in schema if f.name not in have]

    @override
    def write(self, table: str, data: pa.Table) -> None:
        import pyarrow.parquet as pq  # heavy: loaded on first use

        table_dir = _table_dir(self.root, table)
        self._extend_schema(table, list(_validated(data.schema)))
        data = first_occurrences(data)
        if not data.num_rows:
            return
        for partition, rows in _partitions(data):
            directory = table_dir / f"date_utc={partition}"
            directory.mkdir(exist_ok=True)

            def write_parquet(temp: str, rows: pa.Table = rows) -> None:
                pq.write_table(rows, temp, compression=self._compression)

            path = directory / f"{_file_name(rows)}.parquet"
            _replace_atomically(path, write_parquet, self._fsync)

    @override
    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        """Reads the ``id`` column of every file: slow, and meant for recovery only."""
        import pyarrow.parquet as pq  # heavy: loaded on first use

        table_dir = _table_dir(self.root, table)
        _read_schema(table_dir)
        wanted = set(ids)
        found: set[str] = set()
        for path in _data_files(table_dir):
            if "id" in pq.read_schema(path).names:
                column = pq.read_table(path, columns=["id"], partitioning=None).column("id")
                found.update(v for v in column.to_pylist() if v in wanted)
        return found
