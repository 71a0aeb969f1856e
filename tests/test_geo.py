"""Geo columns against small real MaxMind DB files written with mmdb-writer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import maxminddb
import pytest

import d8a
from d8a.columns.base import Event
from d8a.columns.geo import UNKNOWN_PLACE, GeoCity, GeoInfo, GeoReader
from d8a.hits import Hit
from d8a.pipeline import Pipeline
from d8a.testing import city_record, write_city_database
from tests.conftest import T0, ga4

LONDON = city_record("London", "England", "United Kingdom", "Europe", country_iso="GB")
NEW_YORK = city_record("New York", "New York", "United States", "North America", metro_code=501)
BERLIN = city_record("Berlin", "Land Berlin", "Germany", "Europe")
COUNTRY_ONLY = city_record(country="France", continent="Europe")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_city_database(
        tmp_path_factory.mktemp("geo") / "city.mmdb",
        {
            "203.0.113.0/24": LONDON,
            "198.51.100.0/24": NEW_YORK,
            "2001:db8::/32": BERLIN,
            "192.0.2.0/24": COUNTRY_ONLY,
        },
    )


def _from(ip: str, cid: str = "1.1", at: float = T0) -> dict[str, Any]:
    return {**ga4(cid=cid, at=at), "ip": ip}


GEO = ("geo_city", "geo_region", "geo_metro", "geo_country", "geo_continent", "geo_sub_continent")


def _geo(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[name] for name in GEO)


def test_replay_fills_the_geo_columns(database: str) -> None:
    requests = [
        _from("203.0.113.9", "a"),
        _from("198.51.100.20", "b"),
        _from("2001:db8:1:2::5", "c"),
        _from("192.0.2.1", "d"),
    ]
    rows = d8a.replay(requests, geo_database=database)["events"].to_pylist()
    assert [_geo(row) for row in rows] == [
        ("London", "England", None, "United Kingdom", "Europe", None),
        ("New York", "New York", "501", "United States", "North America", None),
        ("Berlin", "Land Berlin", None, "Germany", "Europe", None),
        (None, None, None, "France", "Europe", None),  # names it lacks are NULL, not ""
    ]
    assert [row["session_geo_country"] for row in rows] == [
        "United Kingdom",
        "United States",
        "Germany",
        "France",
    ]


def test_unknown_and_unparsable_addresses_give_nulls_not_errors(database: str) -> None:
    requests = [_from("8.8.8.8", "a"), _from("not-an-ip", "b"), _from("", "c")]
    rows = d8a.replay(requests, geo_database=database, strict=True)["events"].to_pylist()
    assert [_geo(row) for row in rows] == [(None,) * 6] * 3


def test_no_database_means_null_geo_columns() -> None:
    (row,) = d8a.replay([_from("203.0.113.9")])["events"].to_pylist()
    assert _geo(row) == (None,) * 6 and row["session_geo_city"] is None


def test_masked_addresses_are_looked_up_masked(database: str) -> None:
    (row,) = d8a.replay([_from("203.0.113.9")], geo_database=database, ip_masking_level=1)[
        "events"
    ].to_pylist()
    assert row["ip_address"] == "203.0.113.0" and row["geo_city"] == "London"


def test_an_ipv4_only_database_answers_ipv6_with_nulls(tmp_path: Path) -> None:
    path = write_city_database(tmp_path / "v4.mmdb", {"203.0.113.0/24": LONDON}, ip_version=4)
    rows = d8a.replay([_from("203.0.113.9", "a"), _from("2001:db8::1", "b")], geo_database=path)
    assert [row["geo_city"] for row in rows["events"].to_pylist()] == ["London", None]


def test_the_session_takes_the_dominant_clients_place(database: str) -> None:
    # One client, two addresses: the session keeps the first event's place.
    requests = [_from("198.51.100.20", "a", T0), _from("203.0.113.9", "a", T0 + 10)]
    rows = d8a.replay(requests, geo_database=database)["events"].to_pylist()
    assert [row["geo_city"] for row in rows] == ["New York", "London"]
    assert [row["session_geo_city"] for row in rows] == ["New York", "New York"]


def test_lookups_are_cached_per_address(database: str) -> None:
    reader = GeoReader(database, max_entries=2)
    assert reader.lookup("203.0.113.9") == GeoInfo(
        "London", "England", None, "United Kingdom", "Europe"
    )
    assert reader.lookup("203.0.113.9") is reader.lookup("203.0.113.9")
    for ip in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        reader.lookup(ip)
    assert list(reader.entries) == ["203.0.113.2", "203.0.113.3"]
    assert reader.database_type == "DBIP-City-Lite"


def test_a_failing_database_breaks_only_its_event(database: str) -> None:
    pipeline = Pipeline.builder(geo_database=database).pings(False).build()
    (column,) = [c for c in pipeline.columns["ga4"].event if isinstance(c, GeoCity)]
    real = column.reader._reader

    class PartlyCorrupt:
        """The file went bad under us where 203.0.113.9 is stored."""

        def get(self, ip: str) -> Any:
            if ip == "203.0.113.9":
                raise maxminddb.InvalidDatabaseError("bad pointer")
            return real.get(ip)

    column.reader._reader = PartlyCorrupt()
    for request in (_from("203.0.113.9", "a"), _from("198.51.100.1", "a", T0 + 1)):
        pipeline.ingest(request)
    pipeline.flush()
    rows = pipeline.driver.table("events").to_pylist()  # type: ignore[attr-defined]
    assert [row["geo_city"] for row in rows] == ["New York"]
    (reason,) = pipeline.closer.stats.broken_events
    assert reason.startswith("geo_city: geo lookup of '203.0.113.9' failed: bad pointer")
    hit = Hit("h", "c", "p", "page_view", None, "ga4", "not an ip", "", "", "", {}, {}, T0)
    event = Event(hit)
    column.write(event)
    assert event.metadata["geo"] is UNKNOWN_PLACE


def test_bad_geo_database_settings(tmp_path: Path) -> None:
    with pytest.raises(d8a.ConfigurationError, match="does not exist or is not a file"):
        d8a.replay([], geo_database=str(tmp_path / "missing.mmdb"))
    with pytest.raises(d8a.ConfigurationError, match="does not exist or is not a file"):
        d8a.replay([], geo_database=tmp_path)  # a folder
    with pytest.raises(d8a.ConfigurationError, match="must be a file path"):
        d8a.replay([], geo_database=42)
    text = tmp_path / "notes.mmdb"
    text.write_text("not a database\n" * 100)
    with pytest.raises(d8a.ConfigurationError, match=r"not a MaxMind DB \(.mmdb\) file"):
        Pipeline.builder(geo_database=text).build()
    assert d8a.Settings(geo_database=Path(text)).geo_database == str(text)


def test_a_missing_extra_raises_at_build(monkeypatch: pytest.MonkeyPatch, database: str) -> None:
    monkeypatch.setitem(sys.modules, "maxminddb", None)  # makes `import maxminddb` fail
    with pytest.raises(d8a.MissingDependencyError, match=r"pip install 'd8a\[geo\]'"):
        Pipeline.builder(geo_database=database).build()


def test_geo_and_device_together(database: str) -> None:
    request = _from("203.0.113.9")
    request["headers"] = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)"}
    (row,) = d8a.replay([request], geo_database=database, device_detection=True)[
        "events"
    ].to_pylist()
    assert row["geo_country"] == "United Kingdom" and row["device_category"] == "smartphone"
