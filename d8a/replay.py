"""``d8a.replay``: recorded requests in, Arrow tables out; for notebooks and tests."""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from d8a.batching import Storage
from d8a.clock import SystemClock
from d8a.errors import ConfigurationError, D8AError
from d8a.gc_passes import fewer_gc_passes
from d8a.hits import Hit
from d8a.layouts import Layout, layout_from_name
from d8a.layouts.memory_pool import arrow_pool
from d8a.layouts.row_arrays import take_rows
from d8a.pipeline import PipelineBuilder
from d8a.protocols.base import Protocol
from d8a.warehouse.base import Driver
from d8a.warehouse.memory import MemoryDriver
from d8a.warehouse.tee import TeeDriver
from d8a.wiring import open_warehouse

__all__ = ["ReplayError", "read_requests", "replay"]

log = logging.getLogger(__name__)

_STEP = 1000
"""Requests ingested between two worker steps: keeps memory flat on long replays."""


REPLAY_GC_THRESHOLD = (100_000, 10, 10)
"""The cyclic garbage collector's thresholds while a replay runs: see
:mod:`d8a.gc_passes`. Higher than a worker step's :data:`FEWER_GC_THRESHOLD`: the
young objects a replay keeps alive (hits waiting in their protosessions, the
rows of a close call) seldom reach 100,000, so the collector hardly runs (once
in a replay of 100,000 generated hits, against 41 times at 20,000); a replay
has no requests waiting on its pauses."""


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
        self.ids: list[str] = []
        self.times: list[float] = []
        self.seqs: list[int] = []

    def push(self, hits: Sequence[Hit]) -> None:
        for hit in hits:
            self.ids.append(hit.id)
            self.times.append(hit.received_at)
            self.seqs.append(hit.seq)
        self.inner.push(hits)

    def flush(self) -> None:
        self.inner.flush()

    def keys(self) -> tuple[pa.Array, pa.Array, pa.Array]:
        """Every hit's id, event time and arrival order as arrays, the last hit
        first: a repeated id takes the order of its last hit."""
        pool = arrow_pool()
        return (
            pa.array(self.ids[::-1], pa.string(), memory_pool=pool),
            pa.array(self.times[::-1], pa.float64(), memory_pool=pool),
            pa.array(self.seqs[::-1], pa.int64(), memory_pool=pool),
        )


def _protocols_by_first_path(
    requests: Iterable[Mapping[str, Any]], settings: Mapping[str, Any]
) -> tuple[Iterable[Mapping[str, Any]], list[str]]:
    """``["matomo"]`` when the first request goes to a Matomo endpoint (Matomo
    rows have other columns than GA4's), else ``["ga4", "d8a"]``; and the requests."""
    from d8a.config import Settings
    from d8a.protocols.matomo import MatomoProtocol

    iterator = iter(requests)
    first = next(iterator, None)
    if first is None:
        return [], ["ga4", "d8a"]
    matomo = MatomoProtocol().endpoints(Settings.from_kwargs(**settings))
    path = first.get("path") if isinstance(first, Mapping) else None
    names = ["matomo"] if path in {e.path for e in matomo} else ["ga4", "d8a"]
    return itertools.chain([first], iterator), names


def replay(
    requests: Iterable[Mapping[str, Any]] | str | os.PathLike[str],
    *,
    protocol: str | Protocol | Sequence[str | Protocol] | None = None,
    strict: bool = False,
    warehouse: Driver | str | None = None,
    layout: Layout | str = "embedded",
    **settings: Any,
) -> dict[str, pa.Table]:
    """Run requests through the whole pipeline in memory and return the tables.

    ``requests`` is an iterable of request dicts or the path of a JSON Lines
    file of them. ``protocol=None`` serves Matomo when the first request's path
    is a Matomo endpoint (``/matomo.php``, ``matomo_tracking_endpoints``), else
    GA4 and d8a, picking each request's by its path. ``protocol`` may also name
    one (``"ga4"``), or give a :class:`~d8a.protocols.base.Protocol` object such as
    ``GA4Protocol(attribution=...)``, or a list of either. Event time is each
    request's ``received_at`` (wall time when absent); every session is closed at the end. Rows come
    ordered by event time, then arrival order. ``settings`` are those of
    :class:`d8a.config.Settings`. Rejected requests are logged and skipped, or
    raise :class:`ReplayError` with ``strict=True``. With ``warehouse`` (a URL
    such as ``sqlite:///events.db`` or a Driver) the rows are also written
    there; ``layout`` is ``embedded``, ``split`` or ``ga4_export`` (or a Layout).
    While it runs, the garbage collector runs less often (:func:`fewer_gc_passes`).
    """
    with fewer_gc_passes(REPLAY_GC_THRESHOLD):
        return _replay(requests, protocol, strict, warehouse, layout, settings)


def _replay(
    requests: Iterable[Mapping[str, Any]] | str | os.PathLike[str],
    protocol: str | Protocol | Sequence[str | Protocol] | None,
    strict: bool,
    warehouse: Driver | str | None,
    layout: Layout | str,
    settings: dict[str, Any],
) -> dict[str, pa.Table]:
    if isinstance(requests, str | os.PathLike):
        requests = read_requests(requests)
    names: list[str | Protocol]
    if protocol is None or protocol == "":
        requests, found = _protocols_by_first_path(requests, settings)
        names = [*found]
    elif isinstance(protocol, str | Protocol):
        names = [protocol]
    elif isinstance(protocol, Sequence) and protocol:
        names = list(protocol)
    else:
        raise ConfigurationError(
            f"protocol: give a name, a Protocol object, a list of them, or None; not {protocol!r}"
        )
    driver = MemoryDriver()
    target: Driver = driver if warehouse is None else TeeDriver(driver, open_warehouse(warehouse))
    builder = (
        PipelineBuilder(**settings)
        .protocols(*names)
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
    keys = ordering.keys()
    result = {name: _in_event_order(driver.table(name), keys) for name in pipeline.tables()}
    pipeline.close()
    return result


def _in_event_order(table: pa.Table, keys: tuple[pa.Array, pa.Array, pa.Array]) -> pa.Table:
    """``table``'s rows sorted by their hit's (event time, arrival order); rows whose
    ``id`` is no hit's (if a layout writes such) come last, in their order.

    ``keys`` are :meth:`_Ordering.keys`. The ids are matched in Arrow
    (``index_in``): looking each row's id up in a dict cost about 2 µs a row."""
    if not table.num_rows or "id" not in table.column_names:
        return table
    ids, times, seqs = keys
    pool = arrow_pool()
    column = table.column("id")
    if column.type != ids.type:
        ids = ids.cast(column.type)
    positions = pc.index_in(column, value_set=ids, memory_pool=pool)
    by = pa.table(
        {
            "time": pc.take(times, positions, memory_pool=pool),
            "seq": pc.take(seqs, positions, memory_pool=pool),
        }
    )
    order_by = [("time", "ascending"), ("seq", "ascending")]
    indices = pc.sort_indices(by, sort_keys=order_by, memory_pool=pool)  # NULLs last
    return take_rows(table, indices)
