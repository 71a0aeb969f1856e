"""Connecting to Redis: the lazy import of redis-py and the URL forms d8a accepts.

``redis://host:port/db`` (and ``rediss://`` for TLS) as redis-py reads them.
redis-py is imported on first use only, so ``import d8a`` never loads it; a
missing extra raises :class:`~d8a.errors.MissingDependencyError`. Connection
failures and timeouts surface as :class:`~d8a.errors.TransientError`, which
the worker retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from d8a.errors import ConfigurationError, MissingDependencyError, TransientError

__all__ = ["connect", "is_redis_url", "transient"]

SCHEMES = ("redis", "rediss", "unix")


def is_redis_url(url: str) -> bool:
    """True when ``url`` names a Redis server (``redis://``, ``rediss://``, ``unix://``)."""
    scheme, separator, _ = url.partition("://")
    return bool(separator) and scheme.lower() in SCHEMES


def _module() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise MissingDependencyError("redis", "redis") from exc
    return redis


def connect(client: Any) -> tuple[Any, bool]:
    """A redis-py client from a URL or a client; the flag says whether the caller owns it
    (and so closes it). Responses stay bytes (``decode_responses`` is off)."""
    if not isinstance(client, str):
        return client, False
    if not is_redis_url(client):
        raise ConfigurationError(f"{client!r} is not a Redis URL such as redis://127.0.0.1:6379/0")
    return _module().Redis.from_url(client, decode_responses=False), True


@contextmanager
def transient() -> Iterator[None]:
    """Turn redis-py's connection errors and timeouts into ``TransientError``."""
    redis = _module()
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
        raise TransientError(f"Redis: {exc}") from exc
