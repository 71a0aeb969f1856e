"""``d8a.replay``: recorded requests in, Arrow tables out; for notebooks and tests."""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from d8a.batching import Storage
from d8a.clock import SystemClock
from d8a.errors import D8AError
from d8a.hits import Hit
from d8a.layouts import Layout, layout_from_name
from d8a.pipeline import PipelineBuilder
from d8a.warehouse.base import Driver
from d8a.warehouse.memory import MemoryDriver
from d8a.warehouse.tee import TeeDriver
from d8a.wiring import open_warehouse

__all__ = ["ReplayError", "read_requests", "replay"]

log = logging.getLogger(__name__)

_STEP = 200
"""Requests ingested between two worker steps: keeps memory flat on long replays."""


class ReplayError(D8AError):
    """``strict=True`` replay met a request the pipeline rejected."""


def read_requests(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Request dicts from a JSON Lines file (``.gz`` read transparently)."""
    name = os.fspath(path)
    opener: Any = gzip.open if name.endswith(".gz") else open
    with opener(name, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ReplayError(f"{name}:{number}: not JSON: {exc}") from None


class _Ordering(Storage):
    """Remembers each hit's event order while passing hits on."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.order: dict[str, tuple[float, int]] = {}

    def push(self, hits: Sequence[Hit]) -> None:
        for hit in hits:
            self.order[hit.id] = (hit.received_at, hit.seq)
        self.inner.push(hits)

    def flush(self) -> None:
        self.inner.flush()


def replay(
    requests: Iterable[Mapping[str, Any]] | str | os.PathLike[str],
    *,
    protocol: str | None = None,
    strict: bool = False,
    warehouse: Driver | str | None = None,
    layout: Layout | str = "embedded",
    **settings: Any,
) -> dict[str, pa.Table]:
    """Run requests through the whole pipeline in memory and return the tables.

    ``requests`` is an iterable of request dicts or the path of a JSON Lines
    file of them. ``protocol=None`` serves every built-in protocol and picks
    each request's by its path. Event time is each request's ``received_at``
    (wall time when absent); every session is closed at the end. Rows come
    ordered by event time, then arrival order. ``settings`` are those of
    :class:`d8a.config.Settings`. Rejected requests are logged and skipped, or
    raise :class:`ReplayError` with ``strict=True``. With ``warehouse`` (a URL
    such as ``sqlite:///events.db`` or a Driver) the rows are also written
    there; ``layout`` is ``embedded``, ``split`` or ``ga4_export`` (or a Layout).
    """
    if isinstance(requests, str | os.PathLike):
        requests = read_requests(requests)
    driver = MemoryDriver()
    target: Driver = driver if warehouse is None else TeeDriver(driver, open_warehouse(warehouse))
    builder = (
        PipelineBuilder(**settings)
        .protocols(*([protocol] if protocol else ["ga4", "d8a"]))
        .warehouse(target)
        .layout(layout_from_name(layout))
        .clock(SystemClock())
        .batching(max_hits=2000, max_delay=float("inf"))
        .pings(False)
    )
    pipeline = builder.build()
    ordering = _Ordering(pipeline.storage)
    pipeline.receiver.storage = ordering
    worker = pipeline.worker()
    rejected = 0
    for count, request in enumerate(requests, 1):
        response = pipeline.ingest(request)
        if response.status >= 400:
            rejected += 1
            if strict:
                raise ReplayError(
                    f"request {count} rejected with {response.status}: {response.body.decode()}"
                )
        if count % _STEP == 0:
            ordering.flush()
            worker.run_until_empty()
    pipeline.flush()
    if rejected:
        log.warning("replay skipped %d rejected request(s)", rejected)
    result: dict[str, pa.Table] = {}
    for name in pipeline.tables():
        table = driver.table(name)
        ids = table.column("id").to_pylist()
        order = ordering.order
        indices = sorted(range(len(ids)), key=lambda i: order[ids[i]])
        result[name] = table.take(pa.array(indices, type=pa.int64()))
    pipeline.close()
    return result
