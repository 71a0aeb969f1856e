"""Receiver storage: where parsed hits go before the queue (reference §8.2).

``Storage.push(hits)`` takes the hits of one request. :class:`PublishingStorage`
publishes them at once, so a hit answered with 204 is already durable in the
queue; :class:`BatchingStorage` buffers hits and publishes a batch when it is
full or old, for bulk loads where the caller flushes at the end. Both group
hits by partition (stable hash of property and client id), one task per
partition, so a visitor's hits stay together.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

from typing_extensions import override

from d8a.clock import monotonic
from d8a.encoding import BATCH_FORMAT, DecodedHits, HitRef, encode_batch
from d8a.hits import Hit, partition_key
from d8a.lifecycle import Closeable
from d8a.queue.base import HIT_BATCH, Publisher, Task

__all__ = ["BatchingStorage", "PublishingStorage", "Storage", "tasks_for"]


def tasks_for(
    hits: Sequence[Hit], partitions: int, decoded: DecodedHits | None = None
) -> list[Task]:
    """One hit-batch task per partition present in ``hits``, hits kept in order."""
    groups: dict[int, list[HitRef]] = {}
    for hit in hits:
        part = partition_key(hit.property_id, hit.client_id) % partitions if partitions > 1 else 0
        groups.setdefault(part, []).append(HitRef.of(hit, decoded))
    frame = decoded.batch if decoded is not None and decoded.local else encode_batch
    return [
        Task(HIT_BATCH, frame(encoded), {"format": BATCH_FORMAT}, part)
        for part, encoded in groups.items()
    ]


class Storage(Closeable, ABC):
    """Accepts the hits of each request."""

    @abstractmethod
    def push(self, hits: Sequence[Hit]) -> None:
        """Store ``hits``; when this returns they are as durable as the storage promises.
        Thread-safe."""

    def flush(self) -> None:  # a default no-op by design
        """Publish whatever is buffered."""

    def close(self) -> None:
        """Flush and release resources."""
        self.flush()


class PublishingStorage(Storage):
    """Publishes every push at once: durable before the request is answered."""

    def __init__(
        self, publisher: Publisher, partitions: int = 1, decoded: DecodedHits | None = None
    ) -> None:
        self._publisher = publisher
        self._partitions = partitions
        self.decoded = decoded

    @override
    def push(self, hits: Sequence[Hit]) -> None:
        self._publisher.publish(tasks_for(hits, self._partitions, self.decoded))


class BatchingStorage(Storage):
    """Buffers hits and publishes them in batches of up to ``max_hits``.

    A batch is also published by the first push after ``max_delay`` seconds, and
    by :meth:`flush`. Hits still buffered when the process dies are lost, so
    use it where the caller can replay (bulk loads), not behind a 204.
    """

    def __init__(
        self,
        publisher: Publisher,
        partitions: int = 1,
        max_hits: int = 1000,
        max_delay: float = 1.0,
        decoded: DecodedHits | None = None,
    ) -> None:
        self._publisher = publisher
        self.decoded = decoded
        self._partitions = partitions
        self._max_hits = max_hits
        self._max_delay = max_delay
        self._lock = threading.Lock()
        self._pending: list[Hit] = []
        self._since = monotonic()

    @override
    def push(self, hits: Sequence[Hit]) -> None:
        with self._lock:
            self._pending.extend(hits)
            if len(self._pending) < self._max_hits and monotonic() - self._since < self._max_delay:
                return
            batch, self._pending = self._pending, []
            self._since = monotonic()
        self._publisher.publish(tasks_for(batch, self._partitions, self.decoded))

    @override
    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._since = monotonic()
        if batch:
            self._publisher.publish(tasks_for(batch, self._partitions, self.decoded))
