"""Warehouses: the ``Driver`` ABC, its built-in backends and ``driver_from_url``.

URLs follow SQLAlchemy's convention: after ``scheme://`` comes an empty host,
then ``/`` and the path, so three slashes start a relative path and four an
absolute one::

    memory://                       MemoryDriver()
    sqlite:///events.db             SQLiteDriver("events.db")
    sqlite:////var/lib/d8a/e.db     SQLiteDriver("/var/lib/d8a/e.db")
    sqlite://                       SQLiteDriver(":memory:")
    parquet:///warehouse            ParquetDriver("warehouse")
    duckdb:///events.duckdb         DuckDBDriver("events.duckdb")       pip install 'd8a[duckdb]'
    duckdb://                       DuckDBDriver(":memory:")
    csv:///dir                      FilesDriver("dir", format="csv")
    csv:///dir?compression=gzip     ... writing .csv.gz files
    files:///dir?format=parquet     FilesDriver("dir"): the original's path template;
                                    options format, compression, path_template
    clickhouse://user:password@host:8123/database   ClickHouseDriver over HTTP
                                    (clickhouses:// for TLS; port default 8123/8443;
                                    database default "default")
    bigquery://project/dataset      BigQueryDriver, pip install 'd8a[bigquery]'; options
                                    location, write (load|streaming), partition_field,
                                    timeout, api_endpoint (then anonymous credentials)

Drivers with an optional dependency load their module (and the dependency)
only when such a URL is opened, and raise MissingDependencyError naming the
extra when it is not installed.
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


def _duckdb(url: str, path: str) -> Driver:
    from d8a.warehouse.duckdb import DuckDBDriver

    return DuckDBDriver(path or ":memory:")


def _files(url: str, path: str, **defaults: str) -> Driver:
    from urllib.parse import parse_qsl

    from d8a.warehouse.segments import FilesDriver

    directory, _, query = path.partition("?")
    if not directory:
        raise ConfigurationError(f"{url!r} needs a directory, as {url.split(':')[0]}:///dir")
    options = {**defaults, **dict(parse_qsl(query, keep_blank_values=True))}
    unknown = sorted(set(options) - {"format", "compression", "path_template"})
    if unknown:
        raise ConfigurationError(f"{url!r}: unknown option(s) {', '.join(unknown)}")
    kind = options.pop("format", "parquet")
    if kind not in ("parquet", "csv"):
        raise ConfigurationError(f"{url!r}: format must be parquet or csv")
    return FilesDriver(directory, format=kind, **options)  # type: ignore[arg-type]  # checked above


def _csv(url: str, path: str) -> Driver:
    return _files(url, path, format="csv")


def _parquet(url: str, path: str) -> Driver:
    if not path:
        raise ConfigurationError(f"{url!r}: parquet:// needs a directory, as parquet:///dir")
    return ParquetDriver(path)


def _clickhouse(url: str) -> Driver:
    from urllib.parse import unquote, urlsplit

    from d8a.warehouse.clickhouse import ClickHouseDriver

    parts = urlsplit(url)
    secure = parts.scheme.lower() == "clickhouses"
    if not parts.hostname:
        raise ConfigurationError(f"{url!r}: write clickhouse://user:password@host:port/database")
    database = parts.path.strip("/") or "default"
    return ClickHouseDriver(
        database=database,
        host=parts.hostname,
        port=parts.port or (8443 if secure else 8123),
        username=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
        secure=secure,
    )


_BIGQUERY_OPTIONS = {"location", "write", "partition_field", "timeout", "api_endpoint"}


def _bigquery(url: str) -> Driver:
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    project, dataset = parts.netloc, parts.path.strip("/")
    if not project or not dataset or "/" in dataset:
        raise ConfigurationError(f"{url!r}: write bigquery://project/dataset")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - _BIGQUERY_OPTIONS)
    if unknown:
        raise ConfigurationError(f"{url!r}: unknown option(s) {', '.join(unknown)}")
    try:
        timeout = float(options.pop("timeout", "60"))
    except ValueError:
        raise ConfigurationError(f"{url!r}: timeout must be a number of seconds") from None
    endpoint = options.pop("api_endpoint", "")
    from d8a.warehouse.bigquery import BigQueryDriver, anonymous_credentials

    return BigQueryDriver(
        project=project,
        dataset=dataset,
        timeout=timeout,
        client_options={"api_endpoint": endpoint} if endpoint else None,
        credentials=anonymous_credentials() if endpoint else None,
        partition_field=options.pop("partition_field", "date_utc") or None,
        location=options.pop("location", "") or None,
        **options,  # type: ignore[arg-type]  # write, checked by the driver
    )


# scheme -> factory(url) for URLs naming a server (a host part is expected).
_SERVER_FACTORIES: dict[str, Callable[[str], Driver]] = {
    "clickhouse": _clickhouse,
    "clickhouses": _clickhouse,
    "bigquery": _bigquery,
}

# scheme -> factory(url, path). Backends with an optional dependency (duckdb://,
# clickhouse://, bigquery://) register here with a factory that imports their
# module on first use and raises MissingDependencyError when the extra is absent.
_FACTORIES: dict[str, Callable[[str, str], Driver]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "parquet": _parquet,
    "duckdb": _duckdb,
    "csv": _csv,
    "files": _files,
}


def driver_from_url(url: str) -> Driver:
    """Build the driver a URL names (see the module docstring for the forms).

    Raises ConfigurationError for an unknown scheme (naming the supported ones)
    or a URL with a host part where a path is expected.
    """
    scheme, separator, rest = url.partition("://")
    server = _SERVER_FACTORIES.get(scheme.lower()) if separator else None
    if server is not None:
        return server(url)
    factory = _FACTORIES.get(scheme.lower()) if separator else None
    if factory is None:
        supported = ", ".join(f"{name}://" for name in sorted({**_FACTORIES, **_SERVER_FACTORIES}))
        raise ConfigurationError(f"unsupported warehouse URL {url!r}; supported: {supported}")
    if rest and not rest.startswith("/"):
        raise ConfigurationError(
            f"{url!r} has a host part; write {scheme}:///relative/path or {scheme}:////absolute/path"
        )
    return factory(url, rest[1:])
