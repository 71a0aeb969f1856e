"""Hits that never leave the process travel as tokens, not CBOR (LocalHits).

With a MemoryQueue and in-memory state nothing needs a hit's bytes, so the
receiver hands the worker a token; the rows must be exactly those of a
pipeline that encodes every hit, nothing may stay behind once written, and a
failed write or a redelivery must not lose or duplicate a hit.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import d8a
from d8a import ManualClock, Pipeline
from d8a.encoding import (
    BATCH_FORMAT,
    LOCAL,
    LOCAL_BATCH,
    DecodedHits,
    HitRef,
    LocalHits,
    encode_hit,
)
from d8a.errors import TransientError
from d8a.hits import Hit
from d8a.queue.base import HIT_BATCH, Task
from d8a.queue.memory import MemoryQueue
from d8a.testing import generate_traffic
from d8a.warehouse import MemoryDriver
from tests.conftest import FlakyDriver

REQUESTS = list(generate_traffic(visitors=25, seed=5))


def _pipeline(queue: MemoryQueue, driver: MemoryDriver, state: str = "memory://") -> Pipeline:
    return (
        Pipeline.builder()
        .queue(queue)
        .state(state)
        .warehouse(driver)
        .clock(ManualClock())
        .pings(False)
        .build()
    )


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(zip(*(table.column(n).to_pylist() for n in table.column_names), strict=True))


def _hit(n: int) -> Hit:
    return Hit(f"h{n}", "c", "p", "page_view", None, "ga4", "192.0.2.1", "h", "/g/collect",
               "GET", {}, {"en": "page_view"}, 1_790_000_000.0 + n)  # fmt: skip


def test_an_in_memory_pipeline_sends_tokens_and_keeps_nothing_once_written(
    tmp_path: Path,
) -> None:
    queue, driver = MemoryQueue(), MemoryDriver()
    with _pipeline(queue, driver) as pipeline:
        worker = pipeline.worker()
        for request in REQUESTS[:5]:
            assert pipeline.ingest(request).status == 204
        pipeline.storage.flush()
        deliveries = queue.consumer().receive(100)
        assert deliveries and all(d.task.body.startswith(LOCAL_BATCH) for d in deliveries)
        refs = [ref for d in deliveries for ref in queue.local_hits.refs(d.task.body)]
        assert refs and all(ref.data.startswith(LOCAL) for ref in refs)
        assert len(queue.local_hits) == len(refs) + len(deliveries)  # hits and batches
        for request in REQUESTS[5:]:
            assert pipeline.ingest(request).status == 204
        worker.flush()
        assert len(queue.local_hits) == 0  # every hit written and released
    # the same rows as a pipeline that encodes every hit (its state is durable)
    encoded = MemoryDriver()
    with _pipeline(MemoryQueue(), encoded, f"sqlite:///{tmp_path / 'state.db'}") as other:
        worker = other.worker()
        for request in REQUESTS:
            assert other.ingest(request).status == 204
        worker.flush()
        assert len(other.queue.local_hits) == 0  # never used: hits were encoded
    assert _rows(driver.table("events")) == _rows(encoded.table("events"))
    assert _rows(driver.table("events")) == _rows(d8a.replay(REQUESTS)["events"])


def test_a_failed_write_is_retried_with_the_hits_still_at_hand() -> None:
    queue, driver = MemoryQueue(), FlakyDriver()
    with _pipeline(queue, driver) as pipeline:
        worker = pipeline.worker()
        for request in REQUESTS:
            assert pipeline.ingest(request).status == 204
        with pytest.raises(TransientError):
            worker.flush()
        worker.flush()  # the closing protosessions are written this time
        assert len(queue.local_hits) == 0
    assert _rows(driver.table("events")) == _rows(d8a.replay(REQUESTS)["events"])


def test_a_redelivered_batch_neither_duplicates_nor_loses_hits() -> None:
    queue, driver = MemoryQueue(), MemoryDriver()
    with _pipeline(queue, driver) as pipeline:
        for request in REQUESTS:
            assert pipeline.ingest(request).status == 204
        pipeline.storage.flush()
        unacked = queue.consumer()
        assert unacked.receive(1000)  # received, never acknowledged: redelivered later
        worker = pipeline.worker()
        worker.flush()
        unacked.close()
        worker.flush()
        assert queue.pending() == 0
    assert _rows(driver.table("events")) == _rows(d8a.replay(REQUESTS)["events"])


def test_a_released_token_met_again_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from d8a.protosessions.handler import ProtosessionHandler
    from d8a.storage.memory import MemoryKV, MemorySet

    local = LocalHits()
    written: list[list[Hit]] = []

    class Collect:
        def close(self, protosessions: list[list[Hit]]) -> None:
            written.extend(protosessions)

    handler = ProtosessionHandler(MemoryKV(), MemorySet(), Collect(), 1800.0, decoded=local)  # type: ignore[arg-type]
    first, second = (HitRef.of(_hit(n), local) for n in range(2))
    handler.add(first)
    handler.add(second)
    local.release([second.data])  # as if written before a redelivery re-added it
    handler.close_all()
    with caplog.at_level(logging.WARNING, logger="d8a.protosessions.handler"):
        handler.drain()
    assert [[hit.id for hit in hits] for hits in written] == [["h0"]]
    assert "already closed" in caplog.text
    assert len(local) == 0


def test_tokens_are_unique_and_resolve_to_their_hit() -> None:
    local = LocalHits()
    hit = _hit(1)
    a, b = local.token(hit), local.token(hit)
    assert a != b and a.startswith(LOCAL) and b.startswith(LOCAL)
    assert local.decode(a) is hit
    assert local.decode(a) is hit  # kept until released
    local.release([a, b])
    with pytest.raises(LookupError, match="already written"):
        local.decode(a)
    assert local.decode(encode_hit(hit)) == hit  # real CBOR decodes as usual
    with pytest.raises(TypeError):
        local.remember(encode_hit(hit), hit)


def test_a_worker_with_durable_state_refuses_tokens_clearly() -> None:
    token = LocalHits().token(_hit(1))
    with pytest.raises(TypeError, match="in-memory pipeline"):
        DecodedHits().decode(token)
    with pytest.raises(TypeError, match="encodes hits"):
        DecodedHits().token(_hit(1))


def test_a_batch_token_lives_until_its_message_is_acknowledged() -> None:
    queue = MemoryQueue()
    local = queue.local_hits
    body = local.batch([HitRef.of(_hit(1), local)])
    assert body.startswith(LOCAL_BATCH) and [r.id for r in local.refs(body)] == ["h1"]
    with queue.publisher() as publisher:
        publisher.publish([Task(HIT_BATCH, body, {"format": BATCH_FORMAT}, 0)])
    consumer = queue.consumer()
    (first,) = consumer.receive(10)
    consumer.close()  # not acknowledged: delivered again, still resolvable
    consumer = queue.consumer()
    (again,) = consumer.receive(10)
    assert again.task.body == first.task.body == body and local.refs(body)
    consumer.ack([again.receipt])
    with pytest.raises(ValueError, match="unknown"):
        local.refs(body)


def test_a_batch_token_of_another_queue_is_set_aside_not_lost_silently() -> None:
    from d8a.protosessions.handler import ProtosessionHandler
    from d8a.protosessions.tasks import AckTracker, HitBatchHandler
    from d8a.queue.base import Delivery
    from d8a.storage.memory import MemoryKV, MemorySet

    dead = MemoryQueue()
    handler = HitBatchHandler(
        ProtosessionHandler(MemoryKV(), MemorySet(), None, 1800.0),  # type: ignore[arg-type]
        AckTracker(),
        lambda ids: set(),
        dead.publisher(),
    )
    body = LocalHits().batch([])
    handler(Delivery(Task(HIT_BATCH, body, {"format": BATCH_FORMAT}, 0), "1", 1))
    assert handler.undecodable == 1
    (kept,) = dead.consumer().receive(10)
    assert "another queue" in kept.task.headers["reason"]
