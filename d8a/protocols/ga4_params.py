"""GA4 event parameters: the ``params`` list and the flat ``params_*`` columns (reference §4.4).

The flat columns are generated from :data:`FLAT_PARAMS`, one tuple per column
``(column, type, param, cast)``. For speed, one column does the work for all of
them: :class:`EventParams` (the ``params`` column) walks each hit's parameters
once and, in the same pass, writes ``params`` *and* every flat column's value.
Each :class:`FlatParam` still has its own interface, field and catalogue entry,
depends on ``params``, and computes its value alone in :meth:`FlatParam.write`;
its :meth:`FlatParam.write_all` only fills what ``params`` did not already write.

Where we differ from the original, on purpose: a known parameter reaches its
column when sent with either prefix (``ep.`` or ``epn.``); when both are sent the
prefix the reference documents wins. Integer casts stay base-10 (``"12.0"`` is
NULL, as in the original).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Event, EventColumn, Interface, describe_field
from d8a.columns.casts import to_bool, to_float, to_int, to_string

__all__ = [
    "FALLBACKS",
    "FLAT_PARAMS",
    "PARAMS_TYPE",
    "EventParams",
    "FlatParam",
    "ParamSpec",
    "flat_columns",
]

PARAMS_TYPE = pa.list_(
    pa.struct(
        [
            pa.field("name", pa.string()),
            pa.field("value_string", pa.string()),
            pa.field("value_number", pa.float64()),
        ]
    )
)

_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()
_BY_NAME = itemgetter("name")
_CASTS: dict[Callable[[str | None], Any], str] = {
    to_string: "string ('' is NULL, truncated)",
    to_int: "base-10 integer, else NULL",
    to_float: "number, else NULL",
    to_bool: "true/yes/1... or false/no/0..., else NULL",
}


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
_EVENTS_NAMESPACE = frozenset({"params_aclid", "params_anid", "params_dclid", "params_gclid"})
_EVENTS_NAMESPACE |= {"params_srsltid"}  # their interface ids use ``.../events/...``


def _split(param: str) -> tuple[str, str, str]:
    """``"ep.level"`` -> (name, documented key, the other prefix's key)."""
    prefix, _, name = param.partition(".")
    other = "epn." if prefix == "ep" else "ep."
    return name, param, other + name


def flat_value(spec: ParamSpec, params: dict[str, str]) -> Any:
    """The value of ``spec``'s column for a hit's ``params``: the documented key if
    sent, else the other prefix's, cast."""
    _, documented, other = _split(spec.param)
    raw = params.get(documented)
    if raw is None:
        raw = params.get(other)
    value = spec.cast(raw)
    if value is None and spec.column in FALLBACKS:
        value = spec.cast(params.get(FALLBACKS[spec.column]))
    return value


class FlatParam(EventColumn):
    """One ``params_*`` column. :class:`EventParams` normally writes its value."""

    def __init__(self, spec: ParamSpec, namespace: str, params_id: str) -> None:
        scope = "events" if spec.column in _EVENTS_NAMESPACE else "event"
        _, documented, other = _split(spec.param)
        also = f", then `{FALLBACKS[spec.column]}`" if spec.column in FALLBACKS else ""
        self.interface = Interface(
            f"{namespace}/{scope}/{spec.column}",
            describe_field(
                spec.column,
                spec.type,
                description=f"`{documented}` (or `{other}`{also}): {_CASTS[spec.cast]}.",
            ),
        )
        self.depends_on = (params_id,)
        self.spec = spec
        self._name = spec.column

    @override
    def write(self, event: Event) -> None:
        event.values[self._name] = flat_value(self.spec, event.hit.params)

    @override
    def write_all(self, events: list[Event]) -> None:
        # ``params`` ran first (a dependency) and wrote this column for every event
        # it kept, in one pass; only a ``params`` column of another make does not,
        # and then it writes none of them. One look per call keeps this free.
        if events and self._name not in events[0].values:
            write = self.write
            for event in events:
                write(event)


class EventParams(EventColumn):
    """``params`` -- every ``ep.<name>`` (as ``value_string``) and numeric
    ``epn.<name>`` (as ``value_number``), sorted by name -- and, in the same pass,
    the values of the flat columns ``specs`` (NULL when not sent)."""

    def __init__(self, interface: Interface, specs: Sequence[ParamSpec] = FLAT_PARAMS) -> None:
        self.interface = interface
        self._name = interface.name
        self._nulls: dict[str, None] = dict.fromkeys(spec.column for spec in specs)
        self._known: dict[str, tuple[str, Callable[[str | None], Any], str]] = {}
        for spec in specs:
            name, documented, _ = _split(spec.param)
            self._known[name] = (spec.column, spec.cast, documented)
        self._casts = {spec.column: spec.cast for spec in specs}
        self._fallbacks = tuple((c, k) for c, k in FALLBACKS.items() if c in self._casts)

    @override
    def write(self, event: Event) -> None:
        self.write_all([event])

    @override
    def write_all(self, events: list[Event]) -> None:
        nulls, known, own = self._nulls, self._known, self._name
        fallbacks, known_casts = self._fallbacks, self._casts
        for event in events:
            params = event.hit.params
            values = event.values
            values.update(nulls)
            found: list[dict[str, Any]] = []
            for key, value in params.items():
                if key[:1] != "e":  # most keys: v, tid, cid, dl, ...
                    continue
                if key[:3] == "ep.":
                    name = key[3:]
                    found.append({"name": name, "value_string": value, "value_number": None})
                elif key[:4] == "epn.":
                    name = key[4:]
                    number = to_float(value)
                    if number is not None:
                        found.append({"name": name, "value_string": None, "value_number": number})
                else:
                    continue
                spec = known.get(name)
                if spec is not None and (key == spec[2] or spec[2] not in params):
                    values[spec[0]] = spec[1](value)
            for column, key in fallbacks:
                if values[column] is None and key in params:
                    values[column] = known_casts[column](params[key])
            if len(found) > 1:
                found.sort(key=_BY_NAME)
            values[own] = found


def flat_columns(namespace: str, params_id: str) -> list[FlatParam]:
    """The flat ``params_*`` columns of :data:`FLAT_PARAMS`, in table order."""
    return [FlatParam(spec, namespace, params_id) for spec in FLAT_PARAMS]
