"""ASGI lifespan for the collector: the worker thread and the flusher of batched hits.

:class:`Lifecycle` is what ``collector_app`` and ``D8AMiddleware`` (in
:mod:`d8a.integrations.asgi`) run at ASGI lifespan startup and shutdown; see that
module's docstring for what shutdown keeps and what it writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from d8a.batching import BatchingStorage
from d8a.pipeline import Pipeline
from d8a.runner import BackgroundLoop, WorkerLoop

__all__ = ["Lifecycle", "WorkerChoice", "run_lifespan", "stop_worker"]

log = logging.getLogger("d8a.integrations.asgi")  # the name hosts know from the docs

Message = MutableMapping[str, Any]
WorkerChoice = bool | Callable[[], BackgroundLoop]
"""``worker=``: True runs ``pipeline.worker()``, False none, a callable the loop it
returns (``d8a serve`` passes one that makes a ``ScaledWorker`` on Redis)."""


class Lifecycle:
    """What runs beside the web app for one pipeline: the worker thread and the
    flusher of batched hits. :meth:`startup` and :meth:`shutdown` are what ASGI
    ``lifespan`` calls; each runs once, later calls do nothing."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        worker: WorkerChoice = True,
        poll: float = 0.5,
        flush_every: float = 1.0,
    ) -> None:
        self.pipeline = pipeline
        self.worker = worker
        self.poll = poll
        self.flush_every = flush_every
        self.loop: BackgroundLoop | None = None
        """The worker loop while it runs (``pipeline.worker()`` or what ``worker`` made)."""
        self._flusher: asyncio.Task[None] | None = None
        self._started = False
        self._stopped = False

    def _make_loop(self) -> BackgroundLoop | None:
        if callable(self.worker):
            return self.worker()
        return self.pipeline.worker() if self.worker else None

    async def startup(self) -> None:
        """Create the tables and start the worker thread (``worker=True``); start
        publishing batched hits every ``flush_every`` seconds."""
        if self._started:
            return
        self._started = True
        self.loop = await asyncio.get_running_loop().run_in_executor(None, self._make_loop)
        if self.loop is not None:
            self.loop.start(self.poll)
        if isinstance(self.pipeline.receiver.storage, BatchingStorage):
            self._flusher = asyncio.create_task(self._flush_periodically())
        log.info(
            "d8a collector started",
            extra={
                "worker": type(self.loop).__name__ if self.loop else None,
                "paths": list(self.pipeline.receiver.paths),
            },
        )

    async def _flush_periodically(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.flush_every)
            try:
                await loop.run_in_executor(None, self.pipeline.receiver.storage.flush)
            except Exception as exc:  # the next round retries; the hits stay buffered
                log.warning("publishing batched hits failed: %s", exc)

    async def shutdown(self) -> None:
        """Publish buffered hits, stop the worker after its step in progress and let
        it consume what is queued (see the module docstring for open protosessions)."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await asyncio.get_running_loop().run_in_executor(None, self._stop)

    def _stop(self) -> None:
        pipeline = self.pipeline
        pipeline.receiver.storage.flush()  # the pipeline's storage, or a wrapper of it
        pipeline.storage.flush()
        if self.loop is None:
            log.info("d8a collector stopped", extra={"hits": pipeline.receiver.stats.hits})
            return
        stop_worker(pipeline, self.loop)
        log.info("d8a collector and worker stopped", extra={"hits": pipeline.receiver.stats.hits})


def stop_worker(pipeline: Pipeline, loop: BackgroundLoop) -> None:
    """Stop a worker loop at shutdown, keeping open protosessions in the state store.

    A :class:`~d8a.runner.WorkerLoop` stops after its step in progress and then
    consumes what is queued (and, on a memory queue, which dies with the
    process, closes and writes everything); another loop, such as a
    ``ScaledWorker``, is closed: it hands its partitions back and their
    messages wait in the queue for the next owner."""
    if isinstance(loop, WorkerLoop):
        loop.stop()
        loop.run_until_empty()
        if not pipeline.queue_is_durable:
            loop.flush()
        return
    close = getattr(loop, "close", None)
    if callable(close):
        close()
    else:
        loop.stop()


async def run_lifespan(
    lifecycle: Lifecycle,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """The ASGI lifespan protocol for an app that is only the collector."""
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "lifespan.startup":
            try:
                await lifecycle.startup()
            except Exception as exc:
                # Reported, then raised as Starlette's router does: the server logs it and
                # exits; a TestClient raises it.
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                raise
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            try:
                await lifecycle.shutdown()
            except Exception as exc:
                await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                raise
            await send({"type": "lifespan.shutdown.complete"})
            return
