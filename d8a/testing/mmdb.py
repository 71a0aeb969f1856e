"""Small real MaxMind DB files for tests: the layout of DB-IP City Lite / GeoLite2 City.

:func:`write_city_database` writes networks and their places with the PyPI
package ``mmdb-writer`` (installed with ``d8a[test]``), so geo code can be tested
against the real ``maxminddb`` reader without downloading a database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from d8a.errors import MissingDependencyError

__all__ = ["city_record", "write_city_database"]


def city_record(
    city: str | None = None,
    region: str | None = None,
    country: str | None = None,
    continent: str | None = None,
    *,
    metro_code: int | None = None,
    country_iso: str | None = None,
) -> dict[str, Any]:
    """A City record as DB-IP and MaxMind lay it out (English names only);
    a None field is left out of the record."""
    record: dict[str, Any] = {}
    if city is not None:
        record["city"] = {"names": {"en": city}}
    if region is not None:
        record["subdivisions"] = [{"names": {"en": region}}]
    if country is not None:
        record["country"] = {"names": {"en": country}}
        if country_iso is not None:
            record["country"]["iso_code"] = country_iso
    if continent is not None:
        record["continent"] = {"names": {"en": continent}}
    if metro_code is not None:
        record["location"] = {"metro_code": metro_code}
    return record


def write_city_database(
    path: str | os.PathLike[str],
    networks: Mapping[str, Mapping[str, Any]],
    *,
    ip_version: int = 6,
    database_type: str = "DBIP-City-Lite",
) -> str:
    """Write ``networks`` (CIDR -> record, e.g. from :func:`city_record`) to ``path``.

    An IPv6 database (the default) also answers IPv4 addresses, stored at
    ``::/96`` as MaxMind's files do. Returns the path as a string."""
    try:
        from mmdb_writer import MMDBWriter
        from netaddr import IPSet
    except ImportError:
        raise MissingDependencyError("mmdb-writer", "test") from None
    writer = MMDBWriter(
        ip_version=ip_version,
        database_type=database_type,
        languages=["en"],
        description="d8a test database",
        ipv4_compatible=ip_version == 6,
    )
    for network, record in networks.items():
        writer.insert_network(IPSet([network]), dict(record))
    target = os.fspath(path)
    writer.to_db_file(target)
    return target
