"""Joining protosessions by session stamp and user id; eviction strategies; compaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import d8a
from d8a.clock import ManualClock
from d8a.pipeline import Pipeline
from d8a.storage.sqlite import SQLiteSet
from tests.conftest import T0, ga4

DAY = 86400.0


def at_ip(request: dict[str, Any], ip: str) -> dict[str, Any]:
    return {**request, "ip": ip}


def by_id(table: pa.Table, *names: str) -> dict[str, tuple[Any, ...]]:
    rows = table.to_pylist()
    return {row["id"]: tuple(row[n] for n in names) for row in rows}


def test_same_device_different_client_ids_join_the_first_claimant() -> None:
    table = d8a.replay(
        [
            at_ip(ga4(cid="a", id="a1"), "198.51.100.1"),
            at_ip(ga4(cid="b", id="b1", at=T0 + 10), "198.51.100.1"),  # cookies cleared
        ]
    )["events"]
    assert by_id(table, "client_id", "session_id", "session_client_id") == {
        "a1": ("a", "a1", "a"),
        "b1": ("b", "a1", "a"),
    }


def test_joining_can_be_switched_off() -> None:
    requests = [
        at_ip(ga4(cid="a", id="a1"), "198.51.100.1"),
        at_ip(ga4(cid="b", id="b1", at=T0 + 10), "198.51.100.1"),
    ]
    table = d8a.replay(requests, join_by_session_stamp=False)["events"]
    assert by_id(table, "session_id") == {"a1": ("a1",), "b1": ("b1",)}


def test_session_stamps_change_at_utc_midnight() -> None:
    midnight = (T0 // DAY + 1) * DAY
    table = d8a.replay(
        [
            at_ip(ga4(cid="a", id="a1", at=midnight - 60), "198.51.100.1"),
            at_ip(ga4(cid="b", id="b1", at=midnight + 60), "198.51.100.1"),
        ]
    )["events"]
    assert by_id(table, "session_id") == {"a1": ("a1",), "b1": ("b1",)}


def test_fss_joins_across_devices() -> None:
    table = d8a.replay(
        [
            at_ip(ga4(cid="a", id="a1", fss="shared"), "198.51.100.1"),
            at_ip(ga4(cid="b", id="b1", at=T0 + 5, fss="shared"), "203.0.113.200"),
        ]
    )["events"]
    assert by_id(table, "session_id") == {"a1": ("a1",), "b1": ("a1",)}


def test_user_id_joins_devices_and_can_be_switched_off() -> None:
    requests = [
        ga4(cid="laptop", id="l1", uid="u1"),
        ga4(cid="phone", id="p1", at=T0 + 5, uid="u1"),
    ]
    assert by_id(d8a.replay(requests)["events"], "session_id") == {"l1": ("l1",), "p1": ("l1",)}
    table = d8a.replay(requests, join_by_user_id=False)["events"]
    assert by_id(table, "session_id") == {"l1": ("l1",), "p1": ("p1",)}


def test_claims_are_released_when_the_protosession_closes() -> None:
    table = d8a.replay(
        [
            at_ip(ga4(cid="a", id="a1"), "198.51.100.1"),
            at_ip(ga4(cid="x", id="x1", at=T0 + 4000), "192.0.2.1"),  # closes a's protosession
            at_ip(ga4(cid="b", id="b1", at=T0 + 4001), "198.51.100.1"),
        ]
    )["events"]
    assert by_id(table, "session_id")["b1"] == ("b1",)


def _evicting_traffic() -> list[dict[str, Any]]:
    return [
        at_ip(ga4(cid="a", id="a1", uid="u1"), "198.51.100.1"),
        at_ip(ga4(cid="b", id="b1", at=T0 + 1), "203.0.113.50"),
        at_ip(ga4(cid="b", id="b2", at=T0 + 2), "203.0.113.50"),
        at_ip(ga4(cid="b", id="b3", at=T0 + 3, uid="u1"), "203.0.113.50"),
        at_ip(ga4(cid="b", id="b4", at=T0 + 4), "203.0.113.50"),
    ]


def test_rewrite_in_place_moves_only_the_joining_hit() -> None:
    table = d8a.replay(_evicting_traffic(), split_by_user_id=False)["events"]
    sessions = {k: v[0] for k, v in by_id(table, "session_id").items()}
    assert sessions == {"a1": "a1", "b1": "b1", "b2": "b1", "b3": "a1", "b4": "b1"}


def test_evict_whole_protosession_moves_the_client_along() -> None:
    table = d8a.replay(
        _evicting_traffic(), split_by_user_id=False, eviction_strategy="evict_whole_protosession"
    )["events"]
    assert {v[0] for v in by_id(table, "session_id").values()} == {"a1"}
    assert table.column("session_total_events").to_pylist() == [5] * 5


def test_bad_joining_settings() -> None:
    with pytest.raises(d8a.ConfigurationError, match="ip_masking_level=4"):
        d8a.Settings.from_kwargs(ip_masking_level=4)
    assert d8a.Settings.from_kwargs(ip_masking_level=4, join_by_session_stamp=False)
    with pytest.raises(d8a.ConfigurationError, match="eviction_strategy"):
        d8a.Settings.from_kwargs(eviction_strategy="evict")
    with pytest.raises(d8a.ConfigurationError, match="compaction_threshold"):
        d8a.Settings.from_kwargs(compaction_threshold=0)


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    names = ["id", "session_id", "session_hit_number", "session_total_events", "params"]
    return sorted(tuple(str(r[n]) for n in names) for r in table.to_pylist())


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 5), st.lists(st.integers(0, 2), min_size=1, max_size=40))
def test_compaction_changes_nothing_in_the_rows(threshold_hits: int, clients: list[int]) -> None:
    requests = [
        ga4(cid=f"c{c}", id=f"r{i}", at=T0 + i, dt="x" * 50, **{"ep.n": str(i)})
        for i, c in enumerate(clients)
    ]
    plain = d8a.replay(requests, compaction_threshold=None)["events"]
    compacted = d8a.replay(requests, compaction_threshold=threshold_hits * 300)["events"]
    assert _rows(plain) == _rows(compacted)


def test_compaction_replaces_raw_hits_in_sqlite_state(tmp_path: Path) -> None:
    pipeline = (
        Pipeline.builder(compaction_threshold=2000)
        .state(f"sqlite:///{tmp_path / 'state.db'}")
        .clock(ManualClock(T0))
        .pings(False)
        .build()
    )
    worker = pipeline.worker()
    for i in range(20):
        pipeline.ingest(ga4(id=f"h{i}", at=T0 + i))
    worker.step()
    hits = SQLiteSet(tmp_path / "state.db", table="protosession_hits")
    (key,) = list(hits.keys("hits/"))
    assert len(hits.members(key)) < 20
    pipeline.flush()
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    assert table.column("id").to_pylist() == [f"h{i}" for i in range(20)]
    pipeline.close()
