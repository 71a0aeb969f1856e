"""Columns the GA4 and d8a protocols add to the core ones (reference §4.4, §4.10).

:func:`ga4_event_columns` returns them in the table order of reference §4.10;
the ``params`` list and the flat ``params_*`` columns live in
:mod:`d8a.protocols.ga4_params`.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from d8a.columns.base import EventColumn, Interface, describe_field
from d8a.columns.casts import to_bool, to_int, to_string
from d8a.columns.core import PageQueryValue
from d8a.columns.currency import currency_rates
from d8a.columns.simple import EventValue, ParamColumn
from d8a.protocols.ga4_custom import custom_param_columns
from d8a.protocols.ga4_ecommerce import ecommerce_columns
from d8a.protocols.ga4_params import PARAMS_TYPE, EventParams, flat_columns

__all__ = ["PARAMS_TYPE", "ga4_event_columns"]


def _page_load_seconds(value: str | None) -> int | None:
    """``_p`` (Unix milliseconds) as whole seconds, else None."""
    millis = to_int(value)
    return None if millis is None else millis // 1000


def _consent(position: int) -> Any:
    def cast(value: str | None) -> bool | None:
        return to_bool(value[position]) if value and len(value) > position else None

    return cast


def ga4_event_columns(
    namespace: str, rates: object = None, custom: object = ()
) -> list[EventColumn]:
    """GA4-specific event columns, in the table order of reference §4.10, then the
    custom ones. ``rates`` is the ``currency_rates`` setting (see
    :mod:`d8a.columns.currency`), ``custom`` the ``ga4_params`` one
    (:mod:`d8a.protocols.ga4_custom`)."""

    def interface(name: str, type_: pa.DataType, description: str, **kw: Any) -> Interface:
        return Interface(
            f"{namespace}/event/{name}",
            describe_field(name, type_, description=description, **kw),
        )

    params = EventParams(
        interface("params", PARAMS_TYPE, "Every ep.* and numeric epn.* parameter, by name.")
    )
    flat = flat_columns(namespace, params.interface.id)
    return [
        EventValue(
            interface(
                "measurement_id",
                pa.string(),
                "Raw `tid` of the hit.",
                nullable=False,
                low_cardinality=True,
            ),
            lambda e: e.hit.params.get("tid", ""),
        ),
        ParamColumn(
            interface("params_ignore_referrer", pa.bool_(), "`ir` as a bool (as ignore_referrer)."),
            "ir",
            to_bool,
        ),
        ParamColumn(
            interface("params_engagement_time_ms", pa.int64(), "`_et`: engagement time in ms."),
            "_et",
            to_int,
        ),
        *ecommerce_columns(
            namespace, currency_rates(rates), {c.name: c.interface.id for c in flat}
        ),
        ParamColumn(
            interface("client_session_id", pa.string(), "`sid`: the tracker's session id."),
            "sid",
            to_string,
        ),
        ParamColumn(
            interface("client_session_number", pa.int64(), "`sct`: the tracker's session count."),
            "sct",
            to_int,
        ),
        PageQueryValue(
            interface(
                "gtm_debug",
                pa.string(),
                "`gtm_debug` parameter of the original page URL.",
                low_cardinality=True,
            ),
            "gtm_debug",
        ),
        ParamColumn(
            interface(
                "page_load_hash",
                pa.timestamp("s", tz="UTC"),
                "`_p` (page load, Unix ms) as a timestamp, second precision.",
            ),
            "_p",
            _page_load_seconds,
        ),
        params,
        flat[0],  # params_aclid
        ParamColumn(
            interface("privacy_ads_storage", pa.bool_(), "Ad storage consent: `gcs` character 3."),
            "gcs",
            _consent(2),
        ),
        ParamColumn(
            interface(
                "privacy_analytics_storage",
                pa.bool_(),
                "Analytics storage consent: `gcs` character 4.",
            ),
            "gcs",
            _consent(3),
        ),
        *flat[1:],
        *custom_param_columns(custom, params.interface.id),
    ]
