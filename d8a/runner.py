"""The worker loop: consume hit batches, advance the clock, close, acknowledge.

One :class:`WorkerLoop` owns one consumer and one protosession handler. Each
:meth:`step` receives a few deliveries, adds their hits, closes what became
idle in one warehouse write, and acknowledges the deliveries whose hits are all
written. With ``pings`` on, an idle step advances the clock to the pipeline
clock's time, so sessions close even when no traffic comes.

Protosessions that a crash left half-closed (taken out of the open state, not
yet written) are recovered into the handler's closing list; they are written
before any delivery is received. Otherwise the redelivered hits of such a
protosession, not yet in the warehouse, would be added again and join the
client's newer open protosession, merging two sessions.

While a step works through hits (not while it waits for them), the cyclic
garbage collector runs less often: :mod:`d8a.gc_passes`.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

from typing_extensions import override

from d8a.clock import Clock
from d8a.errors import TransientError
from d8a.gc_passes import fewer_gc_passes
from d8a.protosessions.handler import ProtosessionHandler
from d8a.protosessions.tasks import AckTracker
from d8a.queue.base import Consumer, Worker

__all__ = ["BackgroundLoop", "WorkerLoop"]

log = logging.getLogger(__name__)


class BackgroundLoop(ABC):
    """Runs :meth:`step` over and over, in the caller's thread or a daemon thread."""

    thread_name = "d8a-worker"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._loop_thread: threading.Thread | None = None

    @abstractmethod
    def step(self, max_tasks: int = 100, timeout: float = 0.0) -> int:
        """One round; returns the number of deliveries handled."""

    def run(self, poll: float = 0.5, retry_delay: float = 1.0) -> None:
        """Loop until :meth:`stop`; transient failures are retried after ``retry_delay``."""
        while not self._stop.is_set():
            try:
                self.step(timeout=poll)
            except TransientError as exc:
                log.warning("worker step failed, retrying: %s", exc)
                self._stop.wait(retry_delay)

    def start(self, poll: float = 0.5) -> None:
        """Run :meth:`run` in a daemon thread."""
        if self._loop_thread is not None:
            raise RuntimeError("the worker is already running")
        self._stop.clear()
        self._loop_thread = threading.Thread(
            target=self.run, kwargs={"poll": poll}, name=self.thread_name, daemon=True
        )
        self._loop_thread.start()

    @property
    def running(self) -> bool:
        """True while the loop's thread (see :meth:`start`) is alive."""
        return self._loop_thread is not None and self._loop_thread.is_alive()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the loop to stop and wait for it; open protosessions stay in state."""
        self._stop.set()
        if self._loop_thread is not None:
            self._loop_thread.join(timeout)
            self._loop_thread = None


class WorkerLoop(BackgroundLoop):
    """Drives a consumer through the protosession handler."""

    def __init__(
        self,
        consumer: Consumer,
        worker: Worker,
        protosessions: ProtosessionHandler,
        tracker: AckTracker,
        clock: Clock,
        pings: bool,
    ) -> None:
        self._consumer = consumer
        self._worker = worker
        self.protosessions = protosessions
        self._tracker = tracker
        self._clock = clock
        self._pings = pings
        super().__init__()

    @override
    def step(self, max_tasks: int = 100, timeout: float = 0.0) -> int:
        """One round; returns the number of deliveries handled. The collector runs
        less often meanwhile (:mod:`d8a.gc_passes`)."""
        with fewer_gc_passes():
            self._close_pending()
        deliveries = self._consumer.receive(max_tasks, timeout)
        with fewer_gc_passes():
            for delivery in deliveries:
                self._worker.process(delivery)
            if not deliveries and self._pings:
                self.protosessions.tick(self._clock.now())
            self.protosessions.drain()
            done = self._tracker.take_done()
            if done:
                self._consumer.ack(done)
        return len(deliveries)

    def run_until_empty(self, max_tasks: int = 500) -> None:
        """Handle every delivery available now (no pings, no waiting), with the
        collector running less often (:mod:`d8a.gc_passes`)."""
        with fewer_gc_passes():
            self._close_pending()
            while True:
                deliveries = self._consumer.receive(max_tasks, 0.0)
                if not deliveries:
                    break
                for delivery in deliveries:
                    self._worker.process(delivery)
                self.protosessions.drain()
                done = self._tracker.take_done()
                if done:
                    self._consumer.ack(done)

    def _close_pending(self) -> None:
        """Write what waits to be closed (recovered after a crash, or left by a failed
        drain) before receiving: a redelivered hit of it is then found written and skipped."""
        if self.protosessions.closing:
            self.protosessions.drain()
            done = self._tracker.take_done()
            if done:
                self._consumer.ack(done)

    def flush(self) -> None:
        """Consume what is queued, then close and write every open protosession."""
        self.run_until_empty()
        with fewer_gc_passes():
            self.protosessions.close_all()
            self.protosessions.drain()
            done = self._tracker.take_done()
            if done:
                self._consumer.ack(done)

    def close(self) -> None:
        """Stop and close the consumer."""
        self.stop()
        self._consumer.close()
