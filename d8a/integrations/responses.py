"""What the ASGI and WSGI adapters answer themselves, without ``pipeline.ingest``.

Both adapters (:mod:`d8a.integrations.asgi`, :mod:`d8a.integrations.wsgi`)
refuse a body over ``max_body`` bytes (:data:`MAX_BODY_BYTES` by default) with
a 413 and, as ``collector_app``, a path outside the prefix with a 404; since
``ingest`` never sees those requests, :func:`refuse` counts them in
``pipeline.responses``. With ``metrics=True`` both answer ``GET`` and ``HEAD``
of ``/metrics`` (under the prefix) in the Prometheus text format.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from d8a.receiver import Response
from d8a.runner import BackgroundLoop, WorkerLoop

if TYPE_CHECKING:
    from d8a.pipeline import Pipeline

__all__ = [
    "MAX_BODY_BYTES",
    "TEXT",
    "asks_for_metrics",
    "body_too_large",
    "metrics_response",
    "no_endpoint",
    "refuse",
    "text_response",
    "under_prefix",
    "worker_snapshot",
]

MAX_BODY_BYTES = 1024 * 1024
"""Default cap on a request body; gtag batches stay far below it."""

TEXT: Mapping[str, str] = {"Content-Type": "text/plain; charset=utf-8"}
"""The headers of a plain-text answer (a reason)."""

_PROMETHEUS = {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}


def text_response(status: int, reason: str, headers: Mapping[str, str] = TEXT) -> Response:
    """A ``status`` answer whose body is ``reason``, UTF-8 encoded."""
    return Response(status, headers, reason.encode())


def refuse(
    pipeline: Pipeline, status: int, reason: str, headers: Mapping[str, str] = TEXT
) -> Response:
    """:func:`text_response`, counted in ``pipeline.responses`` as ``ingest`` counts its own."""
    pipeline.responses.count(status)
    return text_response(status, reason, headers)


def body_too_large(limit: int) -> str:
    """The reason of the 413 for a body over ``limit`` bytes."""
    return f"request body larger than the {limit}-byte limit"


def under_prefix(prefix: str, path: str) -> str | None:
    """``path`` without ``prefix``, or None when it is not under it (every path is
    under the empty prefix)."""
    if not prefix:
        return path
    if not path.startswith(prefix + "/"):
        return None
    return path[len(prefix) :]


def no_endpoint(pipeline: Pipeline, path: str) -> Response:
    """The counted 404 for a ``path`` outside a ``collector_app``'s prefix."""
    return refuse(pipeline, 404, f"no endpoint at {path}")


def asks_for_metrics(metrics: bool, method: object, path: str) -> bool:
    """Whether a request to ``path`` (without the prefix) is for ``/metrics``, with
    ``metrics=True``: ``GET`` and ``HEAD`` only, other methods go to the pipeline."""
    return metrics and path == "/metrics" and method in ("GET", "HEAD")


def worker_snapshot(pipeline: Pipeline, loop: BackgroundLoop | None) -> dict[str, Any]:
    """``pipeline.metrics()``; ``worker_running`` also covers a running ``loop`` the
    pipeline does not know of (a ``ScaledWorker``'s)."""
    snapshot = pipeline.metrics()
    if loop is not None and not isinstance(loop, WorkerLoop):
        snapshot["worker_running"] = loop.running
    return snapshot


def metrics_response(snapshot: Mapping[str, Any]) -> Response:
    """A ``pipeline.metrics()`` snapshot as a 200 in the Prometheus text format
    (needs ``d8a[server]``)."""
    from d8a.metrics import prometheus_text

    return Response(200, _PROMETHEUS, prometheus_text(snapshot))
