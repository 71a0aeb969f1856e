"""Turning builder inputs into components: URLs into backends, protocols into columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from d8a._redis import is_redis_url
from d8a.batching import BatchingStorage, PublishingStorage
from d8a.columns.base import Column, EventColumn, SessionColumn, SessionScopedEventColumn
from d8a.columns.columnset import ColumnSet
from d8a.columns.enrichment import configure_enrichment
from d8a.config import Settings
from d8a.encoding import DecodedHits
from d8a.errors import ConfigurationError
from d8a.layouts.base import Layout
from d8a.locations import split_url
from d8a.protocols import Protocol
from d8a.protosessions.closer import Closer
from d8a.protosessions.handler import ProtosessionHandler
from d8a.protosessions.tasks import AckTracker, HitBatchHandler
from d8a.queue.base import HIT_BATCH, Consumer, Worker
from d8a.queue.memory import MemoryQueue
from d8a.runner import WorkerLoop
from d8a.sessions.writer import DirectCloser
from d8a.storage.base import KV, Set
from d8a.warehouse import Driver, driver_from_url

if TYPE_CHECKING:
    from d8a.pipeline import Pipeline

__all__ = [
    "build_columns",
    "build_worker",
    "open_dead_letters",
    "open_queue",
    "open_state",
    "open_warehouse",
]


def build_columns(
    protocols: Sequence[Protocol],
    settings: Settings,
    extra: Sequence[Column],
    layout: Layout,
) -> dict[str, ColumnSet]:
    """One validated column set per protocol; protocols sharing a table must agree on it."""
    if not protocols:
        raise ConfigurationError("a pipeline needs at least one protocol")
    result: dict[str, ColumnSet] = {}
    schemas: dict[str, tuple[str, Any]] = {}
    for protocol in protocols:
        if protocol.id in result:
            raise ConfigurationError(f"protocol {protocol.id!r} is configured twice")
        columns = ColumnSet.build(
            [
                *configure_enrichment(protocol.event_columns(settings), settings),
                *(c for c in extra if isinstance(c, EventColumn)),
            ],
            [
                *protocol.session_scoped_columns(settings),
                *(c for c in extra if isinstance(c, SessionScopedEventColumn)),
            ],
            [
                *protocol.session_columns(settings),
                *(c for c in extra if isinstance(c, SessionColumn)),
            ],
        )
        for table, schema in layout.tables(columns).items():
            seen = schemas.get(table)
            if seen is not None and not seen[1].equals(schema):
                raise ConfigurationError(
                    f"protocols {seen[0]!r} and {protocol.id!r} write table {table!r} "
                    "with different columns; give them separate tables"
                )
            schemas[table] = (protocol.id, schema)
        result[protocol.id] = columns
    return result


def open_queue(queue: Any, partitions: int = 1) -> Any:
    """A queue object (with ``publisher()`` and ``consumer()``) from a URL or object;
    a ``redis://host:port/db`` queue gets one stream per partition."""
    if not isinstance(queue, str):
        if not (hasattr(queue, "publisher") and hasattr(queue, "consumer")):
            raise ConfigurationError("a queue needs publisher() and consumer() methods")
        return queue
    if is_redis_url(queue):
        from d8a.queue.redis import RedisQueue

        return RedisQueue(queue, partitions=partitions)
    scheme, path = split_url(queue, "queue", ("memory", "sqlite"))
    if scheme == "memory":
        return MemoryQueue()
    if not path:
        raise ConfigurationError(f"{queue!r}: a SQLite queue needs a file, as sqlite:///queue.db")
    from d8a.queue.sqlite import SQLiteQueue

    return SQLiteQueue(path)


def open_dead_letters(queue: Any) -> Any:
    """The queue that keeps unreadable messages of ``queue``, or None when there is none.

    SQLite: table ``queue_dead_letters`` in the same file; memory: another memory
    queue; other backends may offer ``dead_letters()``."""
    from d8a.queue.sqlite import SQLiteQueue

    if isinstance(queue, SQLiteQueue):
        return SQLiteQueue(queue.path, name="dead_letters")
    if isinstance(queue, MemoryQueue):
        return MemoryQueue()
    make = getattr(queue, "dead_letters", None)
    return make() if callable(make) else None


def open_state(state: Any) -> tuple[KV, Set]:
    """The (KV, Set) pair of protosession state from a URL or a pair."""
    if isinstance(state, tuple) and len(state) == 2:
        kv, hits = state
        if isinstance(kv, KV) and isinstance(hits, Set):
            return kv, hits
    if not isinstance(state, str):
        raise ConfigurationError("state must be a URL or a (KV, Set) pair")
    if is_redis_url(state):
        from d8a.storage.redis import RedisKV, RedisSet

        return RedisKV(state, "d8a:state"), RedisSet(state, "d8a:state")
    scheme, path = split_url(state, "state", ("memory", "sqlite"))
    if scheme == "memory":
        from d8a.storage.memory import MemoryKV, MemorySet

        return MemoryKV(), MemorySet()
    if not path:
        raise ConfigurationError(f"{state!r}: SQLite state needs a file, as sqlite:///state.db")
    from d8a.storage.sqlite import SQLiteKV, SQLiteSet

    return SQLiteKV(path, table="protosession_kv"), SQLiteSet(path, table="protosession_hits")


def open_warehouse(warehouse: Driver | str) -> Driver:
    """A driver from a URL or a driver."""
    if isinstance(warehouse, Driver):
        return warehouse
    if isinstance(warehouse, str):
        return driver_from_url(warehouse)
    raise ConfigurationError("warehouse must be a Driver or a URL such as sqlite:///events.db")


def build_worker(
    pipeline: Pipeline, consumer: Consumer, kv: KV, hits: Set, pings: bool
) -> tuple[WorkerLoop, DirectCloser]:
    """The worker loop of ``pipeline`` over ``consumer`` and the state ``kv``/``hits``,
    and the closer that writes its rows (with the async closer: the writers')."""

    def direct() -> DirectCloser:
        return DirectCloser(pipeline.columns, pipeline.settings, pipeline.layout, pipeline.driver)

    closing = pipeline.closing
    closer = direct() if closing is None else closing.direct(direct)
    sink: Closer = closer if closing is None else closing.closer()
    tracker = AckTracker()
    # Hits this process ingests are handed to its own worker without a decode; with
    # an in-memory queue and state, without being encoded at all.
    queue = pipeline.queue
    local = isinstance(queue, MemoryQueue) and not kv.durable and not hits.durable
    decoded = queue.local_hits if local else DecodedHits()
    if isinstance(pipeline.storage, PublishingStorage | BatchingStorage):
        pipeline.storage.decoded = decoded
    settings = pipeline.settings
    protosessions = ProtosessionHandler(
        kv,
        hits,
        sink,
        settings.session_timeout,
        tracker.written,
        decoded,
        compaction_threshold=settings.compaction_threshold,
        eviction_strategy=settings.eviction_strategy,
    )
    tables = pipeline.tables()

    def already_written(ids: list[str]) -> set[str]:
        found: set[str] = set()
        for table in tables:
            found |= pipeline.driver.existing_ids(table, ids)
        if closing is not None:  # published, perhaps not written yet
            found |= closing.published.find(i for i in ids if i not in found)
        return found

    dead = pipeline.dead_letters
    handler = HitBatchHandler(
        protosessions,
        tracker,
        already_written,
        None if dead is None else dead.publisher(),
        queue.local_hits if isinstance(queue, MemoryQueue) else None,
    )
    worker = Worker({HIT_BATCH: handler})
    loop = WorkerLoop(consumer, worker, protosessions, tracker, pipeline.clock, pings)
    return loop, closer
