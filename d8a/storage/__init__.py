"""State stores: the ``KV`` and ``Set`` ABCs and their in-memory and SQLite backends."""

from __future__ import annotations

from d8a.storage.base import KV, Set, StateStore
from d8a.storage.memory import MemoryKV, MemorySet
from d8a.storage.sqlite import SQLiteKV, SQLiteSet

__all__ = ["KV", "MemoryKV", "MemorySet", "SQLiteKV", "SQLiteSet", "Set", "StateStore"]
