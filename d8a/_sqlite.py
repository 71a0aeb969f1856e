"""What SQLite's errors mean to d8a, for every module that talks to SQLite."""

from __future__ import annotations

import sqlite3

__all__ = ["is_locked"]


def is_locked(exc: sqlite3.OperationalError) -> bool:
    """True for "database is locked" / "busy": another writer holds the file, retry."""
    message = str(exc).lower()
    return "locked" in message or "busy" in message
