"""Every GA4 event column of reference §4.4 in the §4.10 order, with its casts."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import d8a
from d8a.columns.base import Event
from d8a.columns.casts import MAX_STRING_BYTES
from d8a.config import Settings
from d8a.hits import Hit
from d8a.protocols import D8AProtocol, GA4Protocol
from d8a.protocols.ga4_params import FLAT_PARAMS, EventParams, FlatParam
from d8a.protocols.ga4_sessions import COUNTED_COLUMNS
from tests.conftest import T0, ga4

GA4_EVENT_COLUMNS = """
    id name property_id property_name date_utc timestamp_utc client_id user_id ip_address
    page_location page_hostname page_path page_title page_referrer platform utm_campaign
    utm_source utm_medium utm_content utm_term utm_id utm_source_platform utm_creative_format
    utm_marketing_tactic click_id_gclid click_id_dclid click_id_gbraid click_id_srsltid
    click_id_wbraid click_id_fbclid click_id_msclkid geo_city geo_region geo_metro geo_country
    geo_continent geo_sub_continent device_category device_language device_screen_resolution
    device_mobile_brand_name device_mobile_model_name device_operating_system
    device_operating_system_version device_web_browser device_web_browser_version
    tracking_protocol ignore_referrer measurement_id params_ignore_referrer
    params_engagement_time_ms ecommerce_purchase_revenue ecommerce_purchase_revenue_in_usd
    ecommerce_refund_value ecommerce_refund_value_in_usd ecommerce_shipping_value
    ecommerce_shipping_value_in_usd ecommerce_tax_value ecommerce_tax_value_in_usd
    ecommerce_items_total_quantity ecommerce_unique_items ecommerce_items client_session_id
    client_session_number gtm_debug page_load_hash params params_aclid privacy_ads_storage
    privacy_analytics_storage params_anid params_achievement_id params_ad_event_id
    params_ad_unit_code params_app_version params_campaign params_campaign_content
    params_campaign_id params_campaign_medium params_campaign_source params_campaign_term
    params_cancellation_reason params_character params_content_description params_content_group
    params_content_id params_content_type params_coupon params_creative_name
    params_creative_slot params_currency params_dclid params_deferred_analytics_collection
    params_disqualified_lead_reason params_exposure_time params_fatal params_file_extension
    params_file_name params_firebase_error params_firebase_error_value
    params_firebase_previous_class params_firebase_previous_id params_firebase_previous_screen
    params_firebase_screen params_firebase_screen_class params_firebase_screen_id
    params_form_destination params_form_id params_form_name params_form_submit_text
    params_free_trial params_ga_session_id params_ga_session_number params_gclid
    params_group_id params_introductory_price params_item_list_id params_item_list_name
    params_item_name params_label params_language params_lead_source params_lead_status
    params_level params_level_name params_link_classes params_link_domain params_link_id
    params_link_text params_link_url params_message_device_time params_message_id
    params_message_name params_message_time params_message_type params_method params_outbound
    params_payment_type params_percent_scrolled params_previous_app_version
    params_previous_first_open_count params_previous_gmp_app_id params_previous_os_version
    params_price params_product_id params_promotion_id params_promotion_name params_quantity
    params_renewal_count params_reset_analytics_cause params_reward_type params_reward_value
    params_score params_screen_resolution params_search_term params_shipping
    params_shipping_tier params_srsltid params_subscription params_success params_system_app
    params_system_app_update params_tax params_topic params_transaction_id
    params_unconvert_lead_reason params_updated_with_analytics params_value
    params_video_current_time params_video_duration params_video_percent params_video_provider
    params_video_title params_video_url params_virtual_currency_name params_visible
""".split()  # noqa: SIM905 (the reference's list, pasted as words)
"""Reference §4.10, GA4 / d8a: the 176 event columns in table order."""


def row(**params: str) -> dict[str, Any]:
    """The one row of a replayed page_view with these params."""
    rows: list[dict[str, Any]] = d8a.replay([ga4(**params)])["events"].to_pylist()
    return rows[0]


def test_event_columns_are_the_references_in_its_order() -> None:
    schema = d8a.replay([ga4()])["events"].schema
    assert schema.names[: len(GA4_EVENT_COLUMNS)] == GA4_EVENT_COLUMNS
    assert len(GA4_EVENT_COLUMNS) == 176
    assert [f.name for f in GA4Protocol().event_columns(Settings())] == GA4_EVENT_COLUMNS


def test_types_and_interface_ids() -> None:
    columns = {c.name: c for c in GA4Protocol().event_columns(Settings())}
    assert columns["params_level"].interface.field.type == pa.int64()
    assert columns["params_value"].interface.field.type == pa.float64()
    assert columns["params_visible"].interface.field.type == pa.bool_()
    assert columns["page_load_hash"].interface.field.type == pa.timestamp("s", tz="UTC")
    assert columns["params_link_url"].interface.id == "ga4.protocols.d8a.tech/event/params_link_url"
    assert columns["params_gclid"].interface.id == "ga4.protocols.d8a.tech/events/params_gclid"
    d8a_ids = {c.interface.id for c in D8AProtocol().event_columns(Settings())}
    assert "d8a.protocols.d8a.tech/event/params_value" in d8a_ids
    assert all(c.interface.field.nullable for n, c in columns.items() if n.startswith("params_"))


def test_special_columns() -> None:
    got = row(
        ir="1", _et="1234", sid="1790000000", sct="3", _p="1790000000999", gcs="G110",
        dl="https://shop.example/?gtm_debug=1790000000000",
    )  # fmt: skip
    assert got["measurement_id"] == "G-TEST"
    assert got["ignore_referrer"] is True and got["params_ignore_referrer"] is True
    assert got["params_engagement_time_ms"] == 1234
    assert got["client_session_id"] == "1790000000" and got["client_session_number"] == 3
    assert got["gtm_debug"] == "1790000000000"
    assert got["page_load_hash"].timestamp() == 1790000000
    assert (got["privacy_ads_storage"], got["privacy_analytics_storage"]) == (True, False)


@pytest.mark.parametrize(
    ("gcs", "ads", "analytics"),
    [("G100", False, False), ("G1-1", None, True), ("G1", None, None), ("", None, None)],
)
def test_consent_from_gcs(gcs: str, ads: bool | None, analytics: bool | None) -> None:
    got = row(gcs=gcs)
    assert (got["privacy_ads_storage"], got["privacy_analytics_storage"]) == (ads, analytics)


def test_gtm_debug_reads_the_original_url() -> None:
    table = d8a.replay(
        [ga4(dl="https://s.example/?gtm_debug=x&a=1")],
        excluded_url_params=["gtm_debug"],
    )["events"]
    assert table.column("page_location").to_pylist() == ["https://s.example/?a=1"]
    assert table.column("gtm_debug").to_pylist() == ["x"]


def test_absent_params_are_null_and_params_is_empty() -> None:
    got = row()
    assert got["params"] == []
    assert all(got[spec.column] is None for spec in FLAT_PARAMS)
    assert got["client_session_number"] is None and got["page_load_hash"] is None


def test_string_int_float_bool_casts() -> None:
    long = "é" * MAX_STRING_BYTES
    got = row(
        **{
            "ep.link_url": "", "ep.link_text": long, "ep.level": "12.0", "ep.exposure_time": "7",
            "epn.value": "abc", "epn.price": "9.5", "ep.visible": "Yes", "ep.fatal": "maybe",
        }
    )  # fmt: skip
    assert got["params_link_url"] is None
    assert got["params_link_text"] == "é" * (MAX_STRING_BYTES // 2)
    assert got["params_level"] is None  # base-10 int only, as the original
    assert got["params_exposure_time"] == 7
    assert got["params_value"] is None and got["params_price"] == 9.5
    assert got["params_visible"] is True and got["params_fatal"] is None


def test_a_known_param_reaches_its_column_with_either_prefix() -> None:
    """On purpose, unlike the original: ``epn.level`` fills ``params_level`` too."""
    got = row(
        **{
            "epn.level": "12", "epn.video_percent": "25", "ep.video_current_time": "31",
            "ep.percent_scrolled": "90", "epn.link_url": "42",
        }
    )  # fmt: skip
    assert got["params_level"] == 12 and got["params_video_percent"] == 25
    assert got["params_video_current_time"] == 31 and got["params_percent_scrolled"] == 90.0
    assert got["params_link_url"] == "42"


def test_the_documented_prefix_wins_when_both_are_sent() -> None:
    got = row(**{"ep.value": "1", "epn.value": "2", "ep.level": "3", "epn.level": "4"})
    assert got["params_value"] == 2.0 and got["params_level"] == 3


def test_params_list_sorted_with_numbers_only_for_numeric_epn() -> None:
    got = row(**{"ep.b": "x", "epn.a": "1.5", "epn.c": "nope", "ep.a": "y"})
    assert got["params"] == [
        {"name": "a", "value_string": None, "value_number": 1.5},
        {"name": "a", "value_string": "y", "value_number": None},
        {"name": "b", "value_string": "x", "value_number": None},
    ]


def test_params_remembers_few_key_sets_and_stays_right_past_its_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import d8a.protocols.ga4_params as ga4_params

    monkeypatch.setattr(ga4_params, "_PLANS_LIMIT", 2)
    (params_column,) = [c for c in GA4Protocol().event_columns(Settings()) if c.name == "params"]
    column = EventParams(params_column.interface)
    sent = [{"en": "x", f"ep.k{i}": str(i), "epn.value": f"{i}.5"} for i in range(5)]
    events = [
        Event(Hit("i", "c", "p", "x", None, "ga4", "1.1.1.1", "", "/", "GET", {}, p, 0.0))
        for p in sent + sent  # each key set twice: the second time from the cache
    ]
    column.write_all(events)
    for event, params in zip(events, sent + sent, strict=True):
        i = params["epn.value"][0]
        assert event.values["params"] == [
            {"name": f"k{i}", "value_string": i, "value_number": None},
            {"name": "value", "value_string": None, "value_number": float(f"{i}.5")},
        ]
        assert event.values["params_value"] == float(f"{i}.5")
    assert len(column._plans) <= 2


keys = st.sampled_from(
    [p.replace("epn.", "ep.") for p in (s.param for s in FLAT_PARAMS)]
    + [p.replace("ep.", "epn.") for p in (s.param for s in FLAT_PARAMS)]
    + ["ep.other", "epn.other", "cu", "en"]
)
texts = st.one_of(st.sampled_from(["", "1", "12.0", "-3", "true", "no", "x", "1e3"]), st.text())


@given(st.dictionaries(keys, texts, max_size=12))
def test_one_pass_equals_each_column_alone(params: dict[str, str]) -> None:
    """``params`` writes every flat column in one pass; each column alone agrees. The
    flat columns are sparse: the pass sets only the keys of the values found."""
    hit = Hit("i", "c", "p", "e", None, "ga4", "1.1.1.1", "", "/", "GET", {}, params, 0.0)
    fast = Event(hit)
    (params_column,) = [c for c in GA4Protocol().event_columns(Settings()) if c.name == "params"]
    EventParams(params_column.interface).write_all([fast])
    slow = Event(hit)
    for spec in FLAT_PARAMS:
        FlatParam(spec, "ns", "ns/event/params").write(slow)
        assert slow.values[spec.column] == fast.values.get(spec.column), spec.column
    FlatParam(FLAT_PARAMS[0], "ns", "p").write_all([slow := Event(hit)])  # no params column ran
    assert FLAT_PARAMS[0].column in slow.values


def test_flat_columns_are_sparse_in_rows_and_null_in_the_table() -> None:
    """A row holds the flat columns its event sent, not all 107; the others are NULL.
    The few the session counters read stay in every row."""
    for spec in FLAT_PARAMS:
        assert FlatParam(spec, "ns", "p").sparse == (spec.column not in COUNTED_COLUMNS)
    assert {"params_link_url", "params_search_term", "params_form_id"} == COUNTED_COLUMNS
    hit = Hit("i", "c", "p", "e", None, "ga4", "", "", "/", "GET", {}, {"epn.value": "3"}, 0.0)
    event = Event(hit)
    (params_column,) = [c for c in GA4Protocol().event_columns(Settings()) if c.name == "params"]
    EventParams(params_column.interface).write_all([event])
    flat = {spec.column for spec in FLAT_PARAMS}
    assert [name for name in event.values if name in flat] == ["params_value"]
    table = d8a.replay([ga4(**{"epn.value": "3"}), ga4(cid="2.2", en="scroll")])["events"]
    assert table.column("params_value").to_pylist() == [3.0, None]
    assert table.column("params_search_term").null_count == 2


def test_counters_count_an_unsent_value_once_per_event_name() -> None:
    """A search and a view_search_results without a term are two distinct searches
    (name, NULL), as when every flat column was in every row."""
    requests = [
        ga4(en="search", at=T0),
        ga4(en="view_search_results", at=T0 + 1),
        ga4(en="search", at=T0 + 2, **{"ep.search_term": "shoes"}),
        ga4(en="search", at=T0 + 3, **{"ep.search_term": "shoes"}),
        ga4(en="click", at=T0 + 4),
    ]
    row = d8a.replay(requests)["events"].to_pylist()[0]
    assert row["session_unique_site_searches"] == 3
    assert row["session_unique_outbound_clicks"] == 1
