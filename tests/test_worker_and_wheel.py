"""Small parts of the core: worker middlewares, partitions, the timing wheel, storages."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

import d8a
from d8a.batching import BatchingStorage, PublishingStorage, tasks_for
from d8a.clock import ManualClock
from d8a.encoding import DecodedHits, decode_batch, decode_hit, encode_hit
from d8a.hits import Hit, partition_key
from d8a.protosessions.wheel import TimingWheel
from d8a.queue.base import Delivery, Middleware, Task, TaskHandler, Worker
from d8a.queue.memory import MemoryQueue
from d8a.queue.sqlite import SQLiteQueue
from d8a.testing import ga4_request


def hit(client: str, n: int = 0, prop: str = "p") -> Hit:
    return Hit(
        f"h{client}{n}", client, prop, "page_view", None, "ga4", "", "", "/", "GET", {}, {}, 1.0, n
    )


class Recording(Middleware):
    def __init__(self, name: str, log: list[str], skip: bool = False) -> None:
        self.name, self.log, self.skip = name, log, skip

    def handle(self, delivery: Delivery, call_next: TaskHandler) -> None:
        self.log.append(f"{self.name}:before")
        if not self.skip:
            call_next(delivery)
        self.log.append(f"{self.name}:after")


def test_worker_runs_middlewares_outermost_first() -> None:
    log: list[str] = []
    worker = Worker(
        {"t": lambda d: log.append(f"handler:{d.task.body.decode()}")},
        [Recording("outer", log), Recording("inner", log)],
    )
    worker.process(Delivery(Task("t", b"x"), "1"))
    assert log == ["outer:before", "inner:before", "handler:x", "inner:after", "outer:after"]


def test_a_middleware_may_skip_the_handler() -> None:
    log: list[str] = []
    worker = Worker({"t": lambda d: log.append("handler")}, [Recording("gate", log, skip=True)])
    worker.process(Delivery(Task("t", b""), "1"))
    assert "handler" not in log


def test_unknown_task_type_is_an_error_not_an_ack() -> None:
    with pytest.raises(KeyError):
        Worker({}).process(Delivery(Task("nope", b""), "1"))


def test_partition_key_is_stable_across_processes_and_versions() -> None:
    assert partition_key("default", "1234.5678") == partition_key("default", "1234.5678")
    assert (
        partition_key("default", "1234.5678") == 3815076476935942512
    )  # pinned: blake2b, not hash()
    assert partition_key("a", "b\x1fc") != partition_key("a\x1fb", "c")


def test_tasks_group_a_visitor_into_one_partition_in_order() -> None:
    hits = [hit(c, n) for n in range(3) for c in "abcdef"]
    tasks = tasks_for(hits, partitions=4)
    seen: dict[str, int] = {}
    for task in tasks:
        assert 0 <= task.partition < 4
        ids = [ref.id for ref in decode_batch(task.body)]
        for ref in decode_batch(task.body):
            assert seen.setdefault(ref.client_id, task.partition) == task.partition
            assert partition_key("p", ref.client_id) % 4 == task.partition
        assert ids == sorted(ids, key=lambda i: (i[-1], i[1]))
    assert sum(len(decode_batch(t.body)) for t in tasks) == len(hits)


def test_hits_round_trip_through_a_message() -> None:
    original = hit("a", 7)
    original.params = {"dl": "https://x/é", "tid": "G"}
    (task,) = tasks_for([original], partitions=1)
    (ref,) = decode_batch(task.body)
    assert decode_hit(ref.data) == original
    assert (ref.property_id, ref.client_id, ref.id) == ("p", "a", "ha7")


def test_batching_storage_publishes_when_full_or_flushed() -> None:
    queue = MemoryQueue()
    storage = BatchingStorage(queue.publisher(), max_hits=3, max_delay=1e9)
    storage.push([hit("a", 0), hit("a", 1)])
    assert queue.pending() == 0
    storage.push([hit("a", 2)])
    assert queue.pending() == 1
    storage.push([hit("b", 0)])
    storage.flush()
    assert queue.pending() == 2


def test_publishing_storage_publishes_every_push() -> None:
    queue = MemoryQueue()
    PublishingStorage(queue.publisher()).push([hit("a")])
    assert queue.pending() == 1


def test_wheel_closes_at_the_deadline_and_not_before() -> None:
    wheel = TimingWheel()
    wheel.schedule("a", 10.5)
    wheel.schedule("b", 10.7)
    wheel.schedule("c", 30.0)
    assert wheel.advance(10.6) == ["a"]
    assert wheel.advance(10.6) == []
    wheel.schedule("b", 20.0)  # moved later by a new hit
    assert wheel.advance(15) == []
    assert wheel.advance(1e12) == ["b", "c"]
    assert len(wheel) == 0


def test_wheel_clock_never_goes_back() -> None:
    wheel = TimingWheel()
    wheel.advance(100)
    wheel.schedule("a", 50)
    assert wheel.advance(10) == ["a"] and wheel.now == 100


@given(st.lists(st.tuples(st.integers(0, 5), st.floats(0, 1000)), max_size=60), st.floats(0, 1100))
def test_wheel_returns_exactly_the_due_keys(moves: list[tuple[int, float]], now: float) -> None:
    wheel = TimingWheel()
    model: dict[str, float] = {}
    for key, deadline in moves:
        wheel.schedule(str(key), deadline)
        model[str(key)] = deadline
    due = wheel.advance(now)
    assert sorted(due) == sorted(k for k, d in model.items() if d <= now)
    assert all(wheel.deadline(k) == d for k, d in model.items() if d > now)


def test_manual_clock() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    start = clock.now()
    assert clock.advance(timedelta(minutes=1)) == start + 60
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(start)


def test_settings_accept_timedeltas_and_reject_nonsense() -> None:
    settings = d8a.Settings.from_kwargs(
        session_timeout=timedelta(minutes=5), split_by_time_since_first_event=None
    )
    assert settings.session_timeout == 300.0
    assert settings.split_by_time_since_first_event is None
    for bad in (
        {"session_timeout": 0},
        {"session_timeout": "30m"},
        {"split_by_max_events": 0},
        {"ip_masking_level": 5},
        {"excluded_url_params": "utm_source"},
        {"property_id": ""},
    ):
        with pytest.raises(d8a.ConfigurationError):
            d8a.Settings.from_kwargs(**bad)


def test_client_ids_may_hold_any_character() -> None:
    tricky = ["a\x1fb", "a", "a\x1f", "\x1fb", "1:x"]
    requests = [
        {
            "method": "GET",
            "path": "/g/collect",
            "query": f"tid=G&en=page_view&cid={quote(cid)}",
            "received_at": 1e9 + i,
            "id": f"{i}",
        }
        for i, cid in enumerate(tricky * 2)
    ]
    requests.append({**requests[0], "received_at": 1e9 + 5000, "id": "late"})
    table = d8a.replay(requests, join_by_session_stamp=False)["events"]
    assert table.num_rows == len(requests)
    sessions = dict(zip(table["id"].to_pylist(), table["session_id"].to_pylist(), strict=True))
    for i in range(len(tricky)):
        assert sessions[str(i)] == sessions[str(i + len(tricky))] == str(i)
    assert sessions["late"] == "late"


def test_an_unreadable_message_becomes_a_dead_letter(tmp_path: Path) -> None:
    pipeline = (
        d8a.Pipeline.builder()
        .queue(f"sqlite:///{tmp_path / 'q.db'}")
        .warehouse(f"sqlite:///{tmp_path / 'e.db'}")
        .pings(False)
        .build()
    )
    assert pipeline.dead_letters is not None
    raw = SQLiteQueue(tmp_path / "q.db").publisher()
    raw.publish([Task("process-hits", b"garbage", {"format": "d8a-hits/1"})])
    raw.publish([Task("process-hits", b"", {"format": "d8a-hits/99"})])
    pipeline.ingest(ga4_request(cid="1.1"))
    pipeline.flush()
    consumer = pipeline.dead_letters.consumer()
    dead = consumer.receive(10)
    assert [d.task.body for d in dead] == [b"garbage", b""]
    assert "unknown hit batch format" in dead[1].task.headers["reason"]
    assert SQLiteQueue(tmp_path / "q.db").consumer().pending() == 0
    with sqlite3.connect(tmp_path / "e.db") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (1,)
    pipeline.close()


def test_decoded_hits_give_back_the_same_hit_once() -> None:
    cache = DecodedHits(limit=2)
    original = hit("a", 1)
    data = encode_hit(original)
    cache.remember(data, original)
    assert cache.decode(data) is original
    again = cache.decode(data)  # taken once: now decoded from the bytes
    assert again == original and again is not original
    for n in range(3):
        cache.remember(encode_hit(hit("b", n)), hit("b", n))
    assert cache.decode(encode_hit(hit("b", 2))) == hit("b", 2)
