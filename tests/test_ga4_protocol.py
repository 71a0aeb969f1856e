"""The GA4 wire format: request to hits."""

from __future__ import annotations

from urllib.parse import quote, unquote_plus, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from d8a.config import Settings
from d8a.errors import ProtocolError
from d8a.hits import Request
from d8a.protocols import D8AProtocol, GA4Protocol
from d8a.protocols import query as query_module
from d8a.protocols.query import parse_query

SETTINGS = Settings()


def request(query: str, body: bytes = b"", id: str | None = None) -> Request:
    return Request("POST", "/g/collect", query, {"Host": "c.example"}, body, "1.2.3.4", 10.0, id)


def test_single_hit_from_query() -> None:
    hits = GA4Protocol().parse(request("v=2&tid=G-1&cid=7.8&en=page_view&uid=u1"), SETTINGS)
    assert len(hits) == 1
    hit = hits[0]
    assert (hit.client_id, hit.event_name, hit.user_id, hit.property_id) == (
        "7.8",
        "page_view",
        "u1",
        "default",
    )
    assert hit.params["tid"] == "G-1" and hit.host == "c.example" and hit.protocol == "ga4"


def test_batched_body_lines_replace_url_params() -> None:
    body = b"en=page_view&dl=https%3A%2F%2Fa%2F\n\n  en=scroll&epn.percent_scrolled=90  \n"
    hits = GA4Protocol().parse(request("tid=G-1&cid=1&dl=https%3A%2F%2Fu%2F", body, "r"), SETTINGS)
    assert [h.event_name for h in hits] == ["page_view", "scroll"]
    assert [h.id for h in hits] == ["r:0", "r:1"]
    assert hits[0].params["dl"] == "https://a/"
    assert hits[1].params["dl"] == "https://u/"
    assert hits[1].params["epn.percent_scrolled"] == "90"
    assert all(h.received_at == 10.0 for h in hits)


def test_request_id_is_the_hit_id_for_one_hit() -> None:
    (hit,) = GA4Protocol().parse(request("tid=G-1&cid=1&en=x", id="abc"), SETTINGS)
    assert hit.id == "abc"


def test_generated_ids_are_unique() -> None:
    hits = GA4Protocol().parse(request("tid=G-1&cid=1", b"en=a\nen=b\nen=c"), SETTINGS)
    assert len({h.id for h in hits}) == 3


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("tid=G-1&en=x", "`cid` is a required"),
        ("cid=1&en=x", "`tid` is a required"),
        ("cid=1&tid=G-1", "`en` is a required"),
        ("cid=1&tid=G-1&en=%zz", "malformed percent-encoding"),
        ("cid=1&tid=G-1&en=%ff", "not UTF-8"),
    ],
)
def test_bad_queries_raise_protocol_error(query: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        GA4Protocol().parse(request(query), SETTINGS)


def test_body_that_is_not_utf8_is_rejected() -> None:
    with pytest.raises(ProtocolError, match="not valid UTF-8"):
        GA4Protocol().parse(request("cid=1&tid=G-1", b"en=\xff\xfe"), SETTINGS)


def test_one_bad_line_rejects_the_whole_request() -> None:
    with pytest.raises(ProtocolError):
        GA4Protocol().parse(request("cid=1&tid=G-1", b"en=ok\ndl=%g1"), SETTINGS)


def test_d8a_protocol_shares_the_format() -> None:
    (hit,) = D8AProtocol().parse(request("tid=G-1&cid=1&en=x"), SETTINGS)
    assert hit.protocol == "d8a"
    assert D8AProtocol().endpoints(SETTINGS)[0].path == "/d/c"


def test_first_value_of_a_repeated_key_wins() -> None:
    assert parse_query("a=1&a=2&b&c=x+y") == {"a": "1", "b": "", "c": "x y"}


def test_query_edge_cases() -> None:
    """Empty parts, an empty key, escaped keys (first wins after decoding), bad escapes."""
    assert parse_query("a=1&&b=2&") == {"a": "1", "b": "2"}
    assert parse_query("=x&a=1") == {"": "x", "a": "1"}
    assert parse_query("a%3Db=1&a=b=2") == {"a=b": "1", "a": "b=2"}
    assert parse_query("a+b=1&a%20b=2") == {"a b": "1"}
    assert parse_query("dl=https%3A%2F%2Fx.example%2F%3Fq%3D1&dt=A+B") == {
        "dl": "https://x.example/?q=1",
        "dt": "A B",
    }
    with pytest.raises(ProtocolError, match="malformed"):
        parse_query("a=1&b=%zz")


def _parse_uncached(query: str) -> dict[str, str]:
    """The query parser's contract, written plainly: split, decode, first key wins."""
    result: dict[str, str] = {}
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            result.setdefault(unquote_plus(key), unquote_plus(value))
    return result


query_parts = st.lists(
    st.sampled_from(["a=1", "a=2", "b", "c=x+y", "d=%41%42", "%61=3", "=e", "", "f=%C3%A9"]),
    max_size=12,
).map("&".join)


@given(st.lists(query_parts, min_size=1, max_size=6))
def test_parsed_parts_are_remembered_without_changing_results(queries: list[str]) -> None:
    """Parts repeat across hits and are parsed once (a bounded cache): results are
    those of a plain parse whatever parsed before, and the cache stays bounded."""
    for query in [*queries, *reversed(queries)]:
        parsed = parse_query(query)
        assert parsed == _parse_uncached(query)
        assert list(parsed) == list(_parse_uncached(query))  # same key order
    assert len(query_module._PAIRS) <= query_module._PAIRS_LIMIT


def test_the_parsed_parts_cache_is_emptied_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(query_module, "_PAIRS", {})
    monkeypatch.setattr(query_module, "_PAIRS_LIMIT", 3)
    assert parse_query("a=1&b=2&c=3&d=4&a=5") == {"a": "1", "b": "2", "c": "3", "d": "4"}
    assert len(query_module._PAIRS) <= 3
    with pytest.raises(ProtocolError, match="malformed"):  # a bad part is never kept
        parse_query("e=%zz")
    with pytest.raises(ProtocolError, match="malformed"):
        parse_query("e=%zz")
    assert "e=%zz" not in query_module._PAIRS


params = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda k: k not in ("cid", "tid", "en")),
    st.text(max_size=30),
    max_size=8,
)


@given(params)
def test_any_params_round_trip(extra: dict[str, str]) -> None:
    query = urlencode({"cid": "1.2", "tid": "G-1", "en": "page_view", **extra}, quote_via=quote)
    (hit,) = GA4Protocol().parse(request(query), SETTINGS)
    for key, value in extra.items():
        assert hit.params[key] == value


@given(st.text(max_size=200), st.binary(max_size=200))
def test_arbitrary_input_raises_only_protocol_error(query: str, body: bytes) -> None:
    try:
        hits = GA4Protocol().parse(request(query, body), SETTINGS)
    except ProtocolError as exc:
        assert exc.status == 400 and exc.reason
    else:
        assert hits and all(h.client_id and h.event_name for h in hits)
