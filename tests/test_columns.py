"""The columns machinery: dependency order, validation at build(), broken events."""

from __future__ import annotations

import pyarrow as pa
import pytest

import d8a
from d8a.columns.base import Event, EventColumn, Interface, Session, describe_field
from d8a.columns.columnset import ColumnSet
from d8a.columns.simple import EventValue, SessionEventValue, SessionValue, constant
from d8a.errors import BrokenEventError, ConfigurationError
from d8a.hits import Hit
from d8a.pipeline import Pipeline
from tests.conftest import ga4

STRING = pa.string()


def iface(name: str, type_: pa.DataType = STRING) -> Interface:
    return Interface(f"test/{name}", describe_field(name, type_))


def test_columns_run_after_their_dependencies() -> None:
    b = EventValue(iface("b"), lambda e: e.values["a"] + "!", ["test/a"])
    a = EventValue(iface("a"), lambda e: "A")
    columns = ColumnSet.build([b, a], [], [])
    assert [c.name for c in columns.event] == ["a", "b"]
    assert [f.name for f in columns.event_fields] == ["b", "a"]  # table order: as declared


def test_a_cycle_is_a_configuration_error_naming_the_columns() -> None:
    a = EventValue(iface("a"), lambda e: 1, ["test/b"])
    b = EventValue(iface("b"), lambda e: 1, ["test/a"])
    with pytest.raises(ConfigurationError, match=r"cycle: (a -> b -> a|b -> a -> b)"):
        ColumnSet.build([a, b], [], [])


def test_a_missing_dependency_names_the_column() -> None:
    a = EventValue(iface("a"), lambda e: 1, ["test/nowhere"])
    with pytest.raises(ConfigurationError, match=r"'a'.*depends on 'test/nowhere'"):
        ColumnSet.build([a], [], [])


def test_an_event_column_cannot_read_a_session_column() -> None:
    s = SessionValue(iface("s"), lambda s: 1)
    e = EventValue(iface("e"), lambda e: 1, ["test/s"])
    with pytest.raises(ConfigurationError, match="runs later"):
        ColumnSet.build([e], [], [s])


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match="share the name"):
        ColumnSet.build(
            [
                EventValue(iface("a"), lambda e: 1),
                EventValue(Interface("x/a", pa.field("a", pa.string())), lambda e: 1),
            ],
            [],
            [],
        )


def test_build_validates_custom_columns() -> None:
    bad = EventValue(iface("custom"), lambda e: 1, ["core.d8a.tech/events/nope"])
    with pytest.raises(ConfigurationError, match="custom"):
        Pipeline.builder().columns(bad).build()


class Shouty(EventColumn):
    """A host's custom column: the event name in capitals; fails on 'boom'."""

    interface = iface("shouty")
    depends_on = ("core.d8a.tech/events/name",)

    def write(self, event: Event) -> None:
        if event.values["name"] == "boom":
            raise BrokenEventError("cannot shout boom")
        event.values["shouty"] = event.values["name"].upper()


def test_custom_columns_reach_the_table_and_a_failure_breaks_one_event() -> None:
    pipeline = (
        Pipeline.builder()
        .columns(
            Shouty(),
            SessionEventValue(iface("is_last", pa.bool_()), lambda s, i: i == len(s.events) - 1),
            SessionValue(iface("names", pa.string()), _names),
        )
        .pings(False)
        .build()
    )
    for i, name in enumerate(["page_view", "boom", "scroll"]):
        assert pipeline.ingest(ga4(en=name, id=name, at=1e9 + i)).status == 204
    pipeline.flush()
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    assert table.column("shouty").to_pylist() == ["PAGE_VIEW", "SCROLL"]
    assert table.column("is_last").to_pylist() == [False, True]
    assert table.column("names").to_pylist() == ["page_view,scroll"] * 2
    assert pipeline.closer.stats.broken_events == {"shouty: cannot shout boom": 1}


def _names(session: Session) -> str:
    return ",".join(e.values["name"] for e in session.events)


def test_a_column_bug_breaks_only_that_event() -> None:
    flaky = EventValue(iface("flaky", pa.float64()), lambda e: 1 / (e.hit.event_name != "x"))
    pipeline = Pipeline.builder().columns(flaky).pings(False).build()
    for i, name in enumerate("axb"):
        pipeline.ingest(ga4(en=name, id=name, at=1e9 + i))
    pipeline.flush()
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    assert table.column("id").to_pylist() == ["a", "b"]
    (reason,) = pipeline.closer.stats.broken_events
    assert reason.startswith("flaky: ZeroDivisionError")


def test_a_value_of_the_wrong_type_drops_only_its_event() -> None:
    wrong = EventValue(iface("wrong", pa.int64()), lambda e: "text" if e.hit.id == "b" else 1)
    pipeline = Pipeline.builder().columns(wrong).pings(False).build()
    for i, name in enumerate("abc"):
        pipeline.ingest(ga4(en=name, id=name, at=1e9 + i))
    pipeline.flush()
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    assert table.column("id").to_pylist() == ["a", "c"]
    assert table.column("session_total_events").to_pylist() == [3, 3]
    assert pipeline.closer.stats.broken_events == {"wrong: value does not fit the column type": 1}


def test_a_session_value_of_the_wrong_type_drops_only_that_sessions_events() -> None:
    def size(session: Session) -> object:
        return "many" if session.events[0].hit.client_id == "2.2" else len(session.events)

    wrong = SessionValue(iface("session_size", pa.int64()), size)
    pipeline = Pipeline.builder().columns(wrong).pings(False).build()
    for i, (cid, name) in enumerate([("1.1", "a"), ("2.2", "b"), ("2.2", "c"), ("3.3", "d")]):
        pipeline.ingest(ga4(cid=cid, en="page_view", id=name, at=1e9 + i))
    pipeline.flush()
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    ids, sizes = table.column("id").to_pylist(), table.column("session_size").to_pylist()
    assert sorted(zip(ids, sizes, strict=True)) == [("a", 1), ("d", 1)]
    assert pipeline.closer.stats.broken_events == {
        "session_size: value does not fit the column type": 2
    }


def test_a_broken_event_spares_the_other_protosessions_closed_with_it() -> None:
    """Event columns run over chunks of events of several protosessions at once;
    one failing event must not touch the others of its chunk."""
    boom = EventValue(iface("boom", pa.int64()), lambda e: 1 // (e.hit.id != "c17-2"))
    pipeline = Pipeline.builder().columns(boom).pings(False).build()
    for client in range(60):  # 300 events, closed together: several chunks
        for step in range(5):
            request = ga4(f"{client}.1", id=f"c{client}-{step}", at=1e9 + step)
            assert pipeline.ingest(request).status == 204
    pipeline.flush()
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    ids = table.column("id").to_pylist()
    assert len(ids) == 299 and "c17-2" not in ids
    totals = dict(zip(ids, table.column("session_total_events").to_pylist(), strict=True))
    assert {totals[f"c{c}-0"] for c in range(60) if c != 17} == {5}
    assert totals["c17-0"] == 4
    assert set(table.column("boom").to_pylist()) == {1}
    (reason,) = pipeline.closer.stats.broken_events
    assert reason.startswith("boom: ZeroDivisionError")


def test_sparse_columns_are_left_out_of_rows_and_null_in_the_table() -> None:
    """An always-NULL EventValue and the UTM/click-id columns are sparse: the row
    template leaves them out, the key appears only with a value, the table has NULL."""
    nothing, web = (
        EventValue(iface("nothing"), constant(None)),
        EventValue(iface("web"), constant("web")),
    )
    assert nothing.sparse and not web.sparse
    hit = Hit("i", "c", "p", "e", None, "ga4", "", "", "/", "GET", {}, {}, 0.0)
    events = [Event(hit), Event(hit)]
    for column in (nothing, web):
        column.write_all(events)
    assert [event.values for event in events] == [{"web": "web"}] * 2
    template = Pipeline.builder().build().columns["ga4"].event_row_template
    assert "utm_source" not in template and "geo_city" not in template
    assert "page_location" in template and "params_search_term" in template
    requests = [ga4(dl="https://shop.example/?utm_source=news&gclid=G1"), ga4(cid="2.2")]
    rows = d8a.replay(requests)["events"].to_pylist()
    assert [(r["utm_source"], r["click_id_gclid"], r["geo_city"]) for r in rows] == [
        ("news", "G1", None),
        (None, None, None),
    ]
