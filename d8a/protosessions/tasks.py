"""The queue side of protosessions: hit-batch tasks in, acknowledgements out.

A hit-batch message is acknowledged only when every one of its hits has been
written to the warehouse, so the queue is the durable log until then: after a
crash, unacknowledged messages come back and their hits are added again. Hits
of a redelivered message that the warehouse already holds are skipped, so a
restart neither loses nor duplicates a row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from d8a.encoding import BATCH_FORMAT, LOCAL_BATCH, LocalHits, decode_batch
from d8a.protosessions.handler import ProtosessionHandler
from d8a.queue.base import Delivery, Publisher, Task

__all__ = ["AckTracker", "HitBatchHandler"]

log = logging.getLogger(__name__)


class AckTracker:
    """Counts the unwritten hits of each delivery; reports deliveries that are done."""

    def __init__(self) -> None:
        self._remaining: dict[str, int] = {}
        self._done: list[str] = []

    def expect(self, receipt: str, hits: int) -> None:
        """``receipt`` is done once ``hits`` hits were reported written."""
        if hits <= 0:
            self._done.append(receipt)
        else:
            self._remaining[receipt] = self._remaining.get(receipt, 0) + hits

    def written(self, receipts: Sequence[object]) -> None:
        """One hit of each receipt in ``receipts`` was written."""
        remaining = self._remaining
        for receipt in receipts:
            key = str(receipt)
            left = remaining.get(key)
            if left is None:
                continue
            if left <= 1:
                del remaining[key]
                self._done.append(key)
            else:
                remaining[key] = left - 1

    def take_done(self) -> list[str]:
        """Receipts completed since the last call."""
        done, self._done = self._done, []
        return done

    @property
    def outstanding(self) -> int:
        """Deliveries with hits still unwritten."""
        return len(self._remaining)


class HitBatchHandler:
    """Task handler for hit batches: decode, skip what is written, add to protosessions."""

    def __init__(
        self,
        protosessions: ProtosessionHandler,
        tracker: AckTracker,
        already_written: Callable[[list[str]], set[str]],
        dead_letters: Publisher | None = None,
        local: LocalHits | None = None,
    ) -> None:
        self._protosessions = protosessions
        self._local = local
        """Resolves the batch tokens of an in-memory queue (see :class:`LocalHits`)."""
        self._tracker = tracker
        self._already_written = already_written
        self._dead_letters = dead_letters
        self.undecodable = 0

    def __call__(self, delivery: Delivery) -> None:
        try:
            version = delivery.task.headers.get("format", BATCH_FORMAT)
            if version != BATCH_FORMAT:
                raise ValueError(f"unknown hit batch format {version!r}")
            body = delivery.task.body
            if body.startswith(LOCAL_BATCH):
                if self._local is None:
                    raise ValueError("an in-memory hit batch reached a worker of another queue")
                refs = self._local.refs(body)
            else:
                refs = decode_batch(body)
        except Exception as exc:  # a corrupt message must not stop the worker
            self._set_aside(delivery, str(exc))
            return
        if delivery.redelivered and refs:
            written = self._already_written([ref.id for ref in refs])
            if written:
                refs = [ref for ref in refs if ref.id not in written]
        self._tracker.expect(delivery.receipt, len(refs))
        add = self._protosessions.add
        receipt = delivery.receipt
        for ref in refs:
            add(ref, receipt)

    def _set_aside(self, delivery: Delivery, reason: str) -> None:
        """Keep an unreadable message as a dead letter, then acknowledge it; without a
        dead-letter queue, leave it unacknowledged (it comes back at the next start)."""
        self.undecodable += 1
        if self._dead_letters is None:
            log.error("cannot read hit batch %s, left in the queue: %s", delivery.receipt, reason)
            return
        task = delivery.task
        self._dead_letters.publish(
            [Task(task.type, task.body, {**task.headers, "reason": reason}, task.partition)]
        )
        log.error("cannot read hit batch %s, moved to dead letters: %s", delivery.receipt, reason)
        self._tracker.expect(delivery.receipt, 0)
