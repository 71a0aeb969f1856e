"""The BigQuery driver against bqemulator 1.4 (a local BigQuery API; see conftest_bigquery).

One emulator serves the test session; every test gets its own dataset, which
the driver creates with its first table.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from google.api_core.client_options import ClientOptions
from google.cloud import bigquery
from hypothesis import given
from hypothesis import strategies as st

import d8a
from d8a.columns.base import describe_field
from d8a.errors import (
    ConfigurationError,
    MissingDependencyError,
    TableNotFoundError,
    TransientError,
)
from d8a.pipeline import Pipeline
from d8a.testing import generate_traffic
from d8a.testing.driver_conformance import (
    EXTRA_FIELD,
    SCHEMA,
    DriverConformance,
    DriverFactory,
    sample_rows,
)
from d8a.warehouse import Driver, driver_from_url
from d8a.warehouse.bigquery import BigQueryDriver, anonymous_credentials
from d8a.warehouse.bigquery_types import (
    arrow_type,
    column_ddl,
    ddl_type,
    insert_all_row,
    schema_field,
)
from tests.conftest import T0, ga4
from tests.conftest_bigquery import PROJECT

_datasets = itertools.count()


@pytest.fixture(scope="session")
def bq_client(bigquery_emulator: str) -> Iterator[bigquery.Client]:
    client = bigquery.Client(
        project=PROJECT,
        credentials=anonymous_credentials(),
        client_options=ClientOptions(api_endpoint=bigquery_emulator),
    )
    yield client
    client.close()  # type: ignore[no-untyped-call]  # untyped upstream


@pytest.fixture
def dataset() -> str:
    """A dataset name no other test uses (the driver creates it)."""
    return f"d8a_{next(_datasets)}_{uuid.uuid4().hex[:8]}"


def make(client: bigquery.Client, dataset: str, **options: object) -> BigQueryDriver:
    options.setdefault("timeout", 30)
    return BigQueryDriver(client, dataset=dataset, **options)  # type: ignore[arg-type]


def everything(driver: Driver, table: str) -> pa.Table:
    assert isinstance(driver, BigQueryDriver)
    return driver.query(f"SELECT * FROM {driver.table_name(table)}")


class TestBigQueryLoadJobs(DriverConformance):
    null_lists_read_as_empty = True  # REPEATED columns cannot be NULL

    @pytest.fixture
    def make_driver(self, bq_client: bigquery.Client, dataset: str) -> DriverFactory:
        return lambda: make(bq_client, dataset)

    def read_back(self, driver: Driver, table: str) -> pa.Table:
        return everything(driver, table)


class TestBigQueryStreaming(TestBigQueryLoadJobs):
    @pytest.fixture
    def make_driver(self, bq_client: bigquery.Client, dataset: str) -> DriverFactory:
        return lambda: make(bq_client, dataset, write="streaming")


def test_tables_are_day_partitioned_on_date_utc(bq_client: bigquery.Client, dataset: str) -> None:
    driver = make(bq_client, dataset)
    driver.create_table("events", SCHEMA)
    partitioning = bq_client.get_table(f"{PROJECT}.{dataset}.events").time_partitioning
    assert (partitioning.type_, partitioning.field) == ("DAY", "date_utc")
    [sql] = driver.create_table_sql("events", SCHEMA)  # the dataset exists now
    assert sql.endswith(") PARTITION BY `date_utc`")
    driver.create_table("plain", pa.schema([("id", pa.string())]))  # no date_utc: no partitions
    assert bq_client.get_table(f"{PROJECT}.{dataset}.plain").time_partitioning is None
    by_time = make(bq_client, dataset, partition_field="timestamp_utc")
    assert by_time.create_table_sql("t", SCHEMA)[0].endswith("PARTITION BY DATE(`timestamp_utc`)")


NESTED = pa.struct(
    [
        ("key", pa.string()),
        ("value", pa.struct([("string_value", pa.string()), ("int_value", pa.int64())])),
    ]
)
TYPED = pa.schema(
    [
        describe_field("id", pa.string(), description='The event\'s "id"'),
        ("small", pa.int8()),
        ("unsigned", pa.uint32()),
        ("real", pa.float32()),
        ("flag", pa.bool_()),
        ("at", pa.timestamp("ms", tz="UTC")),
        ("local", pa.timestamp("us")),
        ("date_utc", pa.date32()),
        ("blob", pa.binary()),
        ("tags", pa.list_(pa.string())),
        ("device", pa.struct([("category", pa.string()), ("tags", pa.list_(pa.string()))])),
        ("event_params", pa.list_(NESTED)),
    ]
)


def shape(field: bigquery.SchemaField) -> tuple[object, ...]:
    return (field.name, field.field_type, field.mode, [shape(f) for f in field.fields])


def test_type_mapping_ddl() -> None:
    assert [ddl_type(f.type) for f in TYPED] == [
        "STRING",
        "INT64",
        "INT64",
        "FLOAT64",
        "BOOL",
        "TIMESTAMP",
        "DATETIME",
        "DATE",
        "BYTES",
        "ARRAY<STRING>",
        "STRUCT<`category` STRING, `tags` ARRAY<STRING>>",
        "ARRAY<STRUCT<`key` STRING, `value` STRUCT<`string_value` STRING, `int_value` INT64>>>",
    ]
    assert column_ddl(TYPED.field("id")) == (
        '`id` STRING OPTIONS(description="The event\'s \\"id\\"")'
    )
    assert ddl_type(pa.decimal128(10, 2)) == "NUMERIC"
    assert ddl_type(pa.decimal256(50, 20)) == "BIGNUMERIC"
    for unsupported in (
        pa.uint64(),
        pa.list_(pa.list_(pa.int64())),
        pa.map_(pa.string(), pa.int8()),
    ):
        with pytest.raises(ConfigurationError):
            ddl_type(unsupported)
    with pytest.raises(ConfigurationError):
        schema_field(pa.field("x", pa.list_(pa.list_(pa.int64()))))


SCALARS = [
    (pa.string(), pa.string()),
    (pa.int8(), pa.int64()),
    (pa.uint32(), pa.int64()),
    (pa.int64(), pa.int64()),
    (pa.float32(), pa.float64()),
    (pa.float64(), pa.float64()),
    (pa.bool_(), pa.bool_()),
    (pa.timestamp("s", tz="UTC"), pa.timestamp("us", tz="UTC")),
    (pa.timestamp("ns"), pa.timestamp("us")),
    (pa.date32(), pa.date32()),
    (pa.binary(), pa.binary()),
    (pa.decimal128(12, 3), pa.decimal128(38, 9)),
]
NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)


def _struct(members: list[tuple[str, tuple[pa.DataType, pa.DataType]]]) -> tuple[pa.DataType, ...]:
    given = pa.struct([(name, types[0]) for name, types in members])
    return given, pa.struct([(name, types[1]) for name, types in members])


# (an Arrow type, the Arrow type BigQuery gives back for it)
TYPES = st.recursive(
    st.sampled_from(SCALARS),
    lambda inner: st.one_of(
        inner.filter(lambda t: not pa.types.is_list(t[0])).map(
            lambda t: (pa.list_(t[0]), pa.list_(t[1]))
        ),
        st.lists(st.tuples(NAMES, inner), min_size=1, max_size=4, unique_by=lambda m: m[0]).map(
            _struct
        ),
    ),
    max_leaves=8,
)


@given(TYPES)
def test_every_mapped_type_comes_back_as_its_bigquery_equivalent(
    types: tuple[pa.DataType, pa.DataType],
) -> None:
    given_type, loaded_type = types
    field = pa.field("column", given_type)
    assert arrow_type(schema_field(field)) == loaded_type
    ddl = ddl_type(given_type)
    assert ddl.count("<") == ddl.count(">")
    assert ddl.startswith("ARRAY<") == pa.types.is_list(given_type)


@given(st.lists(st.one_of(st.none(), st.text(), st.integers(), st.binary(), st.dates())))
def test_streamed_rows_are_json_without_nulls(values: list[object]) -> None:
    import json

    row = insert_all_row({"list": values, "record": {"a": values[0] if values else None}})
    assert None not in json.loads(json.dumps(row)).get("list", [])
    assert "a" not in row["record"] or row["record"]["a"] is not None


def test_created_columns_have_the_mapped_types(bq_client: bigquery.Client, dataset: str) -> None:
    driver = make(bq_client, dataset)
    driver.create_table("typed", TYPED)
    got = bq_client.get_table(f"{PROJECT}.{dataset}.typed").schema
    assert [(f.name, f.field_type, f.mode) for f in got] == [
        ("id", "STRING", "NULLABLE"),
        ("small", "INTEGER", "NULLABLE"),
        ("unsigned", "INTEGER", "NULLABLE"),
        ("real", "FLOAT", "NULLABLE"),
        ("flag", "BOOLEAN", "NULLABLE"),
        ("at", "TIMESTAMP", "NULLABLE"),
        ("local", "DATETIME", "NULLABLE"),
        ("date_utc", "DATE", "NULLABLE"),
        ("blob", "BYTES", "NULLABLE"),
        ("tags", "STRING", "REPEATED"),
        ("device", "RECORD", "NULLABLE"),
        ("event_params", "RECORD", "REPEATED"),
    ]
    params = got[-1]
    assert [(f.name, f.field_type) for f in params.fields] == [
        ("key", "STRING"),
        ("value", "RECORD"),
    ]
    assert [shape(schema_field(f)) for f in TYPED] == [shape(f) for f in got]
    # the inverse mapping (for the NULL columns of a load) gives back loadable types
    assert arrow_type(params) == pa.list_(NESTED)
    assert arrow_type(got[6]) == pa.timestamp("us")


def test_nested_rows_round_trip_in_both_modes(bq_client: bigquery.Client, dataset: str) -> None:
    rows = pa.Table.from_pylist(
        [
            {
                "id": "n1",
                "small": -3,
                "unsigned": 7,
                "real": 0.5,
                "flag": True,
                "at": dt.datetime(2026, 11, 2, 8, 0, 1, 250000, tzinfo=dt.UTC),
                "local": dt.datetime(2026, 11, 2, 9, 0, 1),
                "date_utc": dt.date(2026, 11, 2),
                "blob": b"\x00\xff",
                "tags": ["a", "b"],
                "device": {"category": "mobile", "tags": ["x"]},
                "event_params": [
                    {"key": "page", "value": {"string_value": "/", "int_value": None}},
                    {"key": "n", "value": {"string_value": None, "int_value": 4}},
                ],
            },
            {"id": "n2", "date_utc": dt.date(2026, 11, 3)},
        ],
        schema=TYPED,
    )
    for mode in ("load", "streaming"):
        driver = make(bq_client, dataset, write=mode)
        driver.ensure_table(mode, TYPED)
        driver.write(mode, rows)
        got = sorted(everything(driver, mode).to_pylist(), key=lambda r: r["id"])
        assert got[0] == {**rows.to_pylist()[0], "real": 0.5}, mode
        assert got[1]["tags"] == [] and got[1]["event_params"] == [] and got[1]["device"] is None


def test_a_new_column_appears_on_the_next_write(bq_client: bigquery.Client, dataset: str) -> None:
    driver = make(bq_client, dataset)
    driver.create_table("events", SCHEMA)
    old = sample_rows(["a", "b"])
    driver.write("events", old)
    nested = pa.field("items", pa.list_(pa.struct([("item_id", pa.string()), ("qty", pa.int64())])))
    new = sample_rows(["c"], extra=True).append_column(
        nested, pa.array([[{"item_id": "sku", "qty": 2}]], nested.type)
    )
    driver.write("events", new)
    columns = [f.name for f in bq_client.get_table(f"{PROJECT}.{dataset}.events").schema]
    assert columns == [*SCHEMA.names, EXTRA_FIELD.name, "items"]
    got = {r["id"]: r for r in everything(driver, "events").to_pylist()}
    assert got["a"]["extra"] is None and got["a"]["items"] == []
    assert got["a"]["name"] == old.to_pylist()[0]["name"]  # existing data untouched
    assert got["c"]["items"] == [{"item_id": "sku", "qty": 2}]
    assert driver.add_column_sql("events", EXTRA_FIELD) == [
        f"ALTER TABLE `{PROJECT}.{dataset}.events` ADD COLUMN IF NOT EXISTS `extra` STRING"
    ]


@pytest.mark.parametrize("mode", ["load", "streaming"])
def test_a_retried_batch_adds_nothing_after_a_restart(
    bq_client: bigquery.Client, dataset: str, mode: str
) -> None:
    rows = sample_rows([f"id-{i}" for i in range(8)])
    first = make(bq_client, dataset, write=mode)
    first.create_table("events", SCHEMA)
    first.write("events", rows.slice(0, 5))  # the first attempt wrote part of the batch
    make(bq_client, dataset, write=mode).write("events", rows)  # a new process retries all
    make(bq_client, dataset, write=mode).write("events", rows)
    ids = everything(first, "events").column("id").to_pylist()
    assert sorted(ids) == sorted(rows.column("id").to_pylist())


def test_replay_writes_to_a_bigquery_url(bigquery_emulator: str, dataset: str) -> None:
    requests = [ga4(cid=f"c{i % 3}", id=f"r{i}", at=T0 + i) for i in range(9)]
    url = f"bigquery://{PROJECT}/{dataset}?api_endpoint={bigquery_emulator}&timeout=30"
    tables = d8a.replay(requests, warehouse=url)
    assert tables["events"].num_rows == 9
    d8a.replay(requests, warehouse=url)  # a second replay adds no duplicate
    driver = driver_from_url(url)
    assert isinstance(driver, BigQueryDriver)
    with driver:
        got = driver.query(
            f"SELECT id, session_id, date_utc FROM {driver.table_name('events')} ORDER BY id"
        ).to_pylist()
    want = tables["events"].select(["id", "session_id", "date_utc"]).sort_by("id").to_pylist()
    assert got == want


def test_replay_of_generated_traffic_with_the_ga4_export_layout(
    bigquery_emulator: str, dataset: str
) -> None:
    url = f"bigquery://{PROJECT}/{dataset}?api_endpoint={bigquery_emulator}&write=streaming"
    requests = list(generate_traffic(visitors=6, seed=3))
    tables = d8a.replay(requests, warehouse=url, layout="ga4_export")
    driver = driver_from_url(url)
    assert isinstance(driver, BigQueryDriver)
    sessions = driver.query(
        "SELECT count(DISTINCT CONCAT(user_pseudo_id, CAST((SELECT p.value.int_value "
        "FROM UNNEST(event_params) AS p WHERE p.key = 'ga_session_id') AS STRING))) AS n "
        f"FROM {driver.table_name('events')}"
    ).to_pylist()
    events = tables["events"]
    assert sessions == [{"n": len(set(events.column("session_id").to_pylist()))}]
    driver.close()


def test_migrate_dry_run_returns_the_ddl_and_creates_nothing(
    bq_client: bigquery.Client, dataset: str
) -> None:
    pipeline = Pipeline.builder().warehouse(make(bq_client, dataset, location="US")).build()
    planned = pipeline.migrate(dry_run=True)
    assert planned[0] == f'CREATE SCHEMA IF NOT EXISTS `{PROJECT}.{dataset}` OPTIONS(location="US")'
    assert planned[1].startswith(f"CREATE TABLE IF NOT EXISTS `{PROJECT}.{dataset}.events` (")
    assert "`ecommerce_items` ARRAY<STRUCT<" in planned[1]
    assert planned[1].endswith("PARTITION BY `date_utc`")
    with pytest.raises(TableNotFoundError):
        pipeline.driver.missing_columns("events", SCHEMA)
    assert pipeline.migrate() == planned
    assert pipeline.migrate(dry_run=True) == []
    assert bq_client.get_table(f"{PROJECT}.{dataset}.events").num_rows == 0


def test_driver_from_url_options(bigquery_emulator: str) -> None:
    url = f"bigquery://{PROJECT}/analytics?location=EU&write=streaming&partition_field="
    driver = driver_from_url(f"{url}&timeout=5&api_endpoint={bigquery_emulator}")
    assert isinstance(driver, BigQueryDriver)
    assert (driver.project, driver.dataset, driver.location) == (PROJECT, "analytics", "EU")
    assert (driver.write_mode, driver.partition_field, driver.timeout) == ("streaming", None, 5.0)
    driver.close()
    driver.close()  # closing twice is harmless
    for bad in (
        "bigquery://project",
        "bigquery:///dataset",
        "bigquery://project/a/b",
        "bigquery://project/dataset?colour=red",
        "bigquery://project/dataset?timeout=soon",
        "bigquery://project/dataset?write=sometimes&api_endpoint=http://127.0.0.1:9",
        "bigquery://project/bad-dataset?api_endpoint=http://127.0.0.1:9",
        "bigquery://pro`ject/dataset?api_endpoint=http://127.0.0.1:9",
    ):
        with pytest.raises(ConfigurationError):
            driver_from_url(bad)


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.cloud

    monkeypatch.setitem(sys.modules, "google.cloud.bigquery", None)
    monkeypatch.delattr(google.cloud, "bigquery")
    with pytest.raises(MissingDependencyError) as info:
        driver_from_url("bigquery://project/dataset")
    assert info.value.extra == "bigquery"


def test_missing_credentials_are_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "true")  # no probing for a metadata server
    monkeypatch.setenv("CLOUDSDK_CONFIG", "/nonexistent")  # no gcloud login either
    with pytest.raises(ConfigurationError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        driver_from_url("bigquery://project/dataset")


def test_an_unreachable_endpoint_fails_fast() -> None:
    started = time.monotonic()
    # Port 9 (discard) on loopback: nothing listens, every connection is refused.
    driver = driver_from_url("bigquery://p/d?api_endpoint=http://127.0.0.1:9&timeout=2")
    with pytest.raises(TransientError):
        driver.missing_columns("events", SCHEMA)
    assert time.monotonic() - started < 20


def test_closed_driver_refuses_calls(bq_client: bigquery.Client, dataset: str) -> None:
    driver = make(bq_client, dataset)
    driver.close()
    with pytest.raises(d8a.TerminalError):
        driver.write("events", sample_rows(["a"]))


@pytest.mark.parametrize("mode", ["load", "streaming"])
def test_bad_rows_fail_without_touching_the_table(
    bq_client: bigquery.Client, dataset: str, mode: str
) -> None:
    driver = make(bq_client, dataset, write=mode, timeout=5)
    driver.create_table("events", SCHEMA)
    driver.write("events", sample_rows(["a"]))
    with pytest.raises(Exception):  # noqa: B017  # BigQuery's own error for a type clash
        driver.write("events", pa.table({"id": ["b"], "count": ["not a number"]}))
    nested_lists = pa.array([[[1]]], pa.list_(pa.list_(pa.int8())))
    with pytest.raises(ConfigurationError):
        driver.write("events", pa.table({"id": ["c"], "m": nested_lists}))
    assert everything(driver, "events").column("id").to_pylist() == ["a"]
    with pytest.raises(ConfigurationError):
        BigQueryDriver(bq_client, dataset=dataset, write="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        BigQueryDriver(bq_client, dataset=dataset, timeout=0)


def test_cli_migrate_takes_a_bigquery_url_from_the_config_file(
    bigquery_emulator: str,
    bq_client: bigquery.Client,
    dataset: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from d8a.cli import main

    url = f"bigquery://{PROJECT}/{dataset}?api_endpoint={bigquery_emulator}&timeout=30"
    config = tmp_path / "d8a.toml"
    config.write_text(f'warehouse = "{url}"\nlayout = "split"\n', encoding="utf-8")
    assert main(["migrate", "--config", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"CREATE TABLE IF NOT EXISTS `{PROJECT}.{dataset}.sessions`" in out
    assert dataset not in {d.dataset_id for d in bq_client.list_datasets()}  # a dry run
    assert main(["migrate", "--config", str(config)]) == 0
    tables = {t.table_id for t in bq_client.list_tables(f"{PROJECT}.{dataset}")}
    assert tables == {"events", "sessions"}
