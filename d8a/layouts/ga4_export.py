"""One row per event shaped like Google's GA4 BigQuery export.

Existing GA4 export SQL runs on these rows with only dialect changes: the
usual ``(SELECT value.int_value FROM UNNEST(event_params) WHERE key =
'ga_session_id')`` finds the session, ``traffic_source.source`` the source,
``ecommerce.purchase_revenue`` the revenue. The schema is
:data:`d8a.layouts.ga4_schema.GA4_EXPORT_SCHEMA` followed by the d8a columns
``id``, ``session_id``, ``property_id`` and ``date_utc``.

Values are read from d8a's columns by name; a record whose columns are not
configured (geo without a geo database, say) stays NULL. ``event_params``
holds ``page_location``, ``page_title``, ``page_referrer`` (when not empty),
``ga_session_id`` (the start of d8a's session in epoch seconds, as gtag's own
value is a start time; so GA4 session counts are d8a's), ``ga_session_number``,
``engagement_time_msec`` and ``session_engaged`` when known, then every
``ep.*``/``epn.*`` parameter of the ``params`` column: numbers with an integral
value as ``int_value``, others as ``double_value``, text as ``string_value``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Session
from d8a.columns.columnset import ColumnSet
from d8a.layouts.base import Layout
from d8a.layouts.ga4_schema import (
    COLLECTED_TRAFFIC_SOURCE_FIELDS,
    D8A_EXTRA_FIELDS,
    GA4_EXPORT_SCHEMA,
    ITEM_MONEY_FIELDS,
    ITEM_NUMBER_FIELDS,
    ITEM_STRING_FIELDS,
    ITEM_TAIL_FIELDS,
)
from d8a.layouts.row_arrays import to_array
from d8a.warehouse.base import validate_identifier

__all__ = ["Ga4ExportLayout"]

_SCHEMA = pa.schema([*GA4_EXPORT_SCHEMA, *D8A_EXTRA_FIELDS])
_NAMES = tuple(_SCHEMA.names)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ECOMMERCE = {
    "total_item_quantity": "ecommerce_items_total_quantity",
    "purchase_revenue_in_usd": "ecommerce_purchase_revenue_in_usd",
    "purchase_revenue": "ecommerce_purchase_revenue",
    "refund_value_in_usd": "ecommerce_refund_value_in_usd",
    "refund_value": "ecommerce_refund_value",
    "shipping_value_in_usd": "ecommerce_shipping_value_in_usd",
    "shipping_value": "ecommerce_shipping_value",
    "tax_value_in_usd": "ecommerce_tax_value_in_usd",
    "tax_value": "ecommerce_tax_value",
    "unique_items": "ecommerce_unique_items",
    "transaction_id": "params_transaction_id",
}
_INTEGERS = {"total_item_quantity", "unique_items"}
_DEVICE = {
    "category": "device_category",
    "mobile_brand_name": "device_mobile_brand_name",
    "mobile_model_name": "device_mobile_model_name",
    "operating_system": "device_operating_system",
    "operating_system_version": "device_operating_system_version",
    "language": "device_language",
    "browser": "device_web_browser",
    "browser_version": "device_web_browser_version",
}
_GEO = ("city", "country", "continent", "region", "sub_continent", "metro")


def _int(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(float(value))
    except (TypeError, ValueError):
        return None


def _value(value: Any) -> dict[str, Any]:
    """An ``event_params.value`` record for a Python value."""
    if isinstance(value, bool):
        return {"int_value": int(value)}
    if isinstance(value, int):
        return {"int_value": value}
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**63:
            return {"int_value": int(value)}
        return {"double_value": value}
    return {"string_value": None if value is None else str(value)}


def _yes_no(value: Any) -> str | None:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return None if value is None else str(value)


def _record(values: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any] | None:
    """``{member: values[column]}`` for ``names`` (member -> column), None if all null."""
    record = {member: values.get(column) for member, column in names.items()}
    return record if any(v is not None for v in record.values()) else None


def _item(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {name: item.get(name) for name in ITEM_STRING_FIELDS}
    for name in (*ITEM_NUMBER_FIELDS, *ITEM_MONEY_FIELDS):
        out[name] = item.get(name)
    out["quantity"] = _int(item.get("quantity"))
    for name in ITEM_TAIL_FIELDS:
        out[name] = item.get(name)
    index = item.get("item_list_index", item.get("index"))
    whole = _int(index)
    out["item_list_index"] = None if index is None else str(index if whole is None else whole)
    return out


def _params(values: Mapping[str, Any], session: Session) -> list[dict[str, Any]]:
    svalues = session.values
    first: list[tuple[str, Any]] = [
        ("page_location", values.get("page_location") or None),
        ("page_title", values.get("page_title") or None),
        ("page_referrer", values.get("page_referrer") or None),
    ]
    first.append(("ga_session_id", svalues.get("session_first_event_time")))
    first.append(("ga_session_number", _int(values.get("client_session_number"))))
    first.append(("engagement_time_msec", values.get("params_engagement_time_ms")))
    engaged = svalues.get("session_is_engaged")
    first.append(("session_engaged", None if engaged is None else ("1" if engaged else "0")))
    params = [{"key": key, "value": _value(value)} for key, value in first if value is not None]
    seen = {key for key, value in first if value is not None}
    for param in values.get("params") or ():
        key = param.get("name")
        if key in seen:
            continue
        number = param.get("value_number")
        params.append(
            {"key": key, "value": _value(param.get("value_string") if number is None else number)}
        )
    return params


def _session_source(session: Session) -> dict[str, Any] | None:
    """The session's source/medium/campaign; the first event's utm_* without SMT columns."""
    values = session.values
    first = session.events[0].values if session.events else {}
    if "session_source" in values or "session_medium" in values:
        record = {
            "name": values.get("session_utm_campaign"),
            "medium": values.get("session_medium"),
            "source": values.get("session_source"),
        }
    else:
        record = {
            "name": first.get("utm_campaign"),
            "medium": first.get("utm_medium"),
            "source": first.get("utm_source"),
        }
    return record if any(v is not None for v in record.values()) else None


class Ga4ExportLayout(Layout):
    """All events in one table (default ``events``) with Google's export columns."""

    def __init__(self, table: str = "events") -> None:
        self.table = validate_identifier(table)

    @property
    def schema(self) -> pa.Schema:
        """The table's schema: Google's export columns, then d8a's four."""
        return _SCHEMA

    @override
    def tables(self, columns: ColumnSet) -> dict[str, pa.Schema]:
        return {self.table: _SCHEMA}

    @override
    def to_tables(self, columns: ColumnSet, sessions: Sequence[Session]) -> dict[str, pa.Table]:
        lists: dict[str, list[Any]] = {name: [] for name in _NAMES}
        for session in sessions:
            source = _session_source(session)
            engaged = session.values.get("session_is_engaged")
            session_id = session.values.get("session_id")
            for event in session.events:
                values = event.values
                when = event.hit.received_at
                moment = _EPOCH + dt.timedelta(seconds=when)
                hostname = values.get("page_hostname")
                device = _record(values, _DEVICE)
                if device is not None or hostname is not None:
                    device = device or {}
                    device["web_info"] = {
                        "browser": device.get("browser"),
                        "browser_version": device.get("browser_version"),
                        "hostname": hostname,
                    }
                ecommerce = _record(values, _ECOMMERCE)
                if ecommerce is not None:
                    for name in _INTEGERS:
                        ecommerce[name] = _int(ecommerce[name])
                privacy = {
                    "analytics_storage": _yes_no(values.get("privacy_analytics_storage")),
                    "ads_storage": _yes_no(values.get("privacy_ads_storage")),
                    "uses_transient_token": None,
                }
                row: tuple[Any, ...] = (
                    moment.strftime("%Y%m%d"),
                    round(when * 1_000_000),
                    values.get("name", event.hit.event_name),
                    _params(values, session),
                    None,
                    None,
                    None,
                    None,
                    values.get("user_id"),
                    values.get("client_id", event.hit.client_id),
                    privacy if privacy["analytics_storage"] or privacy["ads_storage"] else None,
                    [],
                    None,
                    None,
                    device,
                    _record(values, {name: f"geo_{name}" for name in _GEO}),
                    source,
                    values.get("measurement_id"),
                    str(values.get("platform") or "web").upper(),
                    None if hostname is None else {"hostname": hostname},
                    ecommerce,
                    [_item(item) for item in values.get("ecommerce_items") or ()],
                    _record(values, COLLECTED_TRAFFIC_SOURCE_FIELDS),
                    engaged,
                    values.get("id", event.hit.id),
                    session_id,
                    values.get("property_id", event.hit.property_id),
                    values.get("date_utc"),
                )
                for name, value in zip(_NAMES, row, strict=True):
                    lists[name].append(value)
        arrays = [to_array(lists[field.name], field) for field in _SCHEMA]
        return {self.table: pa.Table.from_arrays(arrays, schema=_SCHEMA)}
