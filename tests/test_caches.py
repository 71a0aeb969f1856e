"""Per-process caches keep what repeats and never what is long: a flood of large
unique values from the network cannot make them grow past entries x LONGEST_KEY."""

from __future__ import annotations

from pathlib import Path

import pytest

from d8a.caches import LONGEST_KEY, remember
from d8a.client_ip import ClientIP
from d8a.columns.attribution_lists import HostList, bundled_list
from d8a.columns.base import Event
from d8a.columns.device import MAX_USER_AGENT_CHARS, DeviceCache
from d8a.columns.geo import UNKNOWN_PLACE, GeoReader
from d8a.columns.urls import URLCache
from d8a.config import Settings
from d8a.hits import _CANONICAL, Hit, canonical_header
from d8a.protocols import query
from d8a.protocols.ga4 import GA4Protocol
from d8a.protocols.ga4_params import EventParams
from d8a.protosessions import identity
from d8a.testing import city_record, write_city_database
from tests.test_device import CountingDetector

LONG = "v" * (LONGEST_KEY + 1)


def test_remember_keeps_short_keys_within_the_limit_and_never_long_ones() -> None:
    cache: dict[str, int] = {}
    assert [remember(cache, f"k{i}", i, limit=3) for i in range(4)] == [0, 1, 2, 3]
    assert cache == {"k3": 3}  # emptied when full, then kept
    assert remember(cache, "x" * LONGEST_KEY, 5, limit=3) == 5
    assert remember(cache, LONG, 6, limit=3) == 6
    assert set(cache) == {"k3", "x" * LONGEST_KEY}


def test_long_query_parts_and_values_are_parsed_but_not_kept() -> None:
    for n in range(3):  # each time a new long value: parsed right, never cached
        text = f"{LONG}{n}%20x"
        assert query.parse_query(f"a=1&dl={text}") == {"a": "1", "dl": f"{LONG}{n} x"}
        assert f"dl={text}" not in query._PAIRS
        assert text not in query._CACHE
    assert query._PAIRS["a=1"] == ("a", "1")


def test_long_stamp_texts_are_hashed_but_not_kept() -> None:
    hit = Hit("i", "c", "G-1", "e", None, "ga4", "1.2.3.4", "", "/", "GET", {}, {}, 0.0)
    hit.headers = {"User-Agent": LONG}
    stamp = identity.session_stamp(hit)
    assert stamp == identity.session_stamp(hit) and len(stamp) == 64
    assert not [text for text in identity._DIGESTS if LONG in text]


def test_long_urls_and_hosts_are_parsed_but_not_kept() -> None:
    urls = URLCache(())
    url = f"https://shop.example/{LONG}?utm_source=x"
    assert urls.get(url).hostname == "shop.example"
    assert url not in urls._cache
    assert urls.get("https://shop.example/") is urls.get("https://shop.example/")
    hosts = HostList("search_engines", bundled_list("search_engines"))
    assert hosts.match(f"{LONG}.example") is None
    assert f"{LONG}.example" not in hosts._cache


def test_param_key_sets_longer_than_the_bound_are_not_kept() -> None:
    (params_column,) = [c for c in GA4Protocol().event_columns(Settings()) if c.name == "params"]
    column = EventParams(params_column.interface)
    params = {"en": "x", f"ep.{LONG}": "1", "ep.short": "2"}
    event = Event(Hit("i", "c", "p", "x", None, "ga4", "", "", "/", "GET", {}, params, 0.0))
    column.write_all([event])
    assert [p["name"] for p in event.values["params"]] == ["short", LONG]  # by name
    assert not column._plans


@pytest.mark.parametrize("header", ["User-Agent", "Sec-Ch-Ua"])
def test_the_device_cache_cuts_long_agents_and_hints(header: str) -> None:
    recorder = CountingDetector()
    cache = DeviceCache(recorder)
    headers = {"User-Agent": "A", header: "h" * (MAX_USER_AGENT_CHARS * 20)}
    cache.lookup(headers)
    cache.lookup({**headers, header: headers[header] + "more"})  # same first characters
    assert len(recorder.calls) == 1
    ((key, _),) = cache.entries.items()
    assert max(len(value) for value in key if value is not None) == MAX_USER_AGENT_CHARS


def test_long_addresses_and_header_names_are_answered_but_not_kept(tmp_path: Path) -> None:
    path = write_city_database(tmp_path / "city.mmdb", {"203.0.113.0/24": city_record("London")})
    reader = GeoReader(path)
    assert reader.lookup(LONG) == UNKNOWN_PLACE
    assert reader.lookup("203.0.113.9").city == "London"
    assert list(reader.entries) == ["203.0.113.9"]
    proxies = ClientIP(["10.0.0.0/8"])
    assert proxies.resolve(LONG, {"X-Forwarded-For": "198.51.100.1"}) == LONG  # untrusted peer
    assert LONG not in proxies._cache
    assert canonical_header(f"x-{LONG}") == f"X-{LONG.capitalize()}"
    assert f"x-{LONG}" not in _CANONICAL
