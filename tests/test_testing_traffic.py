"""The request factory and the traffic generator in d8a.testing."""

from __future__ import annotations

import gzip
import importlib.util
import ipaddress
import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

import d8a.testing
from d8a.hits import Request, to_epoch
from d8a.testing import ManualClock, count_hits, ga4_request, generate_traffic
from d8a.testing.factories import BROWSER_HEADERS

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"method", "path", "query", "headers", "body", "ip", "received_at", "id"}
DOC_NETS = [
    ipaddress.ip_network(net)
    for net in ("203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24", "2001:db8::/32")
]


@pytest.fixture(scope="module")
def traffic() -> list[dict[str, Any]]:
    return list(generate_traffic(visitors=300, seed=3))


def _hits(request: dict[str, Any]) -> list[dict[str, str]]:
    """The merged params of each hit, as the GA4 protocol reads them (reference 1.4)."""
    query = dict(parse_qsl(request["query"], keep_blank_values=True, strict_parsing=True))
    lines = [line for line in request["body"].decode().split("\n") if line.strip()]
    if not lines:
        return [query]
    return [
        {**query, **dict(parse_qsl(line, keep_blank_values=True, strict_parsing=True))}
        for line in lines
    ]


def _load_script() -> ModuleType:
    path = ROOT / "benchmarks" / "make_sample_traffic.py"
    spec = importlib.util.spec_from_file_location("make_sample_traffic", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_public_surface() -> None:
    assert d8a.testing.__all__ == [
        "ManualClock",
        "city_record",
        "count_hits",
        "ga4_request",
        "generate_traffic",
        "write_city_database",
    ]
    assert ManualClock(5).now() == 5.0


def test_same_seed_same_bytes() -> None:
    first = list(generate_traffic(visitors=40, seed=11))
    random.seed(99)  # the global RNG must not matter
    second = list(generate_traffic(visitors=40, seed=11))
    assert first == second
    assert repr(first).encode() == repr(second).encode()


def test_different_seeds_differ() -> None:
    a = list(generate_traffic(visitors=20, seed=1))
    b = list(generate_traffic(visitors=20, seed=2))
    assert [r["query"] for r in a] != [r["query"] for r in b]


def test_global_rng_untouched() -> None:
    state = random.getstate()
    list(generate_traffic(visitors=10))
    assert random.getstate() == state


def test_ordered_by_received_at_with_sequential_ids(traffic: list[dict[str, Any]]) -> None:
    times = [to_epoch(r["received_at"]) for r in traffic]
    assert times == sorted(times)
    assert [r["id"] for r in traffic] == [f"r3-{n}" for n in range(len(traffic))]
    assert all(r["received_at"].endswith("Z") for r in traffic)


def test_requests_are_well_formed(traffic: list[dict[str, Any]]) -> None:
    for request in traffic:
        assert set(request) == KEYS
        assert request["path"] == "/g/collect"
        assert isinstance(request["body"], bytes)
        assert request["method"] == "POST" or not request["body"]
        assert request["headers"]["User-Agent"]
        assert any(ipaddress.ip_address(request["ip"]) in net for net in DOC_NETS)
        parsed = Request.from_dict(request, default_time=0.0)
        assert parsed.received_at == to_epoch(request["received_at"])
        for hit in _hits(request):
            assert hit["v"] == "2"
            assert hit["tid"] == "G-DEMO"
            assert hit["en"] and hit["cid"] and hit["sid"] and hit["sct"]
            assert hit["dl"].startswith("https://shop.example/")


def test_request_shapes(traffic: list[dict[str, Any]]) -> None:
    batched = [r for r in traffic if r["body"]]
    assert 0.2 < len(batched) / len(traffic) < 0.4
    assert all(2 <= len(r["body"].split(b"\n")) <= 4 for r in batched)
    singles = {r["method"] for r in traffic if not r["body"]}
    assert singles == {"GET", "POST"}


def test_event_mix(traffic: list[dict[str, Any]]) -> None:
    hits = [hit for request in traffic for hit in _hits(request)]
    names = {hit["en"] for hit in hits}
    assert names >= {
        "page_view",
        "scroll",
        "click",
        "user_engagement",
        "view_search_results",
        "form_start",
        "form_submit",
        "add_to_cart",
        "purchase",
    }
    purchases = [hit for hit in hits if hit["en"] == "purchase"]
    assert {hit["cu"] for hit in purchases} <= {"EUR", "USD", "GBP"}
    for hit in purchases:
        assert hit["ep.transaction_id"] and float(hit["epn.value"]) > 0
        assert hit["pr1"].startswith("idSKU-") and "~qt" in hit["pr1"]
    assert all(hit["epn.percent_scrolled"] == "90" for hit in hits if hit["en"] == "scroll")
    assert any("utm_campaign=" in hit["dl"] for hit in hits)
    assert any("gclid=" in hit["dl"] for hit in hits)
    assert any(hit.get("dr", "").startswith("https://www.google.com") for hit in hits)


def test_visitors_are_consistent_and_sessions_apart(traffic: list[dict[str, Any]]) -> None:
    by_client: dict[str, list[tuple[float, dict[str, str], dict[str, Any]]]] = defaultdict(list)
    for request in traffic:
        for hit in _hits(request):
            by_client[hit["cid"]].append((to_epoch(request["received_at"]), hit, request))
    assert 250 <= len(by_client) <= 300
    with_uid = 0
    for hits in by_client.values():
        assert len({(r["ip"], r["headers"]["User-Agent"]) for _, _, r in hits}) == 1
        assert len({hit.get("uid") for _, hit, _ in hits}) == 1
        with_uid += "uid" in hits[0][1]
        for (t1, h1, _), (t2, h2, _) in pairwise(hits):
            if h1["sid"] == h2["sid"]:
                assert t2 - t1 <= 130  # a page's dwell, navigation and a gtag flush delay
            else:
                assert t2 - t1 >= 31 * 60 and int(h2["sct"]) == int(h1["sct"]) + 1
    assert 0 < with_uid < 0.25 * len(by_client)


def test_few_distinct_user_agents() -> None:
    requests = list(generate_traffic())
    distinct = {r["headers"]["User-Agent"] for r in requests}
    assert len(distinct) / count_hits(requests) < 0.03


def test_count_hits() -> None:
    lines = [{"en": "a"}, {"en": "b"}, {"en": "c"}]
    assert count_hits([ga4_request()]) == 1
    assert count_hits([ga4_request(body_lines=lines)]) == 3
    assert count_hits([{"body": "\n en=a \n\n"}, {"body": b""}, {"body": "  \n"}]) == 3


def test_ga4_request_defaults() -> None:
    request = ga4_request()
    assert request == {
        "method": "GET",
        "path": "/g/collect",
        "query": "v=2&tid=G-TEST&cid=1234.5678&en=page_view&dl=https%3A%2F%2Fexample.com%2F",
        "headers": dict(BROWSER_HEADERS),
        "body": b"",
        "ip": "203.0.113.9",
        "received_at": "2026-11-02T08:00:00Z",
    }
    request["headers"]["User-Agent"] = "changed"
    assert BROWSER_HEADERS["User-Agent"] != "changed"


def test_ga4_request_options() -> None:
    batched = ga4_request(en=None, body_lines=[{"en": "scroll"}, {"en": "click"}], id="x1")
    assert batched["method"] == "POST" and batched["id"] == "x1"
    assert batched["body"] == b"en=scroll\nen=click"
    assert "en" not in parse_qs(batched["query"])
    assert "received_at" not in ga4_request(received_at=None)
    assert ga4_request(received_at=12.5)["received_at"] == 12.5
    when = datetime(2026, 11, 2, 10, tzinfo=timezone(timedelta(hours=2)))
    assert ga4_request(received_at=when)["received_at"] == "2026-11-02T08:00:00Z"
    naive = datetime(2026, 11, 2, 8, 0, 0, 250000)
    assert ga4_request(received_at=naive)["received_at"] == "2026-11-02T08:00:00.250000Z"
    assert (
        to_epoch(ga4_request(received_at=naive)["received_at"])
        == naive.replace(tzinfo=UTC).timestamp()
    )
    query = parse_qs(ga4_request(uid="u1", params={"ep.page_type": "home", "en": "x"})["query"])
    assert query["uid"] == ["u1"] and query["ep.page_type"] == ["home"] and query["en"] == ["x"]


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_params = st.dictionaries(
    _text.filter(lambda key: key not in {"v", "tid", "cid", "en", "dl"} and key != ""),
    _text,
    max_size=8,
)


@given(params=_params, lines=st.lists(_params.filter(bool), max_size=3))
def test_ga4_request_round_trips_params(
    params: dict[str, str], lines: list[dict[str, str]]
) -> None:
    request = ga4_request(cid="1.2", params=params, body_lines=lines)
    query = parse_qs(request["query"], keep_blank_values=True, strict_parsing=True)
    fixed = {
        "v": "2",
        "tid": "G-TEST",
        "cid": "1.2",
        "en": "page_view",
        "dl": "https://example.com/",
    }
    assert query == {key: [value] for key, value in {**fixed, **params}.items()}
    body_lines = request["body"].decode().split("\n") if lines else []
    assert [dict(parse_qsl(line, keep_blank_values=True)) for line in body_lines] == lines
    assert count_hits([request]) == max(len(lines), 1)


def test_sample_file_matches_script() -> None:
    script = _load_script()
    data = (ROOT / "d8a" / "data" / "sample_traffic.jsonl.gz").read_bytes()
    assert len(data) < 300_000
    expected = script.sample_lines()
    assert gzip.decompress(data) == expected
    assert data[4:8] == b"\0\0\0\0"  # gzip mtime 0: the file does not change on rebuild
    first = json.loads(expected.split(b"\n", 1)[0])
    assert set(first) == KEYS and isinstance(first["body"], str)
