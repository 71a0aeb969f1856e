"""The pipeline on Redis URLs: ``redis://host:port/db`` queue and state, ``.partitions(n)``."""

from __future__ import annotations

from typing import Any

import pytest

import d8a
from d8a.clock import ManualClock
from d8a.errors import ConfigurationError
from d8a.pipeline import Pipeline
from d8a.queue.redis import RedisQueue
from d8a.storage.redis import RedisKV, RedisSet
from d8a.testing import generate_traffic
from d8a.wiring import open_queue, open_state


def _rows(table: Any) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in table.to_pylist()}


def test_open_queue_and_state_from_redis_urls(redis_url: str) -> None:
    queue = open_queue(redis_url, partitions=3)
    assert isinstance(queue, RedisQueue) and queue.partitions == 3
    kv, hits = open_state(redis_url)
    assert isinstance(kv, RedisKV) and isinstance(hits, RedisSet)
    kv.close()
    hits.close()
    queue.close()


def test_other_urls_still_name_their_schemes() -> None:
    with pytest.raises(ConfigurationError, match="memory://, sqlite://"):
        open_queue("kafka://broker:9092")


def test_pipeline_on_redis_gives_the_rows_of_replay(redis_url: str) -> None:
    requests = list(generate_traffic(visitors=60, seed=9))
    expected = _rows(d8a.replay(requests)["events"])
    pipeline = (
        Pipeline.builder()
        .protocols("ga4", "d8a")
        .queue(redis_url)
        .state(redis_url)
        .partitions(4)
        .clock(ManualClock())
        .pings(False)
        .build()
    )
    with pipeline:
        for request in requests:
            assert pipeline.ingest(request).status == 204
        queue = pipeline._queue
        assert isinstance(queue, RedisQueue) and queue.partitions == 4
        lengths = [queue.client.xlen(queue.stream(p)) for p in range(4)]
        assert all(lengths), lengths  # the visitors are spread over every partition
        worker = pipeline.worker()
        for _ in range(3):
            worker.step(max_tasks=50)
        pipeline.flush()
        assert queue.pending() == 0
        rows = _rows(pipeline.driver.table("events"))  # type: ignore[attr-defined]
    assert rows.keys() == expected.keys()
    assert rows == expected


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from d8a.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` fail
    for open_ in (open_queue, open_state):
        with pytest.raises(MissingDependencyError, match=r"pip install 'd8a\[redis\]'"):
            open_("redis://127.0.0.1:1/0")
