"""The pipeline: receives requests and turns queued hits into warehouse rows.

:class:`PipelineBuilder` (in :mod:`d8a.pipeline_builder`, importable from here)
wires every step and validates it once, at ``build()``.

Example::

    pipeline = (
        Pipeline.builder(session_timeout=1800)
        .queue("sqlite:///d8a-queue.db")
        .warehouse("sqlite:///events.db")
        .build()
    )
    response = pipeline.ingest(request_dict)   # in the web handler
    pipeline.worker().step()                   # in the worker (or .start() a thread)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from d8a.batching import BatchingStorage, PublishingStorage, Storage
from d8a.clock import Clock
from d8a.columns.columnset import ColumnSet
from d8a.config import Settings
from d8a.errors import ConfigurationError
from d8a.layouts.base import Layout
from d8a.metrics import ResponseCounter, pipeline_metrics
from d8a.pipeline_builder import PipelineBuilder
from d8a.protocols import Protocol
from d8a.queue.base import Consumer, Publisher
from d8a.queue.memory import MemoryQueue
from d8a.receiver import Receiver, Response
from d8a.runner import WorkerLoop
from d8a.sessions.async_closer import AsyncClosing, WriterLoop
from d8a.sessions.writer import DirectCloser
from d8a.storage.base import KV, Set
from d8a.warehouse.base import Driver
from d8a.wiring import build_worker, open_dead_letters, open_state

__all__ = ["Pipeline", "PipelineBuilder"]


class Pipeline:
    """Receives requests and turns queued hits into warehouse rows.

    Use :meth:`builder` to make one. ``ingest`` is thread-safe; the worker
    side (:meth:`worker`) is made on first use, once per pipeline.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        protocols: tuple[Protocol, ...],
        columns: Mapping[str, ColumnSet],
        queue: Any,
        state: Any,
        driver: Driver,
        layout: Layout,
        clock: Clock,
        batching: tuple[int, float] | None,
        partitions: int,
        pings: bool,
        closing: AsyncClosing | None = None,
    ) -> None:
        self.settings = settings
        self.protocols = protocols
        self.columns = dict(columns)
        self.driver = driver
        self.layout = layout
        self.clock = clock
        self._queue = queue
        self.queue_is_durable = not isinstance(queue, MemoryQueue)
        """False for a memory queue: its hits are lost with the process."""
        self.responses = ResponseCounter()
        """Answers by HTTP status (:meth:`ingest` counts; hosts count their own 413s)."""
        self.dead_letters = open_dead_letters(queue)
        """Queue of hit batches the worker could not read (None if the backend has none)."""
        self._state = state
        self._stores: tuple[KV, Set] | None = None
        self._pings = pings
        self._publisher: Publisher = queue.publisher()
        self.storage: Storage = (
            PublishingStorage(self._publisher, partitions)
            if batching is None
            else BatchingStorage(self._publisher, partitions, *batching)
        )
        self.receiver = Receiver(protocols, settings, self.storage, clock)
        self._worker: WorkerLoop | None = None
        self._closer: DirectCloser | None = None
        self._lock = threading.Lock()
        self.closing = closing
        """The asynchronous closer's queue and stores, or None with the direct closer."""
        self._writer: WriterLoop | None = None

    @staticmethod
    def builder(**settings: Any) -> PipelineBuilder:
        """A new :class:`PipelineBuilder` with these settings."""
        return PipelineBuilder(**settings)

    def ingest(self, request: Mapping[str, Any]) -> Response:
        """Answer one request dict (see DESIGN.md); never raises for bad input."""
        response = self.receiver.ingest(request)
        self.responses.count(response.status)
        return response

    def metrics(self) -> dict[str, Any]:
        """A snapshot of the counters; the shape is documented in :mod:`d8a.metrics`."""
        return pipeline_metrics(
            self.receiver, self.responses, self._worker, self._closer, self.clock
        )

    def migrate(self, dry_run: bool = False) -> list[str]:
        """Create the warehouse tables and add the columns they lack, ahead of traffic.

        Returns the DDL statements it runs (empty for drivers without DDL, such as
        memory and files); with ``dry_run`` it only returns them."""
        statements: list[str] = []
        for columns in self.columns.values():
            for table, schema in self.layout.tables(columns).items():
                statements.extend(self.driver.plan(table, schema))
                if not dry_run:
                    self.driver.ensure_table(table, schema)
        return statements

    def worker(self) -> WorkerLoop:
        """The pipeline's worker loop (created, and the tables migrated, on first call)."""
        with self._lock:
            if self._worker is None:
                self.migrate()
                consumer: Consumer = self._queue.consumer()
                kv, hits = self._stores = open_state(self._state)
                self._worker, self._closer = build_worker(self, consumer, kv, hits, self._pings)
            return self._worker

    @property
    def queue(self) -> Any:
        """The hits queue."""
        return self._queue

    @property
    def pings(self) -> bool:
        """Whether an idle worker advances the session clock (see the builder)."""
        return self._pings

    def writer(self) -> WriterLoop:
        """The pipeline's writer loop, which writes what the asynchronous closer
        published (made, and the tables migrated, on first call)."""
        if self.closing is None:
            raise ConfigurationError("writer() needs the async closer: builder.closer('async')")
        with self._lock:
            if self._writer is None:
                self.migrate()
                direct = self.closing.direct(self._direct_closer)
                self._writer = self.closing.writer(direct)
            return self._writer

    def _direct_closer(self) -> DirectCloser:
        return DirectCloser(self.columns, self.settings, self.layout, self.driver)

    @property
    def closer(self) -> DirectCloser:
        """The closer that writes rows: the worker's, or with the async closer the
        writers' (made with the worker)."""
        self.worker()
        assert self._closer is not None
        return self._closer

    def flush(self) -> None:
        """Publish buffered hits, then close and write every open protosession."""
        self.storage.flush()
        self.worker().flush()
        if self.closing is not None:
            self.writer().run_until_empty()

    def close(self) -> None:
        """Flush buffered hits and release every backend. Open protosessions stay
        in state (durable state keeps them for the next start)."""
        self.storage.close()
        if self._worker is not None:
            self._worker.close()
        if self._writer is not None:
            self._writer.close()
        if self.closing is not None:
            self.closing.close()
        if self._stores is not None:
            for store in self._stores:
                store.close()
        self._publisher.close()
        self.driver.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tables(self) -> Sequence[str]:
        """Names of the tables this pipeline writes, each once (GA4 and d8a share theirs)."""
        return list(dict.fromkeys(t for c in self.columns.values() for t in self.layout.tables(c)))
