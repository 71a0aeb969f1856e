"""Columns the GA4 and d8a protocols add to the core ones (reference §4.4)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from d8a.columns.base import Event, EventColumn, Interface, describe_field
from d8a.columns.casts import to_float
from d8a.columns.simple import EventValue

__all__ = ["PARAMS_TYPE", "event_params", "ga4_event_columns"]

PARAMS_TYPE = pa.list_(
    pa.struct(
        [
            pa.field("name", pa.string()),
            pa.field("value_string", pa.string()),
            pa.field("value_number", pa.float64()),
        ]
    )
)


def event_params(event: Event) -> list[dict[str, Any]]:
    """``ep.<name>`` (string) and numeric ``epn.<name>`` params, sorted by name."""
    found: list[dict[str, Any]] = []
    for key, value in event.hit.params.items():
        if key[:1] != "e":  # most keys: v, tid, cid, dl, ...
            continue
        if key.startswith("ep."):
            found.append({"name": key[3:], "value_string": value, "value_number": None})
        elif key.startswith("epn."):
            number = to_float(value)
            if number is not None:
                found.append({"name": key[4:], "value_string": None, "value_number": number})
    if len(found) > 1:
        found.sort(key=lambda item: item["name"])
    return found


def ga4_event_columns(namespace: str) -> list[EventColumn]:
    """GA4-specific event columns, in table order."""

    def interface(name: str, type_: pa.DataType, description: str, **kw: Any) -> Interface:
        return Interface(
            f"{namespace}/event/{name}",
            describe_field(name, type_, description=description, **kw),
        )

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
        EventValue(
            interface("params", PARAMS_TYPE, "Every ep.* and numeric epn.* parameter, by name."),
            event_params,
        ),
    ]
