"""Properties of sessionisation over generated traffic (hypothesis).

Every hit lands in exactly one session; sessions respect the split limits; session
ids are unique; and the rows do not depend on how hits were batched, nor on the
order in which the queue delivers batches of equal-timestamp hits.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import d8a
from d8a.batching import Storage, tasks_for
from d8a.clock import ManualClock
from d8a.hits import Hit
from d8a.pipeline import Pipeline
from d8a.queue.memory import MemoryQueue
from d8a.testing import generate_traffic

SETTINGS: dict[str, Any] = {"split_by_max_events": 7, "split_by_time_since_first_event": 1800}
TRAFFIC = list(generate_traffic(visitors=12, seed=5, days=2))


class Capture(Storage):
    def __init__(self) -> None:
        self.hits: list[Hit] = []

    def push(self, hits: Sequence[Hit]) -> None:
        self.hits.extend(hits)


def received_hits() -> list[Hit]:
    """The hits of TRAFFIC as the receiver makes them (ids, times and arrival order set)."""
    pipeline = Pipeline.builder(**SETTINGS).clock(ManualClock()).build()
    capture = Capture()
    pipeline.receiver.storage = capture
    for request in TRAFFIC:
        assert pipeline.ingest(request).status == 204
    return capture.hits


HITS = received_hits()


def run(batches: list[list[Hit]], step_every: int) -> pa.Table:
    """Publish ``batches`` in order to a memory queue and sessionise them."""
    queue = MemoryQueue()
    pipeline = Pipeline.builder(**SETTINGS).queue(queue).pings(False).build()
    publisher = queue.publisher()
    worker = pipeline.worker()
    for n, batch in enumerate(batches, 1):
        publisher.publish(tasks_for(batch, partitions=1))
        if n % step_every == 0:
            worker.step(max_tasks=3)
    pipeline.flush()
    return pipeline.driver.table("events")  # type: ignore[attr-defined]


def rows(table: pa.Table) -> list[tuple[Any, ...]]:
    names = ["id", "session_id", "session_hit_number", "session_total_events", "session_duration"]
    return sorted(tuple(r[n] for n in names) for r in table.select(names).to_pylist())


EXPECTED = rows(d8a.replay(TRAFFIC, **SETTINGS)["events"])


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 50), st.integers(1, 5), st.randoms(use_true_random=False))
def test_rows_do_not_depend_on_batching_or_equal_time_delivery_order(
    batch_size: int, step_every: int, rng: random.Random
) -> None:
    batches: list[list[Hit]] = []
    open_batch: list[Hit] | None = None  # the batch ordinary hits are appended to
    for _, same_time in itertools.groupby(HITS, key=lambda h: h.received_at):
        group = list(same_time)
        if len(group) > 1:  # equal-time hits: one batch each, delivered in any order
            singles = [[h] for h in group]
            rng.shuffle(singles)
            batches.extend(singles)
            open_batch = None
        elif open_batch is not None and len(open_batch) < batch_size:
            open_batch.append(group[0])
        else:
            open_batch = group
            batches.append(open_batch)
    assert max(map(len, batches)) == min(batch_size, max(map(len, batches)))
    assert rows(run(batches, step_every)) == EXPECTED


def test_every_hit_in_exactly_one_session_within_the_limits() -> None:
    table = d8a.replay(TRAFFIC, **SETTINGS)["events"]
    ids = table.column("id").to_pylist()
    assert sorted(ids) == sorted(h.id for h in HITS)
    assert len(set(ids)) == len(ids)
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in table.to_pylist():
        sessions[row["session_id"]].append(row)
    for session_id, events in sessions.items():
        assert len(events) <= SETTINGS["split_by_max_events"]
        assert events[0]["session_total_events"] == len(events)
        times = [e["timestamp_utc"].timestamp() for e in events]
        assert max(times) - min(times) < SETTINGS["split_by_time_since_first_event"] + 1
        numbers = sorted(e["session_hit_number"] for e in events)
        assert numbers == list(range(len(events)))
        first = next(e for e in events if e["session_hit_number"] == 0)
        assert first["id"] == session_id  # ids are unique, so session ids are too
    assert len(sessions) > len({h.client_id for h in HITS})  # there were splits
