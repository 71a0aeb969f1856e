"""Ecommerce: pr1..prN items, the ecommerce_* columns and USD conversion (reference §4.4, §4.8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import d8a
from d8a.columns.currency import StaticRates, currency_rates, to_usd
from d8a.protocols.ga4_ecommerce import ITEM_TYPE, parse_item
from tests.conftest import T0, ga4

RATES = {"EUR": 1.1, "GBP": 1.25}


def row(en: str = "purchase", rates: Any = None, **params: str) -> dict[str, Any]:
    table = d8a.replay([ga4(en=en, **params)], currency_rates=rates)["events"]
    got: dict[str, Any] = table.to_pylist()[0]
    return got


def test_a_purchase_with_items() -> None:
    got = row(
        rates=RATES,
        cu="EUR",
        **{
            "pr1": "idSKU1~nmShoe~pr10.5~qt2~caShoes~c2Men~brAcme~k0size~v042",
            "pr2": "idSKU2~nmSock~pr1~qt3",
            "epn.shipping": "4.99",
            "epn.tax": "2",
            "ep.item_list_name": "Summer",
        },
    )
    shoe, sock = got["ecommerce_items"]
    assert (shoe["item_id"], shoe["item_name"], shoe["item_brand"]) == ("SKU1", "Shoe", "Acme")
    assert (shoe["item_category"], shoe["item_category2"]) == ("Shoes", "Men")
    assert (shoe["price"], shoe["quantity"], shoe["item_revenue"], shoe["item_refund"]) == (
        10.5,
        2.0,
        21.0,
        0.0,
    )
    assert shoe["price_in_usd"] == 11.55 and shoe["item_revenue_in_usd"] == 23.1
    assert shoe["item_list_name"] == sock["item_list_name"] == "Summer"  # event-level fallback
    assert got["ecommerce_purchase_revenue"] == 24.0
    assert got["ecommerce_purchase_revenue_in_usd"] == 26.4
    assert (
        got["ecommerce_shipping_value"] == 4.99 and got["ecommerce_shipping_value_in_usd"] == 5.49
    )
    assert got["ecommerce_tax_value"] == 2.0 and got["ecommerce_tax_value_in_usd"] == 2.2
    assert got["ecommerce_items_total_quantity"] == 5 and got["ecommerce_unique_items"] == 2
    assert got["ecommerce_refund_value"] == 0.0 and got["params_currency"] == "EUR"


def test_a_refund() -> None:
    got = row(en="refund", **{"pr1": "idA~pr5~qt2", "epn.shipping": "1", "ep.currency": "USD"})
    (item,) = got["ecommerce_items"]
    assert (item["item_refund"], item["item_revenue"]) == (10.0, 0.0)
    assert got["ecommerce_refund_value"] == 10.0 and got["ecommerce_refund_value_in_usd"] == 10.0
    assert got["ecommerce_purchase_revenue"] == 0.0 and got["ecommerce_shipping_value"] == 1.0


def test_events_without_items() -> None:
    got = row(en="page_view", **{"epn.shipping": "3"})
    assert got["ecommerce_items"] is None
    assert got["ecommerce_purchase_revenue"] == 0.0 and got["ecommerce_refund_value"] == 0.0
    assert got["ecommerce_shipping_value"] == 0.0  # only purchase and refund have shipping
    assert got["ecommerce_tax_value"] is None and got["ecommerce_tax_value_in_usd"] is None
    assert got["ecommerce_items_total_quantity"] == 0 and got["ecommerce_unique_items"] == 0
    assert got["ecommerce_purchase_revenue_in_usd"] is None  # no currency


def test_events_without_ecommerce_in_one_batch_convert_by_their_own_currency() -> None:
    """Events without ecommerce share their values by currency within a batch of
    columns; each row still gets its currency's (and only its) USD zero."""
    currencies = ["EUR", "XYZ", "", "USD", "EUR", "GBP"]
    requests = [
        ga4(cid=f"{n}.1", at=T0 + n, **({"cu": code} if code else {}))
        for n, code in enumerate(currencies)
    ]
    requests.append(ga4(cid="9.1", en="purchase", at=T0 + 9, cu="EUR", pr1="idA~pr2~qt1"))
    rows = d8a.replay(requests, currency_rates=RATES)["events"].to_pylist()
    got = [row["ecommerce_purchase_revenue_in_usd"] for row in rows]
    assert got == [0.0, None, None, 0.0, 0.0, 0.0, 2.2]
    assert [row["ecommerce_items"] for row in rows[:-1]] == [None] * 6
    assert rows[-1]["ecommerce_unique_items"] == 1 and rows[0]["ecommerce_unique_items"] == 0


def test_items_keep_their_pr_number_order_and_only_pr_digits_are_items() -> None:
    """On purpose, unlike the original (random order; any key starting with ``pr``)."""
    params = {f"pr{n}": f"id{n}" for n in (10, 2, 1, 33)}
    got = row(**params, prx="idX", pr="idY", **{"pr٣": "idZ", "promo": "idP"})
    assert [i["item_id"] for i in got["ecommerce_items"]] == ["1", "2", "10", "33"]


def test_items_without_id_and_name_are_dropped_and_names_count_as_unique() -> None:
    """On purpose: the original never counted a name-only item in unique items."""
    got = row(pr1="nmGift~pr3", pr2="pr4~qt1", pr3="idA", pr4="idA~qt2", pr5="nmGift")
    assert [i["item_name"] for i in got["ecommerce_items"]] == ["Gift", None, None, "Gift"]
    assert got["ecommerce_unique_items"] == 2  # "A" and "Gift"
    assert got["ecommerce_items_total_quantity"] == 2


def test_price_and_quantity_default_to_zero_and_fallbacks_fill_items() -> None:
    got = row(
        pr1="idA~prabc~lp3~ds0.5~pifromitem",
        **{"ep.promotion_id": "P", "ep.promotion_name": "Sale", "ep.creative_slot": "top"},
    )
    (item,) = got["ecommerce_items"]
    assert (item["price"], item["quantity"], item["item_revenue"]) == (0.0, 0.0, 0.0)
    assert (item["index"], item["discount"]) == (3.0, 0.5)
    assert (item["promotion_id"], item["promotion_name"], item["creative_slot"]) == (
        "fromitem",
        "Sale",
        "top",
    )


def test_currency_comes_from_cu_and_from_ep_currency() -> None:
    """On purpose: the original read only ``ep.currency``, NULL for gtag traffic."""
    assert row(rates=RATES, cu="GBP", pr1="idA~pr2~qt1")["ecommerce_purchase_revenue_in_usd"] == 2.5
    got = row(rates=RATES, cu="GBP", pr1="idA~pr2~qt1", **{"ep.currency": "EUR"})
    assert got["params_currency"] == "EUR" and got["ecommerce_purchase_revenue_in_usd"] == 2.2


def test_unknown_currency_is_null_and_usd_needs_no_rates() -> None:
    assert (
        row(rates=RATES, cu="XYZ", pr1="idA~pr2~qt1")["ecommerce_purchase_revenue_in_usd"] is None
    )
    assert row(cu="EUR", pr1="idA~pr2~qt1")["ecommerce_purchase_revenue_in_usd"] is None
    assert row(cu="usd", pr1="idA~pr2~qt1")["ecommerce_purchase_revenue_in_usd"] == 2.0


def test_rates_from_a_json_file_and_from_an_object(tmp_path: Path) -> None:
    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"eur": 2}))
    assert (
        row(rates=str(path), cu="EUR", pr1="idA~pr2~qt1")["ecommerce_purchase_revenue_in_usd"] == 4
    )

    class Daily:
        def rate(self, currency: str) -> float | None:
            return 3.0 if currency == "JPY" else None

    got = row(rates=Daily(), cu="jpy", pr1="idA~pr2~qt1")
    assert got["ecommerce_purchase_revenue_in_usd"] == 6.0


def test_bankers_rounding_on_the_cent() -> None:
    rates = StaticRates({"EUR": 1.0, "HALF": 0.5})
    assert to_usd(0.125, "EUR", rates) == 0.12 and to_usd(0.375, "EUR", rates) == 0.38
    assert to_usd(0.05, "HALF", rates) == 0.02  # 2.5 cents: half to even
    assert to_usd(None, "EUR", rates) is None and to_usd(1.0, None, rates) is None
    assert to_usd(1.0, "EUR", None) is None and to_usd(1.234, "USD", None) == 1.234


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"EUR": -1}, "positive number"),
        ({"EUR": True}, "positive number"),
        ({"": 1.0}, "not a currency code"),
        ("/no/such/rates.json", "currency_rates file"),
        (42, "must be a mapping"),
    ],
)
def test_bad_currency_rates_raise(value: object, message: str) -> None:
    with pytest.raises(d8a.ConfigurationError, match=message):
        d8a.replay([], currency_rates=value)


def test_the_setting_reads_as_a_rates_object() -> None:
    rates = currency_rates({"eur": 1.5})
    assert rates is not None and rates.rate("EUR") == 1.5 and rates.rate("GBP") is None


_VALUE = st.text(st.characters(blacklist_characters="~", blacklist_categories=("Cs",)), min_size=1)
_FIELDS = {"id": "item_id", "nm": "item_name", "br": "item_brand", "va": "item_variant"}


@given(st.dictionaries(st.sampled_from(sorted(_FIELDS)), _VALUE, min_size=1))
def test_parse_item_reads_every_token(tokens: dict[str, str]) -> None:
    item = parse_item("~".join(f"{key}{value}" for key, value in tokens.items()))
    assert item is not None or not ({"id", "nm"} & set(tokens))
    if item is not None:
        assert set(item) == set(ITEM_TYPE.names)
        assert {_FIELDS[key]: item[_FIELDS[key]] for key in tokens} == {
            _FIELDS[key]: value for key, value in tokens.items()
        }


@given(st.text())
def test_parse_item_never_raises(text: str) -> None:
    item = parse_item(text)
    assert item is None or (item["price"] is not None and item["quantity"] is not None)
