"""In-memory state stores: dicts, gone when the process ends.

For tests, replays and hosts that rebuild their state from the queue after a
restart. Not thread-safe, like the ABCs they implement.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from typing_extensions import override

from d8a.storage.base import KV, Set

__all__ = ["MemoryKV", "MemorySet"]


class MemoryKV(KV):
    """A ``KV`` in a dict; ``commit()`` and ``close()`` do nothing."""

    durable = False

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    @override
    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    @override
    def set(self, key: str, value: bytes) -> None:
        self._data[key] = value

    @override
    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    @override
    def scan(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        # Snapshot the matching keys so that the caller may write while iterating.
        for key in sorted(k for k in self._data if k.startswith(prefix)):
            value = self._data.get(key)
            if value is not None:
                yield key, value

    @override
    def set_many(self, items: Mapping[str, bytes]) -> None:
        self._data.update(items)

    @override
    def delete_many(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._data.pop(key, None)


class MemorySet(Set):
    """A ``Set`` in a dict of dicts, which keep members in insertion order."""

    durable = False

    def __init__(self) -> None:
        # A dict rather than a set so that members() is deterministic for a
        # given sequence of adds, which keeps replays reproducible.
        self._sets: dict[str, dict[bytes, None]] = {}

    @override
    def add(self, key: str, member: bytes) -> None:
        self._sets.setdefault(key, {})[member] = None

    @override
    def members(self, key: str) -> list[bytes]:
        return list(self._sets.get(key, ()))

    @override
    def remove(self, key: str, member: bytes) -> None:
        members = self._sets.get(key)
        if members is None:
            return
        members.pop(member, None)
        if not members:
            # keys() lists non-empty sets only.
            del self._sets[key]

    @override
    def drop(self, key: str) -> None:
        self._sets.pop(key, None)

    @override
    def keys(self, prefix: str = "") -> Iterator[str]:
        for key in sorted(k for k in self._sets if k.startswith(prefix)):
            if key in self._sets:
                yield key

    @override
    def add_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        sets = self._sets
        for key, member in items:
            sets.setdefault(key, {})[member] = None

    @override
    def replace(self, key: str, members: Iterable[bytes]) -> None:
        new = dict.fromkeys(members)
        if new:
            self._sets[key] = new
        else:
            self._sets.pop(key, None)
