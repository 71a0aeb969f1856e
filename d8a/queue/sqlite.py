"""A durable queue in one SQLite table: many publishing processes, one consumer.

Each ``publish()`` is one ``BEGIN IMMEDIATE`` transaction, so processes that
publish to the same file take turns and a task's sequence number is its
publication order. A consumer remembers in memory the highest sequence number
it has delivered and counts each delivery in the row's ``attempts``; an
acknowledged row is deleted. A new consumer starts again from the oldest row,
which is how tasks received before a crash and never acknowledged come back,
with ``attempt`` of 2 or more. Run one consumer per queue at a time.

A locked database (another process kept the write lock past the busy timeout)
raises ``TransientError``.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import cast

import cbor2
from typing_extensions import override

from d8a._sqlite import is_locked, use_wal
from d8a.errors import ConfigurationError, TransientError
from d8a.queue.base import Consumer, Delivery, Publisher, Task

__all__ = ["SQLiteQueue"]

_NAME = re.compile(r"[A-Za-z0-9_]+\Z")
_BUSY_TIMEOUT_MS = 30_000
_POLL_MIN = 0.005
_POLL_MAX = 0.02
_CHUNK = 500
"""Sequence numbers per ``IN (...)``: under 999, the variable limit of old SQLite builds."""


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: transactions are begun explicitly, as IMMEDIATE.
    conn = sqlite3.connect(
        path,
        timeout=_BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        with _transient():
            conn.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_MS)}")
            use_wal(conn, _BUSY_TIMEOUT_MS / 1000)
            conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def _transient() -> Iterator[None]:
    """Turn SQLite's "database is locked" (or busy) into ``TransientError``."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if is_locked(exc):
            raise TransientError(f"SQLite queue: {exc}") from exc
        raise


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the write lock up front, and so never deadlocks."""
    with _transient():
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def _seqs(receipts: Sequence[str]) -> list[int]:
    # Receipts from elsewhere are unknown, and acknowledging those is a no-op.
    return [int(receipt) for receipt in receipts if receipt.isascii() and receipt.isdigit()]


def _chunks(seqs: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(seqs), _CHUNK):
        yield seqs[start : start + _CHUNK]


class SQLiteQueue:
    """The queue ``name`` in the SQLite file at ``path``; hands out publishers and consumers.

    Creates the table ``queue_<name>`` if needed. Cheap to create: it holds no
    connection, each publisher and consumer opens its own.
    """

    def __init__(self, path: str | os.PathLike[str], name: str = "hits") -> None:
        if not _NAME.match(name):
            raise ConfigurationError(f"queue name {name!r}: use letters, digits and _ only")
        self.path = os.fspath(path)
        self.table = f"queue_{name}"
        with closing(_connect(self.path)) as conn, _transient():
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{self.table}" ('
                # AUTOINCREMENT: a sequence number is never reused, even after
                # the newest row is acknowledged, which the consumer's cursor needs.
                " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " type TEXT NOT NULL,"
                " partition INTEGER NOT NULL,"
                " headers BLOB NOT NULL,"
                " body BLOB NOT NULL,"
                " attempts INTEGER NOT NULL DEFAULT 0)"
            )

    def publisher(self) -> Publisher:
        """A new publisher with its own connection; thread-safe."""
        return _SQLitePublisher(self.path, self.table)

    def consumer(self) -> Consumer:
        """A new consumer starting from the oldest unacknowledged task."""
        return _SQLiteConsumer(self.path, self.table)

    def __repr__(self) -> str:
        return f"SQLiteQueue({self.path!r}, name={self.table.removeprefix('queue_')!r})"


class _Connected:
    """Owns one connection, used by one thread at a time under a lock."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = _connect(path)

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class _SQLitePublisher(_Connected, Publisher):
    def __init__(self, path: str, table: str) -> None:
        super().__init__(path)
        self._insert = f'INSERT INTO "{table}" (type, partition, headers, body) VALUES (?, ?, ?, ?)'

    @override
    def publish(self, tasks: Sequence[Task]) -> None:
        rows = [(t.type, t.partition, cbor2.dumps(dict(t.headers)), t.body) for t in tasks]
        if not rows:
            return
        with self._lock, _immediate(self._conn) as conn:
            conn.executemany(self._insert, rows)

    @override
    def close(self) -> None:
        _Connected.close(self)


class _SQLiteConsumer(_Connected, Consumer):
    def __init__(self, path: str, table: str) -> None:
        super().__init__(path)
        self._table = table
        self._cursor = 0
        """The highest sequence number this consumer has delivered."""
        self._released: set[int] = set()

    @override
    def receive(self, max_tasks: int = 100, timeout: float = 0.0) -> list[Delivery]:
        if max_tasks < 1:
            raise ValueError(f"max_tasks must be at least 1, got {max_tasks}")
        deadline = time.monotonic() + timeout
        pause = _POLL_MIN
        while True:
            deliveries = self._take(max_tasks)
            remaining = deadline - time.monotonic()
            if deliveries or remaining <= 0:
                return deliveries
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, _POLL_MAX)

    def _take(self, max_tasks: int) -> list[Delivery]:
        select = f'SELECT seq, type, partition, headers, body, attempts FROM "{self._table}"'
        with self._lock, _transient():
            conn = self._conn
            # Reading outside a transaction keeps an idle consumer off the write lock.
            again = sorted(self._released)[:max_tasks]
            marks = ",".join("?" * len(again))
            rows: list[tuple[int, str, int, bytes, bytes, int]] = (
                conn.execute(f"{select} WHERE seq IN ({marks}) ORDER BY seq", again).fetchall()
                if again
                else []
            )
            if len(rows) < max_tasks:
                sql = f"{select} WHERE seq > ? ORDER BY seq LIMIT ?"
                rows += conn.execute(sql, (self._cursor, max_tasks - len(rows))).fetchall()
            if rows:
                with _immediate(conn):
                    sql = f'UPDATE "{self._table}" SET attempts = attempts + 1 WHERE seq = ?'
                    conn.executemany(sql, [(row[0],) for row in rows])
                self._cursor = max(self._cursor, rows[-1][0])
            # Released rows that are gone were acknowledged meanwhile.
            self._released.difference_update(again)
        return [
            Delivery(
                Task(type_, body, cast(Mapping[str, str], cbor2.loads(headers)), partition),
                str(seq),
                attempts + 1,
            )
            for seq, type_, partition, headers, body, attempts in rows
        ]

    @override
    def ack(self, receipts: Sequence[str]) -> None:
        seqs = _seqs(receipts)
        if not seqs:
            return
        with self._lock, _immediate(self._conn) as conn:
            for chunk in _chunks(seqs):
                marks = ",".join("?" * len(chunk))
                conn.execute(f'DELETE FROM "{self._table}" WHERE seq IN ({marks})', chunk)
            self._released.difference_update(seqs)

    @override
    def release(self, receipts: Sequence[str]) -> None:
        with self._lock:
            self._released.update(seq for seq in _seqs(receipts) if seq <= self._cursor)

    @override
    def pending(self) -> int:
        with self._lock, _transient():
            (count,) = self._conn.execute(f'SELECT COUNT(*) FROM "{self._table}"').fetchone()
        return cast(int, count)

    @override
    def close(self) -> None:
        _Connected.close(self)
