"""The geo and device event columns, and choosing their implementation by setting.

:func:`enrichment_columns` gives the fifteen columns that sit between
``click_id_msclkid`` and ``tracking_protocol`` in the reference's table order,
with the implementations used when enrichment is off: geo and detected device
columns are NULL, ``device_language`` and ``device_screen_resolution`` read
their request parameter. :func:`configure_enrichment` runs at ``build()`` and
swaps in the implementations the ``geo_database`` and ``device_detection``
settings ask for, matching columns by interface id, so every protocol built
on :func:`d8a.columns.core.core_event_columns` gets them without passing the
settings around.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Event, EventColumn, Interface, describe_field
from d8a.columns.casts import to_string
from d8a.columns.device import DeviceCache, DeviceCategory, DeviceValue
from d8a.columns.geo import GeoCity, GeoReader, GeoValue
from d8a.columns.simple import EventValue, ParamColumn, constant

if TYPE_CHECKING:
    from d8a.config import Settings

__all__ = [
    "DEVICE_COLUMNS",
    "GEO_COLUMNS",
    "DeviceLanguage",
    "configure_enrichment",
    "device_columns",
    "enrichment_columns",
    "geo_columns",
]

# (name, low cardinality, description), in table order, which is also the
# field order of GeoInfo and DeviceInfo.
GEO_COLUMNS: tuple[tuple[str, bool, str], ...] = (
    ("geo_city", False, "City (English name) of the IP address, from the geo database."),
    ("geo_region", False, "First subdivision (English name) of the IP address."),
    ("geo_metro", False, "Metro (US DMA) code of the IP address, when the database has one."),
    ("geo_country", True, "Country (English name, not ISO code) of the IP address."),
    ("geo_continent", True, "Continent (English name) of the IP address."),
    ("geo_sub_continent", False, "Sub-continent; always NULL (no supported database has it)."),
)
DEVICE_COLUMNS: tuple[tuple[str, bool, str], ...] = (
    ("device_category", True, "Matomo device type: desktop, smartphone, tablet, ...; bot."),
    ("device_mobile_brand_name", False, "Device brand (Matomo); the bot name for bots."),
    ("device_mobile_model_name", False, "Device model (Matomo); the bot URL for bots."),
    ("device_operating_system", True, "Operating system name (Matomo)."),
    ("device_operating_system_version", False, "Operating system version."),
    ("device_web_browser", True, "Browser or app name (Matomo client name)."),
    ("device_web_browser_version", False, "Browser or app version."),
)


def _interface(name: str, low_cardinality: bool, description: str) -> Interface:
    return Interface(
        f"core.d8a.tech/events/{name}",
        describe_field(name, pa.string(), description=description, low_cardinality=low_cardinality),
    )


class DeviceLanguage(EventColumn):
    """``device_language``: the language parameter, else the raw Accept-Language header."""

    def __init__(self, interface: Interface, param: str) -> None:
        self.interface = interface
        self._param = param

    @override
    def write(self, event: Event) -> None:
        hit = event.hit
        event.values["device_language"] = to_string(hit.params.get(self._param)) or to_string(
            hit.headers.get("Accept-Language")
        )

    @override
    def write_all(self, events: list[Event]) -> None:
        param = self._param
        for event in events:
            hit = event.hit
            event.values["device_language"] = to_string(hit.params.get(param)) or to_string(
                hit.headers.get("Accept-Language")
            )


def enrichment_columns(language_param: str, screen_resolution_param: str) -> list[EventColumn]:
    """The geo and device columns in table order, as they are with enrichment off."""
    null = constant(None)
    columns: list[EventColumn] = [EventValue(_interface(*spec), null) for spec in GEO_COLUMNS]
    category, *detected = (EventValue(_interface(*spec), null) for spec in DEVICE_COLUMNS)
    columns.append(category)
    columns.append(
        DeviceLanguage(
            _interface(
                "device_language",
                False,
                f"`{language_param}` parameter, else the raw Accept-Language header.",
            ),
            language_param,
        )
    )
    columns.append(
        ParamColumn(
            _interface(
                "device_screen_resolution",
                False,
                f"Screen resolution (`{screen_resolution_param}` parameter).",
            ),
            screen_resolution_param,
            to_string,
        )
    )
    columns.extend(detected)
    return columns


def device_columns(name: str) -> list[EventColumn]:
    """The seven detected device columns of implementation ``name``, in table order."""
    from d8a.columns.device_detectors import make_detector

    category = _interface(*DEVICE_COLUMNS[0])
    columns: list[EventColumn] = [DeviceCategory(category, DeviceCache(make_detector(name)))]
    for index, spec in enumerate(DEVICE_COLUMNS[1:], 1):
        columns.append(DeviceValue(_interface(*spec), index, category.id))
    return columns


def geo_columns(path: str) -> list[EventColumn]:
    """The geo columns read from the MMDB at ``path`` (all but the NULL sub-continent)."""
    city = _interface(*GEO_COLUMNS[0])
    columns: list[EventColumn] = [GeoCity(city, GeoReader(path))]
    # geo_sub_continent keeps its NULL column: no supported database has it.
    for index, spec in enumerate(GEO_COLUMNS[1:-1], 1):
        columns.append(GeoValue(_interface(*spec), index, city.id))
    return columns


def configure_enrichment(columns: Sequence[EventColumn], settings: Settings) -> list[EventColumn]:
    """``columns`` with the geo and device implementations the settings select.

    Raises MissingDependencyError when the selected implementation's extra is not
    installed and ConfigurationError for a geo database that cannot be opened."""
    chosen: list[EventColumn] = []
    if isinstance(settings.device_detection, str):  # a name once Settings validated it
        chosen.extend(device_columns(settings.device_detection))
    if settings.geo_database is not None:
        chosen.extend(geo_columns(os.fspath(settings.geo_database)))
    if not chosen:
        return list(columns)
    by_id = {column.interface.id: column for column in chosen}
    return [by_id.get(column.interface.id, column) for column in columns]
