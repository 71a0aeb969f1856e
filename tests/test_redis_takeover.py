"""Taking a partition over after its worker crashed anywhere: the rows stay replay's.

The multi-process test (``test_redis_processes.py``) failed about 1 run in 6: a
visitor's session merged with its next hits across a gap of over 30 minutes.
Its cause, reproduced here deterministically: the worker was killed between
writing the pointer of a visitor's new protosession (``open/<client>``) and its
``last/`` time. The next owner's recovery skipped that protosession (no
``last/``); the redelivered hit then joined it through the pointer, but the
handler did not index the pointer, so closing the protosession left the
pointer behind, and the visitor's next hits joined the closed protosession.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from typing_extensions import override

import d8a
from d8a.clock import ManualClock
from d8a.pipeline import Pipeline
from d8a.queue.memory import MemoryQueue
from d8a.storage.redis import RedisKV, RedisSet
from d8a.testing import generate_traffic
from d8a.warehouse.base import Driver
from tests.conftest import T0, ga4


class Crash(BaseException):
    """The worker process dies here (SIGKILL: nothing after it runs)."""


class DiesAtWrite(RedisKV):
    """Redis state whose process dies at the first write that ``fatal`` picks."""

    def __init__(self, url: str, fatal: Callable[[str], bool]) -> None:
        super().__init__(url, "takeover")
        self._fatal = fatal
        self.died = False

    @override
    def set_many(self, items: Any) -> None:
        if not self.died and any(self._fatal(key) for key in items):
            self.died = True
            raise Crash
        super().set_many(items)


def take_over(url: str, queue: MemoryQueue, driver: Driver) -> None:
    """The next worker: same state, same queue (it redelivers), same warehouse."""
    state = (RedisKV(url, "takeover"), RedisSet(url, "takeover"))
    pipeline = builder(queue).state(state).warehouse(driver).build()
    pipeline.flush()


def builder(queue: MemoryQueue) -> Any:
    return Pipeline.builder().protocols("ga4", "d8a").queue(queue).clock(ManualClock()).pings(False)


def rows(driver: Any) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in driver.table("events").to_pylist()}


def test_crash_between_a_new_protosessions_pointer_and_its_last_time(redis_url: str) -> None:
    requests = [
        ga4(cid="1.1", at=T0, id="v0"),
        ga4(cid="2.2", at=T0 + 2400, id="w0"),  # 40 minutes on: V's session is over
        ga4(cid="1.1", at=T0 + 3600, id="v1"),
    ]
    expected = {row["id"]: row for row in d8a.replay(requests)["events"].to_pylist()}
    assert expected["v1"]["session_id"] == "v1"

    queue = MemoryQueue()
    kv = DiesAtWrite(redis_url, lambda key: key.startswith("last/"))
    first = builder(queue).state((kv, RedisSet(redis_url, "takeover"))).build()
    for request in requests:
        assert first.ingest(request).status == 204
    with pytest.raises(Crash):
        first.worker().step()  # v0's pointer is written, its last/ is not
    assert kv.died and kv.get("last/") is None
    assert any(key.startswith("open/") for key, _ in kv.scan())

    take_over(redis_url, queue, first.driver)
    assert rows(first.driver) == expected


@pytest.mark.parametrize("seed", [17, 3])
def test_a_crash_at_any_state_write_of_a_step_loses_merges_nothing(
    redis_url: str, seed: int
) -> None:
    """Every state write of a worker step in turn is where the worker dies; the next
    worker must give replay's rows each time (a sample of the writes, for speed)."""
    requests = list(generate_traffic(visitors=12, seed=seed))
    expected = {row["id"]: row for row in d8a.replay(requests)["events"].to_pylist()}
    writes = count_writes(redis_url, requests)
    assert writes > 20
    for fatal in range(0, writes, max(1, writes // 25)):
        import redis

        with redis.Redis.from_url(redis_url) as client:
            client.flushdb()
        queue = MemoryQueue()
        seen = iter(range(writes + 1))
        kv = DiesAtWrite(redis_url, lambda key, at=fatal, seen=seen: next(seen) == at)
        first = builder(queue).state((kv, RedisSet(redis_url, "takeover"))).build()
        for request in requests:
            assert first.ingest(request).status == 204
        loop = first.worker()
        with pytest.raises(Crash):
            while loop.step(max_tasks=15):
                pass
            loop.flush()
        take_over(redis_url, queue, first.driver)
        assert rows(first.driver) == expected, f"died at KV write {fatal}"


def count_writes(url: str, requests: list[dict[str, Any]]) -> int:
    """KV writes a whole run makes (each ``set_many`` call counts once)."""
    calls = 0

    def count(key: str) -> bool:
        nonlocal calls
        calls += 1
        return False

    queue = MemoryQueue()
    kv = DiesAtWrite(url, count)
    pipeline = builder(queue).state((kv, RedisSet(url, "takeover"))).build()
    for request in requests:
        pipeline.ingest(request)
    loop = pipeline.worker()
    while loop.step(max_tasks=15):
        pass
    loop.flush()
    return calls
