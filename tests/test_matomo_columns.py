"""Every Matomo event column of reference §3.3/§4.7 in the §4.10 order, with its casts."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlencode

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import d8a
from d8a.columns.catalogue import describe
from d8a.config import Settings
from d8a.errors import BrokenEventError
from d8a.protocols import MatomoProtocol
from d8a.protocols.matomo_columns import custom_dimensions, custom_variables, ignore_referrer
from d8a.protocols.matomo_ecommerce import ITEM_TYPE, go_float, parse_items, product_categories
from tests.conftest import T0

MATOMO_EVENT_COLUMNS = """
    id name property_id property_name date_utc timestamp_utc client_id user_id ip_address
    page_location page_hostname page_path page_title page_referrer platform utm_campaign
    utm_source utm_medium utm_content utm_term utm_id utm_source_platform utm_creative_format
    utm_marketing_tactic click_id_gclid click_id_dclid click_id_gbraid click_id_srsltid
    click_id_wbraid click_id_fbclid click_id_msclkid geo_city geo_region geo_metro geo_country
    geo_continent geo_sub_continent device_category device_language device_screen_resolution
    device_mobile_brand_name device_mobile_model_name device_operating_system
    device_operating_system_version device_web_browser device_web_browser_version
    tracking_protocol ignore_referrer params_site_id params_page_view_id params_goal_id
    params_category params_action params_link_url params_download_url params_search_term
    params_value params_media_asset_id params_media_type params_content_interaction
    params_content_name params_content_piece params_content_target params_product_price
    params_product_sku params_product_name params_product_category_1 params_product_category_2
    params_product_category_3 params_product_category_4 params_product_category_5
    params_search_keyword params_search_category params_search_count custom_variables
    custom_dimensions ecommerce_purchase_revenue ecommerce_shipping_value
    ecommerce_subtotal_value ecommerce_tax_value ecommerce_discount_value ecommerce_order_id
    ecommerce_items ecommerce_items_total_quantity
""".split()  # noqa: SIM905 (the reference's list, pasted as words)
"""Reference §4.10, Matomo: the 84 event columns in table order."""
SESSION_SCOPED = """
    session_hit_number session_page_number time_on_page session_is_entry_page
    session_is_exit_page page_is_bounce previous_page_location next_page_location
    previous_page_title next_page_title traffic_filter_name
""".split()  # noqa: SIM905
CORE_IDS = set(MATOMO_EVENT_COLUMNS[: MATOMO_EVENT_COLUMNS.index("params_site_id")])


def names() -> list[str]:
    return [c.name for c in MatomoProtocol().event_columns(Settings())]


def row(**params: str) -> dict[str, Any]:
    """The one row of a replayed Matomo hit with these params."""
    query = urlencode({"idsite": "1", "rec": "1", "_id": "v1", **params})
    request = {
        "method": "GET",
        "path": "/matomo.php",
        "query": query,
        "headers": {"User-Agent": "test-agent", "Accept-Language": "de-DE"},
        "ip": "2001:db8::7",
        "received_at": T0,
    }
    rows: list[dict[str, Any]] = d8a.replay([request], protocol="matomo")["events"].to_pylist()
    assert len(rows) == 1
    return rows[0]


def test_event_columns_are_the_references_in_its_order_plus_params_name() -> None:
    assert len(MATOMO_EVENT_COLUMNS) == 84
    got = names()
    assert got.index("params_name") == got.index("params_action") + 1
    assert [n for n in got if n != "params_name"] == MATOMO_EVENT_COLUMNS
    schema = d8a.replay([{"method": "GET", "path": "/matomo.php", "query": "idsite=1"}])[
        "events"
    ].schema
    assert schema.names[: len(got)] == got
    assert schema.names[len(got) : len(got) + 11] == SESSION_SCOPED


def test_interface_ids_types_and_nullability() -> None:
    columns = {c.name: c for c in MatomoProtocol().event_columns(Settings())}
    for name, column in columns.items():
        namespace = (
            "core.d8a.tech/events" if name in CORE_IDS else "matomo.protocols.d8a.tech/event"
        )
        assert column.interface.id == f"{namespace}/{name}"
        if name not in CORE_IDS:
            assert column.interface.field.nullable and column.interface.description
    types = {name: column.interface.field.type for name, column in columns.items()}
    assert types["params_value"] == types["params_product_price"] == pa.float64()
    assert types["params_search_count"] == types["ecommerce_items_total_quantity"] == pa.int64()
    assert types["ecommerce_purchase_revenue"] == types["ecommerce_discount_value"] == pa.float64()
    assert types["ignore_referrer"] == pa.bool_()
    assert types["custom_variables"] == pa.list_(
        pa.struct([pa.field("name", pa.string()), pa.field("value", pa.string())])
    )
    assert types["custom_dimensions"] == pa.list_(
        pa.struct([pa.field("slot", pa.int64()), pa.field("value", pa.string())])
    )
    assert types["ecommerce_items"] == pa.list_(ITEM_TYPE)
    assert ITEM_TYPE.names == [
        "sku", "name", "category_1", "category_2", "category_3", "category_4", "category_5",
        "price", "quantity",
    ]  # fmt: skip
    assert columns["params_name"].interface.id == "matomo.protocols.d8a.tech/event/params_name"


def test_catalogue_lists_matomo() -> None:
    table = describe("matomo")
    event_rows = [
        n
        for n, s in zip(table["name"].to_pylist(), table["scope"].to_pylist(), strict=True)
        if s == "event"
    ]
    assert event_rows == names()


def test_page_referrer_title_language_resolution_and_core() -> None:
    got = row(
        url="https://shop.example/p?utm_source=news&gclid=g1&x=1",
        urlref="https://ref.example/",
        action_name="Shoes / Red",
        lang="pl-PL",
        res="1280x720",
        uid="user-1",
        pv_id="pv1",
    )
    assert got["page_location"] == "https://shop.example/p?x=1"
    assert (got["page_hostname"], got["page_path"]) == ("shop.example", "/p")
    assert got["utm_source"] == "news" and got["click_id_gclid"] == "g1"
    assert got["page_referrer"] == "https://ref.example/"
    assert got["page_title"] == "Shoes / Red"
    assert (got["device_language"], got["device_screen_resolution"]) == ("pl-PL", "1280x720")
    assert (got["client_id"], got["user_id"], got["name"]) == ("v1", "user-1", "page_view")
    assert got["tracking_protocol"] == "matomo" and got["platform"] == "web"
    assert got["params_site_id"] == "1" and got["params_page_view_id"] == "pv1"
    assert got["ignore_referrer"] is None
    fallback = row()
    assert fallback["device_language"] == "de-DE"  # the Accept-Language header
    assert (fallback["page_location"], fallback["page_title"], fallback["page_referrer"]) == (
        "",
        "",
        "",
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, None),
        ({"ignore_referrer": "1"}, True),
        ({"ignore_referer": "1"}, True),
        ({"ignore_referrer": "0", "ignore_referer": "1"}, True),
        ({"ignore_referrer": "true"}, False),
        ({"ignore_referer": ""}, False),
    ],
)
def test_ignore_referrer(params: dict[str, str], expected: bool | None) -> None:
    assert ignore_referrer(params) is expected


def test_event_goal_outlink_download_search_content_and_media_columns() -> None:
    event = row(e_c="Video", e_a="Play", e_n="Intro", e_v="1.5")
    assert (event["name"], event["params_category"], event["params_action"]) == (
        "custom_event",
        "Video",
        "Play",
    )
    assert event["params_name"] == "Intro" and event["params_value"] == 1.5
    assert row(idgoal="4", revenue="9.5")["params_goal_id"] == "4"
    assert row(link="https://out.example/")["params_link_url"] == "https://out.example/"
    assert (
        row(download="https://a.example/f.pdf")["params_download_url"] == "https://a.example/f.pdf"
    )
    search = row(search="red shoes", search_cat="Shoes", search_count="12")
    assert search["name"] == "site_search"
    assert search["params_search_term"] == search["params_search_keyword"] == "red shoes"
    assert (search["params_search_category"], search["params_search_count"]) == ("Shoes", 12)
    empty = row(search="")
    assert empty["name"] == "site_search" and empty["params_search_term"] is None
    content = row(c_i="click", c_n="Banner", c_p="/img.png", c_t="https://t.example/")
    assert content["name"] == "content_interaction"
    assert [content[f"params_content_{k}"] for k in ("interaction", "name", "piece", "target")] == [
        "click",
        "Banner",
        "/img.png",
        "https://t.example/",
    ]
    media = row(ma_id="m1", ma_mt="video")
    assert media["name"] == "video_play"
    assert (media["params_media_asset_id"], media["params_media_type"]) == ("m1", "video")


def test_casts_turn_bad_numbers_into_null() -> None:
    got = row(e_v="abc", search_count="1.5", revenue="", _pkp="NaN", e_c="")
    assert got["params_value"] is None and got["params_search_count"] is None
    assert got["ecommerce_purchase_revenue"] is None and got["params_product_price"] is None
    assert got["params_category"] is None


def test_ecommerce_order_columns() -> None:
    items = [["sku1", "Shoe", ["A", "B"], 10.5, 2], ["sku2", "Sock", "C", 2, 3.7]]
    got = row(
        idgoal="0", ec_id="o-1", revenue="30.5", ec_st="28", ec_sh="2.5", ec_tx="1", ec_dt="0.5",
        ec_items=json.dumps(items),
    )  # fmt: skip
    assert got["name"] == "ecommerce_order" and got["ecommerce_order_id"] == "o-1"
    assert [got[f"ecommerce_{k}"] for k in ("purchase_revenue", "subtotal_value")] == [30.5, 28.0]
    assert [got[f"ecommerce_{k}_value"] for k in ("shipping", "tax", "discount")] == [2.5, 1.0, 0.5]
    assert got["ecommerce_items"] == [
        {"sku": "sku1", "name": "Shoe", "category_1": "A", "category_2": "B", "category_3": None,
         "category_4": None, "category_5": None, "price": 10.5, "quantity": 2.0},
        {"sku": "sku2", "name": "Sock", "category_1": "C", "category_2": None, "category_3": None,
         "category_4": None, "category_5": None, "price": 2.0, "quantity": 3.7},
    ]  # fmt: skip
    assert got["ecommerce_items_total_quantity"] == 5
    plain = row()
    assert plain["ecommerce_items"] is None and plain["ecommerce_items_total_quantity"] == 0


def test_item_defaults_as_the_original() -> None:
    items = parse_items(
        json.dumps(
            [
                [123, None, None, "9.99", "2"],  # numeric strings: price 0, quantity 1
                [1.5e6, 7, ["x", 5, "", "y", "z", "w"]],
                [True, "n"],
                ["", "no sku"],
                [None, "no sku"],
                [["a"], "list sku"],
                [],
                "not an item",
                {"sku": "object"},
            ]
        )
    )
    assert items == [
        {"sku": "123", "name": "", "category_1": "", "category_2": None, "category_3": None,
         "category_4": None, "category_5": None, "price": 0.0, "quantity": 1.0},
        {"sku": "1.5e+06", "name": "", "category_1": "x", "category_2": None, "category_3": None,
         "category_4": "y", "category_5": "z", "price": 0.0, "quantity": 1.0},
        {"sku": "true", "name": "n", "category_1": "", "category_2": None, "category_3": None,
         "category_4": None, "category_5": None, "price": 0.0, "quantity": 1.0},
    ]  # fmt: skip
    assert parse_items("") is None and parse_items(None) is None
    assert parse_items("[]") == []


@pytest.mark.parametrize(
    "raw", ["[[", '{"a": 1}', '"text"', "[[1, 2, 3, NaN]]", "[[1e999]]", "[[1" + "0" * 400 + "]]"]
)
def test_ec_items_that_is_not_a_json_array_breaks_the_event(raw: str) -> None:
    with pytest.raises(BrokenEventError, match="ec_items"):
        parse_items(raw)


def test_a_broken_event_is_left_out_and_the_others_are_written() -> None:
    requests = [
        {"method": "GET", "path": "/matomo.php", "query": q, "received_at": T0 + n}
        for n, q in enumerate(
            [
                "idsite=1&_id=a&action_name=one",
                "idsite=1&_id=a&idgoal=0&ec_id=o&ec_items=%5B",
                "idsite=1&_id=a&action_name=three",
            ]
        )
    ]
    rows = d8a.replay(requests)["events"].to_pylist()
    assert [r["page_title"] for r in rows] == ["one", "three"]


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0"), (-0.0, "-0"), (1.0, "1"), (123.0, "123"), (1.5, "1.5"), (-2.25, "-2.25"),
        (100000.0, "100000"), (999999.0, "999999"), (1e6, "1e+06"), (1234567.0, "1.234567e+06"),
        (1e21, "1e+21"), (0.0001, "0.0001"), (0.00001, "1e-05"), (1.5e-7, "1.5e-07"),
        (0.1, "0.1"), (1e100, "1e+100"), (123456.5, "123456.5"),
    ],
)  # fmt: skip
def test_go_float_is_gos_percent_g(number: float, text: str) -> None:
    assert go_float(number) == text


@settings(deadline=None)  # no flaky deadline on a loaded machine
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_round_trips(number: float) -> None:
    assert float(go_float(number)) == number


def test_product_view_columns() -> None:
    got = row(_pks="SKU-1", _pkn="Red shoe", _pkp="49.90", _pkc='["Shoes","Red","","Sale"]')
    assert (got["params_product_sku"], got["params_product_name"]) == ("SKU-1", "Red shoe")
    assert got["params_product_price"] == 49.9
    assert [got[f"params_product_category_{n}"] for n in range(1, 6)] == [
        "Shoes",
        "Red",
        None,
        "Sale",
        None,
    ]
    assert product_categories("Books") == ["Books", None, None, None, None]
    assert product_categories('["a", 1]') == ['["a", 1]', None, None, None, None]
    assert product_categories("[]") == [None] * 5
    assert product_categories(None) == [None] * 5
    assert product_categories(json.dumps(list("abcdefg"))) == list("abcde")


def test_custom_variables_and_dimensions() -> None:
    cvar = {
        "10": ["ten", "x"],
        "2": ["two", "y"],
        "a": ["letter", "z"],
        "3": ["bad"],
        "4": ["n", 5],
    }
    got = row(cvar=json.dumps(cvar), dimension3="c", dimension1="a", dimension2="", dimensionx="no")
    assert got["custom_variables"] == [
        {"name": "two", "value": "y"},
        {"name": "ten", "value": "x"},
        {"name": "letter", "value": "z"},
    ]
    assert got["custom_dimensions"] == [{"slot": 1, "value": "a"}, {"slot": 3, "value": "c"}]
    plain = row()
    assert plain["custom_variables"] is None and plain["custom_dimensions"] is None
    for bad in ("", "{", "[]", '{"1": "ab"}', '{"1": ["a", "b", "c"]}'):
        assert custom_variables(bad) is None
    assert custom_dimensions({"dimension": "x", "dimension99999999999999999999": "y"}) is None


@settings(deadline=None)  # no flaky deadline on a loaded machine
@given(st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=10))
def test_column_helpers_accept_any_params(params: dict[str, str]) -> None:
    dimensions = custom_dimensions(params) or []
    assert [d["slot"] for d in dimensions] == sorted(d["slot"] for d in dimensions)
    assert all(d["value"] for d in dimensions)
    assert ignore_referrer(params) in (None, True, False)
    for value in params.values():
        result = custom_variables(value)
        assert result is None or all(set(v) == {"name", "value"} for v in result)
        categories = product_categories(value)
        assert len(categories) == 5


@settings(deadline=None)  # no flaky deadline on a loaded machine
@given(st.text(max_size=60))
def test_parse_items_returns_items_or_breaks_the_event(raw: str) -> None:
    try:
        items = parse_items(raw)
    except BrokenEventError:
        return
    for item in items or []:
        assert item["sku"] and math.isfinite(item["price"]) and item["category_1"] is not None
