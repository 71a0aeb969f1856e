"""The DuckDB driver against a real DuckDB: the conformance suite plus specifics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from d8a import ManualClock, Pipeline
from d8a.errors import ConfigurationError, MissingDependencyError, TransientError
from d8a.testing import generate_traffic
from d8a.testing.driver_conformance import (
    SCHEMA,
    DriverConformance,
    DriverFactory,
    sample_rows,
)
from d8a.warehouse import Driver, driver_from_url
from d8a.warehouse.duckdb import DuckDBDriver, create_table_sql, duckdb_type


class TestDuckDBDriver(DriverConformance):
    @pytest.fixture
    def make_driver(self, tmp_path: Path) -> DriverFactory:
        return lambda: DuckDBDriver(tmp_path / "warehouse.duckdb")

    def read_back(self, driver: Driver, table: str) -> pa.Table:
        assert isinstance(driver, DuckDBDriver)
        return driver.query(f'SELECT * FROM "{table}"')


def _types(driver: DuckDBDriver, table: str) -> dict[str, str]:
    rows = driver.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).to_pylist()
    return {row["column_name"]: row["data_type"] for row in rows}


def test_native_list_struct_and_time_types(tmp_path: Path) -> None:
    with DuckDBDriver(tmp_path / "w.duckdb") as driver:
        driver.create_table("events", SCHEMA)
        driver.write("events", sample_rows(["a", "b", "c"]))
        assert _types(driver, "events") == {
            "id": "VARCHAR",
            "name": "VARCHAR",
            "count": "BIGINT",
            "ratio": "DOUBLE",
            "active": "BOOLEAN",
            "timestamp_utc": "TIMESTAMP WITH TIME ZONE",
            "date_utc": "DATE",
            "params": 'STRUCT("name" VARCHAR, value_string VARCHAR, value_number DOUBLE)[]',
        }
        # Native nesting: unnest and struct access work in SQL.
        got = driver.query(
            "SELECT p.name, p.value_number FROM events, unnest(params) AS u(p) "
            "WHERE id = 'a' ORDER BY p.name"
        ).to_pylist()
        assert got == [
            {"name": "page", "value_number": None},
            {"name": "value", "value_number": 1.5},
        ]
        got = driver.query("SELECT date_utc::VARCHAR AS d, count FROM events WHERE id='a'")
        assert got.to_pylist() == [{"d": "2024-01-01", "count": 2**53 + 1}]


def test_type_mapping_and_ddl() -> None:
    assert duckdb_type(pa.uint16()) == "USMALLINT"
    assert duckdb_type(pa.timestamp("ns")) == "TIMESTAMP_NS"
    assert duckdb_type(pa.timestamp("s")) == "TIMESTAMP"
    assert duckdb_type(pa.map_(pa.string(), pa.int32())) == "MAP(VARCHAR, INTEGER)"
    assert duckdb_type(pa.decimal128(12, 2)) == "DECIMAL(12, 2)"
    assert create_table_sql("t", pa.schema([("id", pa.string()), ("n", pa.list_(pa.int8()))])) == (
        'CREATE TABLE IF NOT EXISTS "t" ("id" VARCHAR PRIMARY KEY, "n" TINYINT[])'
    )
    with pytest.raises(ConfigurationError):
        duckdb_type(pa.duration("s"))
    bad_struct = pa.struct([pa.field('x"; DROP TABLE t; --', pa.string())])
    with pytest.raises(ConfigurationError):
        duckdb_type(bad_struct)
    with pytest.raises(ConfigurationError):
        create_table_sql("t", pa.schema([]))


def test_rows_survive_reopening_and_id_added_later(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with DuckDBDriver(path) as driver:
        driver.create_table("t", pa.schema([("n", pa.int64())]))
        batch = pa.table({"n": [1, 2], "id": ["a", "b"]})
        driver.write("t", batch)  # adds "id" with a unique index
        driver.write("t", batch)
    with DuckDBDriver(path) as driver:
        assert driver.query("SELECT count(*) AS c FROM t").to_pylist() == [{"c": 2}]
        assert driver.existing_ids("t", ["a", "z"]) == {"a"}


def test_file_held_by_another_process_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    code = (
        "import duckdb, sys\n"
        f"c = duckdb.connect({str(path)!r})\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(TransientError):
            DuckDBDriver(path)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    DuckDBDriver(path).close()  # free again: a retry succeeds


def test_missing_duckdb_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)  # makes `import duckdb` fail
    with pytest.raises(MissingDependencyError) as info:
        driver_from_url("duckdb://")
    assert info.value.extra == "duckdb"
    assert "pip install 'd8a[duckdb]'" in str(info.value)


def test_driver_from_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with driver_from_url("duckdb:///rel.duckdb") as relative:
        assert isinstance(relative, DuckDBDriver)
        assert Path(relative.path) == Path("rel.duckdb")
    assert (tmp_path / "rel.duckdb").exists()
    with driver_from_url(f"duckdb:///{tmp_path / 'abs.duckdb'}") as absolute:
        assert isinstance(absolute, DuckDBDriver)
        assert Path(absolute.path) == tmp_path / "abs.duckdb"
    with driver_from_url("duckdb://") as in_memory:
        assert isinstance(in_memory, DuckDBDriver)
        assert in_memory.path == ":memory:"


def test_pipeline_writes_sessions_to_duckdb(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    pipeline = (
        Pipeline.builder(session_timeout=1800)
        .warehouse(f"duckdb:///{path}")
        .clock(ManualClock())
        .pings(False)
        .build()
    )
    requests = list(generate_traffic(visitors=10, seed=5))
    with pipeline:
        for request in requests:
            assert pipeline.ingest(request).status == 204
        pipeline.flush()
    with duckdb.connect(str(path), read_only=True) as conn:
        events, sessions, with_params = conn.execute(
            "SELECT count(*), count(DISTINCT session_id), count(*) FILTER (len(params) > 0) "
            "FROM events"
        ).fetchone() or (0, 0, 0)
    assert events >= len(requests)
    assert 10 <= sessions < events
    assert with_params > 0
