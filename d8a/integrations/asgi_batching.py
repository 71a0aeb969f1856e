"""Batching for an event loop: requests only append to a buffer, a thread publishes it.

:class:`d8a.batching.BatchingStorage` publishes a full batch inside the
``push`` that fills it, so on a SQLite queue one request in a thousand waits
for a commit, and for the write lock when other processes hold it, and with
it every request of that event loop. :class:`BackgroundBatching` keeps
``push`` to a list append under a lock and publishes from a thread of its own,
when ``max_hits`` are buffered or every ``max_delay`` seconds. ``d8a serve
--batch`` uses it.

A publish that fails (the queue is down) keeps the hits buffered and is
retried; once ``max_pending`` hits wait, ``push`` raises ``TransientError``
and the request is answered 503, so memory stays bounded. Hits still buffered
when the process is killed are lost, as with any batching; :meth:`flush` (at
shutdown) publishes them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from typing_extensions import override

from d8a.batching import Storage
from d8a.errors import TransientError
from d8a.hits import Hit

__all__ = ["BackgroundBatching"]

log = logging.getLogger(__name__)


class BackgroundBatching(Storage):
    """Buffers pushed hits; a daemon thread hands them to ``inner`` in batches."""

    def __init__(
        self,
        inner: Storage,
        max_hits: int = 1000,
        max_delay: float = 1.0,
        max_pending: int | None = None,
    ) -> None:
        self.inner = inner
        self._max_hits = max_hits
        self._max_delay = max_delay
        self._max_pending = max_pending if max_pending is not None else 100 * max_hits
        self._lock = threading.Lock()
        self._publishing = threading.Lock()
        """Held while a batch is handed on, so flush() returns after it, not before."""
        self._pending: list[Hit] = []
        self._in_flight = 0
        """Hits taken out of the buffer by a publish that has not returned yet."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="d8a-publisher", daemon=True)
        self._thread.start()

    @override
    def push(self, hits: Sequence[Hit]) -> None:
        with self._lock:
            waiting = len(self._pending) + self._in_flight
            if waiting >= self._max_pending:
                raise TransientError(f"{waiting} hits wait to be published")
            self._pending.extend(hits)
            full = len(self._pending) >= self._max_hits
        if full:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._max_delay)
            self._wake.clear()
            try:
                self._publish()
            except Exception as exc:  # kept buffered; the next round retries
                log.warning("publishing buffered hits failed, retrying: %s", exc)

    def _publish(self) -> None:
        with self._publishing:
            with self._lock:
                batch, self._pending = self._pending, []
                self._in_flight = len(batch)
            if not batch:
                return
            try:
                self.inner.push(batch)
            except BaseException:
                with self._lock:
                    self._pending[:0] = batch
                    self._in_flight = 0
                raise
            with self._lock:
                self._in_flight = 0

    @property
    def pending(self) -> int:
        """Hits buffered or being handed on, not yet accepted by the inner storage."""
        with self._lock:
            return len(self._pending) + self._in_flight

    @override
    def flush(self) -> None:
        """Publish what is buffered now, in the caller's thread."""
        self._publish()
        self.inner.flush()

    @override
    def close(self) -> None:
        """Stop the thread, then flush (the inner storage stays open: its owner closes it)."""
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self.flush()
