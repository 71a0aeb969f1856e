"""The asynchronous closer: closed protosessions through a second queue, written by writers.

Same requests through the direct and the async closer give identical tables (on
memory, SQLite and Redis backends, and with scaled workers); a crash between
publishing and acknowledging, on either side, neither loses nor duplicates nor
merges anything.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typing_extensions import override

import d8a
from d8a.clock import ManualClock
from d8a.errors import ConfigurationError
from d8a.pipeline import Pipeline, PipelineBuilder
from d8a.queue.base import Consumer, Delivery, Task
from d8a.queue.memory import MemoryQueue
from d8a.queue.redis import RedisQueue
from d8a.queue.sqlite import SQLiteQueue
from d8a.scaleout.worker import ScaledWorker
from d8a.sessions.async_closer import (
    CLOSED_FORMAT,
    CLOSED_PROTOSESSIONS,
    PublishedHits,
    WriterLoop,
    decode_closed,
    encode_closed,
)
from d8a.storage.memory import MemoryKV
from d8a.storage.redis import RedisKV, RedisSet
from d8a.storage.sqlite import SQLiteKV
from d8a.testing import count_hits, generate_traffic

REQUESTS = list(generate_traffic(visitors=40, seed=5))
Rows = dict[str, tuple[Any, ...]]


def builder() -> PipelineBuilder:
    return Pipeline.builder().protocols("ga4", "d8a").clock(ManualClock()).pings(False)


def run(pipeline: Pipeline, requests: Sequence[dict[str, Any]] = REQUESTS) -> pa.Table:
    with pipeline:
        for request in requests:
            assert pipeline.ingest(request).status == 204
        pipeline.flush()
        return sorted_events(pipeline)


def sorted_events(pipeline: Pipeline) -> pa.Table:
    table: pa.Table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    return table.sort_by("id")


def sqlite_rows(path: Path) -> Rows:
    """The rows of a SQLite warehouse by id (failing on duplicates)."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        cursor = conn.execute('SELECT * FROM "events"')
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    by_id = {row[names.index("id")]: row for row in rows}
    assert len(by_id) == len(rows), "duplicate rows"
    return by_id


@pytest.fixture(scope="module")
def direct_rows() -> pa.Table:
    return run(builder().build())


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Rows:
    """What ``d8a.replay`` writes to a SQLite warehouse for the requests."""
    path = tmp_path_factory.mktemp("reference") / "events.db"
    d8a.replay(REQUESTS, warehouse=f"sqlite:///{path}")
    return sqlite_rows(path)


def test_memory_async_gives_the_direct_rows(direct_rows: pa.Table) -> None:
    pipeline = builder().closer("async").build()
    rows = run(pipeline)
    assert rows.num_rows == direct_rows.num_rows > 0
    assert rows.equals(direct_rows)
    assert pipeline.closing is not None
    assert pipeline.closing.queue.pending() == 0
    assert len(pipeline.closing.published) == 0  # the writer forgot what it wrote
    assert pipeline.closer.stats.events == rows.num_rows  # the writers' closer


def test_the_worker_only_publishes_and_the_writer_writes() -> None:
    pipeline = builder().closer("async").build()
    with pipeline:
        for request in REQUESTS:
            pipeline.ingest(request)
        worker = pipeline.worker()
        worker.flush()  # closes every protosession: published, nothing written yet
        assert sorted_events(pipeline).num_rows == 0
        assert pipeline.closing is not None
        published = len(pipeline.closing.published)
        assert published == count_hits(REQUESTS)
        assert pipeline.queue.pending() == 0  # the hit batches are acknowledged
        written = pipeline.writer().run_until_empty()
        assert written > 0
        assert sorted_events(pipeline).num_rows == published


def test_sqlite_async_gives_the_direct_rows(direct_rows: pa.Table, tmp_path: Path) -> None:
    pipeline = (
        builder()
        .queue(f"sqlite:///{tmp_path / 'queue.db'}")
        .state(f"sqlite:///{tmp_path / 'state.db'}")
        .closer("async")
        .build()
    )
    assert run(pipeline).equals(direct_rows)


def test_redis_async_gives_the_direct_rows(direct_rows: pa.Table, redis_url: str) -> None:
    def redis_pipeline(kind: str) -> Pipeline:
        state = (RedisKV(redis_url, f"{kind}:state"), RedisSet(redis_url, f"{kind}:state"))
        queue = RedisQueue(redis_url, partitions=3, prefix=kind)
        return builder().queue(queue).partitions(3).state(state).closer(kind).build()

    assert run(redis_pipeline("direct")).equals(direct_rows)
    pipeline = redis_pipeline("async")
    assert run(pipeline).equals(direct_rows)
    assert pipeline.closing is not None
    closed = pipeline.closing.queue
    assert isinstance(closed, RedisQueue) and closed.stream(0) == "async:closed:0"


def test_scaled_workers_with_async_closing_give_the_rows_of_replay(
    reference: Rows, redis_url: str, tmp_path: Path
) -> None:
    """Two scaled workers share 4 partitions, two writer threads the closed stream."""
    queue = RedisQueue(redis_url, partitions=4)
    warehouse = f"sqlite:///{tmp_path / 'events.db'}"

    def pipeline() -> Pipeline:
        return builder().queue(queue).partitions(4).warehouse(warehouse).closer("async").build()

    ingesting = pipeline()
    for request in REQUESTS:
        assert ingesting.ingest(request).status == 204
    workers = [ScaledWorker(pipeline(), queue, lease_ttl=1.0, pings=False) for _ in range(2)]
    writers = [pipeline() for _ in range(2)]
    for writer in writers:
        writer.writer().start(poll=0.05)
    deadline = time.monotonic() + 60
    while sorted(workers[0].partitions + workers[1].partitions) != [0, 1, 2, 3]:
        assert time.monotonic() < deadline
        for worker in workers:
            worker.rebalance()
        time.sleep(0.05)
    for worker in workers:
        worker.flush()
        worker.close()
    closing = writers[0].closing
    assert closing is not None
    while closing.queue.pending():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert all(writer.writer().written for writer in writers)  # both took a share
    assert len(closing.published) == 0
    for writer in writers:
        writer.close()
    ingesting.close()
    assert sqlite_rows(tmp_path / "events.db") == reference


class Crash(Exception):
    """The process "dies" here."""


class NoAcks(Consumer):
    """A real consumer whose acknowledgements never arrive: the process dies first."""

    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer

    @override
    def receive(self, max_tasks: int = 100, timeout: float = 0.0) -> list[Delivery]:
        return self._consumer.receive(max_tasks, timeout)

    @override
    def ack(self, receipts: Sequence[str]) -> None:
        raise Crash

    @override
    def close(self) -> None:  # a dead process closes nothing
        pass


class DiesBeforeAcking:
    """A SQLite hits queue whose consumers die before acknowledging."""

    def __init__(self, path: Path) -> None:
        self._queue = SQLiteQueue(path)

    def publisher(self) -> Any:
        return self._queue.publisher()

    def consumer(self) -> Consumer:
        return NoAcks(self._queue.consumer())


def test_worker_crash_after_publishing_loses_duplicates_and_merges_nothing(
    reference: Rows, tmp_path: Path
) -> None:
    """The worker publishes closed protosessions, then dies before acknowledging the
    hit batches. The next worker gets them again: it must skip the published hits
    (not yet written), else they would start new sessions or join newer ones."""
    queue, state = tmp_path / "queue.db", f"sqlite:///{tmp_path / 'state.db'}"
    warehouse = f"sqlite:///{tmp_path / 'events.db'}"
    first = (
        builder()
        .queue(DiesBeforeAcking(queue))
        .state(state)
        .warehouse(warehouse)
        .closer("async", queue=SQLiteQueue(queue, name="closed"))
        .build()
    )
    for request in REQUESTS:
        assert first.ingest(request).status == 204
    loop = first.worker()
    with pytest.raises(Crash):
        for _ in range(100):
            loop.step(max_tasks=500)  # publishes what closes, then dies acknowledging
    assert first.closing is not None
    assert len(first.closing.published) > 0  # published, not written
    waiting = first.closing.queue.consumer()
    assert waiting.pending() > 0
    waiting.close()

    second = (
        builder()
        .queue(f"sqlite:///{queue}")
        .state(state)
        .warehouse(warehouse)
        .closer("async")
        .build()
    )
    with second:
        second.flush()
        assert second.closing is not None
        assert len(second.closing.published) == 0
        leftover = second.closing.queue.consumer()
        assert leftover.pending() == 0
        leftover.close()
    assert sqlite_rows(tmp_path / "events.db") == reference


def test_writer_crash_after_writing_writes_nothing_twice(reference: Rows, tmp_path: Path) -> None:
    queue = tmp_path / "queue.db"
    warehouse = f"sqlite:///{tmp_path / 'events.db'}"
    closed = SQLiteQueue(queue, name="closed")

    class WriterDiesBeforeAcking:
        def publisher(self) -> Any:
            return closed.publisher()

        def consumer(self) -> Consumer:
            return NoAcks(closed.consumer())

        def kv(self, name: str) -> SQLiteKV:  # where the published hit ids go
            return SQLiteKV(queue, table=f"{closed.table}_{name}")

    first = (
        builder()
        .queue(f"sqlite:///{queue}")
        .warehouse(warehouse)
        .closer("async", queue=WriterDiesBeforeAcking())
        .build()
    )
    for request in REQUESTS:
        first.ingest(request)
    first.worker().flush()
    with pytest.raises(Crash):
        first.writer().step(max_tasks=1000)  # wrote the rows, died before the ack
    assert sqlite_rows(tmp_path / "events.db") == reference

    second = builder().queue(f"sqlite:///{queue}").warehouse(warehouse).closer("async").build()
    with second:
        assert second.writer().run_until_empty() > 0  # the same tasks again
        assert second.closing is not None
        assert len(second.closing.published) == 0
    assert sqlite_rows(tmp_path / "events.db") == reference


def test_unreadable_tasks_are_left_and_the_others_written(direct_rows: pa.Table) -> None:
    pipeline = builder().closer("async").build()
    with pipeline:
        assert pipeline.closing is not None
        publisher = pipeline.closing.queue.publisher()
        publisher.publish([Task(CLOSED_PROTOSESSIONS, b"not zstd", {"format": CLOSED_FORMAT})])
        publisher.publish([Task(CLOSED_PROTOSESSIONS, encode_closed([]), {"format": "v9"})])
        publisher.publish([Task("something-else", encode_closed([]))])
        for request in REQUESTS:
            pipeline.ingest(request)
        pipeline.flush()
        writer = pipeline.writer()
        assert writer.unreadable == 3
        assert pipeline.closing.queue.pending() == 3  # kept for a look, not acknowledged
        assert sorted_events(pipeline).equals(direct_rows)


def test_builder_checks_the_closer() -> None:
    with pytest.raises(ConfigurationError, match="'direct' or 'async'"):
        builder().closer("later")
    with pytest.raises(ConfigurationError, match="only the async closer"):
        builder().closer("direct", queue="memory://")
    with pytest.raises(ConfigurationError, match="needs the async closer"):
        builder().build().writer()

    class Custom:
        def publisher(self) -> Any:
            raise AssertionError

        def consumer(self) -> Any:
            raise AssertionError

    with pytest.raises(ConfigurationError, match="no closed queue beside"):
        builder().queue(Custom()).closer("async").build()


def test_published_hits_record_find_and_forget() -> None:
    published = PublishedHits(MemoryKV())
    published.add(["a", "b", "c"])
    assert published.find(["a", "c", "x"]) == {"a", "c"}
    published.discard(["a", "x"])
    assert published.find(["a", "b", "c"]) == {"b", "c"}
    assert len(published) == 2


def test_closed_protosessions_round_trip() -> None:
    from d8a.encoding import decode_batch, decode_hit

    queue = MemoryQueue()
    pipeline = builder().queue(queue).build()
    consumer = queue.consumer()
    protosessions = []
    for request in REQUESTS[:30]:
        assert pipeline.ingest(request).status == 204
        (delivery,) = consumer.receive()
        protosessions.append([decode_hit(ref.data) for ref in decode_batch(delivery.task.body)])
    assert decode_closed(encode_closed(protosessions)) == protosessions


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_decode_closed_refuses_garbage_with_value_error(body: bytes) -> None:
    try:
        decoded = decode_closed(body)
    except ValueError:
        return
    assert isinstance(decoded, list)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_decode_closed_refuses_truncated_or_altered_bodies(data: st.DataObject) -> None:
    import cbor2
    import zstandard

    body = zstandard.ZstdCompressor().compress(
        cbor2.dumps(data.draw(st.lists(st.lists(st.binary(max_size=20), max_size=3), max_size=3)))
    )
    cut = data.draw(st.integers(0, len(body)))
    for candidate in (body, body[:cut]):
        try:
            decoded = decode_closed(candidate)
        except ValueError:
            continue
        assert isinstance(decoded, list)


def test_a_writer_thread_writes_while_the_worker_publishes(direct_rows: pa.Table) -> None:
    pipeline = builder().closer("async").build()
    with pipeline:
        writer = pipeline.writer()
        assert isinstance(writer, WriterLoop)
        writer.start(poll=0.01)
        for request in REQUESTS:
            pipeline.ingest(request)
        pipeline.worker().flush()
        deadline = time.monotonic() + 30
        while sorted_events(pipeline).num_rows < direct_rows.num_rows:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        writer.stop()
        assert sorted_events(pipeline).equals(direct_rows)
