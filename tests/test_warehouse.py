"""The built-in warehouse drivers: the conformance suite plus backend specifics."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from d8a.errors import ConfigurationError, TableNotFoundError, TerminalError, TransientError
from d8a.testing.driver_conformance import (
    COLUMN_TYPES,
    SCHEMA,
    DriverConformance,
    DriverFactory,
    sample_rows,
)
from d8a.warehouse import (
    Driver,
    MemoryDriver,
    ParquetDriver,
    SQLiteDriver,
    driver_from_url,
)
from d8a.warehouse.files import NULL_PARTITION, read_table


class TestMemoryDriver(DriverConformance):
    @pytest.fixture
    def make_driver(self) -> DriverFactory:
        return MemoryDriver

    def read_back(self, driver: Driver, table: str) -> pa.Table:
        assert isinstance(driver, MemoryDriver)
        return driver.table(table)


def _decode(arrow_type: pa.DataType, value: Any) -> Any:
    if value is None:
        return None
    if pa.types.is_timestamp(arrow_type):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    if pa.types.is_date(arrow_type):
        return dt.date.fromisoformat(value)
    if pa.types.is_boolean(arrow_type):
        assert value in (0, 1)
        return bool(value)
    if pa.types.is_nested(arrow_type):
        return json.loads(value)
    return value


def read_sqlite(path: Path | str, table: str) -> pa.Table:
    """Read a table with plain sqlite3, decoding text columns by COLUMN_TYPES."""
    with closing(sqlite3.connect(path)) as conn:
        cursor = conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    fields = [COLUMN_TYPES.field(name) for name in names]
    arrays = [
        pa.array([_decode(f.type, row[i]) for row in rows], f.type) for i, f in enumerate(fields)
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


class TestSQLiteDriver(DriverConformance):
    @pytest.fixture
    def make_driver(self, tmp_path: Path) -> DriverFactory:
        return lambda: SQLiteDriver(tmp_path / "warehouse.db")

    def read_back(self, driver: Driver, table: str) -> pa.Table:
        assert isinstance(driver, SQLiteDriver)
        return read_sqlite(Path(driver.path), table)


def test_sqlite_leaves_columns_null_on_every_row_out_of_the_insert(tmp_path: Path) -> None:
    driver = SQLiteDriver(tmp_path / "w.db")
    schema = pa.schema([("id", pa.string()), ("n", pa.int64()), ("tags", pa.list_(pa.string()))])
    driver.create_table("t", schema)
    driver.write("t", pa.table({"id": ["a", "b"], "n": [None, None], "tags": [None, None]}, schema))
    driver.write("t", pa.table({"id": ["c"], "n": [3], "tags": [["x"]]}, schema))
    driver.write(
        "t", pa.table({"id": [None, None], "n": [None, None], "tags": [None, None]}, schema)
    )
    driver.close()
    with closing(sqlite3.connect(tmp_path / "w.db")) as conn:
        rows = conn.execute('SELECT id, n, tags FROM "t" ORDER BY rowid').fetchall()
    assert rows == [("a", None, None), ("b", None, None), ("c", 3, '["x"]'), (None, None, None),
                    (None, None, None)]  # fmt: skip


def test_sqlite_refuses_an_unsupported_type_even_when_all_null(tmp_path: Path) -> None:
    driver = SQLiteDriver(tmp_path / "w.db")
    with pytest.raises(ConfigurationError):
        driver.write("t", pa.table({"id": ["a"], "d": pa.array([None], pa.duration("s"))}))
    driver.close()


class TestParquetDriver(DriverConformance):
    deduplicates_across_batches = False

    @pytest.fixture
    def make_driver(self, tmp_path: Path) -> DriverFactory:
        return lambda: ParquetDriver(tmp_path / "warehouse")

    def read_back(self, driver: Driver, table: str) -> pa.Table:
        assert isinstance(driver, ParquetDriver)
        return read_table(driver.root, table)


# --- memory ------------------------------------------------------------------


def test_memory_table_promotes_schemas_in_write_order() -> None:
    driver = MemoryDriver()
    driver.create_table("t", pa.schema([("id", pa.string())]))
    driver.write("t", pa.table({"id": ["b", "a"]}))
    driver.write("t", pa.table({"id": ["c", "a"], "n": pa.array([1, 2], pa.int64())}))
    table = driver.table("t")
    assert table.schema.names == ["id", "n"]
    assert table.to_pylist() == [
        {"id": "b", "n": None},
        {"id": "a", "n": None},
        {"id": "c", "n": 1},
    ]
    assert driver.table_names() == ["t"]
    with pytest.raises(TableNotFoundError):
        driver.table("missing")


def test_memory_concurrent_writes_lose_nothing() -> None:
    driver = MemoryDriver()
    driver.create_table("t", SCHEMA)

    def work(n: int) -> None:
        for batch in range(20):
            ids = [f"{n}-{batch}-{i}" for i in range(5)] + ["shared"]
            driver.write("t", sample_rows(ids))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert driver.table("t").num_rows == 4 * 20 * 5 + 1


# --- sqlite ------------------------------------------------------------------


def test_sqlite_storage_classes_and_text_forms(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with SQLiteDriver(path) as driver:
        driver.create_table("events", SCHEMA)
        driver.write("events", sample_rows(["a", "b", "c"]))
    with closing(sqlite3.connect(path)) as conn:
        info = {row[1]: (row[2], row[5]) for row in conn.execute('PRAGMA table_info("events")')}
        assert info == {
            "id": ("TEXT", 1),
            "name": ("TEXT", 0),
            "count": ("INTEGER", 0),
            "ratio": ("REAL", 0),
            "active": ("INTEGER", 0),
            "timestamp_utc": ("TEXT", 0),
            "date_utc": ("TEXT", 0),
            "params": ("TEXT", 0),
        }
        row = conn.execute(
            "SELECT timestamp_utc, date_utc, active, params, typeof(params), count "
            "FROM events WHERE id = 'a'"
        ).fetchone()
        assert row[:3] == ("2024-01-01 12:30:15", "2024-01-01", 1)
        assert json.loads(row[3]) == [
            {"name": "page", "value_string": "/a?b=c", "value_number": None},
            {"name": "value", "value_string": None, "value_number": 1.5},
        ]
        assert row[4:] == ("text", 2**53 + 1)
        assert conn.execute("SELECT params, active FROM events WHERE id = 'c'").fetchone() == (
            "[]",
            0,
        )
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


_NONE_ADAPTER = (type(None), sqlite3.PrepareProtocol)


def test_sqlite_binds_nulls_and_bools_as_null_and_integers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sqlite3.adapters, _NONE_ADAPTER, raising=False)
    data = pa.table(
        {
            "id": ["a", "b", "c"],
            "flag": pa.array([True, None, False]),
            "n": pa.array([None, 1, None], pa.int64()),
        }
    )
    path = tmp_path / "w.db"
    with SQLiteDriver(path) as driver:
        driver.create_table("t", data.schema)
        driver.write("t", data)
    assert sqlite3.adapters[_NONE_ADAPTER](None) is None  # the quick NULL binding
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT id, flag, typeof(flag), n, typeof(n) FROM t ORDER BY id")
        assert rows.fetchall() == [
            ("a", 1, "integer", None, "null"),
            ("b", None, "null", 1, "integer"),
            ("c", 0, "integer", None, "null"),
        ]


def test_sqlite_keeps_the_processs_own_adapter_for_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mine(value: None) -> None:
        return value

    monkeypatch.setitem(sqlite3.adapters, _NONE_ADAPTER, mine)
    SQLiteDriver(tmp_path / "w.db").close()
    assert sqlite3.adapters[_NONE_ADAPTER] is mine


def test_sqlite_json_for_struct_map_and_nested_timestamps(tmp_path: Path) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 999_000, tzinfo=dt.UTC)
    data = pa.table(
        {
            "id": ["x"],
            "s": pa.array([{"at": when, "day": dt.date(2024, 5, 6)}]),
            "m": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())),
            "ms": pa.array([when], pa.timestamp("ms", tz="Europe/Warsaw")),
        }
    )
    with SQLiteDriver(tmp_path / "w.db") as driver:
        driver.create_table("t", data.schema)
        driver.write("t", data)
    with closing(sqlite3.connect(tmp_path / "w.db")) as conn:
        s, m, ms = conn.execute("SELECT s, m, ms FROM t").fetchone()
    assert json.loads(s) == {"at": "2024-05-06 07:08:09", "day": "2024-05-06"}
    assert json.loads(m) == {"k": 1}
    assert ms == "2024-05-06 07:08:09"


def test_sqlite_id_added_later_still_deduplicates(tmp_path: Path) -> None:
    with SQLiteDriver(tmp_path / "w.db") as driver:
        driver.create_table("t", pa.schema([("n", pa.int64())]))
        batch = pa.table({"n": [1], "id": ["a"]})
        driver.write("t", batch)
        driver.write("t", batch)
        assert driver.existing_ids("t", ["a"]) == {"a"}
    with closing(sqlite3.connect(tmp_path / "w.db")) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_sqlite_existing_ids_in_chunks(tmp_path: Path) -> None:
    ids = [f"id-{i}" for i in range(1234)]
    with SQLiteDriver(tmp_path / "w.db") as driver:
        driver.create_table("t", pa.schema([("id", pa.string())]))
        driver.write("t", pa.table({"id": ids[::2]}))
        assert driver.existing_ids("t", ids) == set(ids[::2])


def test_sqlite_locked_database_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with SQLiteDriver(path, timeout=0.05) as driver:
        driver.create_table("t", pa.schema([("id", pa.string())]))
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(TransientError):
                driver.write("t", pa.table({"id": ["a"]}))
            other.execute("ROLLBACK")
        driver.write("t", pa.table({"id": ["a"]}))  # a retry succeeds
        assert driver.existing_ids("t", ["a"]) == {"a"}


def test_sqlite_closed_driver_refuses_work(tmp_path: Path) -> None:
    driver = SQLiteDriver(tmp_path / "w.db")
    driver.close()
    with pytest.raises(TerminalError):
        driver.create_table("t", SCHEMA)


def test_sqlite_unsupported_type_is_a_configuration_error() -> None:
    with SQLiteDriver(":memory:") as driver, pytest.raises(ConfigurationError):
        driver.create_table("t", pa.schema([("d", pa.duration("s"))]))


# --- parquet -----------------------------------------------------------------


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_parquet_layout_partitions_and_no_temp_files(tmp_path: Path) -> None:
    driver = ParquetDriver(tmp_path)
    driver.create_table("events", SCHEMA)
    driver.write("events", sample_rows(["a", "b", "c", "d"]))
    files = _files(tmp_path)
    assert files[0] == "events/_schema.arrow"
    directories = sorted({Path(f).parent.name for f in files[1:]})
    assert directories == [
        "date_utc=2024-01-01",
        "date_utc=2024-01-02",
        f"date_utc={NULL_PARTITION}",
    ]
    assert all(f.endswith(".parquet") and "/." not in f for f in files[1:])
    assert pq.read_table(tmp_path / files[1], partitioning=None).num_rows >= 1

    driver.write("events", sample_rows(["a", "b", "c", "d"]))  # same batch: same files
    assert _files(tmp_path) == files
    driver.write("events", sample_rows(["e"]))
    assert len(_files(tmp_path)) == len(files) + 1


def test_parquet_failed_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = ParquetDriver(tmp_path)
    driver.create_table("events", SCHEMA)

    def boom(*args: object, **kwargs: object) -> None:
        Path(str(args[1])).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(OSError, match="disk full"):
        driver.write("events", sample_rows(["a"]))
    assert [f for f in _files(tmp_path) if f.endswith(".tmp")] == []
    assert read_table(tmp_path, "events").num_rows == 0


def test_parquet_old_files_readable_after_add_column(tmp_path: Path) -> None:
    driver = ParquetDriver(tmp_path, fsync=False)
    driver.create_table("t", pa.schema([("id", pa.string())]))
    driver.write("t", pa.table({"id": ["a"]}))
    driver.add_column("t", pa.field("n", pa.int64()))
    driver.write("t", pa.table({"id": ["b"], "n": pa.array([2], pa.int64())}))
    table = read_table(tmp_path, "t")
    assert table.schema == pa.schema([("id", pa.string()), ("n", pa.int64())])
    assert sorted(table.to_pylist(), key=lambda r: r["id"]) == [
        {"id": "a", "n": None},
        {"id": "b", "n": 2},
    ]
    assert driver.missing_columns("t", table.schema) == []
    with pytest.raises(TableNotFoundError):
        read_table(tmp_path, "missing")


# --- driver_from_url ---------------------------------------------------------


def test_driver_from_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert isinstance(driver_from_url("memory://"), MemoryDriver)
    with driver_from_url("sqlite:///rel.db") as relative:
        assert isinstance(relative, SQLiteDriver)
        assert Path(relative.path) == Path("rel.db")
    assert (tmp_path / "rel.db").exists()
    absolute = tmp_path / "abs.db"
    with driver_from_url(f"sqlite:///{absolute}") as driver:
        assert isinstance(driver, SQLiteDriver)
        assert Path(driver.path) == absolute
    with driver_from_url("sqlite://") as in_memory:
        assert isinstance(in_memory, SQLiteDriver)
        assert in_memory.path == ":memory:"
    parquet = driver_from_url("parquet:///data")
    assert isinstance(parquet, ParquetDriver)
    assert parquet.root == Path("data")


@pytest.mark.parametrize(
    "url", ["postgres://x/y", "events.db", "sqlite://host/x.db", "parquet://", "memory:///x"]
)
def test_driver_from_url_rejects(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        driver_from_url(url)
    if url.startswith(("postgres", "events")):
        assert "memory://, parquet://, sqlite://" in str(info.value)
