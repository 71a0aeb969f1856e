"""The pipeline builder: collects settings and backends, and validates and wires
them once, at ``build()``, into a :class:`~d8a.pipeline.Pipeline`.

Importable as ``d8a.pipeline.PipelineBuilder`` and ``d8a.PipelineBuilder``; made
by :meth:`Pipeline.builder <d8a.pipeline.Pipeline.builder>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from d8a.clock import Clock, SystemClock
from d8a.columns.base import EventColumn, SessionColumn, SessionScopedEventColumn
from d8a.config import Settings
from d8a.errors import ConfigurationError
from d8a.layouts import layout_from_name
from d8a.layouts.base import Layout
from d8a.layouts.embedded import EmbeddedLayout
from d8a.protocols import Protocol, protocol_by_name
from d8a.sessions.async_closer import AsyncClosing
from d8a.sessions.filters import TrafficFilters
from d8a.storage.base import KV, Set
from d8a.warehouse.base import Driver
from d8a.wiring import build_columns, open_queue, open_warehouse

if TYPE_CHECKING:
    from d8a.pipeline import Pipeline

__all__ = ["PipelineBuilder"]


class PipelineBuilder:
    """Collects settings and backends; :meth:`build` validates and wires them."""

    def __init__(self, **settings: Any) -> None:
        self._settings: dict[str, Any] = dict(settings)
        self._protocols: list[Protocol | str] = []
        self._queue: Any = "memory://"
        self._state: Any = "memory://"
        self._warehouse: Driver | str = "memory://"
        self._layout: Layout = EmbeddedLayout()
        self._clock: Clock = SystemClock()
        self._columns: list[EventColumn | SessionScopedEventColumn | SessionColumn] = []
        self._batching: tuple[int, float] | None = None
        self._partitions = 1
        self._pings = True
        self._closer: tuple[str, Any] = ("direct", None)

    def settings(self, **settings: Any) -> PipelineBuilder:
        """Add or replace settings (names of :class:`d8a.config.Settings`)."""
        self._settings.update(settings)
        return self

    def protocols(self, *protocols: Protocol | str) -> PipelineBuilder:
        """Protocols to serve (default: ``ga4``); names or :class:`Protocol` objects."""
        for protocol in protocols:
            if not isinstance(protocol, str | Protocol):
                raise ConfigurationError(
                    "a protocol is a name ('ga4', 'd8a', 'matomo') or a Protocol object, "
                    f"not {protocol!r}"
                )
        self._protocols = list(protocols)
        return self

    def queue(self, queue: Any) -> PipelineBuilder:
        """``memory://``, ``sqlite:///path``, or an object with ``publisher()``/``consumer()``."""
        self._queue = queue
        return self

    def state(self, state: str | tuple[KV, Set]) -> PipelineBuilder:
        """Protosession state: ``memory://``, ``sqlite:///path``, or a ``(KV, Set)`` pair."""
        self._state = state
        return self

    def warehouse(self, warehouse: Driver | str) -> PipelineBuilder:
        """A :class:`Driver` or a URL such as ``sqlite:///events.db`` or ``parquet:///dir``."""
        self._warehouse = warehouse
        return self

    def layout(self, layout: Layout | str) -> PipelineBuilder:
        """The table layout: ``embedded`` (the default: one ``events`` table),
        ``split`` (events and sessions), ``ga4_export``, or a :class:`Layout`."""
        self._layout = layout_from_name(layout)
        return self

    def clock(self, clock: Clock) -> PipelineBuilder:
        """The clock that stamps requests without ``received_at`` and drives pings."""
        self._clock = clock
        return self

    def columns(
        self, *columns: EventColumn | SessionScopedEventColumn | SessionColumn
    ) -> PipelineBuilder:
        """Extra (custom) columns, appended to every protocol's columns."""
        self._columns.extend(columns)
        return self

    def batching(self, max_hits: int = 1000, max_delay: float = 1.0) -> PipelineBuilder:
        """Buffer hits before publishing (bulk loads). The default publishes every
        request before answering it, so an answered hit is durable."""
        self._batching = (max_hits, max_delay)
        return self

    def partitions(self, count: int) -> PipelineBuilder:
        """Number of queue partitions hits are spread over (by property and client)."""
        self._partitions = count
        return self

    def pings(self, enabled: bool) -> PipelineBuilder:
        """Whether an idle worker advances the session clock to the clock's time."""
        self._pings = enabled
        return self

    def closer(self, kind: str = "direct", queue: Any = None) -> PipelineBuilder:
        """How closed protosessions become rows: ``direct`` (the default: the worker
        writes them itself) or ``async`` (the worker publishes them to a second
        queue, ``queue`` or by default the one beside the hits queue, and
        :meth:`Pipeline.writer <d8a.pipeline.Pipeline.writer>` loops write them; see
        :mod:`d8a.sessions.async_closer`)."""
        if kind not in ("direct", "async"):
            raise ConfigurationError(f"closer must be 'direct' or 'async', not {kind!r}")
        if kind == "direct" and queue is not None:
            raise ConfigurationError("only the async closer takes a queue")
        self._closer = (kind, queue)
        return self

    def build(self) -> Pipeline:
        """Validate everything and return the immutable pipeline.

        Raises ConfigurationError for invalid settings (traffic filter expressions
        included), unknown protocols or backends, column graphs with cycles or
        missing dependencies, and filter fields that are not event columns."""
        from d8a.pipeline import Pipeline  # d8a.pipeline imports this module

        settings = Settings.from_kwargs(**self._settings)
        protocols = [
            protocol_by_name(p) if isinstance(p, str) else p for p in self._protocols or ["ga4"]
        ]
        columns = build_columns(protocols, settings, self._columns, self._layout)
        if isinstance(settings.filters, TrafficFilters):
            settings.filters.check_fields(columns)
        queue = open_queue(self._queue, self._partitions)
        kind, closed_queue = self._closer
        return Pipeline(
            settings=settings,
            protocols=tuple(protocols),
            columns=columns,
            queue=queue,
            state=self._state,
            driver=open_warehouse(self._warehouse),
            layout=self._layout,
            clock=self._clock,
            batching=self._batching,
            partitions=self._partitions,
            pings=self._pings,
            closing=None if kind == "direct" else AsyncClosing(queue, closed_queue),
        )
