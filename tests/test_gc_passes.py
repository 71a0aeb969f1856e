"""d8a.gc_passes: the collector runs less often while d8a works through hits."""

from __future__ import annotations

import gc
import threading

import pyarrow as pa

import d8a
from d8a.columns.base import Event, EventColumn, Interface, describe_field
from d8a.gc_passes import FEWER_GC_THRESHOLD, fewer_gc_passes, raised
from d8a.testing import ManualClock
from tests.conftest import T0, ga4


class ThresholdSeen(EventColumn):
    """Notes the collector's thresholds each time it writes an event."""

    interface = Interface(
        "test.example/events/threshold_seen",
        describe_field("threshold_seen", pa.int64(), description="gen0 threshold."),
    )

    def __init__(self) -> None:
        self.seen: list[tuple[int, ...]] = []

    def write(self, event: Event) -> None:
        self.seen.append(gc.get_threshold())
        event.values["threshold_seen"] = gc.get_threshold()[0]


def test_blocks_nest_across_threads_and_restore_the_callers_thresholds() -> None:
    before = gc.get_threshold()
    assert before != FEWER_GC_THRESHOLD
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with fewer_gc_passes():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    with fewer_gc_passes():
        thread.start()
        assert inside.wait(5)
        assert gc.get_threshold() == FEWER_GC_THRESHOLD
    assert gc.get_threshold() == FEWER_GC_THRESHOLD  # the other block still runs
    release.set()
    thread.join(5)
    assert gc.get_threshold() == before


def test_worker_steps_close_sessions_with_fewer_passes_and_restore_them() -> None:
    before = gc.get_threshold()
    assert before != FEWER_GC_THRESHOLD
    column = ThresholdSeen()
    pipeline = d8a.Pipeline.builder().columns(column).clock(ManualClock()).pings(False).build()
    worker = pipeline.worker()
    pipeline.ingest(ga4(id="a", at=T0))
    pipeline.ingest(ga4(id="b", at=T0 + 31 * 60))  # closes a's session
    worker.run_until_empty()
    assert column.seen == [FEWER_GC_THRESHOLD]
    pipeline.ingest(ga4(id="c", at=T0 + 62 * 60))  # closes b's
    while worker.step(timeout=0.0):
        pass
    assert column.seen == [FEWER_GC_THRESHOLD] * 2
    pipeline.flush()  # closes c's
    assert column.seen == [FEWER_GC_THRESHOLD] * 3
    assert gc.get_threshold() == before
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]  # MemoryDriver
    assert table.column("threshold_seen").to_pylist() == [FEWER_GC_THRESHOLD[0]] * 3
    pipeline.close()


def test_a_callers_higher_thresholds_and_collection_off_are_kept() -> None:
    assert raised((700, 10, 10)) == FEWER_GC_THRESHOLD
    assert raised((100_000, 5, 50)) == (100_000, 10, 50)
    assert raised((0, 10, 10)) == (0, 10, 10)  # threshold 0: collection off
    before = gc.get_threshold()
    try:
        gc.set_threshold(100_000, 20, 20)
        with fewer_gc_passes():
            assert gc.get_threshold() == (100_000, 20, 20)
        assert gc.get_threshold() == (100_000, 20, 20)
    finally:
        gc.set_threshold(*before)


def test_an_overlapping_block_may_raise_the_thresholds_further_never_lower() -> None:
    before = gc.get_threshold()
    higher = (100_000, 10, 10)
    with fewer_gc_passes():
        assert gc.get_threshold() == FEWER_GC_THRESHOLD
        with fewer_gc_passes(higher):
            assert gc.get_threshold() == higher
            with fewer_gc_passes():  # a worker step inside a replay keeps the replay's
                assert gc.get_threshold() == higher
        assert gc.get_threshold() == higher  # restored only when the last block ends
    assert gc.get_threshold() == before
    assert raised((700, 10, 10), higher) == higher
