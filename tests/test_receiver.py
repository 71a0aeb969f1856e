"""Receiving requests: status codes, reasons, CORS, counting; bad input never raises."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d8a.clock import ManualClock
from d8a.errors import ConfigurationError
from d8a.hits import Request, canonical_header, to_epoch
from d8a.pipeline import Pipeline
from d8a.receiver import mask_ip
from tests.conftest import T0, ga4


def test_valid_request_is_answered_204_and_counted(memory_pipeline: Pipeline) -> None:
    response = memory_pipeline.ingest(ga4())
    assert response.status == 204 and response.body == b""
    assert memory_pipeline.receiver.stats.hits == 1


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"query": "v=2&tid=G-1&en=x"}, 400, "`cid` is a required"),
        ({"query": "v=2&cid=1&en=x"}, 400, "`tid` is a required"),
        ({"query": "v=2&cid=1&tid=G"}, 400, "`en` is a required"),
        ({"query": "cid=1&tid=G&en=%2"}, 400, "malformed percent-encoding"),
        ({"body": b"en=\xc3\x28"}, 400, "not valid UTF-8"),
        ({"path": "/nope"}, 404, "no endpoint at /nope"),
        ({"method": "PUT"}, 405, "method PUT not allowed"),
        ({"method": None}, 400, "'method' is required"),
        ({"received_at": "yesterday"}, 400, "invalid 'received_at'"),
        ({"headers": "x"}, 400, "'headers' must be a mapping"),
    ],
)
def test_bad_requests_get_a_reason(
    memory_pipeline: Pipeline, change: dict[str, Any], status: int, reason: str
) -> None:
    response = memory_pipeline.ingest({**ga4(), **change})
    assert response.status == status
    assert reason in response.body.decode()
    stats = memory_pipeline.receiver.stats
    assert stats.rejected[status] == 1 and stats.hits == 0
    assert stats.recent_rejections[-1].reason.startswith(response.body.decode()[:10])


def test_oversized_hit_is_rejected_with_413() -> None:
    pipeline = Pipeline.builder(max_hit_bytes=1024).clock(ManualClock(T0)).build()
    response = pipeline.ingest(ga4(dt="x" * 2000))
    assert response.status == 413 and "1024-byte limit" in response.body.decode()


def test_default_size_limit_is_128_kib(memory_pipeline: Pipeline) -> None:
    assert memory_pipeline.ingest(ga4(dt="x" * 100_000)).status == 204
    assert memory_pipeline.ingest(ga4(dt="x" * 140_000)).status == 413


def test_a_bad_request_does_not_touch_the_others(memory_pipeline: Pipeline) -> None:
    memory_pipeline.ingest(ga4(cid="a", id="ok1"))
    memory_pipeline.ingest({**ga4(cid="b"), "query": "cid=b&tid=T&en=%zz"})
    memory_pipeline.ingest(ga4(cid="c", id="ok2", at=T0 + 1))
    memory_pipeline.flush()
    assert memory_pipeline.closer.stats.events == 2


def test_cors_echoes_origin_with_credentials(memory_pipeline: Pipeline) -> None:
    request = ga4()
    request["headers"] = {"Origin": "https://shop.example"}
    headers = memory_pipeline.ingest(request).headers
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Vary"] == "Origin"


def test_cors_without_origin_is_a_star(memory_pipeline: Pipeline) -> None:
    headers = memory_pipeline.ingest(ga4()).headers
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Methods"] == "POST, GET, OPTIONS"


def test_preflight_is_204_and_echoes_requested_headers(memory_pipeline: Pipeline) -> None:
    response = memory_pipeline.ingest(
        {
            "method": "OPTIONS",
            "path": "/g/collect",
            "headers": {"Access-Control-Request-Headers": "X-Custom", "Origin": "https://a"},
        }
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Headers"] == "X-Custom"
    assert memory_pipeline.receiver.stats.hits == 0


def test_healthz(memory_pipeline: Pipeline) -> None:
    response = memory_pipeline.ingest({"method": "GET", "path": "/healthz"})
    assert (response.status, response.body) == (200, b"OK")


class _OddHeaders(Mapping[Any, str]):
    """A mapping whose names are a list (unhashable), a number and two spellings."""

    _items: ClassVar[list[tuple[Any, str]]] = [
        (["x-list"], "1"),
        (7, "2"),
        ("user-agent", "UA"),
        ("USER-AGENT", "UA2"),
    ]

    def __getitem__(self, key: Any) -> str:
        raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        return iter(name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> Any:
        return list(self._items)


def test_header_names_are_canonical_whatever_their_type(memory_pipeline: Pipeline) -> None:
    request = Request.from_dict({**ga4(), "headers": _OddHeaders()}, T0)
    assert request.headers == {"['x-List']": "1", "7": "2", "User-Agent": "UA2"}
    assert memory_pipeline.ingest({**ga4(), "headers": _OddHeaders()}).status == 204


def test_canonical_header_dicts_are_copied_and_others_converted() -> None:
    """The request owns a copy of the headers (names from the cache the second
    time), and a value that is no string still becomes one."""
    headers: dict[str, Any] = {"User-Agent": "UA", "Accept": "*/*"}
    for _ in range(2):  # the second time every name comes from the cache
        request = Request.from_dict({**ga4(), "headers": headers}, T0)
        assert request.headers == headers and request.headers is not headers
    request.headers["Accept"] = "changed"
    assert headers["Accept"] == "*/*"
    odd = Request.from_dict({**ga4(), "headers": {"User-Agent": 7, "Accept": b"x"}}, T0)
    assert odd.headers == {"User-Agent": "7", "Accept": "b'x'"}
    lower = Request.from_dict({**ga4(), "headers": {"user-agent": "UA"}}, T0)
    assert lower.headers == {"User-Agent": "UA"}
    assert Request.from_dict({**ga4(), "headers": {}}, T0).headers == {}
    sized = Request.from_dict({**ga4(), "headers": headers, "query": "", "ip": ""}, T0)
    assert sized.size == len("User-AgentUAAccept*/*") + len(ga4()["path"])


class _Text(str):
    """A str subclass: stored as a plain str, as any value that is not exactly one."""


_HEADER_NAMES = ["User-Agent", "user-agent", "ACCEPT", "Accept", "x-new-Header", "Sec-Ch-Ua"]
header_values = st.one_of(st.text(max_size=8), st.integers(), st.text(max_size=4).map(_Text))


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(_HEADER_NAMES), header_values, max_size=6))
def test_headers_and_size_equal_a_plain_canonicalisation(raw: dict[str, Any]) -> None:
    """Names are canonical and values plain text, whatever the names' spelling, the
    values' types, or what was seen before (the second time names come from a cache)."""
    want: dict[str, str] = {}
    size = 0
    for key, value in raw.items():
        name, text = canonical_header(key), str(value)
        want[name] = text
        size += len(name) + len(text)
    for _ in range(2):  # the second time every name is known
        request = Request.from_dict({**ga4(), "headers": raw, "query": "", "ip": ""}, T0)
        assert request.headers == want
        assert all(type(value) is str for value in request.headers.values())
        assert list(request.headers) == list(want)
        assert request.size == size + len(ga4()["path"])


_MOMENTS = st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2100, 1, 1))
_OFFSETS = st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=-7, minutes=-30))])


@given(_MOMENTS, _OFFSETS, st.sampled_from(["{}", "{}Z", "{}z", " {} "]))
def test_received_at_strings_give_their_instant(
    moment: dt.datetime, zone: dt.tzinfo | None, form: str
) -> None:
    """ISO-8601 text with an offset, a final ``Z`` or ``z``, none at all (UTC) or
    blanks around it is the instant it spells; other text is a ValueError."""
    if zone is None:  # naive text, or naive text marked Z: UTC
        text, instant = moment.isoformat(), moment.replace(tzinfo=dt.UTC).timestamp()
    else:  # the text carries its offset (no Z then)
        text, instant = (
            moment.replace(tzinfo=zone).isoformat(),
            moment.replace(tzinfo=zone).timestamp(),
        )
        form = form.rstrip("Zz")
    assert to_epoch(form.format(text)) == instant
    with pytest.raises(ValueError):
        to_epoch(text + "Q")


def test_ip_masking_levels() -> None:
    assert mask_ip("203.0.113.77", 1) == "203.0.113.0"
    assert mask_ip("203.0.113.77", 2) == "203.0.0.0"
    assert mask_ip("2001:db8:1234:5678::1", 1) == "2001:db8:1234::"
    assert mask_ip("not-an-ip", 3) == "not-an-ip"
    assert mask_ip("203.0.113.77", 0) == "203.0.113.77"


def test_masked_ip_reaches_the_row() -> None:
    pipeline = Pipeline.builder(ip_masking_level=1).clock(ManualClock(T0)).pings(False).build()
    pipeline.ingest({**ga4(), "ip": "203.0.113.9"})
    pipeline.flush()
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    assert table.column("ip_address").to_pylist() == ["203.0.113.0"]


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(["method", "path", "query", "headers", "body", "ip", "received_at", "id"]),
        st.one_of(
            st.none(),
            st.text(max_size=40),
            st.binary(max_size=40),
            st.integers(),
            st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
        ),
    )
)
def test_ingest_never_raises(request: dict[str, Any]) -> None:
    pipeline = Pipeline.builder().clock(ManualClock(T0)).build()
    response = pipeline.ingest(request)
    assert 200 <= response.status < 600


def test_ingest_of_a_non_mapping_is_a_400(memory_pipeline: Pipeline) -> None:
    assert memory_pipeline.ingest("GET /g/collect").status == 400  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("proxies", "peer", "headers", "client"),
    [
        ((), "10.0.0.1", {"X-Forwarded-For": "198.51.100.7"}, "10.0.0.1"),
        (
            ("10.0.0.0/8",),
            "10.0.0.1",
            {"X-Forwarded-For": " , 198.51.100.7, 10.0.0.2"},
            "198.51.100.7",
        ),
        (
            ("10.0.0.1",),
            "10.0.0.1",
            {"X-Real-IP": "192.0.2.5", "X-Forwarded-For": "198.51.100.7"},
            "192.0.2.5",
        ),
        (
            ("10.0.0.1",),
            "10.0.0.1",
            {"CF-Connecting-IP": "192.0.2.6", "True-Client-IP": "192.0.2.7"},
            "192.0.2.6",
        ),
        (("10.0.0.0/8",), "203.0.113.1", {"X-Real-IP": "192.0.2.5"}, "203.0.113.1"),
        (("0.0.0.0/0", "::/0"), "2001:db8::1", {"X-Client-IP": "192.0.2.8"}, "192.0.2.8"),
        (("10.0.0.0/8",), "10.0.0.1", {}, "10.0.0.1"),
    ],
)
def test_trusted_proxies(
    proxies: tuple[str, ...], peer: str, headers: dict[str, str], client: str
) -> None:
    pipeline = Pipeline.builder(trusted_proxies=proxies).clock(ManualClock(T0)).pings(False).build()
    pipeline.ingest({**ga4(), "ip": peer, "headers": headers})
    pipeline.flush()
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    assert table.column("ip_address").to_pylist() == [client]


def test_proxy_address_is_masked_after_resolving() -> None:
    pipeline = (
        Pipeline.builder(trusted_proxies=["10.0.0.0/8"], ip_masking_level=2).pings(False).build()
    )
    pipeline.ingest({**ga4(), "ip": "10.1.1.1", "headers": {"X-Real-IP": "192.0.2.77"}})
    pipeline.flush()
    assert pipeline.driver.table("events")["ip_address"].to_pylist() == ["192.0.0.0"]  # type: ignore[attr-defined]


def test_invalid_trusted_proxy_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not-a-cidr"):
        Pipeline.builder(trusted_proxies=["not-a-cidr"]).build()
