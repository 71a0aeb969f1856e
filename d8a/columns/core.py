"""Core event columns shared by every protocol (reference §4.2).

A protocol builds its set with :func:`core_event_columns`, naming the request
parameters it reads the page URL, title and referrer from.
"""

from __future__ import annotations

from operator import attrgetter

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Event, EventColumn, Interface, describe_field
from d8a.columns.casts import to_bool
from d8a.columns.enrichment import enrichment_columns
from d8a.columns.simple import EventValue, ParamColumn, constant
from d8a.columns.urls import PageURL, URLCache
from d8a.errors import BrokenEventError

__all__ = ["UTM_PARAMS", "core_event_columns", "core_interface", "event_id"]

STRING = pa.string()
TIMESTAMP = pa.timestamp("s", tz="UTC")
UTM_PARAMS = (
    "utm_campaign",
    "utm_source",
    "utm_medium",
    "utm_content",
    "utm_term",
    "utm_id",
    "utm_source_platform",
    "utm_creative_format",
    "utm_marketing_tactic",
)
CLICK_IDS = ("gclid", "dclid", "gbraid", "srsltid", "wbraid", "fbclid", "msclkid")
PAGE_URL = "page_url"
"""Event metadata key holding the :class:`PageURL` of the event."""


def event_id(name: str) -> str:
    """The interface id of core event column ``name``."""
    return f"core.d8a.tech/events/{name}"


def core_interface(
    name: str,
    type_: pa.DataType = STRING,
    description: str = "",
    *,
    nullable: bool = True,
    low_cardinality: bool = False,
    codec: str | None = None,
) -> Interface:
    """An interface under the ``core.d8a.tech/events/`` namespace."""
    return Interface(
        event_id(name),
        describe_field(
            name,
            type_,
            nullable=nullable,
            description=description,
            low_cardinality=low_cardinality,
            codec=codec,
        ),
    )


class PageLocation(EventColumn):
    """``page_location``: the page URL with excluded parameters stripped.

    Keeps the parsed original URL in ``event.metadata["page_url"]`` for the
    columns that read the original (UTM, click ids, attribution).
    """

    def __init__(self, param: str, excluded: tuple[str, ...]) -> None:
        self.interface = core_interface(
            "page_location",
            nullable=False,
            description="Page URL with the excluded parameters removed; '' when absent.",
        )
        self._param = param
        self._urls = URLCache(excluded, (*UTM_PARAMS, *CLICK_IDS, "gtm_debug"))

    @override
    def write(self, event: Event) -> None:
        page = self._urls.get(event.hit.params.get(self._param, ""))
        event.metadata[PAGE_URL] = page
        event.values["page_location"] = page.location


def _page(event: Event) -> PageURL:
    page: PageURL = event.metadata[PAGE_URL]
    return page


def _hostname(event: Event) -> str:
    page = _page(event)
    if page.error:
        raise BrokenEventError(page.error)
    return page.hostname


class PageQueryValue(EventColumn):
    """A parameter of the original page URL (UTM and click-id columns). Sparse: most
    page URLs carry none of them, and their rows leave the column out."""

    sparse = True

    def __init__(self, interface: Interface, key: str) -> None:
        self.interface = interface
        self.depends_on = (event_id("page_location"),)
        self._key = key
        self._name = interface.name

    @override
    def write(self, event: Event) -> None:
        fields = _page(event).fields or {}
        event.values[self._name] = fields.get(self._key)

    @override
    def write_all(self, events: list[Event]) -> None:
        name, key = self._name, self._key
        for event in events:
            fields = event.metadata[PAGE_URL].fields
            if fields:
                value = fields.get(key)
                if value is not None:
                    event.values[name] = value


def _utc_seconds(event: Event) -> int:
    return int(event.hit.received_at // 1)


def _utc_days(event: Event) -> int:
    return int(event.hit.received_at // 86400)


def core_event_columns(
    *,
    location_param: str,
    title_param: str,
    referrer_param: str,
    tracking_protocol: str,
    excluded_url_params: tuple[str, ...],
    property_name: str,
    language_param: str = "ul",
    screen_resolution_param: str = "sr",
) -> list[EventColumn]:
    """The core event columns, in the reference's table order.

    The geo and device columns come as they are with enrichment off; ``build()``
    swaps in what the settings ask for (:mod:`d8a.columns.enrichment`)."""
    page_dep = (event_id("page_location"),)
    columns: list[EventColumn] = [
        EventValue(
            core_interface("id", nullable=False, description="Hit id (UUID) given on receipt."),
            attrgetter("hit.id"),
        ),
        EventValue(
            core_interface("name", nullable=False, low_cardinality=True, description="Event name."),
            attrgetter("hit.event_name"),
        ),
        EventValue(
            core_interface(
                "property_id", nullable=False, low_cardinality=True, description="Property id."
            ),
            attrgetter("hit.property_id"),
        ),
        EventValue(
            core_interface(
                "property_name",
                nullable=False,
                low_cardinality=True,
                description="Property name from the settings.",
            ),
            constant(property_name),
        ),
        EventValue(
            core_interface(
                "date_utc",
                pa.date32(),
                nullable=False,
                codec="CODEC(Delta, LZ4)",
                description="UTC date of the server receive time.",
            ),
            _utc_days,
        ),
        EventValue(
            core_interface(
                "timestamp_utc",
                TIMESTAMP,
                nullable=False,
                codec="CODEC(Delta, LZ4)",
                description="Server receive time, UTC, second precision.",
            ),
            _utc_seconds,
        ),
        EventValue(
            core_interface("client_id", nullable=False, description="Client id sent by the hit."),
            attrgetter("hit.client_id"),
        ),
        EventValue(
            core_interface("user_id", description="User id, when the site sets one."),
            attrgetter("hit.user_id"),
        ),
        EventValue(
            core_interface("ip_address", nullable=False, description="Client IP after masking."),
            attrgetter("hit.ip"),
        ),
        PageLocation(location_param, excluded_url_params),
        EventValue(
            core_interface("page_hostname", nullable=False, description="Host of page_location."),
            _hostname,
            page_dep,
        ),
        EventValue(
            core_interface("page_path", nullable=False, description="Path of page_location."),
            lambda e: _page(e).path,
            page_dep,
        ),
        EventValue(
            core_interface("page_title", nullable=False, description="Page title, raw."),
            lambda e: e.hit.params.get(title_param, ""),
        ),
        EventValue(
            core_interface("page_referrer", nullable=False, description="Referrer URL, raw."),
            lambda e: e.hit.params.get(referrer_param, ""),
        ),
        EventValue(
            core_interface(
                "platform", nullable=False, low_cardinality=True, description="Always 'web'."
            ),
            constant("web"),
        ),
    ]
    for utm in UTM_PARAMS:
        columns.append(
            PageQueryValue(core_interface(utm, description=f"{utm} of the original page URL."), utm)
        )
    for click_id in CLICK_IDS:
        columns.append(
            PageQueryValue(
                core_interface(
                    f"click_id_{click_id}", description=f"{click_id} of the original page URL."
                ),
                click_id,
            )
        )
    columns.extend(enrichment_columns(language_param, screen_resolution_param))
    columns.append(
        EventValue(
            core_interface(
                "tracking_protocol",
                nullable=False,
                low_cardinality=True,
                description="Protocol the hit arrived with.",
            ),
            constant(tracking_protocol),
        )
    )
    columns.append(
        ParamColumn(
            core_interface(
                "ignore_referrer", pa.bool_(), description="The hit asked to ignore the referrer."
            ),
            "ir",
            to_bool,
        )
    )
    return columns
