"""The Matomo tracking API: requests (query, form body, bulk JSON) to hits, and bad input."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import d8a
from d8a.clock import ManualClock
from d8a.config import Settings
from d8a.errors import PartialRequestError, ProtocolError
from d8a.hits import Request
from d8a.pipeline import Pipeline
from d8a.protocols import MatomoProtocol, protocol_by_name
from d8a.protocols.matomo import event_name
from d8a.protocols.matomo_request import BULK_BODY_FACTOR
from tests.conftest import T0

SETTINGS = Settings()
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}


def request(
    query: str = "",
    body: bytes | str = b"",
    id: str | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/matomo.php",
) -> Request:
    raw = body.encode() if isinstance(body, str) else body
    return Request(
        "POST", path, query, {"Host": "m.example", **(headers or {})}, raw, "1.2.3.4", 10.0, id
    )


def bulk(*elements: Any, **extra: Any) -> bytes:
    return json.dumps({"requests": list(elements), **extra}).encode()


def parse(req: Request, options: Settings = SETTINGS) -> list[Any]:
    return MatomoProtocol().parse(req, options)


def matomo(query: str = "", body: bytes | str = b"", **fields: Any) -> dict[str, Any]:
    """A Matomo request dict for ``Pipeline.ingest``."""
    return {
        "method": "POST" if body else "GET",
        "path": "/matomo.php",
        "query": query,
        "headers": {"User-Agent": "test-agent", **fields.pop("headers", {})},
        "body": body,
        "ip": "2001:db8::1",
        "received_at": T0,
        **fields,
    }


def test_registered_as_matomo_with_its_endpoints() -> None:
    protocol = protocol_by_name("matomo")
    assert isinstance(protocol, MatomoProtocol) and protocol.id == "matomo"
    options = Settings(matomo_tracking_endpoints=("piwik.php", " /js/ ", "", "/piwik.php"))
    endpoints = protocol.endpoints(options)
    assert [e.path for e in endpoints] == ["/matomo.php", "/piwik.php", "/js/"]
    assert all(e.methods == ("GET", "POST") and not e.cors for e in endpoints)


def test_a_query_string_hit_keeps_every_param() -> None:
    (hit,) = parse(request("idsite=3&rec=1&_id=v1&uid=u1&url=https%3A%2F%2Fa.example%2F&_idn=0"))
    assert (hit.client_id, hit.user_id, hit.property_id, hit.event_name) == (
        "v1",
        "u1",
        "default",
        "page_view",
    )
    assert hit.params["url"] == "https://a.example/" and hit.params["_idn"] == "0"
    assert (hit.protocol, hit.host, hit.path, hit.received_at) == (
        "matomo",
        "m.example",
        "/matomo.php",
        10.0,
    )


def test_client_id_falls_back_to_cid_then_to_the_hit_id() -> None:
    (by_cid,) = parse(request("idsite=1&cid=c1"))
    assert by_cid.client_id == "c1"
    (empty_id,) = parse(request("idsite=1&_id=&cid=c2"))
    assert empty_id.client_id == "c2"
    (fresh,) = parse(request("idsite=1"))
    assert fresh.client_id == fresh.id and uuid.UUID(fresh.id).version == 4
    (given_id,) = parse(request("idsite=1", id="req-7"))
    assert given_id.client_id == given_id.id == "req-7"
    (no_user,) = parse(request("idsite=1&uid="))
    assert no_user.user_id is None


def test_client_timestamps_do_not_change_the_event_time() -> None:
    (hit,) = parse(request("idsite=1&cdt=1500000000&h=1&m=2&s=3"))
    assert hit.received_at == 10.0 and hit.params["cdt"] == "1500000000"


def test_form_body_is_read_and_the_query_string_wins_a_shared_key() -> None:
    body = "idsite=1&_id=form&e_c=c&e_a=a&url=https%3A%2F%2Fb.example%2F"
    (hit,) = parse(request("_id=query&rec=1", body, headers=FORM))
    assert hit.client_id == "query"  # Matomo merges $_GET + $_POST: the query's value stays
    assert hit.event_name == "custom_event" and hit.params["url"] == "https://b.example/"
    (untyped,) = parse(request("", body))  # no Content-Type: still a form body
    assert untyped.client_id == "form"


def test_a_body_of_another_content_type_is_ignored_as_php_does() -> None:
    (hit,) = parse(request("idsite=1&_id=q", "e_c=c&e_a=a", headers={"Content-Type": "text/plain"}))
    assert hit.event_name == "page_view" and "e_c" not in hit.params


def test_bulk_json_one_hit_per_element_without_the_query_string() -> None:
    body = bulk(
        "?idsite=1&_id=a&action_name=one",
        "  idsite=1&_id=b  ",
        "https://m.example/matomo.php?idsite=1&_id=c",
        {"idsite": 1, "_id": "d", "e_c": "c", "e_a": "a", "e_v": 1.5, "send_image": False},
        token_auth="secret",
    )
    hits = parse(request("rec=1&uid=from-url", body, id="r"))
    assert [h.client_id for h in hits] == ["a", "b", "c", "d"]
    assert [h.id for h in hits] == ["r:0", "r:1", "r:2", "r:3"]
    assert all("uid" not in h.params and h.user_id is None for h in hits)
    assert hits[0].params["action_name"] == "one"
    assert hits[3].params == {
        "idsite": "1",
        "_id": "d",
        "e_c": "c",
        "e_a": "a",
        "e_v": "1.5",
        "send_image": "0",
    }
    assert hits[3].event_name == "custom_event"


def test_a_failing_bulk_element_keeps_the_others() -> None:
    body = bulk("?idsite=1&_id=a", "?_id=b", 7, "?idsite=1&url=%zz", "?idsite=1&_id=e")
    with pytest.raises(PartialRequestError) as caught:
        parse(request("", body, id="r"))
    error = caught.value
    assert [h.client_id for h in error.hits] == ["a", "e"]
    assert [h.id for h in error.hits] == ["r:0", "r:4"]
    assert [f.index for f in error.failures] == [1, 2, 3]
    assert error.status == 400
    assert "element 1: missing idsite" in error.reason
    assert "element 2: must be a query string or an object" in error.reason
    assert "element 3: malformed percent-encoding" in error.reason
    assert "3 of 5 element(s) rejected" in error.reason and "other 2 were accepted" in error.reason


def test_a_bulk_request_whose_every_element_fails_is_rejected() -> None:
    with pytest.raises(
        ProtocolError, match=r"every element was rejected \(element 0: missing idsite\)$"
    ):
        parse(request("", bulk("?_id=a")))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"requests": ["?idsite=1"', "invalid bulk JSON"),
        (b"{'requests': []}", "invalid bulk JSON"),
        (b'{"requests": "?idsite=1"}', 'must be an object with a "requests" list'),
        (b'{"request": ["?idsite=1"]}', 'must be an object with a "requests" list'),
        (b'{"requests": []}', 'empty "requests" list'),
        (b'{"requests": ["\xff"]}', "not valid UTF-8"),
        (b"{" + b"[" * 100_000, "invalid bulk JSON"),
    ],
)
def test_bad_bulk_bodies_are_rejected_with_the_reason(body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as caught:
        parse(request("idsite=1", body))
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("query", "body", "reason"),
    [
        ("rec=1", b"", "missing idsite"),
        ("idsite=", b"", "missing idsite"),
        ("idsite=1&url=%g0", b"", "malformed percent-encoding"),
        ("idsite=1&action_name=%ff", b"", "not UTF-8"),
        ("idsite=1", b"e_c=\xff", "not valid UTF-8"),
        ("idsite=1", b"e_c=%2", "malformed percent-encoding"),
        ("", b"_id=1&rec=1", "missing idsite"),
    ],
)
def test_bad_requests_raise_protocol_error(query: str, body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as caught:
        parse(request(query, body, headers=FORM))
    assert caught.value.status == 400


def test_oversized_bodies_are_rejected_with_the_reason() -> None:
    options = Settings(max_hit_bytes=1000)
    with pytest.raises(ProtocolError, match="form body of 1010 bytes is larger than the 1000-byte"):
        parse(request("idsite=1", "e_c=" + "x" * 1006, headers=FORM), options)
    big = bulk(*["?idsite=1&e_c=" + "x" * 500] * (BULK_BODY_FACTOR * 2))
    with pytest.raises(
        ProtocolError, match=r"bulk body of \d+ bytes is larger than the 64000-byte"
    ):
        parse(request("", big), options)


def test_an_oversized_bulk_element_fails_alone() -> None:
    options = Settings(max_hit_bytes=1000)
    body = bulk("?idsite=1&_id=a", "?idsite=1&e_c=" + "x" * 1000, {"idsite": "1", "e_c": "y" * 990})
    with pytest.raises(PartialRequestError) as caught:
        parse(request("", body), options)
    assert [h.client_id for h in caught.value.hits] == ["a"]
    assert [f.index for f in caught.value.failures] == [1, 2]
    assert "larger than the 1000-byte hit limit" in caught.value.reason


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"idgoal": "0", "ec_id": "o1", "download": "d", "search": ""}, "ecommerce_order"),
        ({"idgoal": "0"}, "goal_conversion"),
        ({"idgoal": "3", "ec_id": "o1"}, "goal_conversion"),
        ({"ma_id": "m", "ma_mt": "video", "download": "d"}, "video_play"),
        ({"ma_id": "m", "ma_mt": "audio"}, "page_view"),
        ({"download": "https://a/f.pdf", "link": "l"}, "download"),
        ({"link": "https://out.example/", "search": "x"}, "outlink"),
        ({"search": ""}, "site_search"),
        ({"search": "shoes", "c_i": "click"}, "site_search"),
        ({"c_i": "click", "c_n": "n"}, "content_interaction"),
        ({"c_n": "banner", "e_c": "c", "e_a": "a"}, "content_impression"),
        ({"e_c": "c", "e_a": "a"}, "custom_event"),
        ({"e_c": "c"}, "page_view"),
        ({"e_a": "a", "e_n": "n"}, "page_view"),
        ({}, "page_view"),
    ],
)
def test_event_names_in_the_references_order(params: dict[str, str], name: str) -> None:
    assert event_name(params) == name
    (hit,) = parse(request(urlencode({"idsite": "1", **params})))
    assert hit.event_name == name


# -- through the receiver: answers, and what reaches the rows ---------------------


def pipeline(**options: Any) -> Pipeline:
    return (
        Pipeline.builder(**options).protocols("matomo").clock(ManualClock(T0)).pings(False).build()
    )


def test_ingest_answers_204_without_cors_and_400_with_the_reason() -> None:
    with pipeline(matomo_tracking_endpoints=["piwik.php"]) as p:
        ok = p.ingest(matomo("idsite=1&_id=a", headers={"Origin": "https://x.example"}))
        assert ok.status == 204 and "Access-Control-Allow-Origin" not in ok.headers
        assert p.ingest({**matomo("idsite=1"), "path": "/piwik.php"}).status == 204
        missing = p.ingest(matomo("_id=a"))
        assert missing.status == 400 and missing.body == b"missing idsite"
        assert p.ingest({**matomo("idsite=1"), "method": "OPTIONS"}).status == 405
        assert p.ingest({**matomo("idsite=1"), "method": "PUT"}).status == 405
        assert p.receiver.stats.hits == 2 and p.receiver.stats.rejected[400] == 1


def test_a_partly_failing_bulk_answers_400_and_writes_its_valid_elements() -> None:
    body = bulk("?idsite=1&_id=a&action_name=A", "?_id=b", "?idsite=1&_id=c&action_name=C")
    with pipeline() as p:
        response = p.ingest(matomo("", body, id="bulk-1"))
        assert response.status == 400
        assert "element 1: missing idsite" in response.body.decode()
        assert p.receiver.stats.hits == 2
        rejection = p.receiver.stats.recent_rejections[-1]
        assert rejection.status == 400 and "element 1" in rejection.reason
    rows = d8a.replay([matomo("", body, id="bulk-1")])["events"].to_pylist()
    assert [(r["id"], r["client_id"], r["page_title"]) for r in rows] == [
        ("bulk-1:0", "a", "A"),
        ("bulk-1:2", "c", "C"),
    ]


def test_bad_input_never_raises_out_of_ingest_and_never_touches_other_hits() -> None:
    bad = [
        matomo("idsite=1&url=%zz"),
        matomo("", b'{"requests": [', headers=FORM),
        matomo("", b"idsite=1&e_c=\xff", headers=FORM),
        matomo("", b'{"requests": [1, null]}'),
        matomo("", "e_c=" + "x" * 200_000, headers=FORM),
        matomo("rec=1"),
    ]
    with pipeline() as p:
        assert p.ingest(matomo("idsite=1&_id=ok")).status == 204
        assert [p.ingest(r).status for r in bad] == [400] * len(bad)
        assert p.ingest(matomo("idsite=1&_id=ok2")).status == 204
        assert p.receiver.stats.hits == 2


def test_replay_picks_matomo_from_the_first_path() -> None:
    tables = d8a.replay(
        [matomo("idsite=1&_id=a"), {**matomo("idsite=1&_id=b"), "path": "/p.php"}],
        matomo_tracking_endpoints=["p.php"],
    )
    rows = tables["events"].to_pylist()
    assert [r["client_id"] for r in rows] == ["a", "b"]
    assert {r["tracking_protocol"] for r in rows} == {"matomo"}
    ga4_served = d8a.replay([{**matomo("idsite=1"), "path": "/p.php"}])["events"]
    assert ga4_served.num_rows == 0 and "measurement_id" in ga4_served.schema.names


# -- properties ----------------------------------------------------------------

params = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda k: k not in ("idsite", "_id")),
    st.text(max_size=30),
    max_size=8,
)


@settings(deadline=None)  # no flaky deadline on a loaded machine
@given(params, st.sampled_from(["query", "form", "bulk"]))
def test_any_params_round_trip_in_every_form(extra: dict[str, str], form: str) -> None:
    query = urlencode({"idsite": "1", "_id": "v", **extra}, quote_via=quote)
    if form == "query":
        req = request(query)
    elif form == "form":
        req = request("", query, headers=FORM)
    else:
        req = request("", bulk("?" + query))
    (hit,) = parse(req)
    assert hit.client_id == "v"
    for key, value in extra.items():
        assert hit.params[key] == value


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.binary(max_size=200), st.booleans())
def test_arbitrary_input_raises_only_protocol_error(query: str, body: bytes, as_json: bool) -> None:
    if as_json:
        body = b"{" + body
    try:
        hits = parse(request(query, body))
    except PartialRequestError as exc:
        assert exc.hits and exc.failures and exc.status == 400
    except ProtocolError as exc:
        assert exc.status == 400 and exc.reason
    else:
        assert hits and all(h.client_id and h.event_name and h.params["idsite"] for h in hits)


elements = st.one_of(
    st.text(max_size=40),
    st.builds(lambda q: "?idsite=1&" + q, st.text(max_size=30)),
    st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers(), st.none())),
    st.integers(),
    st.none(),
)


@settings(deadline=None)
@given(st.lists(elements, min_size=1, max_size=8))
def test_every_bulk_element_is_a_hit_or_a_reported_failure(items: list[Any]) -> None:
    try:
        hits = parse(request("", bulk(*items), id="r"))
        failed: list[int] = []
    except PartialRequestError as exc:
        hits, failed = exc.hits, [f.index for f in exc.failures]
    except ProtocolError as exc:
        assert "every element was rejected" in exc.reason
        return
    accepted = [int(h.id.split(":")[1]) for h in hits]
    assert sorted(accepted + failed) == list(range(len(items)))


@pytest.fixture(scope="module")
def shared() -> Iterator[Pipeline]:
    """One pipeline for every example: building one per example would be slow."""
    with pipeline(max_hit_bytes=2000) as p:
        yield p


@settings(max_examples=150, deadline=None)
@given(
    st.text(max_size=100),
    st.one_of(st.binary(max_size=300), st.builds(lambda b: b"{" + b, st.binary(max_size=300))),
    st.sampled_from(["application/x-www-form-urlencoded", "", "application/json", "text/plain"]),
)
def test_ingest_answers_any_input_without_raising(
    shared: Pipeline, query: str, body: bytes, content_type: str
) -> None:
    p = shared
    before = p.receiver.stats.hits
    response = p.ingest(matomo(query, body, headers={"Content-Type": content_type}))
    assert response.status in (204, 400, 413)
    if response.status != 204:
        assert response.body
    assert p.receiver.stats.hits >= before
    assert p.ingest(matomo("idsite=1&_id=after")).status == 204
