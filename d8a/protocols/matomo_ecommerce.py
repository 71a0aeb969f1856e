"""Matomo ecommerce: orders and cart updates (``ec_*``, ``revenue``) and product
views (``_pk*``), reference §3.3.

``ec_items`` is a JSON array of ``[sku, name, category, price, quantity]``
arrays. As in the original: the sku is a string, a number (written as Go's
``%g`` would) or a bool, and an item without one is dropped; the name defaults
to ``""``; the category is a string or an array of up to five strings
(``category_1`` defaults to ``""``); price and quantity default to 0 and 1
unless they are JSON numbers. ``ec_items`` that is not a JSON array makes the
event broken, with the reason recorded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Event, EventColumn, Interface
from d8a.columns.casts import to_float, to_string
from d8a.columns.simple import ParamColumn
from d8a.errors import BrokenEventError

__all__ = [
    "ITEM_TYPE",
    "ecommerce_columns",
    "go_float",
    "parse_items",
    "product_categories",
    "product_category_columns",
    "product_columns",
]

_S, _F = pa.string(), pa.float64()
_CATEGORIES = tuple(f"category_{n}" for n in range(1, 6))
ITEM_TYPE = pa.struct(
    [pa.field(name, _S) for name in ("sku", "name", *_CATEGORIES)]
    + [pa.field("price", _F), pa.field("quantity", _F)]
)
"""One ``ecommerce_items`` element."""
_INT64 = range(-(2**63), 2**63)

InterfaceFactory = Callable[[str, pa.DataType, str], Interface]
"""``(name, type, description) -> Interface`` in the protocol's namespace."""


def go_float(number: float) -> str:
    """``number`` as Go's ``fmt.Sprintf("%g", number)`` writes it: the shortest
    digits, in exponent form below 1e-4 or from 1e6 on (``1e+06``)."""
    if number == 0:
        return "-0" if math.copysign(1, number) < 0 else "0"
    sign, digits, exponent = Decimal(repr(float(number))).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite: NaN and infinities never reach here
    text = "".join(map(str, digits))
    point = len(digits) + exponent  # digits before the decimal point
    power = point - 1
    if power < -4 or power >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        result = f"{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    elif point <= 0:
        result = "0." + "0" * -point + text
    elif point >= len(text):
        result = text + "0" * (point - len(text))
    else:
        result = text[:point] + "." + text[point:]
    return ("-" if sign else "") + result


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number out of range: {text}")
    return number


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _sku(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    number = _number(value)
    return "" if number is None or not math.isfinite(number) else go_float(number)


def _item(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, list) or not raw:
        return None
    sku = _sku(raw[0])
    if not sku:
        return None
    slots = [*raw[1:5], *[None] * (5 - len(raw))]
    name, category, price, quantity = slots[:4]
    item: dict[str, Any] = {"sku": sku, "name": name if isinstance(name, str) else ""}
    categories: list[str | None] = [None] * 5
    if isinstance(category, str):
        categories[0] = category or None
    elif isinstance(category, list):
        for position, value in enumerate(category[:5]):
            if isinstance(value, str) and value:
                categories[position] = value
    item.update(zip(_CATEGORIES, categories, strict=True))
    item["category_1"] = item["category_1"] or ""
    found_price, found_quantity = _number(price), _number(quantity)
    item["price"] = 0.0 if found_price is None else found_price
    item["quantity"] = 1.0 if found_quantity is None else found_quantity
    return item


def parse_items(raw: str | None) -> list[dict[str, Any]] | None:
    """``ec_items`` as item dicts; None when absent or empty. Raises
    BrokenEventError when it is not a JSON array."""
    if not raw:
        return None
    try:
        # Every JSON number as a float64, as Go decodes it (a sku 123 is "123").
        items = json.loads(
            raw, parse_float=_finite, parse_int=_finite, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        raise BrokenEventError(f"failed to parse ec_items: {exc}") from None
    if not isinstance(items, list):
        raise BrokenEventError(f"ec_items must be a JSON array, not {type(items).__name__}")
    return [item for item in map(_item, items) if item is not None]


def _total_quantity(items: list[dict[str, Any]] | None) -> int | None:
    total = 0
    for item in items or ():
        quantity = item["quantity"]
        if math.isfinite(quantity) and int(quantity) in _INT64:
            total += int(quantity)
    return total if total in _INT64 else None


class EcommerceItems(EventColumn):
    """``ecommerce_items`` and ``ecommerce_items_total_quantity``, parsed once."""

    def __init__(self, interface: Interface) -> None:
        self.interface = interface

    @override
    def write(self, event: Event) -> None:
        items = parse_items(event.hit.params.get("ec_items"))
        event.values["ecommerce_items"] = items
        event.metadata["ecommerce_items_total_quantity"] = _total_quantity(items)


class _TotalQuantity(EventColumn):
    def __init__(self, interface: Interface, items_id: str) -> None:
        self.interface = interface
        self.depends_on = (items_id,)

    @override
    def write(self, event: Event) -> None:
        event.values["ecommerce_items_total_quantity"] = event.metadata.get(
            "ecommerce_items_total_quantity", 0
        )


def product_categories(raw: str | None) -> list[str | None]:
    """``_pkc``: a JSON array of strings, else the raw text as the one category;
    always five entries, None where absent or empty."""
    categories: list[Any] = []
    if raw:
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, list) and all(isinstance(value, str) for value in parsed):
            categories = parsed[:5]
        else:
            categories = [raw]
    categories += [None] * (5 - len(categories))
    return [to_string(value) for value in categories]


class _ProductCategory(EventColumn):
    def __init__(self, interface: Interface, position: int) -> None:
        self.interface = interface
        self._position = position

    @override
    def write(self, event: Event) -> None:
        raw = event.hit.params.get("_pkc")
        value = product_categories(raw)[self._position] if raw else None
        event.values[self.interface.name] = value


def product_columns(interface: InterfaceFactory) -> list[EventColumn]:
    """``params_product_price``, ``_sku`` and ``_name`` (a product page view)."""
    return [
        ParamColumn(
            interface("params_product_price", _F, "`_pkp`: price of the product viewed."),
            "_pkp",
            to_float,
        ),
        ParamColumn(
            interface("params_product_sku", _S, "`_pks`: SKU of the product viewed."),
            "_pks",
            to_string,
        ),
        ParamColumn(
            interface("params_product_name", _S, "`_pkn`: name of the product viewed."),
            "_pkn",
            to_string,
        ),
    ]


def product_category_columns(interface: InterfaceFactory) -> list[EventColumn]:
    """``params_product_category_1..5`` from ``_pkc``."""
    return [
        _ProductCategory(
            interface(
                f"params_product_category_{n}", _S, f"`_pkc`: category {n} of the product viewed."
            ),
            n - 1,
        )
        for n in range(1, 6)
    ]


def ecommerce_columns(interface: InterfaceFactory) -> list[EventColumn]:
    """The order values, the order id and the items, in table order."""
    values = (
        ("ecommerce_purchase_revenue", "revenue", "`revenue`: the order's grand total."),
        ("ecommerce_shipping_value", "ec_sh", "`ec_sh`: shipping cost of the order."),
        ("ecommerce_subtotal_value", "ec_st", "`ec_st`: order subtotal, without shipping."),
        ("ecommerce_tax_value", "ec_tx", "`ec_tx`: tax of the order."),
        ("ecommerce_discount_value", "ec_dt", "`ec_dt`: discount of the order."),
    )
    items = EcommerceItems(
        interface(
            "ecommerce_items",
            pa.list_(ITEM_TYPE),
            "`ec_items`: the order's or cart's items; NULL when not sent.",
        )
    )
    return [
        *(ParamColumn(interface(name, _F, text), param, to_float) for name, param, text in values),
        ParamColumn(
            interface("ecommerce_order_id", _S, "`ec_id`: the order id."), "ec_id", to_string
        ),
        items,
        _TotalQuantity(
            interface(
                "ecommerce_items_total_quantity",
                pa.int64(),
                "Sum of the items' whole quantities; 0 when there are none.",
            ),
            items.interface.id,
        ),
    ]
