"""Several processes opening one new SQLite file at once all succeed.

Switching a file to WAL answers "database is locked" at once, without waiting
for busy_timeout, and a reader racing the WAL set-up can see "disk I/O
error": two ``d8a worker`` processes started together on a new warehouse
file failed so. The warehouse driver, the queue and the state store retry
those races while they open the file.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pyarrow as pa
import pytest

from d8a._sqlite import prepare_wal, use_wal
from d8a.errors import TableNotFoundError
from d8a.queue.sqlite import SQLiteQueue
from d8a.storage.sqlite import SQLiteKV
from d8a.warehouse.sqlite import SQLiteDriver

PROCESSES = 4
ROUNDS = 8


def _open_driver(path: str) -> None:
    driver = SQLiteDriver(path)
    try:
        driver.missing_columns("events", pa.schema([("id", pa.string())]))
    except TableNotFoundError:  # what a new file should say
        pass
    finally:
        driver.close()


def _open_queue(path: str) -> None:
    SQLiteQueue(path).publisher().close()


def _open_state(path: str) -> None:
    kv = SQLiteKV(path)
    kv.close()


OPENERS: dict[str, Callable[[str], None]] = {
    "warehouse": _open_driver,
    "queue": _open_queue,
    "state": _open_state,
}

_barrier: Barrier | None = None


def _init(barrier: Barrier) -> None:
    global _barrier
    _barrier = barrier


def _race(kind: str, path: str) -> str | None:
    assert _barrier is not None
    _barrier.wait(timeout=60)
    try:
        OPENERS[kind](path)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="module")
def pool() -> multiprocessing.pool.Pool:  # type: ignore[name-defined]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    with context.Pool(PROCESSES, initializer=_init, initargs=(barrier,)) as workers:
        yield workers


@pytest.mark.parametrize("kind", sorted(OPENERS))
def test_processes_opening_a_new_file_together_all_succeed(
    pool: multiprocessing.pool.Pool,  # type: ignore[name-defined]
    tmp_path: Path,
    kind: str,
) -> None:
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"{kind}-{round_}.db")
        errors = pool.starmap(_race, [(kind, path)] * PROCESSES)
        assert errors == [None] * PROCESSES
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_use_wal_waits_for_a_connection_holding_the_file(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        use_wal(conn, timeout=10)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        conn.close()
    finally:
        release.join()
        holder.close()


def test_use_wal_gives_up_after_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            use_wal(conn, timeout=0.2)
        conn.close()
    finally:
        holder.execute("COMMIT")
        holder.close()


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        prepare_wal(tmp_path / "missing-dir" / "x.db", timeout=30)


def test_memory_databases_need_no_wal() -> None:
    conn = sqlite3.connect(":memory:")
    use_wal(conn, timeout=1)  # returns at once: a memory database has no WAL
    prepare_wal(":memory:", timeout=1)
