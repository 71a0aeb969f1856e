"""WSGI hosting: the collector as a WSGI app, or as middleware in front of a host app.

Flask, Django and any other WSGI framework mount d8a like this::

    from d8a.integrations.wsgi import D8AMiddleware, start_worker

    pipeline = Pipeline.builder().queue("sqlite:///queue.db").warehouse(...).build()
    app.wsgi_app = D8AMiddleware(app.wsgi_app, pipeline, prefix="/d8a")  # Flask
    start_worker(pipeline)  # or run `d8a worker` as a separate process

A request to a collector path under the prefix (``/d8a/g/collect`` for GA4)
becomes a request dict (DESIGN.md): the method, the path without the prefix,
the raw query string, the headers (``HTTP_*`` plus ``Content-Type`` and
``Content-Length``, canonically spelled), the body (read up to ``max_body`` bytes, 413 beyond),
``REMOTE_ADDR`` as the peer and the pipeline clock's time as ``received_at``.
The pipeline's answer (204, a 4xx with its reason, CORS headers and preflights)
goes back unchanged. Every other path goes to the wrapped app.

``pipeline.ingest`` only publishes to the queue, so a request never waits on
the warehouse. WSGI has no lifespan, so the worker that turns queued hits into
rows runs either in a thread of the web process (:func:`start_worker`, stopped
at interpreter exit) or as a separate ``d8a worker`` process on the same
SQLite queue and state. A queue has one consumer at a time: a server with
several worker processes (gunicorn ``-w 4``) publishes from all of them and
runs one ``d8a worker``.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from d8a.hits import canonical_header
from d8a.integrations.paths import collector_paths, normalised_prefix
from d8a.integrations.responses import (
    MAX_BODY_BYTES,
    asks_for_metrics,
    body_too_large,
    metrics_response,
    no_endpoint,
    text_response,
    under_prefix,
)
from d8a.integrations.wsgi_worker import BackgroundWorker, start_worker
from d8a.receiver import Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from d8a.pipeline import Pipeline

__all__ = [
    "MAX_BODY_BYTES",
    "BackgroundWorker",
    "BodyError",
    "CollectorApp",
    "D8AMiddleware",
    "collector_app",
    "request_from_environ",
    "start_worker",
]

_HEADER_KEYS = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}


class BodyError(Exception):
    """The request body could not be taken: too large (413) or unreadable (400)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.response = text_response(status, reason)


def _wsgi_text(value: str) -> str:
    """A PEP 3333 native string (bytes decoded as latin-1) as the UTF-8 text it carries."""
    if value.isascii():
        return value
    return value.encode("latin-1", "replace").decode("utf-8", "replace")


def _read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    stream = environ.get("wsgi.input")
    text = str(environ.get("CONTENT_LENGTH") or "").strip()
    if stream is None:
        return b""
    if text:
        if not (text.isascii() and text.isdigit()):
            raise BodyError(400, f"invalid Content-Length {text[:40]!r}")
        length = int(text)
        if length > limit:
            raise BodyError(413, body_too_large(limit))
        if not length:
            return b""
        to_read = length
    elif environ.get("wsgi.input_terminated"):
        to_read = limit + 1  # chunked: the server ends the stream, read past the cap to notice
    else:
        return b""  # PEP 3333: without a length, reading may block forever
    try:
        body = bytes(stream.read(to_read))
    except Exception as exc:  # servers raise their own "client disconnected" errors
        raise BodyError(400, f"could not read the request body: {exc!r}") from None
    if len(body) > limit:
        raise BodyError(413, body_too_large(limit))
    if text and len(body) < to_read:
        raise BodyError(400, f"request body shorter than its Content-Length {to_read}")
    return body


def request_from_environ(
    environ: WSGIEnvironment,
    *,
    path: str | None = None,
    max_body: int = MAX_BODY_BYTES,
    received_at: float | None = None,
) -> dict[str, Any]:
    """The request dict (DESIGN.md) of a WSGI request; ``path`` replaces ``PATH_INFO``.

    Raises :class:`BodyError` for a body over ``max_body`` bytes or one that
    cannot be read."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[canonical_header(key[5:].replace("_", "-"))] = _wsgi_text(str(value))
        elif key in _HEADER_KEYS and value:
            headers[_HEADER_KEYS[key]] = str(value)
    request: dict[str, Any] = {
        "method": str(environ.get("REQUEST_METHOD") or "GET"),
        "path": path if path is not None else _wsgi_text(str(environ.get("PATH_INFO") or "/")),
        "query": _wsgi_text(str(environ.get("QUERY_STRING") or "")),
        "headers": headers,
        "body": _read_body(environ, max_body),
        "ip": str(environ.get("REMOTE_ADDR") or ""),
    }
    if received_at is not None:
        request["received_at"] = received_at
    return request


def _send(response: Response, start_response: StartResponse) -> list[bytes]:
    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = "Unknown"
    headers = [(name, value) for name, value in response.headers.items()]
    headers.append(("Content-Length", str(len(response.body))))
    start_response(f"{response.status} {phrase}", headers)
    return [response.body]


def _answer(
    pipeline: Pipeline, environ: WSGIEnvironment, path: str, max_body: int, metrics: bool
) -> Response:
    if asks_for_metrics(metrics, environ.get("REQUEST_METHOD"), path):
        return metrics_response(pipeline.metrics())
    # The time is taken before the body is read: it is when the hit arrived.
    received_at = pipeline.clock.now()
    try:
        request = request_from_environ(
            environ, path=path, max_body=max_body, received_at=received_at
        )
    except BodyError as exc:
        pipeline.responses.count(exc.response.status)  # ingest counts the others
        return exc.response
    return pipeline.ingest(request)


class CollectorApp:
    """A WSGI app that answers every request with the pipeline (see :func:`collector_app`)."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        prefix: str = "",
        max_body: int = MAX_BODY_BYTES,
        metrics: bool = False,
    ) -> None:
        self.pipeline = pipeline
        self.prefix = normalised_prefix(prefix)
        self.max_body = max_body
        self.metrics = metrics

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = _wsgi_text(str(environ.get("PATH_INFO") or "/"))
        inner = under_prefix(self.prefix, path)
        if inner is None:
            return _send(no_endpoint(self.pipeline, path), start_response)
        answer = _answer(self.pipeline, environ, inner, self.max_body, self.metrics)
        return _send(answer, start_response)


def collector_app(
    pipeline: Pipeline,
    *,
    prefix: str = "",
    max_body: int = MAX_BODY_BYTES,
    metrics: bool = False,
) -> CollectorApp:
    """A WSGI app serving the pipeline's collector endpoints (and ``/healthz``) under
    ``prefix``; anything else gets the pipeline's 404.

    ``metrics``: also answer ``GET <prefix>/metrics`` in the Prometheus text format
    (needs ``d8a[server]``); each web process counts its own requests."""
    return CollectorApp(pipeline, prefix=prefix, max_body=max_body, metrics=metrics)


class D8AMiddleware:
    """WSGI middleware: collector paths under ``prefix`` go to the pipeline, the rest to ``app``.

    The collector paths are the configured protocols' endpoints (``/g/collect``
    for GA4) and ``/healthz``, each under the prefix, plus ``/metrics`` with
    ``metrics=True``."""

    def __init__(
        self,
        app: WSGIApplication,
        pipeline: Pipeline,
        *,
        prefix: str = "/d8a",
        max_body: int = MAX_BODY_BYTES,
        metrics: bool = False,
    ) -> None:
        self.app = app
        self.pipeline = pipeline
        self.prefix = normalised_prefix(prefix)
        self.max_body = max_body
        self.metrics = metrics
        self.paths = collector_paths(pipeline, self.prefix, metrics)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = _wsgi_text(str(environ.get("PATH_INFO") or "/"))
        if path not in self.paths:
            return self.app(environ, start_response)
        inner = path[len(self.prefix) :]
        answer = _answer(self.pipeline, environ, inner, self.max_body, self.metrics)
        return _send(answer, start_response)
