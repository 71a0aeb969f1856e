"""Redis state stores: protosession state shared by every worker that reaches the server.

Writes go to the server at once (``commit()`` has nothing to do), so every
process sees them, and a partition's state moves with the partition when
another worker takes it over. Each store lives under a ``namespace``:

* ``RedisKV``: the hash ``<ns>:kv`` holds the values, the sorted set
  ``<ns>:kv:keys`` the keys (all with score 0, so ``ZRANGEBYLEX`` returns them
  in byte order, which for UTF-8 is code point order, as ``scan`` promises);
* ``RedisSet``: one Redis set ``<ns>:set:<key>`` per key, and the index
  ``<ns>:set:keys`` of the non-empty ones.

Every method is one atomic step on the server (``MULTI`` or a Lua script), so
a crash never leaves a value without its index entry; each may be retried
after a ``TransientError`` (setting, adding and removing are idempotent).

With a ``fence`` (a :class:`~d8a._redis.Fence` on a partition lease, as the
scaled worker gives them) every write runs in a Lua script that first checks
the lease, and raises :class:`~d8a._redis.LeaseLostError` once it is another
worker's: a worker that lost its lease cannot change the state the next owner
took over, however late it notices. A fenced :class:`RedisKV` also keeps a
write-through cache of its newest ``CACHE_KEYS`` keys (absent ones too): while
the lease holds, no other process writes its namespace, so a read of a key it
wrote or read before needs no round trip.
``durable`` is True: committed means written to the server, which is as
durable as the server's own persistence settings make it. Thread-safe
(redis-py's connection pool is).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from typing_extensions import override

from d8a._redis import Fence, connect, transient
from d8a.storage.base import KV, Set, StateStore

__all__ = ["RedisKV", "RedisSet"]

_PAGE = 500
"""Keys per ``ZRANGEBYLEX`` page while scanning."""
_ITEMS = 2000
CACHE_KEYS = 100_000
"""Keys a fenced :class:`RedisKV` remembers (least recently used ones go first)."""
"""Items per command in a fenced write (Lua's ``unpack`` takes a few thousand values)."""

_REMOVE = """
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[2]) end
"""


def _range(prefix: bytes) -> tuple[bytes, bytes]:
    """``ZRANGEBYLEX`` bounds of the members that start with ``prefix``.

    UTF-8 never contains the byte 0xFF, so ``prefix + b"\\xff"`` is above every
    key with that prefix and below every other greater key.
    """
    if not prefix:
        return b"-", b"+"
    return b"[" + prefix, b"(" + prefix + b"\xff"


def _split(command: list[Any]) -> list[list[Any]]:
    """``[name, key, *items]`` as commands of at most ``_ITEMS`` items (pairs kept)."""
    head, items = command[:2], command[2:]
    if len(items) <= _ITEMS:
        return [command]
    step = 2 if command[0] in ("HSET", "ZADD") else 1
    size = _ITEMS - _ITEMS % step
    return [head + items[start : start + size] for start in range(0, len(items), size)]


class _RedisStore(StateStore):
    durable = True

    def __init__(self, client: Any, namespace: str, fence: Fence | None = None) -> None:
        self._client, self._owned = connect(client)
        self._closed = False
        self.namespace = namespace
        self.fence = fence

    def _write(self, commands: list[list[Any]]) -> None:
        """Run ``commands`` as one atomic step (fenced, when the store has a fence)."""
        if self.fence is None:
            with transient(), self._redis.pipeline(transaction=True) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                pipe.execute()
            return
        self._redis  # noqa: B018  # raises when closed
        self.fence.run([part for command in commands for part in _split(command)])

    @property
    def _redis(self) -> Any:
        if self._closed:
            raise ValueError(f"{type(self).__name__} {self.namespace!r} is closed")
        return self._client

    def _index_scan(self, index: bytes, prefix: str) -> Iterator[list[bytes]]:
        """Pages of the members of ``index`` starting with ``prefix``, in order."""
        low, high = _range(prefix.encode())
        while True:
            with transient():
                page: list[bytes] = self._redis.zrangebylex(index, low, high, start=0, num=_PAGE)
            if not page:
                return
            yield page
            if len(page) < _PAGE:
                return
            low = b"(" + page[-1]

    @override
    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._owned:
                self._client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(namespace={self.namespace!r})"


class RedisKV(_RedisStore, KV):
    """A ``KV`` in one Redis hash plus a sorted index of its keys.

    ``client`` is a ``redis://host:port/db`` URL or a redis-py client (which the
    store then does not close).
    """

    def __init__(
        self, client: Any, namespace: str = "d8a:state", *, fence: Fence | None = None
    ) -> None:
        super().__init__(client, namespace, fence)
        self._hash = f"{namespace}:kv".encode()
        self._index = f"{namespace}:kv:keys".encode()
        self._cache: OrderedDict[str, bytes | None] | None = (
            None if fence is None else OrderedDict()
        )

    def _remember(self, key: str, value: bytes | None) -> None:
        cache = self._cache
        if cache is None:
            return
        cache[key] = value
        cache.move_to_end(key)
        if len(cache) > CACHE_KEYS:
            cache.popitem(last=False)

    @override
    def get(self, key: str) -> bytes | None:
        cache = self._cache
        if cache is not None and key in cache:
            self._redis  # noqa: B018  # raises when closed
            cache.move_to_end(key)
            return cache[key]
        with transient():
            value: bytes | None = self._redis.hget(self._hash, key.encode())
        self._remember(key, value)
        return value

    @override
    def set(self, key: str, value: bytes) -> None:
        self.set_many({key: value})

    @override
    def delete(self, key: str) -> None:
        self.delete_many([key])

    @override
    def scan(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        for page in self._index_scan(self._index, prefix):
            with transient():
                values: list[bytes | None] = self._redis.hmget(self._hash, page)
            for key, value in zip(page, values, strict=True):
                if value is not None:  # deleted since the page was read
                    yield key.decode(), value

    @override
    def set_many(self, items: Mapping[str, bytes]) -> None:
        if not items:
            return
        pairs: list[Any] = []
        scored: list[Any] = []
        for key, value in items.items():
            raw = key.encode()
            pairs += [raw, value]
            scored += [0, raw]
        self._write([["HSET", self._hash, *pairs], ["ZADD", self._index, *scored]])
        for key, value in items.items():
            self._remember(key, value)

    @override
    def delete_many(self, keys: Iterable[str]) -> None:
        encoded = [key.encode() for key in keys]
        if not encoded:
            return
        self._write([["HDEL", self._hash, *encoded], ["ZREM", self._index, *encoded]])
        if self._cache is not None:
            for raw in encoded:
                self._remember(raw.decode(), None)


class RedisSet(_RedisStore, Set):
    """A ``Set`` as one Redis set per key plus a sorted index of the non-empty keys.

    ``client`` is a ``redis://host:port/db`` URL or a redis-py client (which the
    store then does not close).
    """

    def __init__(
        self, client: Any, namespace: str = "d8a:state", *, fence: Fence | None = None
    ) -> None:
        super().__init__(client, namespace, fence)
        self._prefix = f"{namespace}:set:".encode()
        self._index = f"{namespace}:set:keys".encode()
        self._remove = self._client.register_script(_REMOVE)

    def _key(self, key: bytes) -> bytes:
        return self._prefix + key

    @override
    def add(self, key: str, member: bytes) -> None:
        self.add_many([(key, member)])

    @override
    def members(self, key: str) -> list[bytes]:
        with transient():
            found: set[bytes] = self._redis.smembers(self._key(key.encode()))
        return list(found)

    @override
    def remove(self, key: str, member: bytes) -> None:
        raw = key.encode()
        if self.fence is not None:  # two fenced steps: at worst an index entry stays
            self._write([["SREM", self._key(raw), member]])
            with transient():
                empty = not self._redis.exists(self._key(raw))
            if empty:
                self._write([["ZREM", self._index, raw]])
            return
        with transient():
            self._remove(keys=[self._key(raw), self._index], args=[member, raw], client=self._redis)

    @override
    def drop(self, key: str) -> None:
        raw = key.encode()
        self._write([["DEL", self._key(raw)], ["ZREM", self._index, raw]])

    @override
    def keys(self, prefix: str = "") -> Iterator[str]:
        for page in self._index_scan(self._index, prefix):
            for key in page:
                yield key.decode()

    @override
    def add_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        groups: dict[bytes, list[bytes]] = {}
        for key, member in items:
            groups.setdefault(key.encode(), []).append(member)
        if not groups:
            return
        commands: list[list[Any]] = [["SADD", self._key(raw), *m] for raw, m in groups.items()]
        commands.append(["ZADD", self._index, *(part for raw in groups for part in (0, raw))])
        self._write(commands)

    @override
    def replace(self, key: str, members: Iterable[bytes]) -> None:
        raw = key.encode()
        wanted = list(members)
        commands: list[list[Any]] = [["DEL", self._key(raw)]]
        if wanted:
            commands += [["SADD", self._key(raw), *wanted], ["ZADD", self._index, 0, raw]]
        else:
            commands.append(["ZREM", self._index, raw])
        self._write(commands)
