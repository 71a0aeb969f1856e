"""The asynchronous closer: closed protosessions go to a second queue; writers write them.

With the direct closer (the default) the worker computes the rows of a closed
protosession and writes them before it goes on, so a slow warehouse slows the
sessionising. With :class:`AsyncCloser` the worker only publishes the closed
protosessions (their hits, in event order) to a second queue, the *closed
queue*, and goes on; :class:`WriterLoop` processes (``d8a worker --role
writer``) consume that queue, compute the rows with the same
:class:`~d8a.sessions.writer.DirectCloser` and write them. Both give the same rows.

Delivery stays at-least-once end to end:

* the worker acknowledges a hit batch once every hit of it is in a closed
  protosession that :meth:`AsyncCloser.close` published (durable in the closed
  queue); until then the batch comes back after a crash;
* a writer acknowledges a closed-protosession task only after the warehouse
  write committed; until then the task comes back, and the rewrite adds
  nothing (writes are idempotent on the event ``id``).

A hit batch redelivered after a crash may hold hits that were already
published but are not in the warehouse yet. Re-adding those would start a
second protosession for them, or worse, merge them into the client's newer
open one. So :meth:`AsyncCloser.close` first records the published hit ids in
:class:`PublishedHits` (a KV beside the closed queue); the worker skips the
hits found there or in the warehouse, and a writer forgets the ids it wrote.

The closed queue sits beside the hits queue (:func:`open_closed_queue`): the
table ``queue_closed`` of a SQLite queue file, the stream ``<prefix>:closed:0``
of a Redis queue (any number of writers share it as one consumer group), or
another memory queue in the same process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import cbor2
import zstandard
from typing_extensions import override

from d8a.encoding import decode_hit, encode_hit
from d8a.errors import ConfigurationError
from d8a.hits import Hit
from d8a.protosessions.closer import Closer
from d8a.queue.base import Consumer, Delivery, Publisher, Task
from d8a.runner import BackgroundLoop
from d8a.storage.base import KV

if TYPE_CHECKING:
    from d8a.sessions.writer import DirectCloser

__all__ = [
    "CLOSED_FORMAT",
    "CLOSED_PROTOSESSIONS",
    "AsyncCloser",
    "AsyncClosing",
    "PublishedHits",
    "WriterLoop",
    "decode_closed",
    "encode_closed",
    "open_closed_queue",
    "open_published",
]

log = logging.getLogger(__name__)

CLOSED_PROTOSESSIONS = "write-protosessions"
"""Task type of a batch of closed protosessions (body: :func:`encode_closed`)."""
CLOSED_FORMAT = "d8a-closed/1"
"""The ``format`` header of closed-protosession tasks."""
CLOSED_QUEUE = "closed"
"""The name of the closed queue beside the hits queue."""


def encode_closed(protosessions: Sequence[Sequence[Hit]]) -> bytes:
    """``zstd(cbor([[hit, ...], ...]))``, each hit as :func:`~d8a.encoding.encode_hit` gives it."""
    raw = cbor2.dumps([[encode_hit(hit) for hit in hits] for hits in protosessions])
    return zstandard.ZstdCompressor(level=1).compress(raw)


def decode_closed(body: bytes) -> list[list[Hit]]:
    """The protosessions of a body made by :func:`encode_closed`; ValueError if unreadable."""
    try:
        raw = zstandard.ZstdDecompressor().decompress(body)
        decoded = cbor2.loads(raw)
        if not isinstance(decoded, list) or not all(isinstance(p, list) for p in decoded):
            raise ValueError("not a list of protosessions")
        return [[decode_hit(data) for data in hits] for hits in decoded]
    except ValueError:
        raise
    except Exception as exc:  # zstd, CBOR and hit decoding errors alike
        raise ValueError(f"unreadable closed protosessions: {exc}") from exc


class PublishedHits:
    """Ids of hits published in closed protosessions and perhaps not written yet.

    Keys ``published/<hit id>`` in a KV; every change is committed at once.
    """

    _PREFIX = "published/"

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    def add(self, ids: Iterable[str]) -> None:
        """Record ``ids`` as published."""
        self.kv.set_many({self._PREFIX + hit_id: b"" for hit_id in ids})
        self.kv.commit()

    def find(self, ids: Iterable[str]) -> set[str]:
        """The ``ids`` recorded as published."""
        get = self.kv.get
        return {hit_id for hit_id in ids if get(self._PREFIX + hit_id) is not None}

    def discard(self, ids: Iterable[str]) -> None:
        """Forget ``ids`` (they are in the warehouse now)."""
        self.kv.delete_many([self._PREFIX + hit_id for hit_id in ids])
        self.kv.commit()

    def __len__(self) -> int:
        return sum(1 for _ in self.kv.scan(self._PREFIX))


class AsyncCloser(Closer):
    """Publishes closed protosessions, one task per :meth:`close` call, and returns.

    The hit ids are recorded in ``published`` before the task is published: a
    crash in between leaves the protosessions in the worker's state, which
    closes (and publishes) them again at its next start.
    """

    def __init__(self, publisher: Publisher, published: PublishedHits) -> None:
        self._publisher = publisher
        self.published = published
        self.tasks = 0
        """Tasks published so far."""

    @override
    def close(self, protosessions: Sequence[Sequence[Hit]]) -> None:
        if not protosessions:
            return
        self.published.add(hit.id for hits in protosessions for hit in hits)
        body = encode_closed(protosessions)
        headers = {"format": CLOSED_FORMAT}
        self._publisher.publish([Task(CLOSED_PROTOSESSIONS, body, headers)])
        self.tasks += 1


class WriterLoop(BackgroundLoop):
    """Consumes the closed queue and writes the rows with ``closer``.

    Each :meth:`step` writes the protosessions of the tasks it received in one
    ``closer.close`` call (one warehouse write per table), then forgets their
    hit ids in ``published`` and acknowledges the tasks. An unreadable task is
    logged, counted in :attr:`unreadable` and left unacknowledged (it comes
    back when the queue is next opened).
    """

    thread_name = "d8a-writer"

    def __init__(self, consumer: Consumer, closer: DirectCloser, published: PublishedHits) -> None:
        self._consumer = consumer
        self.closer = closer
        self._published = published
        self.unreadable = 0
        self.written = 0
        """Tasks written and acknowledged."""
        super().__init__()

    @override
    def step(self, max_tasks: int = 10, timeout: float = 0.0) -> int:
        """Write up to ``max_tasks`` tasks; returns how many were received."""
        deliveries = self._consumer.receive(max_tasks, timeout)
        protosessions: list[list[Hit]] = []
        done: list[str] = []
        for delivery in deliveries:
            try:
                protosessions += self._read(delivery)
            except ValueError as exc:
                self.unreadable += 1
                log.error("cannot read closed protosessions %s: %s", delivery.receipt, exc)
                continue
            done.append(delivery.receipt)
        if protosessions:
            self.closer.close(protosessions)
            self._published.discard(hit.id for hits in protosessions for hit in hits)
        if done:
            self._consumer.ack(done)
            self.written += len(done)
        return len(deliveries)

    @staticmethod
    def _read(delivery: Delivery) -> list[list[Hit]]:
        task = delivery.task
        if task.type != CLOSED_PROTOSESSIONS:
            raise ValueError(f"unexpected task type {task.type!r}")
        version = task.headers.get("format", CLOSED_FORMAT)
        if version != CLOSED_FORMAT:
            raise ValueError(f"unknown closed-protosession format {version!r}")
        return [hits for hits in decode_closed(task.body) if hits]

    def run_until_empty(self, max_tasks: int = 10) -> int:
        """Write every task available now; returns how many were received."""
        total = 0
        while handled := self.step(max_tasks, 0.0):
            total += handled
        return total

    def close(self) -> None:
        """Stop and close the consumer (unacknowledged tasks go back to the queue)."""
        self.stop()
        self._consumer.close()


def open_closed_queue(queue: Any) -> Any:
    """The closed queue beside the hits queue ``queue`` (see the module docstring)."""
    from d8a.queue.memory import MemoryQueue
    from d8a.queue.sqlite import SQLiteQueue

    if isinstance(queue, SQLiteQueue):
        return SQLiteQueue(queue.path, name=CLOSED_QUEUE)
    if isinstance(queue, MemoryQueue):
        return MemoryQueue()
    sibling = getattr(queue, "sibling", None)
    if callable(sibling):
        return sibling(CLOSED_QUEUE)
    raise ConfigurationError(
        f"no closed queue beside {queue!r}: give one with builder.closer('async', queue=...)"
    )


def open_published(closed_queue: Any) -> KV:
    """The KV of :class:`PublishedHits` beside ``closed_queue``: the table
    ``closed_published`` of a SQLite queue file, the hash ``<stream key>:published``
    on a Redis server (``RedisQueue.kv``), a memory KV for a memory queue."""
    from d8a.queue.memory import MemoryQueue
    from d8a.queue.sqlite import SQLiteQueue

    if isinstance(closed_queue, SQLiteQueue):
        from d8a.storage.sqlite import SQLiteKV

        return SQLiteKV(closed_queue.path, table=f"{closed_queue.table}_published")
    if isinstance(closed_queue, MemoryQueue):
        from d8a.storage.memory import MemoryKV

        return MemoryKV()
    make = getattr(closed_queue, "kv", None)
    if callable(make):
        return cast(KV, make("published"))
    raise ConfigurationError(f"no store for published hit ids beside {closed_queue!r}")


class AsyncClosing:
    """What a pipeline with the asynchronous closer shares between its worker and
    writer sides: the closed queue, its :class:`PublishedHits`, and one
    :class:`~d8a.sessions.writer.DirectCloser` for the writers.

    ``hits_queue`` is the pipeline's queue; ``queue`` (a URL or queue object)
    overrides the closed queue beside it.
    """

    def __init__(self, hits_queue: Any, queue: Any = None) -> None:
        if queue is None:
            self.queue = open_closed_queue(hits_queue)
        else:
            from d8a.wiring import open_queue

            self.queue = open_queue(queue)
        self.published = PublishedHits(open_published(self.queue))
        self._publisher: Publisher | None = None
        self._direct: DirectCloser | None = None

    def closer(self) -> AsyncCloser:
        """A closer for a worker (all share one publisher)."""
        if self._publisher is None:
            self._publisher = self.queue.publisher()
        return AsyncCloser(self._publisher, self.published)

    def direct(self, make: Any) -> DirectCloser:
        """The writers' closer, made by ``make()`` on first call."""
        if self._direct is None:
            self._direct = cast("DirectCloser", make())
        return self._direct

    def writer(self, direct: DirectCloser) -> WriterLoop:
        """A new writer loop with its own consumer of the closed queue."""
        return WriterLoop(self.queue.consumer(), direct, self.published)

    def close(self) -> None:
        """Close the publisher, the published-ids store and the closed queue."""
        if self._publisher is not None:
            self._publisher.close()
        self.published.kv.close()
        close = getattr(self.queue, "close", None)
        if callable(close):
            close()
