"""The task queue: its ABCs and the in-memory and SQLite backends."""

from __future__ import annotations

from d8a.queue.base import (
    Consumer,
    Delivery,
    Middleware,
    Publisher,
    Task,
    TaskHandler,
    Worker,
)
from d8a.queue.memory import MemoryQueue
from d8a.queue.sqlite import SQLiteQueue

__all__ = [
    "Consumer",
    "Delivery",
    "MemoryQueue",
    "Middleware",
    "Publisher",
    "SQLiteQueue",
    "Task",
    "TaskHandler",
    "Worker",
]
