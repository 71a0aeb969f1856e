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
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from d8a.batching import BatchingStorage
from d8a.integrations.asgi_batching import BackgroundBatching
from d8a.integrations.asgi_lifespan import Lifecycle, WorkerChoice, run_lifespan, stop_worker
from d8a.integrations.paths import collector_paths, normalised_prefix
from d8a.pipeline import Pipeline
from d8a.receiver import Response
from d8a.runner import WorkerLoop

__all__ = [
    "MAX_BODY_BYTES",
    "CollectorApp",
    "D8AMiddleware",
    "Lifecycle",
    "WorkerChoice",
    "collector_app",
    "stop_worker",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 1024 * 1024
"""Default cap on a request body; gtag batches stay far below it."""

_TEXT = {"Content-Type": "text/plain; charset=utf-8"}
_PROMETHEUS = {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}


class _BodyTooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def _route_path(scope: Scope) -> str:
    """The path inside the app: ``path`` without the ``root_path`` it is mounted at
    (as Starlette's ``Mount`` and uvicorn's ``--root-path`` set it)."""
    path: str = scope.get("path") or "/"
    root: str = scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        if name in headers:  # repeated header lines mean one comma-joined value
            joiner = "; " if name == "cookie" else ", "
            headers[name] = headers[name] + joiner + value
        else:
            headers[name] = value
    return headers


async def _read_body(receive: Receive, limit: int, length: str | None) -> bytes:
    if length is not None and length.strip().isdigit() and int(length) > limit:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, response: Response) -> None:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


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

    def __init__(self, lifecycle: Lifecycle, max_body: int, metrics_path: str | None) -> None:
        self.pipeline = lifecycle.pipeline
        self.lifecycle = lifecycle
        self.max_body = max_body
        self.metrics_path = metrics_path
        self.inline = _ingests_inline(self.pipeline)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        pipeline = self.pipeline
        if path == self.metrics_path and scope["method"] in ("GET", "HEAD"):
            await _send(send, await self._metrics())
            return
        received_at = pipeline.clock.now()  # when the hit arrived, before its body
        headers = _headers(scope)
        try:
            body = await _read_body(receive, self.max_body, headers.get("content-length"))
        except _Disconnected:
            return
        except _BodyTooLarge:
            pipeline.responses.count(413)
            reason = f"request body larger than the {self.max_body}-byte limit"
            await _send(send, Response(413, _TEXT, reason.encode()))
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
        await _send(send, response)

    async def _metrics(self) -> Response:
        from d8a.metrics import prometheus_text

        text = await asyncio.get_running_loop().run_in_executor(
            None, lambda: prometheus_text(self.snapshot())
        )
        return Response(200, _PROMETHEUS, text)

    def snapshot(self) -> dict[str, Any]:
        """``pipeline.metrics()``; ``worker_running`` also covers a loop the pipeline
        does not know of (a ``ScaledWorker``)."""
        snapshot = self.pipeline.metrics()
        loop = self.lifecycle.loop
        if loop is not None and not isinstance(loop, WorkerLoop):
            snapshot["worker_running"] = loop.running
        return snapshot


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
    ) -> None:
        self.pipeline = pipeline
        self.prefix = normalised_prefix(prefix)
        self.lifecycle = Lifecycle(pipeline, worker=worker, poll=poll)
        self._collector = _Collector(self.lifecycle, max_body, "/metrics" if metrics else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await run_lifespan(self.lifecycle, receive, send)
            return
        if kind != "http":  # websockets: refused (403)
            await send({"type": "websocket.close", "code": 1008})
            return
        path = _route_path(scope)
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                self.pipeline.responses.count(404)
                reason = f"no endpoint at {path}".encode()
                await _send(send, Response(404, _TEXT, reason))
                return
            path = path[len(self.prefix) :]
        await self._collector(scope, receive, send, path)


def collector_app(
    pipeline: Pipeline,
    *,
    prefix: str = "",
    worker: WorkerChoice = True,
    max_body: int = MAX_BODY_BYTES,
    metrics: bool = False,
) -> CollectorApp:
    """An ASGI app serving the pipeline's collector endpoints (and ``/healthz``) under
    ``prefix``, for every method; anything else under it gets the pipeline's 404.

    ``worker``: run the pipeline's worker thread from ASGI lifespan startup to
    shutdown (False when a separate ``d8a worker`` consumes the queue).
    ``metrics``: also answer ``GET <prefix>/metrics`` in the Prometheus text
    format (needs ``d8a[server]``)."""
    return CollectorApp(pipeline, prefix=prefix, worker=worker, max_body=max_body, metrics=metrics)


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
        self._collector = _Collector(self.lifecycle, max_body, "/metrics" if metrics else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind == "http":
            path = _route_path(scope)
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
