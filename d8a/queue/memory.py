"""An in-process queue: tasks wait in a dict until acknowledged.

For tests, replays and hosts that run receiver and worker in one process and
accept losing queued tasks when it ends. Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from typing_extensions import override

from d8a.encoding import LOCAL_BATCH, LocalHits
from d8a.queue.base import Consumer, Delivery, Publisher, Task

__all__ = ["MemoryQueue"]


@dataclass(slots=True)
class _Entry:
    task: Task
    attempts: int = 0


class MemoryQueue:
    """A queue in memory that hands out publishers and consumers.

    A consumer starts from the oldest unacknowledged task, so opening a new one
    redelivers whatever an earlier consumer received and never acknowledged,
    as a restart would.
    """

    def __init__(self) -> None:
        self.local_hits = LocalHits()
        """Hits published to this queue by a pipeline whose worker state is in memory
        too travel as tokens into this (see :class:`~d8a.encoding.LocalHits`)."""
        self._ready = threading.Condition()
        self._entries: dict[int, _Entry] = {}
        self._next_seq = 1

    def publisher(self) -> Publisher:
        """A new publisher appending to this queue."""
        return _MemoryPublisher(self)

    def consumer(self) -> Consumer:
        """A new consumer starting from the oldest unacknowledged task."""
        return _MemoryConsumer(self)

    def pending(self) -> int:
        """Tasks published and not yet acknowledged."""
        with self._ready:
            return len(self._entries)

    def _put(self, tasks: Sequence[Task]) -> None:
        with self._ready:
            for task in tasks:
                self._entries[self._next_seq] = _Entry(task)
                self._next_seq += 1
            self._ready.notify_all()

    def _take(self, released: set[int], after: int, max_tasks: int) -> list[Delivery]:
        """Deliver the released tasks, then those past ``after``; the caller holds the lock."""
        seqs = sorted(seq for seq in released if seq in self._entries)[:max_tasks]
        released.difference_update(seqs)
        released.intersection_update(self._entries)
        # Entries are in sequence order, so the first is the oldest unacknowledged.
        seq = max(after + 1, next(iter(self._entries), after + 1))
        while len(seqs) < max_tasks and seq < self._next_seq:
            if seq in self._entries:
                seqs.append(seq)
            seq += 1
        deliveries = []
        for seq in seqs:
            entry = self._entries[seq]
            entry.attempts += 1
            deliveries.append(Delivery(entry.task, str(seq), entry.attempts))
        return deliveries

    def _ack(self, seqs: Sequence[int]) -> None:
        """Forget the tasks of ``seqs``; the caller holds the lock."""
        for seq in seqs:
            entry = self._entries.pop(seq, None)
            if entry is not None and entry.task.body.startswith(LOCAL_BATCH):
                self.local_hits.release_batch(entry.task.body)


def _seqs(receipts: Sequence[str]) -> list[int]:
    # Receipts from elsewhere are unknown, and acknowledging those is a no-op.
    return [int(receipt) for receipt in receipts if receipt.isascii() and receipt.isdigit()]


class _MemoryPublisher(Publisher):
    def __init__(self, queue: MemoryQueue) -> None:
        self._queue = queue

    @override
    def publish(self, tasks: Sequence[Task]) -> None:
        if tasks:
            self._queue._put(tasks)


class _MemoryConsumer(Consumer):
    def __init__(self, queue: MemoryQueue) -> None:
        self._queue = queue
        self._cursor = 0
        """The highest sequence number this consumer has delivered."""
        self._released: set[int] = set()

    @override
    def receive(self, max_tasks: int = 100, timeout: float = 0.0) -> list[Delivery]:
        if max_tasks < 1:
            raise ValueError(f"max_tasks must be at least 1, got {max_tasks}")
        deadline = time.monotonic() + timeout
        queue = self._queue
        with queue._ready:
            while True:
                deliveries = queue._take(self._released, self._cursor, max_tasks)
                if deliveries:
                    self._cursor = max(self._cursor, int(deliveries[-1].receipt))
                    return deliveries
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                queue._ready.wait(remaining)

    @override
    def ack(self, receipts: Sequence[str]) -> None:
        seqs = _seqs(receipts)
        with self._queue._ready:
            self._queue._ack(seqs)
            self._released.difference_update(seqs)

    @override
    def release(self, receipts: Sequence[str]) -> None:
        with self._queue._ready:
            self._released.update(seq for seq in _seqs(receipts) if seq <= self._cursor)
            self._queue._ready.notify_all()

    @override
    def pending(self) -> int:
        return self._queue.pending()
