"""Publication order across the streams of a :class:`~d8a.queue.redis_consumer.RedisConsumer`.

Every stream entry id is ``<n>-0``, ``n`` the queue-wide sequence number of the
task (see :mod:`d8a.queue.redis`). :class:`SequenceMerge` buffers what a
consumer read of several streams and hands a fresh entry out only when no
unread entry of those streams can precede it: an entry up to the *horizon*,
the least last sequence number read of the streams that may hold more.
Redeliveries come first; they are older than anything unread.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

from d8a.queue.base import Delivery

__all__ = ["SequenceMerge"]


def _seq(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


class SequenceMerge:
    """Deliveries read from the streams of some partitions and not handed out yet."""

    def __init__(self) -> None:
        self._again: list[tuple[int, int, Delivery]] = []
        self._fresh: list[tuple[int, int, Delivery]] = []
        """Heaps of (sequence, partition, delivery) read but not handed out yet."""
        self._last: dict[int, int] = {}
        self._open: set[int] = set()
        """Partitions whose stream may hold unread entries older than newer reads."""

    @property
    def redeliveries(self) -> int:
        """How many redeliveries are buffered."""
        return len(self._again)

    def buffered(self) -> set[int]:
        """The partitions with fresh deliveries buffered."""
        return {p for _, p, _ in self._fresh}

    def add_redelivery(self, partition: int, entry_id: str, delivery: Delivery) -> None:
        """Buffer a claimed entry of ``partition``."""
        heapq.heappush(self._again, (_seq(entry_id), partition, delivery))

    def add_read(self, partition: int, read: Sequence[tuple[str, Delivery]], drained: bool) -> None:
        """Buffer what one read of ``partition``'s stream returned, as (entry id,
        delivery) in stream order; ``drained`` when the stream holds no more unread."""
        for entry_id, delivery in read:
            heapq.heappush(self._fresh, (_seq(entry_id), partition, delivery))
        if read:
            self._last[partition] = _seq(read[-1][0])
        if drained:
            self._open.discard(partition)
        else:
            self._open.add(partition)
            self._last.setdefault(partition, 0)

    def may_hold_more(self, partitions: Iterable[int]) -> None:
        """The streams of ``partitions`` may hold unread entries now."""
        for partition in partitions:
            self._open.add(partition)
            self._last.setdefault(partition, 0)

    def take(self, max_tasks: int) -> list[Delivery]:
        """Up to ``max_tasks`` deliveries: redeliveries first, then fresh ones up
        to the horizon, each in sequence order."""
        out = [heapq.heappop(self._again)[2] for _ in range(min(max_tasks, len(self._again)))]
        horizon = min((self._last[p] for p in self._open), default=None)
        fresh = self._fresh
        while fresh and len(out) < max_tasks and (horizon is None or fresh[0][0] <= horizon):
            out.append(heapq.heappop(fresh)[2])
        return out

    def discard(self, receipts: set[str]) -> None:
        """Drop the buffered deliveries of ``receipts``."""
        self._again = [e for e in self._again if e[2].receipt not in receipts]
        self._fresh = [e for e in self._fresh if e[2].receipt not in receipts]
        heapq.heapify(self._again)
        heapq.heapify(self._fresh)

    def forget(self, partition: int) -> None:
        """Stop waiting for ``partition``'s stream (no longer read)."""
        self._last.pop(partition, None)
        self._open.discard(partition)
