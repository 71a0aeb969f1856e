"""The Arrow schema of the GA4-export-compatible layout (Google's export schema).

Only the records web properties fill are kept (no ``app_info``, ``publisher``
or the ``session_traffic_source_last_click`` record). Field names and types
follow Google's BigQuery export: ``STRING`` is ``string``, ``INTEGER`` is
``int64``, ``FLOAT`` is ``float64``, ``RECORD REPEATED`` is a list of structs.
"""

from __future__ import annotations

import pyarrow as pa

from d8a.columns.base import describe_field

__all__ = [
    "COLLECTED_TRAFFIC_SOURCE_FIELDS",
    "D8A_EXTRA_FIELDS",
    "GA4_EXPORT_SCHEMA",
    "ITEM_MONEY_FIELDS",
    "ITEM_NUMBER_FIELDS",
    "ITEM_STRING_FIELDS",
    "ITEM_TAIL_FIELDS",
    "PARAM_TYPE",
    "VALUE_TYPE",
]

_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()


def _struct(*names: str, type_: pa.DataType = _S) -> pa.StructType:
    return pa.struct([pa.field(name, type_) for name in names])


VALUE_TYPE = pa.struct(
    [("string_value", _S), ("int_value", _I), ("float_value", _F), ("double_value", _F)]
)
"""``event_params.value``: exactly one member is set."""

PARAM_TYPE = pa.struct([("key", _S), ("value", VALUE_TYPE)])
"""One ``event_params`` entry."""

_USER_VALUE = pa.struct([*VALUE_TYPE, pa.field("set_timestamp_micros", _I)])

_DEVICE = pa.struct(
    [
        *_struct(
            "category",
            "mobile_brand_name",
            "mobile_model_name",
            "mobile_marketing_name",
            "mobile_os_hardware_model",
            "operating_system",
            "operating_system_version",
            "vendor_id",
            "advertising_id",
            "language",
            "is_limited_ad_tracking",
        ),
        pa.field("time_zone_offset_seconds", _I),
        pa.field("browser", _S),
        pa.field("browser_version", _S),
        pa.field("web_info", _struct("browser", "browser_version", "hostname")),
    ]
)

_ECOMMERCE = pa.struct(
    [
        pa.field("total_item_quantity", _I),
        pa.field("purchase_revenue_in_usd", _F),
        pa.field("purchase_revenue", _F),
        pa.field("refund_value_in_usd", _F),
        pa.field("refund_value", _F),
        pa.field("shipping_value_in_usd", _F),
        pa.field("shipping_value", _F),
        pa.field("tax_value_in_usd", _F),
        pa.field("tax_value", _F),
        pa.field("unique_items", _I),
        pa.field("transaction_id", _S),
    ]
)

ITEM_STRING_FIELDS = (
    "item_id",
    "item_name",
    "item_brand",
    "item_variant",
    "item_category",
    "item_category2",
    "item_category3",
    "item_category4",
    "item_category5",
)
ITEM_NUMBER_FIELDS = ("price_in_usd", "price")
ITEM_MONEY_FIELDS = ("item_revenue_in_usd", "item_revenue", "item_refund_in_usd", "item_refund")
ITEM_TAIL_FIELDS = (
    "coupon",
    "affiliation",
    "location_id",
    "item_list_id",
    "item_list_name",
    "item_list_index",
    "promotion_id",
    "promotion_name",
    "creative_name",
    "creative_slot",
)
_ITEM = pa.struct(
    [
        *_struct(*ITEM_STRING_FIELDS),
        *_struct(*ITEM_NUMBER_FIELDS, type_=_F),
        pa.field("quantity", _I),
        *_struct(*ITEM_MONEY_FIELDS, type_=_F),
        *_struct(*ITEM_TAIL_FIELDS),
    ]
)

COLLECTED_TRAFFIC_SOURCE_FIELDS = {
    "manual_campaign_id": "utm_id",
    "manual_campaign_name": "utm_campaign",
    "manual_source": "utm_source",
    "manual_medium": "utm_medium",
    "manual_term": "utm_term",
    "manual_content": "utm_content",
    "manual_source_platform": "utm_source_platform",
    "manual_creative_format": "utm_creative_format",
    "manual_marketing_tactic": "utm_marketing_tactic",
    "gclid": "click_id_gclid",
    "dclid": "click_id_dclid",
    "srsltid": "click_id_srsltid",
}
"""``collected_traffic_source`` member -> the d8a event column it is read from."""


def _f(name: str, type_: pa.DataType, description: str) -> pa.Field:
    return describe_field(name, type_, description=description)


GA4_EXPORT_SCHEMA = pa.schema(
    [
        _f("event_date", _S, "Date of the event, YYYYMMDD, UTC."),
        _f("event_timestamp", _I, "Time of the event, microseconds since the epoch, UTC."),
        _f("event_name", _S, "Event name."),
        _f("event_params", pa.list_(PARAM_TYPE), "Event parameters, as Google exports them."),
        _f("event_previous_timestamp", _I, "Always NULL."),
        _f("event_value_in_usd", _F, "Always NULL."),
        _f("event_bundle_sequence_id", _I, "Always NULL."),
        _f("event_server_timestamp_offset", _I, "Always NULL."),
        _f("user_id", _S, "User id, when the site sets one."),
        _f("user_pseudo_id", _S, "Client id (the _ga cookie value)."),
        _f(
            "privacy_info",
            _struct("analytics_storage", "ads_storage", "uses_transient_token"),
            "Consent state, Yes/No, when the columns that read it are configured.",
        ),
        _f(
            "user_properties",
            pa.list_(pa.struct([("key", _S), ("value", _USER_VALUE)])),
            "Always empty.",
        ),
        _f("user_first_touch_timestamp", _I, "Always NULL."),
        _f("user_ltv", pa.struct([("revenue", _F), ("currency", _S)]), "Always NULL."),
        _f("device", _DEVICE, "Device, from the device_* columns."),
        _f(
            "geo",
            _struct("city", "country", "continent", "region", "sub_continent", "metro"),
            "Geography, from the geo_* columns.",
        ),
        _f("traffic_source", _struct("name", "medium", "source"), "The session's source."),
        _f("stream_id", _S, "The measurement id (tid) of the hit."),
        _f("platform", _S, "WEB."),
        _f("event_dimensions", _struct("hostname"), "Hostname of the page."),
        _f("ecommerce", _ECOMMERCE, "Ecommerce values, from the ecommerce_* columns."),
        _f("items", pa.list_(_ITEM), "Ecommerce items, from the ecommerce_items column."),
        _f(
            "collected_traffic_source",
            _struct(*COLLECTED_TRAFFIC_SOURCE_FIELDS),
            "Campaign parameters and click ids of the page URL.",
        ),
        _f("is_active_user", _B, "Whether the session was engaged, when known."),
    ]
)
"""Google's GA4 BigQuery export schema for web events, in its column order."""

D8A_EXTRA_FIELDS = (
    describe_field("id", _S, nullable=False, description="d8a: hit id, the idempotency key."),
    describe_field("session_id", _S, description="d8a: id of the session's first event."),
    describe_field("property_id", _S, description="d8a: property id.", low_cardinality=True),
    describe_field("date_utc", pa.date32(), description="d8a: UTC date, the partition key."),
)
"""Columns the layout adds after Google's: not part of the export schema."""
