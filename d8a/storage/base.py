"""Generic state stores: ``KV`` and ``Set``, the protosessions' memory.

Both map string keys to bytes. Writes may be buffered by an implementation
until :meth:`commit`; reads always see the store's own uncommitted writes.
A committed write survives a crash for a ``durable`` store.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping

from d8a.lifecycle import Closeable

__all__ = ["KV", "Set", "StateStore"]


class StateStore(Closeable, ABC):  # shared lifecycle only; KV and Set are abstract
    """What KV and Set share: lifecycle and commit."""

    durable: bool = False
    """True when committed writes survive the process."""

    def commit(self) -> None:  # a default no-op by design
        """Make buffered writes durable. The default does nothing."""


class KV(StateStore):
    """A key-value map of ``str`` to ``bytes``. Not thread-safe unless stated."""

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The value of ``key``, or None."""

    @abstractmethod
    def set(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key``, replacing any previous value."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    @abstractmethod
    def scan(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """Every (key, value) whose key starts with ``prefix``, in key order."""

    def set_many(self, items: Mapping[str, bytes]) -> None:
        """Store several values; backends may do it in one round trip."""
        for key, value in items.items():
            self.set(key, value)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove several keys."""
        for key in keys:
            self.delete(key)


class Set(StateStore):
    """A map of ``str`` keys to sets of ``bytes`` members. Not thread-safe unless stated.

    Adding a member that is already there is a no-op, which makes re-adding a
    redelivered hit harmless.
    """

    @abstractmethod
    def add(self, key: str, member: bytes) -> None:
        """Add ``member`` to the set under ``key``."""

    @abstractmethod
    def members(self, key: str) -> list[bytes]:
        """The members under ``key`` (no particular order); ``[]`` when none."""

    @abstractmethod
    def remove(self, key: str, member: bytes) -> None:
        """Remove one member; missing is not an error."""

    @abstractmethod
    def drop(self, key: str) -> None:
        """Remove the whole set under ``key``."""

    @abstractmethod
    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every non-empty set's key starting with ``prefix``, in key order."""

    def add_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Add several (key, member) pairs; backends may do it in one round trip."""
        for key, member in items:
            self.add(key, member)

    def replace(self, key: str, members: Iterable[bytes]) -> None:
        """Atomically make ``members`` the whole set under ``key`` (used by compaction)."""
        self.drop(key)
        for member in members:
            self.add(key, member)
