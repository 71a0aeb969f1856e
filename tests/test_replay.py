"""d8a.replay and the long-running pipeline: sessions, order, ids, equality."""

from __future__ import annotations

import gc
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import d8a
from d8a.clock import ManualClock
from d8a.pipeline import Pipeline
from tests.conftest import T0, ga4


def rows(table: pa.Table, *names: str) -> list[tuple[Any, ...]]:
    data = table.select(list(names)).to_pylist()
    return [tuple(row[n] for n in names) for row in data]


def test_one_request_one_row_with_session_columns() -> None:
    table = d8a.replay([ga4(id="a", dt="Home")])["events"]
    (row,) = table.to_pylist()
    assert row["id"] == "a" and row["session_id"] == "a" and row["name"] == "page_view"
    assert row["page_title"] == "Home" and row["page_hostname"] == "shop.example"
    assert row["session_total_events"] == 1 and row["session_duration"] == 0
    assert row["session_hit_number"] == 0 and row["tracking_protocol"] == "ga4_gtag"
    assert row["property_id"] == "default" and row["measurement_id"] == "G-TEST"


def test_schema_types_follow_the_reference() -> None:
    schema = d8a.replay([ga4()])["events"].schema
    assert schema.field("date_utc").type == pa.date32()
    assert schema.field("timestamp_utc").type == pa.timestamp("s", tz="UTC")
    assert schema.field("session_duration").type == pa.int64()
    assert schema.field("params").type.value_type.names == ["name", "value_string", "value_number"]
    assert not schema.field("id").nullable and schema.field("user_id").nullable


def test_thirty_minutes_of_inactivity_close_a_session() -> None:
    table = d8a.replay(
        [
            ga4(id="a", at=T0),
            ga4(id="b", at=T0 + 1799),
            ga4(id="c", at=T0 + 1799 + 1800),  # exactly the timeout: a new session
        ]
    )["events"]
    assert rows(table, "id", "session_id", "session_hit_number") == [
        ("a", "a", 0),
        ("b", "a", 1),
        ("c", "c", 0),
    ]


def test_session_timeout_setting() -> None:
    table = d8a.replay([ga4(id="a"), ga4(id="b", at=T0 + 120)], session_timeout=60)["events"]
    assert rows(table, "session_id") == [("a",), ("b",)]


def test_equal_timestamps_keep_arrival_order() -> None:
    requests = [ga4(id=f"h{i}", en=f"e{i}") for i in range(20)]
    table = d8a.replay(requests)["events"]
    assert table.column("id").to_pylist() == [f"h{i}" for i in range(20)]
    assert table.column("session_hit_number").to_pylist() == list(range(20))


def test_batched_lines_get_derived_ids_in_line_order() -> None:
    table = d8a.replay([ga4(id="r", en="", body="en=page_view\nen=scroll\nen=click")])["events"]
    assert rows(table, "id", "name", "session_hit_number") == [
        ("r:0", "page_view", 0),
        ("r:1", "scroll", 1),
        ("r:2", "click", 2),
    ]


def test_a_late_hit_starts_a_new_session_and_is_not_dropped() -> None:
    table = d8a.replay(
        [
            ga4(cid="x", id="x1", at=T0),
            ga4(cid="y", id="y1", at=T0 + 4000),  # moves the clock: x's session closes
            ga4(cid="x", id="x-late", at=T0 + 10),  # late for the closed session
        ]
    )["events"]
    assert sorted(rows(table, "id", "session_id")) == [
        ("x-late", "x-late"),
        ("x1", "x1"),
        ("y1", "y1"),
    ]


def test_rows_are_ordered_by_event_time_across_sessions() -> None:
    requests = [ga4(cid=f"c{i % 3}", id=f"{i}", at=T0 + i * 10) for i in range(12)]
    table = d8a.replay(list(reversed(requests)))["events"]
    times = table.column("timestamp_utc").to_pylist()
    assert times == sorted(times)


def test_event_order_puts_rows_of_unknown_ids_last_and_a_repeated_id_at_its_last_hit() -> None:
    from d8a.replay import _in_event_order, _Ordering

    ordering = _Ordering(inner=None)  # type: ignore[arg-type]  # keys() only
    ordering.ids, ordering.times, ordering.seqs = (
        ["a", "b", "c", "b"],
        [3.0, 1.0, 1.0, 0.5],
        [0, 1, 2, 3],
    )
    for id_type in (pa.string(), pa.large_string()):
        table = pa.table({"id": pa.array(["x", "a", "c", "y", "b"], id_type), "n": range(5)})
        ordered = _in_event_order(table, ordering.keys())
        # b: its last hit (0.5); c: 1.0; a: 3.0; then x and y in their order
        assert ordered.column("id").to_pylist() == ["b", "c", "a", "x", "y"]
        assert ordered.column("n").to_pylist() == [4, 2, 1, 0, 3]
    assert _in_event_order(pa.table({"n": [2, 1]}), ordering.keys()).column("n").to_pylist() == [
        2,
        1,
    ]


def test_replay_reads_a_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "hits.jsonl"
    path.write_text("\n".join(json.dumps(ga4(id=f"{i}", at=T0 + i)) for i in range(5)) + "\n")
    assert d8a.replay(path)["events"].num_rows == 5
    assert d8a.replay(str(path), protocol="ga4")["events"].num_rows == 5


def test_replay_strict_raises_on_a_rejected_request() -> None:
    with pytest.raises(d8a.ReplayError, match="`cid` is a required"):
        d8a.replay([{**ga4(), "query": "tid=1&en=x"}], strict=True)


def test_replay_skips_rejected_requests_by_default() -> None:
    assert d8a.replay([{**ga4(), "query": "tid=1&en=x"}, ga4()])["events"].num_rows == 1


def test_d8a_endpoint_rows_say_d8a() -> None:
    request = {**ga4(), "path": "/d/c"}
    table = d8a.replay([request])["events"]
    assert table.column("tracking_protocol").to_pylist() == ["d8a"]
    with pytest.raises(d8a.ReplayError):
        d8a.replay([request], protocol="ga4", strict=True)


def test_split_by_campaign_and_user_id() -> None:
    table = d8a.replay(
        [
            ga4(id="a", dl="https://s/?utm_campaign=one"),
            ga4(id="b", at=T0 + 1, dl="https://s/?utm_campaign=two"),
            ga4(id="c", at=T0 + 2, uid="u1"),
            ga4(id="d", at=T0 + 3, uid="u2"),
        ]
    )["events"]
    assert rows(table, "id", "session_id") == [("a", "a"), ("b", "b"), ("c", "b"), ("d", "d")]


def test_split_by_max_events_and_time() -> None:
    requests = [ga4(id=f"{i}", at=T0 + i * 600) for i in range(7)]
    table = d8a.replay(requests, split_by_max_events=3, split_by_time_since_first_event=None)
    assert table["events"].column("session_id").to_pylist() == list("0003336")
    table = d8a.replay(requests, split_by_time_since_first_event=1200)
    assert table["events"].column("session_id").to_pylist() == list("0022446")


def test_unsupported_settings_raise() -> None:
    with pytest.raises(d8a.ConfigurationError, match="unknown setting"):
        d8a.replay([], sesion_timeout=5)
    assert d8a.replay([], currency_rates=None, filters={}) == {"events": d8a.replay([])["events"]}


def _through_pipeline(requests: list[dict[str, Any]], path: Path, step: int) -> pa.Table:
    pipeline = (
        Pipeline.builder()
        .queue(f"sqlite:///{path / 'queue.db'}")
        .state(f"sqlite:///{path / 'state.db'}")
        .warehouse(f"sqlite:///{path / 'events.db'}")
        .clock(ManualClock(T0))
        .pings(False)
        .build()
    )
    worker = pipeline.worker()
    for i, request in enumerate(requests, 1):
        assert pipeline.ingest(request).status == 204
        if i % step == 0:
            worker.step(max_tasks=3)
    pipeline.flush()
    with sqlite3.connect(path / "events.db") as db:
        got = db.execute(
            "SELECT id, session_id, session_hit_number, session_total_events FROM events"
        ).fetchall()
    pipeline.close()
    return pa.table(
        {
            name: [r[i] for r in sorted(got)]
            for i, name in enumerate(
                ["id", "session_id", "session_hit_number", "session_total_events"]
            )
        }
    )


def _requests(seed_offsets: list[tuple[int, int]]) -> list[dict[str, Any]]:
    return [
        ga4(cid=f"c{client}", id=f"r{i}", at=T0 + offset)
        for i, (client, offset) in enumerate(seed_offsets)
    ]


traffic = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 9000)), min_size=1, max_size=40).map(
    lambda xs: sorted(xs, key=lambda x: x[1])
)


@settings(max_examples=15, deadline=None)
@given(traffic, st.integers(1, 7))
def test_pipeline_gives_the_rows_replay_gives(
    tmp_path_factory: pytest.TempPathFactory, offsets: list[tuple[int, int]], step: int
) -> None:
    requests = _requests(offsets)
    expected = d8a.replay(requests)["events"]
    want = sorted(rows(expected, "id", "session_id", "session_hit_number", "session_total_events"))
    got = _through_pipeline(requests, tmp_path_factory.mktemp("p"), step)
    assert sorted(rows(got, *got.column_names)) == want


def test_split_at_midnight_in_the_property_time_zone() -> None:
    # 2026-11-02 22:50 and 23:10 UTC: the same UTC day, but midnight passes in Warsaw (UTC+1).
    before = datetime(2026, 11, 2, 22, 50, tzinfo=UTC).timestamp()
    requests = [ga4(id="a", at=before), ga4(id="b", at=before + 1200)]
    assert rows(d8a.replay(requests)["events"], "session_id") == [("a",), ("a",)]
    assert rows(d8a.replay(requests, split_at_midnight=True)["events"], "session_id") == [
        ("a",),
        ("a",),
    ]
    table = d8a.replay(requests, split_at_midnight=True, timezone="Europe/Warsaw")["events"]
    assert rows(table, "session_id", "session_split_cause") == [("a", None), ("b", "date_changed")]
    with pytest.raises(d8a.ConfigurationError, match="IANA time zone"):
        d8a.replay(requests, timezone="Mars/Olympus")


def _watching_thresholds(seen: list[tuple[int, ...]]) -> Iterator[dict[str, Any]]:
    """Two requests, noting the collector's thresholds while replay reads them."""
    for i in range(2):
        seen.append(gc.get_threshold())
        yield ga4(id=f"gc{i}", at=1e9 + i)


def test_replay_runs_the_collector_less_often_and_restores_it() -> None:
    from d8a.gc_passes import FEWER_GC_THRESHOLD
    from d8a.replay import REPLAY_GC_THRESHOLD

    assert REPLAY_GC_THRESHOLD[0] > FEWER_GC_THRESHOLD[0]  # fewer passes than a worker step
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []
    assert d8a.replay(_watching_thresholds(seen))["events"].num_rows == 2
    assert seen == [REPLAY_GC_THRESHOLD] * 2
    assert gc.get_threshold() == before
    bad = [{"method": "GET", "path": "/g/collect", "query": "v=2"}]
    with pytest.raises(d8a.ReplayError):
        d8a.replay(bad, strict=True)
    assert gc.get_threshold() == before


def test_overlapping_replays_restore_the_thresholds_when_the_last_ends() -> None:
    before = gc.get_threshold()
    first_started, second_done = threading.Event(), threading.Event()

    def slow() -> Iterator[dict[str, Any]]:
        yield ga4(id="slow0", at=1e9)
        first_started.set()
        assert second_done.wait(60)
        yield ga4(id="slow1", at=1e9 + 1)

    results: list[int] = []
    thread = threading.Thread(target=lambda: results.append(d8a.replay(slow())["events"].num_rows))
    thread.start()
    assert first_started.wait(60)
    assert d8a.replay([ga4(id="quick", at=1e9)])["events"].num_rows == 1
    assert gc.get_threshold() != before  # the first replay still runs
    second_done.set()
    thread.join(60)
    assert results == [2]
    assert gc.get_threshold() == before


def test_replay_takes_protocol_objects_with_their_own_attribution_lists() -> None:
    """An analyst's own referrer lists reach ``replay`` through a protocol object."""
    from d8a.columns.attribution import Attribution
    from d8a.protocols import D8AProtocol, GA4Protocol

    attribution = Attribution(socials={"Intranet": ["intranet.example"]})
    requests = [ga4(cid="1.1", dr="https://intranet.example/home")]
    default = d8a.replay(requests)["events"]
    assert default.column("session_medium").to_pylist() == ["referral"]
    for protocol in (
        GA4Protocol(attribution=attribution),
        [GA4Protocol(attribution=attribution), D8AProtocol(attribution=attribution)],
    ):
        events = d8a.replay(requests, protocol=protocol)["events"]
        assert events.column("session_source").to_pylist() == ["intranet"]
        assert events.column("session_medium").to_pylist() == ["social"]
    assert d8a.replay(requests, protocol=["ga4"])["events"].num_rows == 1


@pytest.mark.parametrize("protocol", [[], [42], 42])
def test_replay_rejects_what_is_no_protocol(protocol: Any) -> None:
    with pytest.raises(d8a.ConfigurationError, match="protocol"):
        d8a.replay([ga4()], protocol=protocol)
