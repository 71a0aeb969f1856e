"""The split and GA4-export layouts, through the whole pipeline."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from d8a import ConfigurationError, ManualClock, Pipeline
from d8a.columns.base import Event, EventColumn, Interface, Session, describe_field
from d8a.columns.columnset import ColumnSet
from d8a.columns.simple import EventValue
from d8a.config import Settings
from d8a.layouts import (
    EmbeddedLayout,
    Ga4ExportLayout,
    Layout,
    SplitLayout,
    layout_from_name,
)
from d8a.layouts.embedded import BadValuesError
from d8a.layouts.ga4_schema import GA4_EXPORT_SCHEMA
from d8a.layouts.split import _as_event_rows
from d8a.protocols import protocol_by_name
from d8a.testing import generate_traffic
from d8a.warehouse import MemoryDriver
from d8a.warehouse.duckdb import DuckDBDriver
from tests.conftest import ga4


@functools.cache
def _requests() -> tuple[dict[str, Any], ...]:
    return tuple(generate_traffic(visitors=60, seed=12))


class Revenue(EventColumn):
    """``epn.value`` of purchases: stands in for the ecommerce columns if absent."""

    interface = Interface(
        "tests.d8a.tech/events/ecommerce_purchase_revenue",
        describe_field("ecommerce_purchase_revenue", pa.float64()),
    )

    def write(self, event: Event) -> None:
        value = event.hit.params.get("epn.value") if event.hit.event_name == "purchase" else None
        event.values[self.name] = None if value is None else float(value)


def _ga4_has(name: str) -> bool:
    columns = protocol_by_name("ga4").event_columns(Settings.from_kwargs())
    return any(column.name == name for column in columns)


def _run(layout: Layout, driver: Any, *columns: EventColumn) -> Pipeline:
    pipeline = (
        Pipeline.builder(session_timeout=1800)
        .warehouse(driver)
        .layout(layout)
        .columns(*columns)
        .clock(ManualClock())
        .pings(False)
        .build()
    )
    for request in _requests():
        assert pipeline.ingest(request).status == 204
    pipeline.flush()
    return pipeline


def _by(rows: Sequence[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in rows}


@functools.cache
def _embedded() -> pa.Table:
    driver = MemoryDriver()
    _run(EmbeddedLayout(), driver)
    return driver.table("events")


def test_split_tables_join_back_to_the_embedded_rows() -> None:
    driver = MemoryDriver()
    pipeline = _run(SplitLayout(), driver)
    assert list(pipeline.tables()) == ["events", "sessions"]
    events, sessions = driver.table("events"), driver.table("sessions")
    embedded = _embedded()
    assert events.num_rows == embedded.num_rows
    assert sessions.num_rows == len(set(embedded.column("session_id").to_pylist()))
    assert sessions.column("id").to_pylist() == sessions.column("session_id").to_pylist()
    by_session = _by(sessions.to_pylist(), "session_id")
    expected = _by(embedded.to_pylist(), "id")
    for row in events.to_pylist():
        joined = {**row, **by_session[row["session_id"]]}
        joined["id"] = row["id"]
        want = expected[row["id"]]
        assert {k: joined[k] for k in want} == want
        assert joined["date_utc"] == want["date_utc"] or joined["session_id"] != want["id"]
    session_columns = {f.name for f in pipeline.columns["ga4"].session_fields}
    assert session_columns - {"session_id"} and not (session_columns - {"session_id"}) & set(
        events.column_names
    )


def test_split_replay_adds_no_rows() -> None:
    driver = MemoryDriver()
    _run(SplitLayout(), driver)
    counts = (driver.table("events").num_rows, driver.table("sessions").num_rows)
    _run(SplitLayout(), driver)  # same requests, same ids: everything is known
    assert (driver.table("events").num_rows, driver.table("sessions").num_rows) == counts


def test_split_layout_checks_its_names() -> None:
    with pytest.raises(ConfigurationError):
        SplitLayout("events", "EVENTS")
    with pytest.raises(ConfigurationError):
        SplitLayout("events", "bad name")
    empty = ColumnSet.build([], [], [])
    with pytest.raises(ConfigurationError, match="session_id"):
        SplitLayout().tables(empty)


def test_bad_session_rows_become_the_rows_of_their_events() -> None:
    sessions = [Session(events=[object()] * n) for n in (2, 3, 1)]  # type: ignore[list-item]  # only counted
    error = _as_event_rows(BadValuesError("session_duration", [1, 2]), sessions)
    assert error.column == "session_duration"
    assert error.rows == [2, 3, 4, 5]


def test_layout_from_name() -> None:
    assert isinstance(layout_from_name("embedded"), EmbeddedLayout)
    assert isinstance(layout_from_name("split"), SplitLayout)
    assert isinstance(layout_from_name("ga4_export"), Ga4ExportLayout)
    mine = SplitLayout("e", "s")
    assert layout_from_name(mine) is mine
    with pytest.raises(ConfigurationError, match="embedded, split, ga4_export"):
        layout_from_name("star")


# --- GA4 export ----------------------------------------------------------------

SESSIONS_SQL = """
SELECT count(DISTINCT user_pseudo_id || CAST(
    (SELECT p.value.int_value FROM UNNEST(event_params) AS t(p) WHERE p.key = 'ga_session_id')
    AS VARCHAR)) AS sessions
FROM events
"""

PAGE_VIEWS_SQL = """
SELECT
  (SELECT p.value.string_value FROM UNNEST(event_params) AS t(p)
   WHERE p.key = 'page_location') AS page,
  count(*) AS views
FROM events
WHERE event_name = 'page_view'
GROUP BY page
"""

PURCHASES_BY_SOURCE_SQL = """
SELECT
  traffic_source.source AS source,
  count(*) AS purchases,
  sum(ecommerce.purchase_revenue) AS revenue,
  sum((SELECT coalesce(p.value.int_value, p.value.double_value) FROM UNNEST(event_params) AS t(p)
       WHERE p.key = 'value')) AS value
FROM events
WHERE event_name = 'purchase' AND _TABLE_SUFFIX BETWEEN '20261101' AND '20261130'
GROUP BY source
"""


@pytest.fixture(scope="module")
def ga4_export(tmp_path_factory: pytest.TempPathFactory) -> DuckDBDriver:
    path: Path = tmp_path_factory.mktemp("ga4") / "ga4.duckdb"
    extra = [] if _ga4_has("ecommerce_purchase_revenue") else [Revenue()]
    driver = DuckDBDriver(path)
    _run(Ga4ExportLayout(), driver, *extra)
    return driver


def _query(driver: DuckDBDriver, sql: str) -> list[dict[str, Any]]:
    # BigQuery's wildcard-table suffix is the one dialect change: events_* -> event_date.
    return driver.query(sql.replace("_TABLE_SUFFIX", "event_date")).to_pylist()


def test_ga4_export_schema_is_googles_plus_four(ga4_export: DuckDBDriver) -> None:
    got = ga4_export.query("SELECT * FROM events LIMIT 0").column_names
    assert got == [*GA4_EXPORT_SCHEMA.names, "id", "session_id", "property_id", "date_utc"]


def test_ga4_sessions_query(ga4_export: DuckDBDriver) -> None:
    embedded = _embedded()
    assert _query(ga4_export, SESSIONS_SQL) == [
        {"sessions": len(set(embedded.column("session_id").to_pylist()))}
    ]


def test_ga4_page_views_query(ga4_export: DuckDBDriver) -> None:
    want: dict[str, int] = defaultdict(int)
    for row in _embedded().select(["name", "page_location"]).to_pylist():
        if row["name"] == "page_view":
            want[row["page_location"]] += 1
    got = {row["page"]: row["views"] for row in _query(ga4_export, PAGE_VIEWS_SQL)}
    assert got == want
    assert sum(want.values()) > 40


def test_ga4_purchases_by_source_query(ga4_export: DuckDBDriver) -> None:
    embedded = _embedded().to_pylist()
    first_source: dict[str, Any] = {}
    for row in embedded:
        first_source.setdefault(row["session_id"], row["session_source"])
    want: dict[Any, list[float]] = defaultdict(list)
    for row in embedded:
        if row["name"] == "purchase":
            value = next(p["value_number"] for p in row["params"] if p["name"] == "value")
            want[first_source[row["session_id"]]].append(value)
    got = _query(ga4_export, PURCHASES_BY_SOURCE_SQL)
    assert {row["source"] for row in got} == set(want)
    assert len(want) >= 2
    for row in got:
        values = want[row["source"]]
        assert row["purchases"] == len(values)
        assert row["revenue"] == pytest.approx(sum(values))
        assert row["value"] == pytest.approx(sum(values))


def test_ga4_event_fields(ga4_export: DuckDBDriver) -> None:
    rows = ga4_export.query(
        "SELECT * FROM events WHERE event_name = 'page_view' ORDER BY event_timestamp LIMIT 1"
    ).to_pylist()
    row = rows[0]
    embedded = _by(_embedded().to_pylist(), "id")[row["id"]]
    # micros keep the sub-second receive time that timestamp_utc truncates
    assert row["event_timestamp"] // 1_000_000 == int(embedded["timestamp_utc"].timestamp())
    assert row["event_date"] == embedded["date_utc"].strftime("%Y%m%d")
    assert row["user_pseudo_id"] == embedded["client_id"]
    assert row["platform"] == "WEB"
    assert row["stream_id"] == embedded["measurement_id"]
    assert row["session_id"] == embedded["session_id"]
    params = {p["key"]: p["value"] for p in row["event_params"]}
    assert params["page_location"]["string_value"] == embedded["page_location"]
    assert params["ga_session_id"]["int_value"] == int(
        embedded["session_first_event_time"].timestamp()
    )
    assert row["items"] == [] and row["user_properties"] == []


def test_transpose_takes_rows_in_any_key_order_and_missing_keys_as_null() -> None:
    from d8a.layouts.embedded import transpose

    names = ["a", "b", "c"]
    in_order = [{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6}]
    assert [list(v) for v in transpose(in_order, names)] == [[1, 4], [2, 5], [3, 6]]
    shuffled = [{"c": 3, "a": 1, "b": 2}, {"a": 4, "b": 5, "c": 6}]
    assert [list(v) for v in transpose(shuffled, names)] == [[1, 4], [2, 5], [3, 6]]
    extra = [{"a": 1, "b": 2, "c": 3, "z": 0}, {"a": 4, "b": 5, "c": 6}]
    assert [list(v) for v in transpose(extra, names)] == [[1, 4], [2, 5], [3, 6]]
    missing = [{"a": 1, "c": 3}, {"b": 5}]
    assert [list(v) for v in transpose(missing, names)] == [[1, None], [None, 5], [3, None]]
    assert [list(v) for v in transpose([], names)] == [[], [], []]


@pytest.mark.parametrize(
    "type_",
    [
        pa.string(),
        pa.int64(),
        pa.float64(),
        pa.bool_(),
        pa.timestamp("us", tz="UTC"),
        pa.list_(pa.struct([("name", pa.string()), ("value", pa.int64())])),
    ],
)
def test_a_column_without_values_is_null_of_its_type(type_: pa.DataType) -> None:
    column = EventValue(
        Interface("tests.d8a.tech/events/nothing", describe_field("nothing", type_)),
        lambda e: None,
    )
    for rows in (3, 5000):  # within and beyond the cached null array's 4096
        pipeline = Pipeline.builder().columns(column).pings(False).build()
        for i in range(rows):
            assert pipeline.ingest(ga4(f"{i % 50}.1", id=str(i), at=1e9 + i)).status == 204
        pipeline.flush()
        table = pipeline.driver.table("events")  # type: ignore[attr-defined]
        nothing = table.column("nothing")
        assert nothing.type == type_
        assert nothing.null_count == table.num_rows == rows


def test_protocols_sharing_a_table_name_it_once() -> None:
    pipeline = Pipeline.builder().protocols("ga4", "d8a").build()  # both write "events"
    assert pipeline.tables() == ["events"]
    pipeline.close()
