"""SQLite state stores on sqlitedict, with values encoded as CBOR (never pickle).

Every store opened on the same file shares one sqlitedict connection, hence one
transaction: SQLite allows one writer per file, so two connections that both
hold uncommitted writes would wait on each other until a timeout. The price is
that ``commit()`` on any store commits every store open on that file.

Writes are buffered in the open transaction until ``commit()`` (or ``close()``);
reads go through the same connection and so see them. sqlitedict runs writes
in the background, so a failing write (say, of a key with a lone surrogate)
raises at the next call on that file. A store may be used from any thread.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from hashlib import blake2b
from typing import Any

import cbor2
from sqlitedict import SqliteDict, SqliteMultithread
from typing_extensions import override

from d8a._sqlite import prepare_wal
from d8a.errors import ConfigurationError
from d8a.storage.base import KV, Set, StateStore

__all__ = ["SQLiteKV", "SQLiteSet"]

_TABLE = re.compile(r"[A-Za-z0-9_]+\Z")

_CHUNK = 400
"""Rows per multi-row statement: two parameters each stays under 999, the
variable limit of old SQLite builds."""

_SUFFIX = 33
"""Length of a Set row key's tail: a NUL and 32 hex digits of the member's digest."""


def _encode(value: bytes) -> bytes:
    return cbor2.dumps(value)


def _decode(data: bytes) -> bytes:
    value = cbor2.loads(data)
    if not isinstance(value, bytes):
        raise TypeError(f"expected a CBOR byte string, got {type(value).__name__}")
    return value


def _successor(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix``.

    Keys compare as UTF-8 bytes in SQLite, which is code point order, as in Python.
    """
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    last = ord(stripped[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be stored; skip over them
        last = 0xE000
    return stripped[:-1] + chr(last)


def _prefix_range(prefix: str) -> tuple[str, tuple[str, ...]]:
    """A WHERE clause (with leading space) selecting the keys that start with ``prefix``."""
    if not prefix:
        return "", ()
    upper = _successor(prefix)
    if upper is None:
        return " WHERE key >= ?", (prefix,)
    return " WHERE key >= ? AND key < ?", (prefix, upper)


def _chunks(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


_OPEN_TIMEOUT = 30.0
"""Seconds to retry the races of several processes opening one new file."""


class _Connections:
    """One sqlitedict connection per database file, counted by its users."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[Any, int]] = {}

    def acquire(self, filename: str) -> Any:
        key = os.path.realpath(filename)
        with self._lock:
            conn, users = self._open.get(key, (None, 0))
            if conn is None:
                prepare_wal(filename, _OPEN_TIMEOUT)  # other processes may open it now too
                conn = SqliteMultithread(
                    filename, autocommit=False, journal_mode="WAL", outer_stack=False
                )
                # sqlitedict sets synchronous=OFF, which may lose committed
                # writes on a power cut; NORMAL is the WAL setting that does not.
                conn.execute("PRAGMA synchronous=NORMAL")
            self._open[key] = (conn, users + 1)
            return conn

    def release(self, filename: str, force: bool) -> None:
        key = os.path.realpath(filename)
        with self._lock:
            conn, users = self._open.pop(key, (None, 0))
            if conn is None:
                return
            if users > 1:
                self._open[key] = (conn, users - 1)
            else:
                conn.close(force=force)


_connections = _Connections()


class _SharedDict(SqliteDict):  # type: ignore[misc]  # sqlitedict is untyped
    """A SqliteDict that borrows its file's shared connection instead of opening one."""

    @override
    def _new_conn(self) -> Any:
        return _connections.acquire(self.filename)

    @override
    def close(self, do_log: bool = True, force: bool = False) -> None:
        # Also called by SqliteDict.__del__ (with force=True) on a store never closed.
        conn, self.conn = getattr(self, "conn", None), None
        if conn is not None:
            _connections.release(self.filename, force=force)


class _SQLiteStore(StateStore):
    """A table in a SQLite file, reached through a shared sqlitedict connection."""

    durable = True

    def __init__(self, path: str | os.PathLike[str], table: str) -> None:
        if not _TABLE.match(table):
            raise ConfigurationError(f"table name {table!r}: use letters, digits and _ only")
        self._table = table
        self._dict = _SharedDict(
            os.fspath(path),
            tablename=table,
            autocommit=False,
            journal_mode="WAL",
            encode=_encode,
            decode=_decode,
            outer_stack=False,
        )

    @property
    def _conn(self) -> Any:
        conn = self._dict.conn
        if conn is None:
            raise ValueError(f"{type(self).__name__} on {self._dict.filename!r} is closed")
        return conn

    @override
    def commit(self) -> None:
        self._conn.commit()

    @override
    def close(self) -> None:
        if self._dict.conn is not None:
            self._dict.conn.commit()
            self._dict.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._dict.filename!r}, table={self._table!r})"


class SQLiteKV(_SQLiteStore, KV):
    """A durable ``KV``: one row per key in ``table`` of the SQLite file at ``path``."""

    def __init__(self, path: str | os.PathLike[str], table: str = "kv") -> None:
        super().__init__(path, table)

    @override
    def get(self, key: str) -> bytes | None:
        row = self._conn.select_one(f'SELECT value FROM "{self._table}" WHERE key = ?', (key,))
        return None if row is None else _decode(row[0])

    @override
    def set(self, key: str, value: bytes) -> None:
        sql = f'INSERT OR REPLACE INTO "{self._table}" (key, value) VALUES (?, ?)'
        self._conn.execute(sql, (key, _encode(value)))

    @override
    def delete(self, key: str) -> None:
        # Not `del self._dict[key]`: that costs a round trip to raise KeyError.
        self._conn.execute(f'DELETE FROM "{self._table}" WHERE key = ?', (key,))

    @override
    def scan(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        where, args = _prefix_range(prefix)
        sql = f'SELECT key, value FROM "{self._table}"{where} ORDER BY key'
        for key, value in self._conn.select(sql, args):
            yield key, _decode(value)

    @override
    def set_many(self, items: Mapping[str, bytes]) -> None:
        # sqlitedict's executemany queues one request per row; a multi-row
        # statement is one request per chunk.
        rows = [(key, _encode(value)) for key, value in items.items()]
        for chunk in _chunks(rows):
            values = ",".join(["(?,?)"] * len(chunk))
            sql = f'INSERT OR REPLACE INTO "{self._table}" (key, value) VALUES {values}'
            self._conn.execute(sql, [arg for row in chunk for arg in row])

    @override
    def delete_many(self, keys: Iterable[str]) -> None:
        for chunk in _chunks(list(keys)):
            marks = ",".join(["?"] * len(chunk))
            self._conn.execute(f'DELETE FROM "{self._table}" WHERE key IN ({marks})', chunk)


class SQLiteSet(_SQLiteStore, Set):
    """A durable ``Set``: one row per member in ``table`` of the SQLite file at ``path``.

    A member's row key is ``f"{key}\\x00{digest}"`` with a 128-bit BLAKE2b digest
    of the member, so re-adding a member rewrites nothing.
    """

    def __init__(self, path: str | os.PathLike[str], table: str = "set") -> None:
        super().__init__(path, table)

    @staticmethod
    def _row_key(key: str, member: bytes) -> str:
        return f"{key}\x00{blake2b(member, digest_size=16).hexdigest()}"

    def _of_set(self, key: str) -> tuple[str, tuple[object, ...]]:
        # The rows of `key` lie between key+"\0" and key+"\1"; so do those of a
        # key like key+"\0x", which the exact byte length tells apart
        # (length() of TEXT stops at a NUL, that of a BLOB does not).
        where = "key >= ? AND key < ? AND length(CAST(key AS BLOB)) = ?"
        return where, (f"{key}\x00", f"{key}\x01", len(key.encode()) + _SUFFIX)

    @override
    def add(self, key: str, member: bytes) -> None:
        self._conn.execute(
            f'INSERT OR IGNORE INTO "{self._table}" (key, value) VALUES (?, ?)',
            (self._row_key(key, member), _encode(member)),
        )

    @override
    def members(self, key: str) -> list[bytes]:
        where, args = self._of_set(key)
        sql = f'SELECT value FROM "{self._table}" WHERE {where}'
        return [_decode(value) for (value,) in self._conn.select(sql, args)]

    @override
    def remove(self, key: str, member: bytes) -> None:
        sql = f'DELETE FROM "{self._table}" WHERE key = ?'
        self._conn.execute(sql, (self._row_key(key, member),))

    @override
    def drop(self, key: str) -> None:
        where, args = self._of_set(key)
        self._conn.execute(f'DELETE FROM "{self._table}" WHERE {where}', args)

    @override
    def keys(self, prefix: str = "") -> Iterator[str]:
        # Cutting the tail off as a BLOB and sorting those keeps code point
        # order even when keys contain NUL, which row key order would not.
        where, args = _prefix_range(prefix)
        blob = "CAST(key AS BLOB)"
        sql = (
            f"SELECT DISTINCT substr({blob}, 1, length({blob}) - {_SUFFIX}) AS k"
            f' FROM "{self._table}"{where} ORDER BY k'
        )
        for (raw,) in self._conn.select(sql, args):
            key = bytes(raw).decode()
            # A prefix may reach into the tail: "a\0" matches the rows of "a".
            if key.startswith(prefix):
                yield key

    @override
    def add_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        rows = [(self._row_key(key, member), _encode(member)) for key, member in items]
        for chunk in _chunks(rows):
            values = ",".join(["(?,?)"] * len(chunk))
            sql = f'INSERT OR IGNORE INTO "{self._table}" (key, value) VALUES {values}'
            self._conn.execute(sql, [arg for row in chunk for arg in row])

    @override
    def replace(self, key: str, members: Iterable[bytes]) -> None:
        # Atomic because both statements join the open transaction.
        self.drop(key)
        self.add_many((key, member) for member in members)
