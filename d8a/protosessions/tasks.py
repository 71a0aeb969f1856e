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

from d8a.encoding import decode_batch
from d8a.protosessions.handler import ProtosessionHandler
from d8a.queue.base import Delivery

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
    ) -> None:
        self._protosessions = protosessions
        self._tracker = tracker
        self._already_written = already_written
        self.undecodable = 0

    def __call__(self, delivery: Delivery) -> None:
        try:
            refs = decode_batch(delivery.task.body)
        except Exception as exc:  # a corrupt message must not stop the worker
            self.undecodable += 1
            log.error("dropping undecodable hit batch %s: %s", delivery.receipt, exc)
            self._tracker.expect(delivery.receipt, 0)
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
