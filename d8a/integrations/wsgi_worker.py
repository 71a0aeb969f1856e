"""The collector's worker in a thread of a WSGI web process.

WSGI has no lifespan, so :func:`start_worker` (re-exported by
:mod:`d8a.integrations.wsgi`, where hosts import it) starts the worker loop
that turns queued hits into rows in a daemon thread, stopped at interpreter
exit; see that module's docstring for when a separate ``d8a worker`` is the
better choice.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from d8a.pipeline import Pipeline

__all__ = ["BackgroundWorker", "start_worker"]

log = logging.getLogger("d8a.integrations.wsgi")  # the name hosts know from the docs


class BackgroundWorker:
    """The pipeline's worker loop in a daemon thread of the web process.

    :meth:`stop` publishes buffered hits, stops the loop after its current step,
    lets it consume what is queued, and closes the pipeline. Open protosessions
    stay in the state store, so with a durable queue and state (SQLite, Redis) a
    restart goes on where it stopped; with a memory queue, whose contents die
    with the process, they are closed and written instead. It is idempotent."""

    def __init__(self, pipeline: Pipeline, *, poll: float = 0.5) -> None:
        self.pipeline = pipeline
        self.poll = poll
        self._lock = threading.Lock()
        self._running = False

    def start(self) -> BackgroundWorker:
        """Start the thread (the tables are created first, if missing)."""
        with self._lock:
            if self._running:
                raise RuntimeError("the background worker is already running")
            self.pipeline.worker().start(self.poll)
            self._running = True
        return self

    def stop(self) -> None:
        """Stop the thread and close the pipeline; does nothing the second time."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            pipeline = self.pipeline
            pipeline.storage.flush()
            worker = pipeline.worker()
            worker.stop()
            worker.run_until_empty()
            if not pipeline.queue_is_durable:
                worker.flush()  # a memory queue dies with the process: write everything now
            log.info(
                "d8a worker thread stopped",
                extra={
                    "hits": pipeline.receiver.stats.hits,
                    "protosessions_open": worker.protosessions.open_count,
                },
            )
            pipeline.close()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._running


def start_worker(
    pipeline: Pipeline, *, poll: float = 0.5, stop_at_exit: bool = True
) -> BackgroundWorker:
    """Start the pipeline's worker loop in a daemon thread; with ``stop_at_exit``, it is
    stopped (and the pipeline closed) when the interpreter exits.

    Start it in one process per queue only: with several web processes, run a
    separate ``d8a worker`` instead."""
    worker = BackgroundWorker(pipeline, poll=poll).start()
    if stop_at_exit:
        atexit.register(worker.stop)
    return worker
