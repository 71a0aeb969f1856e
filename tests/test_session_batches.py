"""Session-scoped and session columns run over the sessions of several
protosessions at once (``write_sessions`` / ``write_all``): the same values as
one session at a time, and a failing session drops only itself."""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from d8a.columns.base import Interface, Session, SessionColumn, describe_field
from d8a.columns.simple import SessionEventValue, SessionValue
from d8a.config import Settings
from d8a.errors import BrokenSessionError
from d8a.hits import Hit, Request
from d8a.layouts.embedded import EmbeddedLayout
from d8a.pipeline import Pipeline
from d8a.protocols.ga4 import GA4Protocol
from d8a.sessions.writer import SessionStats, build_sessions_many
from d8a.testing import generate_traffic
from d8a.wiring import build_columns
from tests.conftest import ga4


def _protosessions(seed: int, visitors: int) -> list[list[Hit]]:
    """Generated GA4 traffic parsed into hits, one protosession per client id."""
    protocol, config = GA4Protocol(), Settings()
    by_client: dict[str, list[Hit]] = defaultdict(list)
    for data in generate_traffic(visitors=visitors, seed=seed):
        request = Request.from_dict(data, time.time())
        for hit in protocol.parse(request, config):
            by_client[hit.client_id].append(hit)
    return list(by_client.values())


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 40))
def test_batched_session_columns_equal_one_session_at_a_time(seed: int, visitors: int) -> None:
    config = Settings()
    (columns,) = build_columns([GA4Protocol()], config, [], EmbeddedLayout()).values()
    batched = build_sessions_many(_protosessions(seed, visitors), columns, config, SessionStats())
    assert batched
    one_by_one = copy.deepcopy(batched)
    for session in one_by_one:
        session.values.clear()
        session.metadata = {k: v for k, v in session.metadata.items() if ":" not in k}
        for event in session.events:
            for sse in columns.session_scoped:
                event.values.pop(sse.name, None)
        for sse in columns.session_scoped:
            for index in reversed(range(len(session.events))):
                sse.write(session, index)
        for session_column in columns.session:
            session_column.write(session)
    for want, got in zip(one_by_one, batched, strict=True):
        assert got.values == want.values
        assert [e.values for e in got.events] == [e.values for e in want.events]
    assert len(batched[0].values) == len(columns.session)


def _iface(name: str, type_: pa.DataType) -> Interface:
    return Interface(f"test/{name}", describe_field(name, type_))


def _pipeline(*columns: Any) -> Pipeline:
    return Pipeline.builder().columns(*columns).pings(False).build()


def _ingest_visitors(pipeline: Pipeline, clients: int, steps: int) -> None:
    for client in range(clients):  # closed together: several chunks of sessions
        for step in range(steps):
            request = ga4(f"{client}.1", id=f"c{client}-{step}", at=1e9 + step)
            assert pipeline.ingest(request).status == 204
    pipeline.flush()


def test_a_broken_session_spares_the_other_sessions_closed_with_it() -> None:
    def checked(session: Session) -> int:
        if session.events[0].hit.client_id == "17.1":
            raise BrokenSessionError("visitor 17 is not welcome")
        return len(session.events)

    pipeline = _pipeline(SessionValue(_iface("session_checked", pa.int64()), checked))
    _ingest_visitors(pipeline, clients=60, steps=5)
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    ids = table.column("id").to_pylist()
    assert len(ids) == 295 and not [i for i in ids if i.startswith("c17-")]
    assert set(table.column("session_checked").to_pylist()) == {5}
    assert set(table.column("session_total_events").to_pylist()) == {5}
    assert pipeline.closer.stats.broken_sessions == {"visitor 17 is not welcome": 1}


def test_a_session_scoped_column_bug_drops_only_its_session() -> None:
    def position(session: Session, index: int) -> int:
        return index // (session.events[0].hit.client_id != "3.1")

    pipeline = _pipeline(SessionEventValue(_iface("position", pa.int64()), position))
    _ingest_visitors(pipeline, clients=40, steps=4)
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    ids = table.column("id").to_pylist()
    assert len(ids) == 156 and not [i for i in ids if i.startswith("c3-")]
    by_id = dict(zip(ids, table.column("position").to_pylist(), strict=True))
    assert [by_id[f"c5-{step}"] for step in range(4)] == [0, 1, 2, 3]
    (reason,) = pipeline.closer.stats.broken_sessions
    assert reason.startswith("ZeroDivisionError")


class _CountsCalls(SessionColumn):
    """A session column that overrides only ``write``: the default ``write_all``
    calls it once per session."""

    interface = _iface("session_calls", pa.int64())

    def __init__(self) -> None:
        self.calls = 0

    def write(self, session: Session) -> None:
        self.calls += 1
        session.values["session_calls"] = self.calls


def test_a_session_column_with_only_write_runs_once_per_session() -> None:
    column = _CountsCalls()
    pipeline = _pipeline(column)
    _ingest_visitors(pipeline, clients=30, steps=3)
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    assert column.calls == 30
    assert sorted(set(table.column("session_calls").to_pylist())) == list(range(1, 31))
