"""Counters of a running pipeline: a plain dict, and Prometheus text made from it.

:meth:`d8a.Pipeline.metrics` returns a snapshot with this shape (every key is
always present; the worker's keys are ``None`` in a process that runs no
worker, such as ``d8a serve --no-worker``)::

    {
        "requests": {"204": 950, "400": 3},      # answers by HTTP status
        "requests_accepted": 950,                 # requests whose hits were stored
        "hits_accepted": 1200,                    # hits in those requests
        "requests_rejected": {"invalid_request": 3},   # by reason (see REJECTION_REASONS)
        "events_dropped": {"drop_bots": 2},       # left out on purpose, by setting/filter
        "events_broken": {"page_title": 1},       # a column failed, by column
        "sessions_written": 310,
        "rows_written": {"events": 1180},         # handed to the warehouse, by table
        "write_errors": 0,                        # failed warehouse writes (retried)
        "worker_running": True,
        "protosessions_open": 42,
        "protosessions_closing": 0,               # closed, waiting for their write
        "clock_lag_seconds": 0.4,                 # now - the worker's event-time clock
        "closing_overdue_seconds": 0.0,           # now - earliest closing deadline, if past
    }

Counters only grow during the life of the pipeline object; a restart starts
them from zero, as Prometheus counters expect. :func:`prometheus_text` turns a
snapshot into the Prometheus text exposition format with prometheus-client
(the ``d8a[server]`` extra); :class:`ResponseCounter` is the hook the pipeline
and hosts count answers with.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from d8a.errors import MissingDependencyError

if TYPE_CHECKING:
    from d8a.clock import Clock
    from d8a.receiver import Receiver
    from d8a.runner import WorkerLoop
    from d8a.sessions.writer import DirectCloser

__all__ = [
    "REJECTION_REASONS",
    "ResponseCounter",
    "pipeline_metrics",
    "prometheus_text",
]

REJECTION_REASONS: Mapping[int, str] = {
    400: "invalid_request",
    404: "unknown_endpoint",
    405: "method_not_allowed",
    413: "too_large",
    503: "storage_unavailable",
}
"""Reason names of rejected requests by status; other statuses read ``status_<n>``.
(The full reason text of recent rejections is in ``receiver.stats.recent_rejections``;
metric labels keep to this short list so their number stays bounded.)"""


class ResponseCounter:
    """Answers by HTTP status; thread-safe. Hosts that answer a request themselves
    (a body over the size limit) count it here too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[int] = Counter()

    def count(self, status: int) -> None:
        """Count one answer with ``status``."""
        with self._lock:
            self._counts[status] += 1

    def snapshot(self) -> dict[str, int]:
        """Counts by status, the status as a string (JSON-friendly), in status order."""
        with self._lock:
            return {str(status): n for status, n in sorted(self._counts.items())}


def _reason(status: int) -> str:
    return REJECTION_REASONS.get(status, f"status_{status}")


def pipeline_metrics(
    receiver: Receiver,
    responses: ResponseCounter,
    worker: WorkerLoop | None,
    closer: DirectCloser | None,
    clock: Clock,
) -> dict[str, Any]:
    """The snapshot described in the module docstring; ``worker`` and ``closer`` are
    None when this process runs no worker. Safe to call from any thread."""
    stats = receiver.stats
    rejected: Counter[str] = Counter()
    for status, n in list(stats.rejected.items()):
        rejected[_reason(status)] += n
    result: dict[str, Any] = {
        "requests": responses.snapshot(),
        "requests_accepted": stats.requests,
        "hits_accepted": stats.hits,
        "requests_rejected": dict(sorted(rejected.items())),
        "events_dropped": {},
        "events_broken": {},
        "sessions_written": 0,
        "rows_written": {},
        "write_errors": 0,
        "worker_running": worker is not None and worker.running,
        "protosessions_open": None,
        "protosessions_closing": None,
        "clock_lag_seconds": None,
        "closing_overdue_seconds": None,
    }
    if closer is not None:
        written = closer.stats
        broken: Counter[str] = Counter()
        for reason, n in list(written.broken_events.items()):
            broken[reason.split(":", 1)[0]] += n  # "<column>: <why>" -> the column
        result.update(
            events_dropped=dict(sorted(written.dropped_events.items())),
            events_broken=dict(sorted(broken.items())),
            sessions_written=written.sessions,
            rows_written=dict(sorted(written.rows.items())),
            write_errors=written.write_errors,
        )
    if worker is not None:
        handler = worker.protosessions
        now = clock.now()
        event_time = handler.clock
        deadline = handler.oldest_deadline
        result.update(
            protosessions_open=handler.open_count,
            protosessions_closing=len(handler.closing),
            clock_lag_seconds=max(0.0, now - event_time) if event_time > float("-inf") else 0.0,
            closing_overdue_seconds=0.0 if deadline is None else max(0.0, now - deadline),
        )
    return result


# name, type, help, the snapshot key, the label of a dict-valued key
_FAMILIES: tuple[tuple[str, str, str, str, str], ...] = (
    ("d8a_requests", "counter", "Answers by HTTP status.", "requests", "status"),
    (
        "d8a_requests_accepted",
        "counter",
        "Requests whose hits were stored.",
        "requests_accepted",
        "",
    ),
    ("d8a_hits_accepted", "counter", "Hits stored.", "hits_accepted", ""),
    ("d8a_requests_rejected", "counter", "Requests rejected.", "requests_rejected", "reason"),
    ("d8a_events_dropped", "counter", "Events left out on purpose.", "events_dropped", "reason"),
    ("d8a_events_broken", "counter", "Events a column failed on.", "events_broken", "column"),
    ("d8a_sessions_written", "counter", "Sessions written.", "sessions_written", ""),
    ("d8a_rows_written", "counter", "Rows written to the warehouse.", "rows_written", "table"),
    ("d8a_write_errors", "counter", "Failed warehouse writes.", "write_errors", ""),
    ("d8a_worker_running", "gauge", "1 while the worker loop runs.", "worker_running", ""),
    ("d8a_protosessions_open", "gauge", "Open protosessions.", "protosessions_open", ""),
    (
        "d8a_protosessions_closing",
        "gauge",
        "Closed protosessions waiting for their write.",
        "protosessions_closing",
        "",
    ),
    (
        "d8a_clock_lag_seconds",
        "gauge",
        "Wall time minus the worker's event-time clock.",
        "clock_lag_seconds",
        "",
    ),
    (
        "d8a_closing_overdue_seconds",
        "gauge",
        "How long past its deadline the first protosession to close still is.",
        "closing_overdue_seconds",
        "",
    ),
)


def prometheus_text(snapshot: Mapping[str, Any]) -> bytes:
    """A :func:`pipeline_metrics` snapshot in the Prometheus text format (version 0.0.4).

    Keys that are None (no worker in this process) are left out. Needs
    prometheus-client: ``pip install 'd8a[server]'``."""
    try:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            Metric,
        )
    except ImportError as exc:
        raise MissingDependencyError("prometheus-client", "server") from exc

    class _Snapshot:
        """A custom collector: one metric family per snapshot key."""

        def collect(self) -> Iterator[Metric]:
            for name, kind, text, key, label in _FAMILIES:
                value = snapshot.get(key)
                if value is None:
                    continue
                labels = [label] if label else []
                family: CounterMetricFamily | GaugeMetricFamily = (
                    CounterMetricFamily(name, text, labels=labels)
                    if kind == "counter"
                    else GaugeMetricFamily(name, text, labels=labels)
                )
                if label:
                    for label_value, number in value.items():
                        family.add_metric([str(label_value)], float(number))
                else:
                    family.add_metric([], float(value))
                yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot())
    text: bytes = generate_latest(registry)
    return text
