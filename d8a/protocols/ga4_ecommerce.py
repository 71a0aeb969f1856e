"""GA4 ecommerce: ``pr1..prN`` items and the ``ecommerce_*`` columns (reference §4.4, §4.8).

An item parameter ``pr<digits>`` holds ``~``-separated tokens whose first two
characters are the key (``id``, ``nm``, ``pr``, ``qt``, ...). One column,
``ecommerce_items``, computes all eleven ecommerce values of an event in one
pass (:func:`ecommerce_values`); the other ten depend on it and read its work.

Where we differ from the original, on purpose: only keys of the form
``pr<digits>`` are items, kept in numeric order (``pr2`` before ``pr10``); the
currency is ``params_currency``, which falls back to ``cu`` (what gtag and the
d8a web tracker send); an item with a name but no id counts in
``ecommerce_unique_items``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Event, EventColumn, Interface, describe_field
from d8a.columns.casts import to_float, to_string
from d8a.columns.core import event_id
from d8a.columns.currency import CurrencyRates, to_usd

__all__ = [
    "ECOMMERCE_COLUMNS",
    "ECOMMERCE_WRITTEN",
    "ITEM_TYPE",
    "ecommerce_columns",
    "ecommerce_values",
    "parse_item",
]

_S, _F = pa.string(), pa.float64()
_KEYS = {
    "id": "item_id", "nm": "item_name", "af": "affiliation", "cp": "coupon", "ds": "discount",
    "lp": "index", "br": "item_brand", "ca": "item_category", "c2": "item_category2",
    "c3": "item_category3", "c4": "item_category4", "c5": "item_category5",
    "li": "item_list_id", "ln": "item_list_name", "va": "item_variant", "lo": "location_id",
    "pr": "price", "qt": "quantity", "cn": "creative_name", "cs": "creative_slot",
    "pi": "promotion_id", "pn": "promotion_name",
}  # fmt: skip
_NUMBERS = frozenset({"discount", "index", "price", "quantity"})
_FLOATS = _NUMBERS | {"price_in_usd", "item_refund", "item_refund_in_usd"}
_FLOATS |= {"item_revenue", "item_revenue_in_usd"}
ITEM_TYPE = pa.struct(
    [
        pa.field(name, _F if name in _FLOATS else _S)
        for name in (
            "item_id", "item_name", "affiliation", "coupon", "discount", "index", "item_brand",
            "item_category", "item_category2", "item_category3", "item_category4",
            "item_category5", "item_list_id", "item_list_name", "item_variant", "location_id",
            "price", "price_in_usd", "quantity", "item_refund", "item_refund_in_usd",
            "item_revenue", "item_revenue_in_usd", "promotion_id", "promotion_name",
            "creative_name", "creative_slot",
        )
    ]
)  # fmt: skip
"""One ``ecommerce_items`` element (every field nullable)."""
_EMPTY_ITEM: dict[str, Any] = dict.fromkeys(ITEM_TYPE.names)
_FALLBACKS = (
    ("item_list_id", "params_item_list_id"),
    ("item_list_name", "params_item_list_name"),
    ("creative_name", "params_creative_name"),
    ("creative_slot", "params_creative_slot"),
    ("promotion_id", "params_promotion_id"),
    ("promotion_name", "params_promotion_name"),
)
"""Item fields filled from the event's ``params_*`` column when the item lacks them."""

ECOMMERCE_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("ecommerce_purchase_revenue", _F, "Sum of the items' item_revenue on purchase, else 0."),
    ("ecommerce_purchase_revenue_in_usd", _F, "ecommerce_purchase_revenue in USD."),
    ("ecommerce_refund_value", _F, "Sum of the items' item_refund on refund, else 0."),
    ("ecommerce_refund_value_in_usd", _F, "ecommerce_refund_value in USD."),
    ("ecommerce_shipping_value", _F, "params_shipping on purchase and refund (0 if absent)."),
    ("ecommerce_shipping_value_in_usd", _F, "ecommerce_shipping_value in USD."),
    ("ecommerce_tax_value", _F, "params_tax (epn.tax), NULL if absent."),
    ("ecommerce_tax_value_in_usd", _F, "ecommerce_tax_value in USD."),
    ("ecommerce_items_total_quantity", pa.int64(), "Sum of the items' whole quantities."),
    ("ecommerce_unique_items", pa.int64(), "Distinct item ids (the name when there is no id)."),
    ("ecommerce_items", pa.list_(ITEM_TYPE), "The pr1..prN items in order; NULL if none."),
)
"""Name, type and description of the eleven columns, in table order."""
_NAMES = tuple(name for name, _, _ in ECOMMERCE_COLUMNS)
_READS = (
    "params_currency", "params_shipping", "params_tax",
    *(column for _, column in _FALLBACKS),
)  # fmt: skip


def parse_item(text: str) -> dict[str, Any] | None:
    """The fields of one ``pr<n>`` value, None without both id and name.

    Strings are cast (``""`` is NULL); ``discount``/``index`` are numbers or NULL;
    ``price`` and ``quantity`` default to 0. Unknown keys (``k0``/``v0``) are ignored."""
    item = dict(_EMPTY_ITEM)
    for token in text.split("~"):
        field = _KEYS.get(token[:2])
        if field is not None:
            item[field] = to_float(token[2:]) if field in _NUMBERS else to_string(token[2:])
    if item["item_id"] is None and item["item_name"] is None:
        return None
    if item["price"] is None:
        item["price"] = 0.0
    if item["quantity"] is None:
        item["quantity"] = 0.0
    return item


def _item_keys(params: dict[str, str]) -> list[tuple[int, str]]:
    if "pr" not in "".join(params):  # most hits: no key holds "pr", none starts with it
        return []
    found = []
    for key in params:
        if key[:2] == "pr" and key[2:].isdigit() and key[2:].isascii():
            found.append((int(key[2:]), key))
    found.sort()
    return found


def _plain(event: Event) -> bool:
    """Whether ``event`` carries no ecommerce at all: no items, no tax, no purchase
    or refund (most events; their values depend only on the currency)."""
    name = event.hit.event_name
    return (
        name != "purchase"
        and name != "refund"
        and event.values.get("params_tax") is None
        and not _item_keys(event.hit.params)
    )


def _plain_values(currency: Any, rates: CurrencyRates | None) -> dict[str, Any]:
    """The eleven values of an event without ecommerce (see :func:`_plain`)."""
    zero = to_usd(0.0, currency, rates)
    return {
        "ecommerce_purchase_revenue": 0.0,
        "ecommerce_purchase_revenue_in_usd": zero,
        "ecommerce_refund_value": 0.0,
        "ecommerce_refund_value_in_usd": zero,
        "ecommerce_shipping_value": 0.0,
        "ecommerce_shipping_value_in_usd": zero,
        "ecommerce_tax_value": None,
        "ecommerce_tax_value_in_usd": None,
        "ecommerce_items_total_quantity": 0,
        "ecommerce_unique_items": 0,
        "ecommerce_items": None,
    }


def ecommerce_values(event: Event, rates: CurrencyRates | None) -> dict[str, Any]:
    """The eleven ecommerce column values of ``event`` (its ``params_*`` values set)."""
    currency = event.values.get("params_currency")
    if _plain(event):
        return _plain_values(currency, rates)
    return _ecommerce_values(event, currency, rates)


def _ecommerce_values(event: Event, currency: Any, rates: CurrencyRates | None) -> dict[str, Any]:
    """:func:`ecommerce_values` of an event that is not :func:`_plain`."""
    values = event.values
    params = event.hit.params
    name = event.hit.event_name
    refund = name == "refund"
    keys = _item_keys(params)
    tax = values.get("params_tax")
    items: list[dict[str, Any]] = []
    for _, key in keys:
        item = parse_item(params[key])
        if item is None:
            continue
        total = item["price"] * item["quantity"]
        item["item_refund"], item["item_revenue"] = (total, 0.0) if refund else (0.0, total)
        for field, column in _FALLBACKS:
            if item[field] is None:
                item[field] = values.get(column)
        for field in ("price", "item_refund", "item_revenue"):
            item[f"{field}_in_usd"] = to_usd(item[field], currency, rates)
        items.append(item)
    revenue = sum(i["item_revenue"] for i in items) if name == "purchase" else 0.0
    refunded = sum(i["item_refund"] for i in items) if refund else 0.0
    shipping = (values.get("params_shipping") or 0.0) if name in ("purchase", "refund") else 0.0
    unique = {("id", i["item_id"]) if i["item_id"] else ("name", i["item_name"]) for i in items}
    return {
        "ecommerce_purchase_revenue": float(revenue),
        "ecommerce_purchase_revenue_in_usd": to_usd(revenue, currency, rates),
        "ecommerce_refund_value": float(refunded),
        "ecommerce_refund_value_in_usd": to_usd(refunded, currency, rates),
        "ecommerce_shipping_value": float(shipping),
        "ecommerce_shipping_value_in_usd": to_usd(shipping, currency, rates),
        "ecommerce_tax_value": tax,
        "ecommerce_tax_value_in_usd": to_usd(tax, currency, rates),
        "ecommerce_items_total_quantity": sum(int(i["quantity"]) for i in items),
        "ecommerce_unique_items": len(unique),
        "ecommerce_items": items or None,
    }


ECOMMERCE_WRITTEN = "d8a.ga4.ecommerce_written"
"""Event metadata key :class:`EcommerceItems` sets once it wrote every ecommerce column."""


class EcommerceItems(EventColumn):
    """``ecommerce_items``; writes the other ten ecommerce columns in the same pass."""

    def __init__(self, interface: Interface, depends_on: Sequence[str], rates: Any) -> None:
        self.interface = interface
        self.depends_on = tuple(depends_on)
        self._rates = rates

    @override
    def write(self, event: Event) -> None:
        event.values.update(ecommerce_values(event, self._rates))
        event.metadata[ECOMMERCE_WRITTEN] = True

    @override
    def write_all(self, events: list[Event]) -> None:
        rates = self._rates
        plain: dict[Any, dict[str, Any]] = {}  # events without ecommerce, by currency
        for event in events:
            currency = event.values.get("params_currency")
            if _plain(event):
                found = plain.get(currency)
                if found is None:
                    found = plain[currency] = _plain_values(currency, rates)
                event.values.update(found)
            else:
                event.values.update(_ecommerce_values(event, currency, rates))
            event.metadata[ECOMMERCE_WRITTEN] = True


class EcommerceValue(EventColumn):
    """One of the other ten ecommerce columns; ``ecommerce_items`` writes its value."""

    def __init__(self, interface: Interface, items_id: str, rates: Any) -> None:
        self.interface = interface
        self.depends_on = (items_id,)
        self._name = interface.name
        self._rates = rates

    @override
    def write(self, event: Event) -> None:
        event.values[self._name] = ecommerce_values(event, self._rates)[self._name]

    @override
    def write_all(self, events: list[Event]) -> None:
        # ``ecommerce_items`` ran first (a dependency) and wrote this value too, and
        # marked the event (the closer starts rows with every column present as
        # None, so the mark, not the key, tells).
        if events and ECOMMERCE_WRITTEN not in events[0].metadata:
            for event in events:
                self.write(event)


def ecommerce_columns(
    namespace: str, rates: CurrencyRates | None, flat_ids: dict[str, str]
) -> list[EventColumn]:
    """The eleven ecommerce columns in table order. ``flat_ids`` maps the
    ``params_*`` column names this reads to their interface ids."""

    def interface(name: str, type_: pa.DataType, description: str) -> Interface:
        return Interface(
            f"{namespace}/event/{name}", describe_field(name, type_, description=description)
        )

    spec = {name: (type_, text) for name, type_, text in ECOMMERCE_COLUMNS}
    items = EcommerceItems(
        interface("ecommerce_items", *spec["ecommerce_items"]),
        [event_id("name"), *(flat_ids[column] for column in _READS)],
        rates,
    )
    return [
        items
        if name == "ecommerce_items"
        else EcommerceValue(interface(name, *spec[name]), items.interface.id, rates)
        for name in _NAMES
    ]
