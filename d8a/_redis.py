"""Connecting to Redis: the lazy import of redis-py and the URL forms d8a accepts.

``redis://host:port/db`` (and ``rediss://`` for TLS) as redis-py reads them.
redis-py is imported on first use only, so ``import d8a`` never loads it; a
missing extra raises :class:`~d8a.errors.MissingDependencyError`. Connection
failures and timeouts surface as :class:`~d8a.errors.TransientError`, which
the worker retries. :class:`Fence` runs commands only while a lease is held
(see :mod:`d8a.scaleout.worker`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from d8a.errors import ConfigurationError, MissingDependencyError, TransientError

__all__ = ["Fence", "LeaseLostError", "connect", "is_redis_url", "transient"]

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


class LeaseLostError(TransientError):
    """A fenced command was refused: the lease it needs is another worker's now (or
    expired). The caller must stop working on what the lease guards."""


_LOST = "D8A_LEASE_LOST"

_FENCED_CALL = f"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('{_LOST}') end
return redis.call(unpack(ARGV, 2))
"""
_FENCED_RUN = f"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('{_LOST}') end
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 1
"""


class Fence:
    """Runs commands only while the lease ``key`` holds ``owner``, atomically with
    the check (a Lua script): a worker that lost its lease, however late it finds
    out, cannot change what the next owner took over. Raises LeaseLostError."""

    def __init__(self, client: Any, key: str, owner: str) -> None:
        self._client = client
        self.key = key
        self.owner = owner
        self._call = client.register_script(_FENCED_CALL)
        self._run = client.register_script(_FENCED_RUN)

    def call(self, *command: Any) -> Any:
        """One command; returns its raw reply (no redis-py response parsing)."""
        with self._lost(), transient():
            return self._call(keys=[self.key], args=[self.owner, *command])

    def run(self, commands: list[list[Any]]) -> None:
        """Several commands in one atomic step."""
        args: list[Any] = [self.owner]
        for command in commands:
            args += [len(command), *command]
        with self._lost(), transient():
            self._run(keys=[self.key], args=args)

    @contextmanager
    def _lost(self) -> Iterator[None]:
        redis = _module()
        try:
            yield
        except redis.ResponseError as exc:
            if _LOST in str(exc):
                raise LeaseLostError(f"lease {self.key} is no longer {self.owner}'s") from exc
            raise
