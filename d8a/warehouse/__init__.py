"""Warehouses: the ``Driver`` ABC, its built-in backends and ``driver_from_url``.

URLs follow SQLAlchemy's convention: after ``scheme://`` comes an empty host,
then ``/`` and the path, so three slashes start a relative path and four an
absolute one::

    memory://                       MemoryDriver()
    sqlite:///events.db             SQLiteDriver("events.db")
    sqlite:////var/lib/d8a/e.db     SQLiteDriver("/var/lib/d8a/e.db")
    sqlite://                       SQLiteDriver(":memory:")
    parquet:///warehouse            ParquetDriver("warehouse")
"""

from __future__ import annotations

from collections.abc import Callable

from d8a.errors import ConfigurationError
from d8a.warehouse.base import Driver, quote_identifier, validate_identifier
from d8a.warehouse.files import ParquetDriver
from d8a.warehouse.memory import MemoryDriver
from d8a.warehouse.sqlite import SQLiteDriver

__all__ = [
    "Driver",
    "MemoryDriver",
    "ParquetDriver",
    "SQLiteDriver",
    "driver_from_url",
    "quote_identifier",
    "validate_identifier",
]


def _memory(url: str, path: str) -> Driver:
    if path:
        raise ConfigurationError(f"{url!r}: memory:// takes no path")
    return MemoryDriver()


def _sqlite(url: str, path: str) -> Driver:
    return SQLiteDriver(path or ":memory:")


def _parquet(url: str, path: str) -> Driver:
    if not path:
        raise ConfigurationError(f"{url!r}: parquet:// needs a directory, as parquet:///dir")
    return ParquetDriver(path)


# scheme -> factory(url, path). Backends with an optional dependency (duckdb://,
# clickhouse://, bigquery://) register here with a factory that imports their
# module on first use and raises MissingDependencyError when the extra is absent.
_FACTORIES: dict[str, Callable[[str, str], Driver]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "parquet": _parquet,
}


def driver_from_url(url: str) -> Driver:
    """Build the driver a URL names (see the module docstring for the forms).

    Raises ConfigurationError for an unknown scheme (naming the supported ones)
    or a URL with a host part.
    """
    scheme, separator, rest = url.partition("://")
    factory = _FACTORIES.get(scheme.lower()) if separator else None
    if factory is None:
        supported = ", ".join(f"{name}://" for name in sorted(_FACTORIES))
        raise ConfigurationError(f"unsupported warehouse URL {url!r}; supported: {supported}")
    if rest and not rest.startswith("/"):
        raise ConfigurationError(
            f"{url!r} has a host part; write {scheme}:///relative/path or {scheme}:////absolute/path"
        )
    return factory(url, rest[1:])
