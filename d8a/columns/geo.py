"""Geo columns from a MaxMind-format database (reference §4.2).

``geo_city``, ``geo_region``, ``geo_country``, ``geo_continent`` are the English
names of the record's ``city``, first ``subdivisions`` entry, ``country`` and
``continent`` in a DB-IP City Lite or GeoLite2 City file (any MMDB with that
layout serves), read with the ``maxminddb`` package. ``geo_metro`` is the
record's ``location.metro_code`` (a US DMA code, GeoLite2 only) as text;
``geo_sub_continent`` is NULL: neither database has it.

A missing name is NULL (the original wrote ``""`` for city, country and
continent). An address that does not parse or is not in the database gives
NULL columns; a corrupt database marks the event broken. Lookups are cached
per IP (addresses repeat: every hit of a visitor has the same one).
:class:`GeoCity` looks up and keeps the :class:`GeoInfo` in
``event.metadata["geo"]``; the other geo columns depend on it and read it.
"""

from __future__ import annotations

import os
import threading
from typing import Any, NamedTuple

from typing_extensions import override

from d8a.caches import LONGEST_KEY
from d8a.columns.base import Event, EventColumn, Interface
from d8a.errors import BrokenEventError, ConfigurationError, MissingDependencyError

__all__ = ["GEO", "UNKNOWN_PLACE", "GeoCity", "GeoInfo", "GeoReader", "GeoValue"]

GEO = "geo"
"""Event metadata key holding the event's :class:`GeoInfo`."""


class GeoInfo(NamedTuple):
    """The place of one IP address; ``None`` where the database has nothing."""

    city: str | None = None
    region: str | None = None
    metro: str | None = None
    country: str | None = None
    continent: str | None = None
    sub_continent: str | None = None


UNKNOWN_PLACE = GeoInfo()


def _name(record: dict[str, Any], key: str) -> str | None:
    names = (record.get(key) or {}).get("names") or {}
    return names.get("en") or None


def _place(record: Any) -> GeoInfo:
    """The :class:`GeoInfo` of a MaxMind/DB-IP City record; a record of another
    layout (say, an ASN database's) gives what it has, possibly nothing."""
    if not isinstance(record, dict):
        return UNKNOWN_PLACE
    try:
        subdivisions = record.get("subdivisions") or [{}]
        region = (subdivisions[0].get("names") or {}).get("en") or None
        metro = (record.get("location") or {}).get("metro_code")
        return GeoInfo(
            _name(record, "city"),
            region,
            str(metro) if metro is not None else None,
            _name(record, "country"),
            _name(record, "continent"),
        )
    except (AttributeError, IndexError, KeyError, TypeError):
        return UNKNOWN_PLACE


class GeoReader:
    """An open MMDB file and a bounded per-IP cache of its answers; thread-safe.

    Opening checks the file: a missing path or a file that is not a MaxMind DB
    raises :class:`ConfigurationError`, a missing ``maxminddb`` package
    :class:`MissingDependencyError`. The file is memory-mapped (maxminddb's C
    extension when it is there) for the life of the reader, so a new file on
    disk is seen by a pipeline built after it was written.
    """

    def __init__(self, path: str | os.PathLike[str], max_entries: int = 65_536) -> None:
        try:
            import maxminddb
        except ImportError:
            raise MissingDependencyError("maxminddb", "geo") from None
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise ConfigurationError(f"geo_database {self.path!r} is not a file")
        try:
            self._reader = maxminddb.open_database(self.path)
        except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
            raise ConfigurationError(
                f"geo_database {self.path!r} is not a MaxMind DB (.mmdb) file: {exc}"
            ) from None
        self.database_type: str = self._reader.metadata().database_type
        self.max_entries = max_entries
        self.entries: dict[str, GeoInfo] = {}
        self._lock = threading.Lock()

    def lookup(self, ip: str) -> GeoInfo:
        """The place of ``ip``; see the module docstring for what gives NULLs."""
        found = self.entries.get(ip)
        return found if found is not None else self.find(ip)

    def find(self, ip: str) -> GeoInfo:
        """Look ``ip`` up in the file (not the cache) and remember the answer."""
        try:
            found = _place(self._reader.get(ip))
        except ValueError:  # not an IP address (or an IPv6 one in an IPv4 database)
            found = UNKNOWN_PLACE
        except Exception as exc:  # a corrupt database: this event cannot be placed
            raise BrokenEventError(f"geo lookup of {ip!r} failed: {exc}") from None
        if len(ip) > LONGEST_KEY:  # no address: not worth the memory (see d8a.caches)
            return found
        with self._lock:
            entries = self.entries
            if len(entries) >= self.max_entries:
                del entries[next(iter(entries))]
            entries[ip] = found
        return found


class GeoCity(EventColumn):
    """``geo_city``; looks the event's IP up and keeps the place for the other geo columns."""

    def __init__(self, interface: Interface, reader: GeoReader) -> None:
        self.interface = interface
        self.reader = reader

    @override
    def write(self, event: Event) -> None:
        place = self.reader.lookup(event.hit.ip)
        event.metadata[GEO] = place
        event.values["geo_city"] = place[0]

    @override
    def write_all(self, events: list[Event]) -> None:
        entries, find = self.reader.entries, self.reader.find
        for event in events:
            ip = event.hit.ip
            place = entries.get(ip)
            if place is None:
                place = find(ip)
            event.metadata[GEO] = place
            event.values["geo_city"] = place[0]


class GeoValue(EventColumn):
    """Field ``index`` of the event's :class:`GeoInfo` (region, metro, country, ...)."""

    def __init__(self, interface: Interface, index: int, city_id: str) -> None:
        self.interface = interface
        self.depends_on = (city_id,)
        self._index = index
        self._name = interface.name

    @override
    def write(self, event: Event) -> None:
        event.values[self._name] = event.metadata[GEO][self._index]

    @override
    def write_all(self, events: list[Event]) -> None:
        name, index = self._name, self._index
        for event in events:
            event.values[name] = event.metadata[GEO][index]
