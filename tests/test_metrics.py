"""``pipeline.metrics()``: the counters, their shape, their Prometheus text, and the log lines."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from typing_extensions import override

from d8a import ManualClock, Pipeline
from d8a.batching import Storage
from d8a.columns.base import Event, EventColumn, Interface, describe_field
from d8a.errors import BrokenEventError, MissingDependencyError, TransientError
from d8a.hits import Hit
from d8a.metrics import REJECTION_REASONS, ResponseCounter, prometheus_text
from tests.conftest import T0, FlakyDriver, ga4

KEYS = {
    "requests",
    "requests_accepted",
    "hits_accepted",
    "requests_rejected",
    "events_dropped",
    "events_broken",
    "sessions_written",
    "rows_written",
    "write_errors",
    "worker_running",
    "protosessions_open",
    "protosessions_closing",
    "clock_lag_seconds",
    "closing_overdue_seconds",
}


OFFICE = {"name": "office", "type": "exclude", "expression": 'ip_address == "198.51.100.1"'}


class FailsOnTitle(EventColumn):
    """Breaks the events whose title is "bad"."""

    interface = Interface(
        "test/events/title_check", describe_field("title_check", pa.string(), description="")
    )
    depends_on = ("core.d8a.tech/events/page_title",)

    @override
    def write(self, event: Event) -> None:
        if event.values.get("page_title") == "bad":
            raise BrokenEventError("bad title")
        event.values["title_check"] = "ok"


class Unavailable(Storage):
    """A storage whose queue is down."""

    @override
    def push(self, hits: Sequence[Hit]) -> None:
        raise TransientError("queue down")


def test_a_pipeline_without_a_worker_has_the_receiver_keys_and_none_for_the_rest() -> None:
    pipeline = Pipeline.builder().build()
    assert pipeline.ingest(ga4()).status == 204
    assert pipeline.ingest({**ga4(), "path": "/nope"}).status == 404
    metrics = pipeline.metrics()
    assert set(metrics) == KEYS
    assert metrics["requests"] == {"204": 1, "404": 1}
    assert metrics["requests_accepted"] == 1
    assert metrics["hits_accepted"] == 1
    assert metrics["requests_rejected"] == {"unknown_endpoint": 1}
    assert metrics["worker_running"] is False
    for key in ("protosessions_open", "protosessions_closing", "clock_lag_seconds"):
        assert metrics[key] is None
    assert metrics["closing_overdue_seconds"] is None


def test_worker_counters_rows_broken_dropped_and_closing_lag() -> None:
    clock = ManualClock(T0)
    pipeline = (
        Pipeline.builder(session_timeout=60, filters={"conditions": [OFFICE]})
        .clock(clock)
        .pings(False)
        .layout("split")
        .columns(FailsOnTitle())
        .build()
    )
    pipeline.ingest(ga4(cid="a", at=T0, dt="good"))
    pipeline.ingest(ga4(cid="a", at=T0 + 1, dt="bad"))
    pipeline.ingest(ga4(cid="b", at=T0 + 2))
    pipeline.ingest({**ga4(cid="office", at=T0 + 3), "ip": "198.51.100.1"})
    worker = pipeline.worker()
    worker.run_until_empty()
    clock.set(T0 + 100)
    metrics = pipeline.metrics()
    assert metrics["protosessions_open"] == 3
    assert metrics["protosessions_closing"] == 0
    assert metrics["clock_lag_seconds"] == pytest.approx(100 - 3)
    assert metrics["closing_overdue_seconds"] == pytest.approx(100 - 61)  # a's deadline: T0+61
    pipeline.flush()
    metrics = pipeline.metrics()
    assert metrics["protosessions_open"] == 0
    assert metrics["sessions_written"] == 2
    assert metrics["rows_written"] == {"events": 2, "sessions": 2}
    assert metrics["events_broken"] == {"title_check": 1}
    assert metrics["events_dropped"] == {"filters: office": 1}
    assert metrics["write_errors"] == 0
    assert metrics["closing_overdue_seconds"] == 0.0


def test_a_failed_write_is_counted_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    driver = FlakyDriver()
    pipeline = Pipeline.builder().warehouse(driver).clock(ManualClock(T0)).pings(False).build()
    pipeline.ingest(ga4())
    with caplog.at_level(logging.DEBUG, logger="d8a"), pytest.raises(TransientError):
        pipeline.flush()
    failure = [r for r in caplog.records if r.name == "d8a.sessions.writer"]
    assert [(r.levelname, r.table, r.rows) for r in failure] == [("WARNING", "events", 1)]  # type: ignore[attr-defined]
    assert pipeline.metrics()["write_errors"] == 1
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="d8a"):
        pipeline.flush()  # the protosession waited in the closing list: written now
    written = [r for r in caplog.records if r.name == "d8a.sessions.writer"]
    assert [(r.levelname, r.table, r.rows) for r in written] == [("DEBUG", "events", 1)]  # type: ignore[attr-defined]
    metrics = pipeline.metrics()
    assert metrics["rows_written"] == {"events": 1}
    assert metrics["write_errors"] == 1
    assert driver.table("events").num_rows == 1


def test_a_storage_outage_is_a_503_counted_by_reason() -> None:
    pipeline = Pipeline.builder().build()
    pipeline.receiver.storage = Unavailable()
    answer = pipeline.ingest(ga4())
    assert answer.status == 503
    metrics = pipeline.metrics()
    assert metrics["requests"] == {"503": 1}
    assert metrics["requests_rejected"] == {"storage_unavailable": 1}
    assert metrics["hits_accepted"] == 0


def test_response_counter_orders_statuses_and_names_unknown_reasons() -> None:
    counter = ResponseCounter()
    for status in (413, 204, 204, 418):
        counter.count(status)
    assert counter.snapshot() == {"204": 2, "413": 1, "418": 1}
    assert REJECTION_REASONS[413] == "too_large"
    pipeline = Pipeline.builder().build()
    pipeline.receiver.stats.rejected[418] += 2  # a status only a custom protocol answers
    assert pipeline.metrics()["requests_rejected"] == {"status_418": 2}


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def test_prometheus_text_of_a_snapshot() -> None:
    pipeline = Pipeline.builder().clock(ManualClock(T0)).pings(False).build()
    pipeline.ingest(ga4())
    pipeline.worker().run_until_empty()
    found = samples(prometheus_text(pipeline.metrics()))
    assert found[("d8a_requests_total", (("status", "204"),))] == 1
    assert found[("d8a_hits_accepted_total", ())] == 1
    assert found[("d8a_protosessions_open", ())] == 1
    assert found[("d8a_worker_running", ())] == 0  # stepped by hand, no thread
    pipeline.flush()
    found = samples(prometheus_text(pipeline.metrics()))
    assert found[("d8a_rows_written_total", (("table", "events"),))] == 1
    assert found[("d8a_protosessions_open", ())] == 0
    no_worker = samples(prometheus_text(Pipeline.builder().build().metrics()))
    assert ("d8a_protosessions_open", ()) not in no_worker
    assert no_worker[("d8a_write_errors_total", ())] == 0


counts = st.dictionaries(
    st.text(alphabet='abcdefghij_:/ "\\\n', min_size=1, max_size=10),
    st.integers(min_value=0, max_value=10**12),
    max_size=5,
)


@settings(deadline=None)  # the machine is shared: a slow example is not a failure
@given(
    requests=counts,
    rows=counts,
    hits=st.integers(min_value=0, max_value=10**12),
    lag=st.none() | st.floats(min_value=0, max_value=1e9),
)
def test_prometheus_text_round_trips_through_the_parser(
    requests: dict[str, int], rows: dict[str, int], hits: int, lag: float | None
) -> None:
    snapshot: dict[str, Any] = {
        "requests": requests,
        "rows_written": rows,
        "hits_accepted": hits,
        "clock_lag_seconds": lag,
    }
    found = samples(prometheus_text(snapshot))
    for status, n in requests.items():
        assert found[("d8a_requests_total", (("status", status),))] == float(n)
    for table, n in rows.items():
        assert found[("d8a_rows_written_total", (("table", table),))] == float(n)
    assert found[("d8a_hits_accepted_total", ())] == float(hits)
    if lag is None:
        assert ("d8a_clock_lag_seconds", ()) not in found
    else:
        assert found[("d8a_clock_lag_seconds", ())] == pytest.approx(lag)


def test_prometheus_text_without_the_server_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'd8a\[server\]'"):
        prometheus_text({"hits_accepted": 1})
