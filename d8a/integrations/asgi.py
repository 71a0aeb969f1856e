"""ASGI hosting: the collector as an ASGI app, or as middleware in front of a host app.

Starlette, FastAPI and any other ASGI framework mount d8a like this::

    from d8a.integrations.asgi import D8AMiddleware

    pipeline = Pipeline.builder().queue("sqlite:///queue.db").warehouse(...).build()
    app = FastAPI()
    app.add_middleware(D8AMiddleware, pipeline=pipeline, prefix="/d8a")

A request to a collector path under the prefix (``/d8a/g/collect`` for GA4,
and ``/d8a/healthz``) becomes a request dict (DESIGN.md): the method, the path
without the prefix, the raw query string, the headers, the whole body (413
beyond ``max_body`` bytes), the TCP peer as ``ip`` and the pipeline clock's
time as ``received_at``. The pipeline's answer (204, a 4xx with its reason,
CORS headers and preflights) goes back unchanged; every other request goes to
the wrapped app.

``pipeline.ingest`` only hands hits to the queue. When that can wait on a
file lock (a SQLite queue without batching) it runs in the event loop's
thread pool, so the loop never blocks; with batching or a memory queue it is
a few microseconds and runs inline. ASGI ``lifespan`` starts the pipeline's
worker thread at startup (``worker=True``) and, at shutdown, publishes
buffered hits, stops the worker after its step in progress and lets it
consume what is queued. Open protosessions stay in the state store, so with a
durable queue (SQLite, Redis) the next start goes on with them; with a memory
queue, whose contents die with the process, they are closed and written
instead. The app never closes the pipeline: its owner does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from d8a.batching import BatchingStorage
from d8a.integrations.asgi_batching import BackgroundBatching
from d8a.integrations.asgi_lifespan import Lifecycle, WorkerChoice, run_lifespan, stop_worker
from d8a.integrations.asgi_requests import (
    ASGIApp,
    BodyTooLarge,
    Disconnected,
    Message,
    Receive,
    Scope,
    Send,
    read_body,
    route_path,
    scope_headers,
    send_response,
)
from d8a.integrations.paths import collector_paths, normalised_prefix
from d8a.integrations.responses import (
    MAX_BODY_BYTES,
    asks_for_metrics,
    body_too_large,
    metrics_response,
    no_endpoint,
    refuse,
    under_prefix,
    worker_snapshot,
)
from d8a.pipeline import Pipeline
from d8a.receiver import Response

__all__ = [
    "MAX_BODY_BYTES",
    "CollectorApp",
    "D8AMiddleware",
    "Lifecycle",
    "WorkerChoice",
    "collector_app",
    "stop_worker",
]

_headers = scope_headers  # its name here before it moved to asgi_requests (tests import it)


def _ingests_inline(pipeline: Pipeline) -> bool:
    """Whether ``ingest`` is quick enough for the event loop: it appends to a buffer
    (batching) or to a memory queue, rather than commit to a file another process
    may hold locked. (``BatchingStorage`` still publishes a full batch inline;
    :class:`~d8a.integrations.asgi_batching.BackgroundBatching` never does.)"""
    storage = pipeline.receiver.storage
    batching = isinstance(storage, BatchingStorage | BackgroundBatching)
    return batching or not pipeline.queue_is_durable


class _Collector:
    """Answers one collector request with the pipeline."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        max_body: int,
        metrics: bool,
        metrics_snapshot: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.pipeline = lifecycle.pipeline
        self.lifecycle = lifecycle
        self.max_body = max_body
        self.metrics = metrics
        self.metrics_snapshot = metrics_snapshot or self.snapshot
        self.inline = _ingests_inline(self.pipeline)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        pipeline = self.pipeline
        if asks_for_metrics(self.metrics, scope["method"], path):
            await send_response(send, await self._metrics())
            return
        received_at = pipeline.clock.now()  # when the hit arrived, before its body
        headers = scope_headers(scope)
        try:
            body = await read_body(receive, self.max_body, headers.get("content-length"))
        except Disconnected:
            return
        except BodyTooLarge:
            await send_response(send, refuse(pipeline, 413, body_too_large(self.max_body)))
            return
        client = scope.get("client")
        request = {
            "method": scope["method"],
            "path": path,
            "query": scope.get("query_string", b"").decode("latin-1"),
            "headers": headers,
            "body": body,
            "ip": client[0] if client else "",
            "received_at": received_at,
        }
        if self.inline:
            response = pipeline.ingest(request)
        else:
            loop = asyncio.get_running_loop()
            response = await loop.run_in_executor(None, pipeline.ingest, request)
        await send_response(send, response)

    async def _metrics(self) -> Response:
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: metrics_response(self.metrics_snapshot())
        )

    def snapshot(self) -> dict[str, Any]:
        """:func:`~d8a.integrations.responses.worker_snapshot` of the lifecycle's loop."""
        return worker_snapshot(self.pipeline, self.lifecycle.loop)


class CollectorApp:
    """An ASGI app that answers every request under ``prefix`` with the pipeline
    (see :func:`collector_app`)."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        prefix: str = "",
        worker: WorkerChoice = True,
        max_body: int = MAX_BODY_BYTES,
        metrics: bool = False,
        poll: float = 0.5,
        metrics_snapshot: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.prefix = normalised_prefix(prefix)
        self.lifecycle = Lifecycle(pipeline, worker=worker, poll=poll)
        self._collector = _Collector(self.lifecycle, max_body, metrics, metrics_snapshot)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await run_lifespan(self.lifecycle, receive, send)
            return
        if kind != "http":  # websockets: refused (403)
            await send({"type": "websocket.close", "code": 1008})
            return
        path = route_path(scope)
        inner = under_prefix(self.prefix, path)
        if inner is None:
            await send_response(send, no_endpoint(self.pipeline, path))
            return
        await self._collector(scope, receive, send, inner)


def collector_app(
    pipeline: Pipeline,
    *,
    prefix: str = "",
    worker: WorkerChoice = True,
    max_body: int = MAX_BODY_BYTES,
    metrics: bool = False,
    metrics_snapshot: Callable[[], Mapping[str, Any]] | None = None,
) -> CollectorApp:
    """An ASGI app serving the pipeline's collector endpoints (and ``/healthz``) under
    ``prefix``, for every method; anything else under it gets the pipeline's 404.

    ``worker``: run the pipeline's worker thread from ASGI lifespan startup to
    shutdown (False when a separate ``d8a worker`` consumes the queue).
    ``metrics``: also answer ``GET <prefix>/metrics`` in the Prometheus text
    format (needs ``d8a[server]``), from ``metrics_snapshot()`` when given (a
    snapshot shaped as ``pipeline.metrics()``'s; ``d8a serve --workers`` sums
    its processes' this way), else from this process's pipeline."""
    return CollectorApp(
        pipeline,
        prefix=prefix,
        worker=worker,
        max_body=max_body,
        metrics=metrics,
        metrics_snapshot=metrics_snapshot,
    )


class D8AMiddleware:
    """ASGI middleware: collector paths under ``prefix`` go to the pipeline, the rest
    (and websockets) to ``app``.

    The collector paths are the configured protocols' endpoints (``/g/collect``
    for GA4) and ``/healthz``, each under the prefix, plus ``/metrics`` with
    ``metrics=True``. Lifespan events reach ``app`` too: the worker starts before
    the app's own startup and stops after the app's shutdown. For Starlette and
    FastAPI: ``app.add_middleware(D8AMiddleware, pipeline=pipeline, prefix="/d8a")``.
    """

    def __init__(
        self,
        app: ASGIApp,
        pipeline: Pipeline,
        *,
        prefix: str = "/d8a",
        worker: WorkerChoice = True,
        max_body: int = MAX_BODY_BYTES,
        metrics: bool = False,
        poll: float = 0.5,
    ) -> None:
        self.app = app
        self.pipeline = pipeline
        self.prefix = normalised_prefix(prefix)
        self.lifecycle = Lifecycle(pipeline, worker=worker, poll=poll)
        self.paths = collector_paths(pipeline, self.prefix, metrics)
        self._collector = _Collector(self.lifecycle, max_body, metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind == "http":
            path = route_path(scope)
            if path in self.paths:
                await self._collector(scope, receive, send, path[len(self.prefix) :])
                return
        await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass lifespan to the app, starting the collector's lifecycle when the app
        receives startup and stopping it before the app reports shutdown complete."""
        received_startup = False

        async def wrapped_receive() -> Message:
            nonlocal received_startup
            message = await receive()
            if message["type"] == "lifespan.startup":
                received_startup = True
                await self.lifecycle.startup()
            return message

        async def wrapped_send(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.lifecycle.shutdown()
            await send(message)

        try:
            await self.app(scope, wrapped_receive, wrapped_send)
        except Exception:
            if received_startup:
                raise
            # The app does not speak lifespan (it raised before reading a message):
            # the collector still needs its worker, so answer lifespan here.
            await run_lifespan(self.lifecycle, receive, send)
