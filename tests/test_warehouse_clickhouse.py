"""The ClickHouse driver against a real ClickHouse engine: chDB, in process.

chDB allows one data path per process, so one client serves the whole test
session and every test gets its own database.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import clickhouse_connect
import pyarrow as pa
import pytest

from d8a import ManualClock, Pipeline
from d8a.columns.base import describe_field
from d8a.errors import ConfigurationError, MissingDependencyError
from d8a.testing import generate_traffic
from d8a.testing.driver_conformance import SCHEMA, DriverConformance, DriverFactory, sample_rows
from d8a.warehouse import Driver, driver_from_url
from d8a.warehouse.clickhouse import ClickHouseDriver, clickhouse_type, create_table_sql

_databases = itertools.count()


@pytest.fixture(scope="session")
def chdb_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    client = clickhouse_connect.get_client(dsn=f"chdb:///{tmp_path_factory.mktemp('chdb')}")
    yield client
    client.close()


@pytest.fixture
def database(chdb_client: Any) -> str:
    name = f"d8a_test_{next(_databases)}"
    chdb_client.command(f"CREATE DATABASE {name}")
    return name


class TestClickHouseDriver(DriverConformance):
    deduplicates_across_batches = False  # a retried identical batch is deduplicated
    null_lists_read_as_empty = True

    @pytest.fixture
    def make_driver(self, chdb_client: Any, database: str) -> DriverFactory:
        return lambda: ClickHouseDriver(chdb_client, database=database)

    def read_back(self, driver: Driver, table: str) -> pa.Table:
        assert isinstance(driver, ClickHouseDriver)
        return driver.query_arrow(f'SELECT * FROM "{driver.database}"."{table}"')


def test_engine_version(chdb_client: Any) -> None:
    major = int(chdb_client.query("SELECT version()").result_rows[0][0].split(".")[0])
    assert major >= 24


def test_ddl_follows_the_reference(chdb_client: Any, database: str) -> None:
    schema = pa.schema(
        [
            describe_field("id", pa.string(), nullable=False),
            describe_field("property_id", pa.string(), nullable=False, low_cardinality=True),
            describe_field("date_utc", pa.date32(), nullable=False, codec="CODEC(Delta, LZ4)"),
            describe_field("session_id", pa.string(), nullable=False),
            describe_field("revenue", pa.float64()),
            SCHEMA.field("params"),
        ]
    )
    sql = create_table_sql(database, "events", schema)
    assert 'ENGINE = MergeTree PARTITION BY toYYYYMM("date_utc") ' in sql
    assert 'ORDER BY ("property_id", "date_utc", "session_id")' in sql
    driver = ClickHouseDriver(chdb_client, database=database)
    driver.create_table("events", schema)
    rows = chdb_client.query(
        "SELECT name, type, compression_codec FROM system.columns "
        "WHERE database = {db:String} AND table = 'events' ORDER BY position",
        parameters={"db": database},
    ).result_rows
    assert rows == [
        ("id", "String", ""),
        ("property_id", "LowCardinality(String)", ""),
        ("date_utc", "Date32", "CODEC(Delta(4), LZ4)"),
        ("session_id", "String", ""),
        ("revenue", "Nullable(Float64)", ""),
        (
            "params",
            "Nested(name Nullable(String), value_string Nullable(String), "
            "value_number Nullable(Float64))",
            "",
        ),
    ]
    engine = chdb_client.query(
        "SELECT engine, partition_key, sorting_key FROM system.tables "
        "WHERE database = {db:String} AND name = 'events'",
        parameters={"db": database},
    ).result_rows
    assert engine == [("MergeTree", "toYYYYMM(date_utc)", "property_id, date_utc, session_id")]


def test_type_mapping() -> None:
    assert clickhouse_type(pa.field("t", pa.timestamp("s", tz="UTC"), nullable=False)) == (
        "DateTime64(0, 'UTC')"
    )
    assert clickhouse_type(pa.field("b", pa.bool_())) == "Nullable(Bool)"
    assert clickhouse_type(pa.field("a", pa.list_(pa.int32()))) == "Array(Nullable(Int32))"
    assert clickhouse_type(pa.field("u", pa.uint16(), nullable=False)) == "UInt16"
    with pytest.raises(ConfigurationError):
        clickhouse_type(pa.field("d", pa.duration("s")))
    assert create_table_sql("db", "t", pa.schema([("x", pa.int8())])).count("ORDER BY tuple()")


def test_retried_batch_is_deduplicated_across_drivers(chdb_client: Any, database: str) -> None:
    first = ClickHouseDriver(chdb_client, database=database)
    first.create_table("events", SCHEMA)
    rows = sample_rows([f"id-{i}" for i in range(6)])
    first.write("events", rows)
    ClickHouseDriver(chdb_client, database=database).write("events", rows)  # after a restart
    assert first.query_arrow(f'SELECT count() AS n FROM "{database}".events').to_pylist() == [
        {"n": 6}
    ]


def test_pipeline_writes_to_clickhouse(chdb_client: Any, database: str) -> None:
    driver = ClickHouseDriver(chdb_client, database=database)
    pipeline = (
        Pipeline.builder(session_timeout=1800)
        .warehouse(driver)
        .clock(ManualClock())
        .pings(False)
        .build()
    )
    requests = list(generate_traffic(visitors=10, seed=5))
    for request in requests:
        assert pipeline.ingest(request).status == 204
    pipeline.flush()
    got = driver.query_arrow(
        f'SELECT count() AS events, uniqExact(session_id) AS sessions FROM "{database}".events'
    ).to_pylist()[0]
    assert got["events"] >= len(requests)
    assert 10 <= got["sessions"] < got["events"]
    types = dict(
        chdb_client.query(
            "SELECT name, type FROM system.columns WHERE database = {db:String}",
            parameters={"db": database},
        ).result_rows
    )
    assert types["name"] == "LowCardinality(String)"
    assert types["timestamp_utc"] == "DateTime64(0, 'UTC')"


def test_driver_from_url(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    with pytest.raises(ConfigurationError):
        driver_from_url("clickhouse:///no-host")
    monkeypatch.setitem(sys.modules, "clickhouse_connect", None)
    with pytest.raises(MissingDependencyError) as info:
        driver_from_url("clickhouse://user:secret@127.0.0.1:8123/analytics")
    assert info.value.extra == "clickhouse"


def test_unreachable_server_is_transient() -> None:
    from d8a.errors import TransientError

    with pytest.raises(TransientError):
        # Port 9 (discard) on loopback: nothing listens, the connection is refused.
        driver_from_url("clickhouse://default:@127.0.0.1:9/default")
