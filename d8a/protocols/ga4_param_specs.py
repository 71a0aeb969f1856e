"""The flat GA4 ``params_*`` columns as data: one :class:`ParamSpec` per column.

In the table order of reference §4.10; the columns themselves are built in
:mod:`d8a.protocols.ga4_params`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pyarrow as pa

from d8a.columns.casts import to_bool, to_float, to_int, to_string

__all__ = ["FALLBACKS", "FLAT_PARAMS", "ParamSpec"]

_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()


class ParamSpec(NamedTuple):
    """One flat parameter column: its name, Arrow type, ``ep.``/``epn.`` key and cast."""

    column: str
    type: pa.DataType
    param: str
    """``ep.<name>`` or ``epn.<name>``: the prefix the reference documents."""
    cast: Callable[[str | None], Any]


def _p(column: str, type_: pa.DataType, param: str, cast: Callable[[str | None], Any]) -> ParamSpec:
    return ParamSpec(column, type_, param, cast)


# In the table order of reference §4.10 (privacy_* sit between aclid and anid there).
FLAT_PARAMS: tuple[ParamSpec, ...] = (
    _p("params_aclid", _S, "ep.aclid", to_string),
    _p("params_anid", _S, "ep.anid", to_string),
    _p("params_achievement_id", _S, "ep.achievement_id", to_string),
    _p("params_ad_event_id", _S, "ep.ad_event_id", to_string),
    _p("params_ad_unit_code", _S, "ep.ad_unit_code", to_string),
    _p("params_app_version", _S, "ep.app_version", to_string),
    _p("params_campaign", _S, "ep.campaign", to_string),
    _p("params_campaign_content", _S, "ep.campaign_content", to_string),
    _p("params_campaign_id", _S, "ep.campaign_id", to_string),
    _p("params_campaign_medium", _S, "ep.campaign_medium", to_string),
    _p("params_campaign_source", _S, "ep.campaign_source", to_string),
    _p("params_campaign_term", _S, "ep.campaign_term", to_string),
    _p("params_cancellation_reason", _S, "ep.cancellation_reason", to_string),
    _p("params_character", _S, "ep.character", to_string),
    _p("params_content_description", _S, "ep.content", to_string),
    _p("params_content_group", _S, "ep.content_group", to_string),
    _p("params_content_id", _S, "ep.content_id", to_string),
    _p("params_content_type", _S, "ep.content_type", to_string),
    _p("params_coupon", _S, "ep.coupon", to_string),
    _p("params_creative_name", _S, "ep.creative_name", to_string),
    _p("params_creative_slot", _S, "ep.creative_slot", to_string),
    _p("params_currency", _S, "ep.currency", to_string),
    _p("params_dclid", _S, "ep.dclid", to_string),
    _p("params_deferred_analytics_collection", _B, "ep.deferred_analytics_collection", to_bool),
    _p("params_disqualified_lead_reason", _S, "ep.disqualified_lead_reason", to_string),
    _p("params_exposure_time", _I, "ep.exposure_time", to_int),
    _p("params_fatal", _B, "ep.fatal", to_bool),
    _p("params_file_extension", _S, "ep.file_extension", to_string),
    _p("params_file_name", _S, "ep.file_name", to_string),
    _p("params_firebase_error", _S, "ep.firebase_error", to_string),
    _p("params_firebase_error_value", _S, "ep.firebase_error_value", to_string),
    _p("params_firebase_previous_class", _S, "ep.firebase_previous_class", to_string),
    _p("params_firebase_previous_id", _S, "ep.firebase_previous_id", to_string),
    _p("params_firebase_previous_screen", _S, "ep.firebase_previous_screen", to_string),
    _p("params_firebase_screen", _S, "ep.firebase_screen", to_string),
    _p("params_firebase_screen_class", _S, "ep.firebase_screen_class", to_string),
    _p("params_firebase_screen_id", _S, "ep.firebase_screen_id", to_string),
    _p("params_form_destination", _S, "ep.form_destination", to_string),
    _p("params_form_id", _S, "ep.form_id", to_string),
    _p("params_form_name", _S, "ep.form_name", to_string),
    _p("params_form_submit_text", _S, "ep.form_submit_text", to_string),
    _p("params_free_trial", _B, "ep.free_trial", to_bool),
    _p("params_ga_session_id", _S, "ep.ga_session_id", to_string),
    _p("params_ga_session_number", _I, "epn.ga_session_number", to_int),
    _p("params_gclid", _S, "ep.gclid", to_string),
    _p("params_group_id", _S, "ep.group_id", to_string),
    _p("params_introductory_price", _F, "epn.introductory_price", to_float),
    _p("params_item_list_id", _S, "ep.item_list_id", to_string),
    _p("params_item_list_name", _S, "ep.item_list_name", to_string),
    _p("params_item_name", _S, "ep.item_name", to_string),
    _p("params_label", _S, "ep.label", to_string),
    _p("params_language", _S, "ep.language", to_string),
    _p("params_lead_source", _S, "ep.lead_source", to_string),
    _p("params_lead_status", _S, "ep.lead_status", to_string),
    _p("params_level", _I, "ep.level", to_int),
    _p("params_level_name", _S, "ep.level_name", to_string),
    _p("params_link_classes", _S, "ep.link_classes", to_string),
    _p("params_link_domain", _S, "ep.link_domain", to_string),
    _p("params_link_id", _S, "ep.link_id", to_string),
    _p("params_link_text", _S, "ep.link_text", to_string),
    _p("params_link_url", _S, "ep.link_url", to_string),
    _p("params_message_device_time", _I, "ep.message_device_time", to_int),
    _p("params_message_id", _S, "ep.message_id", to_string),
    _p("params_message_name", _S, "ep.message_name", to_string),
    _p("params_message_time", _I, "ep.message_time", to_int),
    _p("params_message_type", _S, "ep.message_type", to_string),
    _p("params_method", _S, "ep.method", to_string),
    _p("params_outbound", _B, "ep.outbound", to_bool),
    _p("params_payment_type", _S, "ep.payment_type", to_string),
    _p("params_percent_scrolled", _F, "epn.percent_scrolled", to_float),
    _p("params_previous_app_version", _S, "ep.previous_app_version", to_string),
    _p("params_previous_first_open_count", _I, "ep.previous_first_open_count", to_int),
    _p("params_previous_gmp_app_id", _S, "ep.previous_gmp_app_id", to_string),
    _p("params_previous_os_version", _S, "ep.previous_os_version", to_string),
    _p("params_price", _F, "epn.price", to_float),
    _p("params_product_id", _S, "ep.product_id", to_string),
    _p("params_promotion_id", _S, "ep.promotion_id", to_string),
    _p("params_promotion_name", _S, "ep.promotion_name", to_string),
    _p("params_quantity", _F, "epn.quantity", to_float),
    _p("params_renewal_count", _I, "epn.renewal_count", to_int),
    _p("params_reset_analytics_cause", _S, "ep.reset_analytics_cause", to_string),
    _p("params_reward_type", _S, "ep.reward_type", to_string),
    _p("params_reward_value", _F, "epn.reward_value", to_float),
    _p("params_score", _I, "epn.score", to_int),
    _p("params_screen_resolution", _S, "ep.screen_resolution", to_string),
    _p("params_search_term", _S, "ep.search_term", to_string),
    _p("params_shipping", _F, "epn.shipping", to_float),
    _p("params_shipping_tier", _S, "ep.shipping_tier", to_string),
    _p("params_srsltid", _S, "ep.srsltid", to_string),
    _p("params_subscription", _B, "ep.subscription", to_bool),
    _p("params_success", _B, "ep.success", to_bool),
    _p("params_system_app", _B, "ep.system_app", to_bool),
    _p("params_system_app_update", _B, "ep.system_app_update", to_bool),
    _p("params_tax", _F, "epn.tax", to_float),
    _p("params_topic", _S, "ep.topic", to_string),
    _p("params_transaction_id", _S, "ep.transaction_id", to_string),
    _p("params_unconvert_lead_reason", _S, "ep.unconvert_lead_reason", to_string),
    _p("params_updated_with_analytics", _B, "ep.updated_with_analytics", to_bool),
    _p("params_value", _F, "epn.value", to_float),
    _p("params_video_current_time", _I, "epn.video_current_time", to_int),
    _p("params_video_duration", _I, "epn.video_duration", to_int),
    _p("params_video_percent", _I, "ep.video_percent", to_int),
    _p("params_video_provider", _S, "ep.video_provider", to_string),
    _p("params_video_title", _S, "ep.video_title", to_string),
    _p("params_video_url", _S, "ep.video_url", to_string),
    _p("params_virtual_currency_name", _S, "ep.virtual_currency_name", to_string),
    _p("params_visible", _B, "ep.visible", to_bool),
)
"""Every flat ``params_*`` column of reference §4.4, in table order."""

FALLBACKS: dict[str, str] = {"params_currency": "cu"}
"""Flat columns read from another request parameter when neither prefix gave a value:
the currency from ``cu``, what gtag and the d8a web tracker send."""
