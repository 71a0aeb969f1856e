"""GA4 Measurement Protocol at POST /mp/collect: JSON events become gtag-like hits."""

from __future__ import annotations

import json
from typing import Any

import pytest

import d8a
from d8a.clock import ManualClock
from d8a.pipeline import Pipeline
from tests.conftest import T0, ga4, ip_of


def mp(
    body: Any, query: str = "measurement_id=G-TEST&api_secret=s3cret", **kw: Any
) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/mp/collect",
        "query": query,
        "headers": {"User-Agent": "test-agent", "Accept-Language": "en"},
        "body": body if isinstance(body, bytes | str) else json.dumps(body),
        "ip": ip_of("1.1"),
        "received_at": T0,
        **kw,
    }


PURCHASE = {
    "client_id": "1.1",
    "user_id": "u1",
    "user_properties": {"tier": {"value": "gold"}},
    "events": [
        {
            "name": "purchase",
            "params": {
                "page_location": "https://shop.example/thanks",
                "currency": "EUR",
                "transaction_id": "T1",
                "value": 21,
                "shipping": 4.5,
                "items": [{"item_id": "SKU1", "item_name": "Shoe", "price": 10.5, "quantity": 2}],
            },
        }
    ],
}
SAME = (
    "name", "client_id", "user_id", "measurement_id", "page_location", "params_currency",
    "params_transaction_id", "params_value", "params_shipping", "ecommerce_items",
    "ecommerce_purchase_revenue", "ecommerce_purchase_revenue_in_usd", "params",
    "tracking_protocol",
)  # fmt: skip


def test_an_event_gets_the_columns_of_its_gtag_equivalent() -> None:
    gtag = ga4(
        en="purchase",
        dl="https://shop.example/thanks",
        uid="u1",
        cu="EUR",
        pr1="idSKU1~nmShoe~pr10.5~qt2",
        **{"ep.transaction_id": "T1", "epn.value": "21", "epn.shipping": "4.5"},
    )
    rates = {"EUR": 1.1}
    want = d8a.replay([gtag], currency_rates=rates)["events"].to_pylist()[0]
    got = d8a.replay([mp(PURCHASE)], currency_rates=rates)["events"].to_pylist()[0]
    assert {k: got[k] for k in SAME} == {k: want[k] for k in SAME}
    assert got["ecommerce_purchase_revenue_in_usd"] == 23.1


def test_several_events_and_timestamp_micros() -> None:
    body = {
        "client_id": "1.1",
        "timestamp_micros": int((T0 - 60) * 1_000_000),
        "events": [
            {"name": "page_view", "params": {"session_id": "123", "engagement_time_msec": 5}},
            {"name": "scroll", "timestamp_micros": int((T0 - 30) * 1e6), "params": {"ok": True}},
        ],
    }
    table = d8a.replay([mp(body, id="r")])["events"]
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == ["r:0", "r:1"]
    assert [r["timestamp_utc"].timestamp() for r in rows] == [T0 - 60, T0 - 30]
    assert rows[0]["client_session_id"] == "123" and rows[0]["params_engagement_time_ms"] == 5
    assert rows[1]["params"] == [{"name": "ok", "value_string": "1", "value_number": None}]


@pytest.mark.parametrize(
    ("body", "query", "reason"),
    [
        (PURCHASE, "api_secret=x", "measurement_id is required"),
        (PURCHASE, "measurement_id=G-1", "api_secret is required"),
        (b"{not json", None, "Unable to parse"),
        ({"events": [{"name": "x"}]}, None, "client_id is required"),
        ({"client_id": "1", "events": []}, None, "events must be a non-empty list"),
        ({"client_id": "1", "events": [{"name": "x"}] * 26}, None, "at most 25 events"),
        ({"client_id": "1", "events": [{"name": "1bad"}]}, None, "is invalid"),
        ({"client_id": "1", "events": [{"name": "ga_x"}]}, None, "reserved prefix"),
        ({"client_id": "1", "events": [{"name": "x", "params": {"a": [1]}}]}, None, "string or"),
        ({"client_id": "1", "timestamp_micros": 5, "events": [{"name": "x"}]}, None, "72 hours"),
        (
            {"client_id": "1", "events": [{"name": "x", "params": {"items": [{"price": 1}]}}]},
            None,
            "item_id or item_name",
        ),
    ],
)
def test_validation_errors_answer_400_with_the_reason(
    body: Any, query: str | None, reason: str
) -> None:
    pipeline = Pipeline.builder().clock(ManualClock(T0)).pings(False).build()
    request = mp(body) if query is None else mp(body, query=query)
    response = pipeline.ingest(request)
    assert response.status == 400 and reason in response.body.decode()


def test_only_post_and_only_the_ga4_protocol() -> None:
    pipeline = Pipeline.builder().clock(ManualClock(T0)).pings(False).build()
    assert pipeline.ingest(mp(PURCHASE, method="GET")).status == 405
    assert pipeline.ingest(mp(PURCHASE)).status == 204
    d8a_only = Pipeline.builder().protocols("d8a").clock(ManualClock(T0)).build()
    assert d8a_only.ingest(mp(PURCHASE)).status == 404
