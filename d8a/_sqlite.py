"""What SQLite's errors mean to d8a, and opening a file that several processes share."""

from __future__ import annotations

import os
import sqlite3
import time

__all__ = ["is_locked", "prepare_wal", "use_wal"]

_WAL_RETRY_FIRST = 0.005
_WAL_RETRY_MAX = 0.1


def is_locked(exc: sqlite3.OperationalError) -> bool:
    """True for "database is locked" / "busy": another writer holds the file, retry."""
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def _is_racing(exc: sqlite3.OperationalError) -> bool:
    """Errors another process's first open of the same file can cause: retry them.

    Switching a file to WAL takes an exclusive lock and answers "database is
    locked" at once, without waiting for ``busy_timeout``; a connection that
    reads while another process initialises the WAL index may see "disk I/O
    error" (SQLITE_IOERR_SHORT_READ and kin).
    """
    return is_locked(exc) or "disk i/o error" in str(exc).lower()


def use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put ``conn``'s file in WAL mode and read its schema once, retrying the races
    with other processes opening the same file for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = _WAL_RETRY_FIRST
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode is not None and str(mode[0]).lower() == "wal":
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return
            if mode is not None and str(mode[0]).lower() == "memory":
                return  # ":memory:" databases have no WAL; nothing shares them
        except sqlite3.OperationalError as exc:
            if not _is_racing(exc) or time.monotonic() >= deadline:
                raise
        else:
            if time.monotonic() >= deadline:
                raise sqlite3.OperationalError(f"could not switch to WAL (mode {mode!r})")
        time.sleep(pause)
        pause = min(pause * 2, _WAL_RETRY_MAX)


def prepare_wal(path: str | os.PathLike[str], timeout: float) -> None:
    """Switch the file at ``path`` to WAL (it stays so) before a library that sets
    the mode without retrying, such as sqlitedict, opens it."""
    if os.fspath(path) in ("", ":memory:"):
        return
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        use_wal(conn, timeout)
    finally:
        conn.close()
