"""The queue conformance suite on the memory and SQLite backends, and SQLite specifics."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from d8a.errors import ConfigurationError, TransientError
from d8a.queue import MemoryQueue, SQLiteQueue, Task
from d8a.queue import sqlite as sqlite_queue
from d8a.testing.queue_conformance import QueueBackend, QueueConformance


class TestMemoryQueue(QueueConformance):
    @pytest.fixture
    def make_queue(self) -> Callable[[], QueueBackend]:
        queue = MemoryQueue()
        return lambda: queue


class TestSQLiteQueue(QueueConformance):
    @pytest.fixture
    def make_queue(self, tmp_path: Path) -> Callable[[], QueueBackend]:
        return lambda: SQLiteQueue(tmp_path / "queue.db")


_PROCESSES = 4
_TASKS_PER_PROCESS = 150


def _publish_from_process(path: str, process: int, start: Barrier) -> None:
    with SQLiteQueue(path).publisher() as publisher:
        start.wait()
        n = 0
        while n < _TASKS_PER_PROCESS:
            # Batches of 1 to 5 tasks, each one transaction.
            size = min(1 + n % 5, _TASKS_PER_PROCESS - n)
            publisher.publish(
                [
                    Task("test", f"{process}:{i}".encode(), partition=process)
                    for i in range(n, n + size)
                ]
            )
            n += size
            time.sleep(0.001)  # let the other processes take the write lock in between


def test_processes_publish_concurrently(tmp_path: Path) -> None:
    path = str(tmp_path / "queue.db")
    queue = SQLiteQueue(path)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(_PROCESSES)
    processes = [
        context.Process(target=_publish_from_process, args=(path, i, start))
        for i in range(_PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    with queue.consumer() as consumer:
        deliveries = consumer.receive(max_tasks=10_000)
        assert consumer.pending() == _PROCESSES * _TASKS_PER_PROCESS
    assert len(deliveries) == _PROCESSES * _TASKS_PER_PROCESS
    for number in range(_PROCESSES):
        mine = [d.task.body for d in deliveries if d.task.partition == number]
        assert mine == [f"{number}:{i}".encode() for i in range(_TASKS_PER_PROCESS)]


def test_consumer_crash_redelivers(tmp_path: Path) -> None:
    queue = SQLiteQueue(tmp_path / "queue.db", name="crash")
    with queue.publisher() as publisher:
        publisher.publish([Task("test", b"1"), Task("test", b"2")])
    crashed = queue.consumer()
    assert [d.attempt for d in crashed.receive()] == [1, 1]
    # Abandoned without ack or release, as by a process that died.
    with SQLiteQueue(tmp_path / "queue.db", name="crash").consumer() as restarted:
        again = restarted.receive()
        assert [(d.task.body, d.attempt, d.redelivered) for d in again] == [
            (b"1", 2, True),
            (b"2", 2, True),
        ]
    crashed.close()


def test_queues_in_one_file_are_separate(tmp_path: Path) -> None:
    hits, other = SQLiteQueue(tmp_path / "q.db"), SQLiteQueue(tmp_path / "q.db", "other")
    with hits.publisher() as publisher:
        publisher.publish([Task("test", b"hit")])
    with other.consumer() as consumer:
        assert consumer.receive() == []
    with hits.consumer() as consumer:
        assert [d.task.body for d in consumer.receive()] == [b"hit"]


def test_locked_database_is_transient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "queue.db"
    queue = SQLiteQueue(path)
    monkeypatch.setattr(sqlite_queue, "_BUSY_TIMEOUT_MS", 50)
    publisher = queue.publisher()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(TransientError):
            publisher.publish([Task("test", b"x")])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    publisher.publish([Task("test", b"x")])  # usable again once the lock is gone
    publisher.close()
    with queue.consumer() as consumer:
        assert [d.task.body for d in consumer.receive()] == [b"x"]


@pytest.mark.parametrize("name", ["", "a-b", 'x"; DROP TABLE t; --'])
def test_queue_names_are_validated(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError):
        SQLiteQueue(tmp_path / "queue.db", name)


def test_receive_rejects_max_tasks_below_one(tmp_path: Path) -> None:
    queues: list[QueueBackend] = [MemoryQueue(), SQLiteQueue(tmp_path / "queue.db")]
    for queue in queues:
        with queue.consumer() as consumer, pytest.raises(ValueError):
            consumer.receive(max_tasks=0)


def test_closed_publisher_raises(tmp_path: Path) -> None:
    publisher = SQLiteQueue(tmp_path / "queue.db").publisher()
    publisher.close()
    publisher.close()
    with pytest.raises(ValueError, match="closed"):
        publisher.publish([Task("test", b"x")])
