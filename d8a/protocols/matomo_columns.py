"""The Matomo event columns (reference §3.3, §4.7) in the table order of §4.10.

:func:`matomo_event_columns` gives the core columns (page from ``url``, title
from ``action_name``, referrer from ``urlref``, language from ``lang``,
resolution from ``res``, Matomo's own ``ignore_referrer``), then Matomo's.
One column is ours, not the original's: ``params_name``, the event name
``e_n`` that the original drops. The ecommerce ones live in
:mod:`d8a.protocols.matomo_ecommerce`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Event, EventColumn, Interface, describe_field
from d8a.columns.casts import to_float, to_int, to_string
from d8a.columns.core import core_event_columns, core_interface
from d8a.columns.simple import ParamColumn
from d8a.config import Settings
from d8a.protocols.matomo_ecommerce import (
    ecommerce_columns,
    product_category_columns,
    product_columns,
)

__all__ = [
    "CUSTOM_DIMENSIONS_TYPE",
    "CUSTOM_VARIABLES_TYPE",
    "custom_dimensions",
    "custom_variables",
    "ignore_referrer",
    "matomo_event_columns",
]

_S, _F, _I = pa.string(), pa.float64(), pa.int64()
CUSTOM_VARIABLES_TYPE = pa.list_(pa.struct([pa.field("name", _S), pa.field("value", _S)]))
"""``custom_variables`` (and ``session_custom_variables``): ``[{name, value}]``."""
CUSTOM_DIMENSIONS_TYPE = pa.list_(pa.struct([pa.field("slot", _I), pa.field("value", _S)]))
"""``custom_dimensions`` (and ``session_custom_dimensions``): ``[{slot, value}]``."""
_DIMENSION = re.compile(r"dimension([+-]?[0-9]+)")
_SLOT = re.compile(r"[+-]?[0-9]+")

# (column, parameter, type, description), in table order; the gaps are filled below.
_PARAMS: tuple[tuple[str, str, pa.DataType, str], ...] = (
    ("params_site_id", "idsite", _S, "`idsite`: the Matomo site id as sent."),
    ("params_page_view_id", "pv_id", _S, "`pv_id`: the page view id the tracker generated."),
    ("params_goal_id", "idgoal", _S, "`idgoal`: the goal converted (0 for an ecommerce order)."),
    ("params_category", "e_c", _S, "`e_c`: event category."),
    ("params_action", "e_a", _S, "`e_a`: event action."),
    ("params_name", "e_n", _S, "`e_n`: event name (ours; the original drops it)."),
    ("params_link_url", "link", _S, "`link`: URL of the outlink clicked."),
    ("params_download_url", "download", _S, "`download`: URL of the file downloaded."),
    ("params_search_term", "search", _S, "`search`: site search keyword."),
    ("params_value", "e_v", _F, "`e_v`: event value."),
    ("params_media_asset_id", "ma_id", _S, "`ma_id`: media asset id."),
    ("params_media_type", "ma_mt", _S, "`ma_mt`: media type (video, audio)."),
    ("params_content_interaction", "c_i", _S, "`c_i`: content interaction (e.g. click)."),
    ("params_content_name", "c_n", _S, "`c_n`: content name."),
    ("params_content_piece", "c_p", _S, "`c_p`: content piece."),
    ("params_content_target", "c_t", _S, "`c_t`: content target."),
)
_SEARCH: tuple[tuple[str, str, pa.DataType, str], ...] = (
    ("params_search_keyword", "search", _S, "`search`: site search keyword (as search_term)."),
    ("params_search_category", "search_cat", _S, "`search_cat`: site search category."),
    ("params_search_count", "search_count", _I, "`search_count`: number of search results."),
)
_CASTS: dict[pa.DataType, Callable[[str | None], Any]] = {_S: to_string, _F: to_float, _I: to_int}


def ignore_referrer(params: dict[str, str]) -> bool | None:
    """NULL when neither ``ignore_referrer`` nor ``ignore_referer`` is sent, else
    whether either is ``"1"``."""
    first, second = params.get("ignore_referrer"), params.get("ignore_referer")
    if first is None and second is None:
        return None
    return first == "1" or second == "1"


def custom_variables(raw: str | None) -> list[dict[str, str]] | None:
    """``cvar``/``_cvar`` JSON ``{"<slot>": ["name", "value"], ...}`` as
    ``[{name, value}]`` by slot (numeric slots first, in number order); entries
    that are not a pair of strings are skipped; NULL when nothing is left or
    the JSON does not parse."""
    if not raw:
        return None
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    found: list[tuple[tuple[int, int, str], dict[str, str]]] = []
    for slot, pair in payload.items():
        if not isinstance(pair, list) or len(pair) != 2:
            continue
        name, value = pair
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        key = (0, int(slot), "") if _SLOT.fullmatch(slot) else (1, 0, slot)
        found.append((key, {"name": name, "value": value}))
    found.sort(key=lambda entry: entry[0])
    return [entry for _, entry in found] or None


def custom_dimensions(params: dict[str, str]) -> list[dict[str, Any]] | None:
    """``dimension<N>`` parameters as ``[{slot, value}]`` by slot; empty values
    are skipped; NULL when there is none."""
    found: list[tuple[int, str]] = []
    for key, value in params.items():
        if value and key.startswith("dimension"):
            match = _DIMENSION.fullmatch(key)
            if match:
                slot = int(match.group(1))
                if -(2**63) <= slot < 2**63:
                    found.append((slot, value))
    if not found:
        return None
    found.sort(key=lambda dimension: dimension[0])
    return [{"slot": slot, "value": value} for slot, value in found]


class _HitParamsValue(EventColumn):
    """An event column computed from all of a hit's parameters."""

    def __init__(self, interface: Interface, fn: Callable[[dict[str, str]], Any]) -> None:
        self.interface = interface
        self._fn = fn
        self._name = interface.name

    @override
    def write(self, event: Event) -> None:
        event.values[self._name] = self._fn(event.hit.params)

    @override
    def write_all(self, events: list[Event]) -> None:
        name, fn = self._name, self._fn
        for event in events:
            event.values[name] = fn(event.hit.params)


def matomo_event_columns(
    settings: Settings, namespace: str, tracking_protocol: str
) -> list[EventColumn]:
    """Every Matomo event column in table order (reference §4.10), ``params_name`` added."""

    def interface(name: str, type_: pa.DataType, description: str) -> Interface:
        return Interface(
            f"{namespace}/event/{name}", describe_field(name, type_, description=description)
        )

    def params(specs: tuple[tuple[str, str, pa.DataType, str], ...]) -> list[EventColumn]:
        return [
            ParamColumn(interface(name, type_, text), param, _CASTS[type_])
            for name, param, type_, text in specs
        ]

    core = core_event_columns(
        location_param="url",
        title_param="action_name",
        referrer_param="urlref",
        tracking_protocol=tracking_protocol,
        excluded_url_params=settings.excluded_url_params,
        property_name=settings.property_name,
        language_param="lang",
        screen_resolution_param="res",
    )
    # Matomo reads its own ignore_referrer parameters, not GA4's `ir`.
    assert core[-1].name == "ignore_referrer", "core columns end with ignore_referrer"
    core[-1] = _HitParamsValue(
        core_interface(
            "ignore_referrer",
            pa.bool_(),
            description="`ignore_referrer`/`ignore_referer` is 1; NULL when neither is sent.",
        ),
        ignore_referrer,
    )
    return [
        *core,
        *params(_PARAMS),
        *product_columns(interface),
        *product_category_columns(interface),
        *params(_SEARCH),
        _HitParamsValue(
            interface(
                "custom_variables",
                CUSTOM_VARIABLES_TYPE,
                "`cvar`: the page-scope custom variables, by slot.",
            ),
            lambda p: custom_variables(p.get("cvar")),
        ),
        _HitParamsValue(
            interface(
                "custom_dimensions",
                CUSTOM_DIMENSIONS_TYPE,
                "`dimension<N>`: the custom dimensions sent with the hit, by slot.",
            ),
            custom_dimensions,
        ),
        *ecommerce_columns(interface),
    ]
