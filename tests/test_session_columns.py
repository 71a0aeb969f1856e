"""Session-scoped event columns and session columns (reference §4.3, §4.5, §4.6, §4.10)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import d8a
from d8a.columns.base import Event, Session
from d8a.columns.session_core import core_session_scoped_columns
from d8a.columns.session_index import BY_NAME, events_by_name, unique_named
from d8a.columns.session_scoped import TRAFFIC_FILTER_NAME, TrafficFilterName
from d8a.hits import Hit
from d8a.protocols.ga4_sessions import ga4_session_counters
from d8a.sessions.split import SPLIT_CAUSE
from tests.conftest import T0, ga4

SSE_ORDER = [
    "session_hit_number",
    "session_page_number",
    "time_on_page",
    "session_is_entry_page",
    "session_is_exit_page",
    "page_is_bounce",
    "previous_page_location",
    "next_page_location",
    "previous_page_title",
    "next_page_title",
    "traffic_filter_name",
]
# Reference §4.10, GA4 / d8a: the 65 session columns.
_SESSION_NAMES = """
session_id session_client_id session_source session_medium session_term session_referrer
session_duration session_total_events session_first_event_time session_last_event_time
session_entry_page_location session_second_page_location session_exit_page_location
session_entry_page_title session_second_page_title session_exit_page_title session_utm_campaign
session_utm_source session_utm_medium session_utm_content session_utm_term session_utm_id
session_utm_source_platform session_utm_creative_format session_utm_marketing_tactic
session_click_id_gclid session_click_id_dclid session_click_id_gbraid session_click_id_srsltid
session_click_id_wbraid session_click_id_fbclid session_click_id_msclkid session_geo_city
session_geo_region session_geo_metro session_geo_country session_geo_continent
session_geo_sub_continent session_device_category session_device_language
session_device_mobile_brand_name session_device_mobile_model_name session_device_operating_system
session_device_operating_system_version session_device_web_browser
session_device_web_browser_version session_device_screen_resolution session_total_page_views
session_unique_page_views session_is_bounced session_total_purchases session_total_scrolls
session_total_outbound_clicks session_unique_outbound_clicks session_total_site_searches
session_unique_site_searches session_total_form_interactions session_unique_form_interactions
session_total_video_engagements session_total_file_downloads session_unique_file_downloads
session_split_cause session_is_engaged session_returning_user session_abandoned_cart
"""
SESSION_ORDER = _SESSION_NAMES.split()


def page(en: str, offset: float, url: str, title: str, **params: str) -> dict[str, Any]:
    """A GA4 request of one event, ``offset`` seconds after T0 (the original's test helper)."""
    return ga4(en=en, at=T0 + offset, dl=url, dt=title, id=f"e{offset}", **params)


def column(requests: list[dict[str, Any]], name: str, **options: Any) -> list[Any]:
    return list(d8a.replay(requests, **options)["events"].column(name).to_pylist())


P1, P2, P3 = (f"https://example.com/page{i}" for i in (1, 2, 3))
MIXED = [
    page("page_view", 0, P1, "Page 1"),
    page("page_view", 1, P2, "Page 2"),
    page("scroll", 2, P2, "Page 2"),
    page("scroll", 3, P2, "Page 2"),
    page("page_view", 4, P3, "Page 3"),
]


def test_table_order_follows_the_reference() -> None:
    schema = d8a.replay([ga4()])["events"].schema
    names = schema.names
    start = names.index("session_hit_number")
    assert names[start : start + 11] == SSE_ORDER
    assert names[start + 11 :] == SESSION_ORDER
    assert len(SESSION_ORDER) == 65
    assert schema.field("session_is_engaged").type == pa.bool_()
    assert schema.field("session_total_purchases").type == pa.int64()
    assert not schema.field("session_source").nullable and schema.field("session_term").nullable


def test_worked_example_row_of_the_reference() -> None:
    """§7.1: one curl page view, defaults."""
    request = {
        "method": "POST",
        "path": "/g/collect",
        "query": "v=2&tid=14&dl=https%3A%2F%2Ffoo.bar&en=page_view&cid=ag9",
        "headers": {"Host": "localhost:8080", "User-Agent": "curl/8.5.0", "Accept": "*/*"},
        "body": b"",
        "ip": "127.0.0.1",
        "received_at": T0,
        "id": "uuid-1",
    }
    (row,) = d8a.replay([request])["events"].to_pylist()
    want = {
        "session_hit_number": 0,
        "session_page_number": 0,
        "time_on_page": 0,
        "session_is_entry_page": True,
        "session_is_exit_page": True,
        "page_is_bounce": True,
        "previous_page_location": None,
        "next_page_location": None,
        "previous_page_title": None,
        "next_page_title": None,
        "traffic_filter_name": None,
        "session_id": "uuid-1",
        "session_client_id": "ag9",
        "session_source": "direct",
        "session_medium": "none",
        "session_term": "",
        "session_referrer": "",
        "session_duration": 0,
        "session_total_events": 1,
        "session_entry_page_location": "https://foo.bar",
        "session_exit_page_location": "https://foo.bar",
        "session_second_page_location": None,
        "session_total_page_views": 1,
        "session_unique_page_views": 1,
        "session_is_bounced": True,
        "session_is_engaged": False,
        "session_returning_user": False,
        "session_abandoned_cart": False,
        "session_split_cause": None,
    }
    assert {key: row[key] for key in want} == want
    assert row["session_first_event_time"] == row["session_last_event_time"]
    counters = [name for name in SESSION_ORDER if name.startswith("session_total_")][1:]
    counters += [name for name in SESSION_ORDER if name.startswith("session_unique_")]
    assert {row[name] for name in counters if "_page_views" not in name} == {0}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("previous_page_location", [None, P1, P1, P1, P2]),
        ("next_page_location", [P2, P3, P3, P3, None]),
        ("previous_page_title", [None, "Page 1", "Page 1", "Page 1", "Page 2"]),
        ("next_page_title", ["Page 2", "Page 3", "Page 3", "Page 3", None]),
        ("session_page_number", [0, 1, 1, 1, 2]),
    ],
)
def test_page_transitions(name: str, expected: list[Any]) -> None:
    assert column(MIXED, name) == expected


def test_a_reload_is_not_a_transition() -> None:
    requests = [
        page("page_view", 0, P1, "1"),
        page("page_view", 1, P2, "2"),
        page("page_view", 2, P2, "2"),
        page("page_view", 3, P1, "1"),
    ]
    assert column(requests, "previous_page_location") == [None, P1, P1, P2]
    assert column(requests, "next_page_location") == [P2, P1, P1, None]
    assert column(requests, "session_page_number") == [0, 1, 1, 2]


@pytest.mark.parametrize(
    ("events", "entry", "exit_", "bounce"),
    [
        ([("scroll", P1), ("click", P1)], [False, False], [False, False], [False, False]),
        ([("page_view", P1)], [True], [True], [True]),
        (
            [("scroll", P1), ("page_view", P2), ("click", P2), ("page_view", P3), ("x", P3)],
            [False, True, False, False, False],
            [False, False, False, True, False],
            [False, False, False, False, False],
        ),
        (
            [("scroll", P1), ("page_view", P2), ("click", P2)],
            [False, True, False],
            [False, True, False],
            [False, True, False],
        ),
    ],
)
def test_entry_exit_and_bounce(
    events: list[tuple[str, str]], entry: list[bool], exit_: list[bool], bounce: list[bool]
) -> None:
    requests = [page(name, i, url, "t") for i, (name, url) in enumerate(events)]
    table = d8a.replay(requests)["events"]
    assert table.column("session_is_entry_page").to_pylist() == entry
    assert table.column("session_is_exit_page").to_pylist() == exit_
    assert table.column("page_is_bounce").to_pylist() == bounce


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([("scroll", 0), ("click", 1), ("page_view", 5), ("scroll", 6)], [5, 5, 1, 1]),
        ([("page_view", 0), ("scroll", 1), ("page_view", 10)], [10, 10, 0]),
        ([("scroll", 0), ("click", 2), ("download", 5)], [5, 5, 5]),
        ([("page_view", 0)], [0]),
        (
            [
                ("page_view", 0),
                ("scroll", 1),
                ("page_view", 10),
                ("click", 12),
                ("page_view", 15),
                ("download", 18),
            ],
            [10, 10, 5, 5, 3, 3],
        ),
        ([("page_view", 0), ("page_view", 5), ("page_view", 10)], [5, 5, 0]),
        ([("page_view", 0), ("page_view", 0.5), ("scroll", 1.7)], [0, 1, 1]),
    ],
)
def test_time_on_page(events: list[tuple[str, float]], expected: list[int]) -> None:
    requests = [page(name, at, f"{P1}?{i}", "t") for i, (name, at) in enumerate(events)]
    assert column(requests, "time_on_page") == expected


def test_page_session_columns_with_no_page_views() -> None:
    (row, _) = d8a.replay([page("scroll", 0, P1, "t"), page("click", 1, P1, "t")])[
        "events"
    ].to_pylist()
    for name in SESSION_ORDER:
        if name.startswith(("session_entry_", "session_second_", "session_exit_")):
            assert row[name] is None, name
        if name.startswith(("session_utm_", "session_click_id_")):
            assert row[name] is None, name
    assert row["session_total_page_views"] == row["session_unique_page_views"] == 0
    assert row["session_is_bounced"] is False


def test_page_session_columns_with_several_page_views() -> None:
    requests = [
        page("scroll", 0, f"{P1}?utm_source=early", "zero"),
        page("page_view", 1, f"{P1}?a=1&utm_source=news&gclid=g1", "one"),
        page("page_view", 2, P2, "two"),
        page("click", 3, P2, "two"),
        page("page_view", 4, P2, "two again"),
        page("page_view", 5, P3, "three"),
    ]
    row = d8a.replay(requests)["events"].to_pylist()[0]
    assert row["session_entry_page_location"] == f"{P1}?a=1"  # utm_*, click ids stripped
    assert row["session_second_page_location"] == P2
    assert row["session_exit_page_location"] == P3
    assert (row["session_entry_page_title"], row["session_second_page_title"]) == ("one", "two")
    assert row["session_exit_page_title"] == "three"
    assert row["session_utm_source"] == "news"  # the first page view, not the first event
    assert row["session_click_id_gclid"] == "g1"
    assert row["session_total_page_views"] == 4
    assert row["session_unique_page_views"] == 3
    assert row["session_is_bounced"] is False
    assert row["session_source"] == "early"  # attribution reads the first event


def test_a_split_session_gets_its_own_values_and_cause() -> None:
    requests = [
        page("page_view", 0, f"{P1}?utm_campaign=a", "one"),
        page("page_view", 10, P2, "two"),
        page("page_view", 20, f"{P3}?utm_campaign=b", "three"),
        page("scroll", 25, f"{P3}?utm_campaign=b", "three"),
    ]
    rows = d8a.replay(requests)["events"].to_pylist()
    assert [r["session_split_cause"] for r in rows] == [None, None] + ["utm_campaign_changed"] * 2
    assert [r["session_hit_number"] for r in rows] == [0, 1, 0, 1]
    assert [r["previous_page_location"] for r in rows] == [None, P1, None, None]
    assert [r["session_is_entry_page"] for r in rows] == [True, False, True, False]
    assert [r["time_on_page"] for r in rows] == [10, 0, 5, 5]
    assert [r["session_total_page_views"] for r in rows] == [2, 2, 1, 1]
    assert rows[2]["session_is_bounced"] and not rows[0]["session_is_bounced"]
    assert rows[2]["session_utm_campaign"] == "b" and rows[0]["session_utm_campaign"] == "a"


def test_split_causes_by_time_and_count() -> None:
    requests = [page("page_view", i * 600, P1, "t") for i in range(5)]
    causes = column(requests, "session_split_cause", split_by_max_events=2)
    assert causes == [None, None, "max_events_reached", "max_events_reached", "max_events_reached"]
    causes = column(requests, "session_split_cause", split_by_time_since_first_event=1200)
    assert causes == [None, None] + ["max_time_since_first_event_reached"] * 3


def test_ga4_counters() -> None:
    names = ["purchase", "scroll", "scroll", "click", "search", "view_search_results"]
    names += ["form_start", "form_submit", "video_start", "video_progress", "video_complete"]
    names += ["file_download", "file_download", "page_view"]
    requests = [page(name, i, P1, "t") for i, name in enumerate(names)]
    row = d8a.replay(requests)["events"].to_pylist()[0]
    assert row["session_total_purchases"] == 1
    assert row["session_total_scrolls"] == 2
    assert row["session_total_outbound_clicks"] == 1
    assert row["session_total_site_searches"] == 2
    assert row["session_total_form_interactions"] == 2
    assert row["session_total_video_engagements"] == 3
    assert row["session_total_file_downloads"] == 2


def _session(*events: tuple[str, dict[str, Any]]) -> Session:
    built = []
    for i, (name, values) in enumerate(events):
        hit = Hit(f"h{i}", "c", "p", name, None, "ga4", "", "", "", "", {}, {}, T0 + i)
        built.append(Event(hit, {"name": name, **values}))
    return Session(built)


def test_unique_counters_key_on_event_name_and_value() -> None:
    session = _session(
        ("click", {"params_link_url": "a"}),
        ("click", {"params_link_url": "a"}),
        ("click", {"params_link_url": "b"}),
        ("click", {"params_link_url": None}),
        ("search", {"params_search_term": "x"}),
        ("view_search_results", {"params_search_term": "x"}),
        ("form_start", {}),  # lacks the column: counts under the empty key
        ("form_submit", {}),
    )
    for counter in ga4_session_counters():
        counter.write(session)
    assert session.values["session_unique_outbound_clicks"] == 3
    assert session.values["session_unique_site_searches"] == 2
    assert session.values["session_unique_form_interactions"] == 1
    assert session.values["session_unique_file_downloads"] == 0
    assert unique_named(session, ("click",), "params_link_url") == 3
    assert session.metadata[BY_NAME] is events_by_name(session)  # computed once


@pytest.mark.parametrize(
    ("events", "engaged", "returning", "abandoned"),
    [
        ([("page_view", {})], False, False, False),
        ([("page_view", {"seg": "1"})], True, False, False),
        ([("page_view", {"seg": "0"}), ("scroll", {"seg": "x"})], False, False, False),
        ([("page_view", {}), ("page_view", {})], True, False, False),
        ([("screen_view", {}), ("screen_view", {})], True, False, False),
        ([("purchase", {"sct": "2"})], True, True, False),
        ([("page_view", {"sct": "1"}), ("add_to_cart", {})], False, False, True),
        ([("add_to_cart", {}), ("purchase", {})], True, False, False),
        ([("purchase", {}), ("add_to_cart", {})], True, False, True),
    ],
)
def test_ga4_session_flags(
    events: list[tuple[str, dict[str, str]]], engaged: bool, returning: bool, abandoned: bool
) -> None:
    requests = [page(name, i, P1, "t", **params) for i, (name, params) in enumerate(events)]
    row = d8a.replay(requests)["events"].to_pylist()[0]
    assert row["session_is_engaged"] is engaged
    assert row["session_returning_user"] is returning
    assert row["session_abandoned_cart"] is abandoned


def test_d8a_protocol_flags_use_its_namespace() -> None:
    from d8a.protocols import D8AProtocol, GA4Protocol

    ids = {c.interface.id for c in D8AProtocol().session_columns(d8a.Settings())}
    assert "d8a.protocols.d8a.tech/session/is_engaged" in ids
    assert "core.d8a.tech/sessions/total_purchases" in ids
    ids = {c.interface.id for c in GA4Protocol().session_columns(d8a.Settings())}
    assert "ga4.protocols.d8a.tech/session/abandoned_cart" in ids


def test_traffic_filter_name_comes_from_event_metadata() -> None:
    session = _session(("page_view", {}), ("scroll", {}))
    session.events[1].metadata[TRAFFIC_FILTER_NAME] = "office"
    column = TrafficFilterName()
    for index in range(2):
        column.write(session, index)
    assert [e.values["traffic_filter_name"] for e in session.events] == [None, "office"]


def test_split_cause_reads_session_metadata() -> None:
    from d8a.columns.session_columns import split_cause_column

    session = _session(("page_view", {}))
    session.metadata[SPLIT_CAUSE] = "user_id_changed"
    split_cause_column().write(session)
    assert session.values["session_split_cause"] == "user_id_changed"


# -- properties: the columns against their definitions, written the slow, obvious way


def _naive(names: list[str], locations: list[str], times: list[float]) -> dict[str, list[Any]]:
    n = len(names)
    views = [i for i in range(n) if names[i] == "page_view"]

    def page_of(i: int) -> str | None:
        owners = [j for j in views if j <= i]
        return locations[owners[-1]] if owners else None

    chain = [page_of(i) for i in range(n)]

    def previous(i: int) -> str | None:
        if chain[i] is None:
            return None
        return next((v for v in reversed(chain[:i]) if v is not None and v != chain[i]), None)

    def following(i: int) -> str | None:
        return next((v for v in chain[i + 1 :] if v != chain[i]), None)

    def time_on_page(i: int) -> int:
        owner = max([j for j in views if j <= i], default=0)
        later = [j for j in views if j > owner]
        return int((times[later[0]] if later else times[-1]) - times[owner])

    return {
        "session_page_number": [
            sum(locations[j] != locations[j - 1] for j in range(1, i + 1)) for i in range(n)
        ],
        "time_on_page": [time_on_page(i) for i in range(n)],
        "session_is_entry_page": [bool(views) and i == views[0] for i in range(n)],
        "session_is_exit_page": [bool(views) and i == views[-1] for i in range(n)],
        "page_is_bounce": [len(views) == 1 and i == views[0] for i in range(n)],
        "previous_page_location": [previous(i) for i in range(n)],
        "next_page_location": [following(i) for i in range(n)],
    }


events = st.lists(
    st.tuples(
        st.sampled_from(["page_view", "page_view", "scroll", "click"]),
        st.sampled_from(["/a", "/b", "/c"]),
        st.floats(0, 30),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(events)
def test_session_scoped_columns_match_their_definitions(
    drawn: list[tuple[str, str, float]],
) -> None:
    names = [name for name, _, _ in drawn]
    locations = [location for _, location, _ in drawn]
    times: list[float] = []
    for _, _, gap in drawn:
        times.append((times[-1] if times else T0) + gap)
    session = Session(
        [
            Event(
                Hit(f"h{i}", "c", "p", names[i], None, "ga4", "", "", "", "", {}, {}, times[i]),
                {"name": names[i], "page_location": locations[i], "page_title": locations[i]},
            )
            for i in range(len(drawn))
        ]
    )
    columns = core_session_scoped_columns()
    for sse in reversed(columns):  # any write order gives the same values
        for index in reversed(range(len(drawn))):
            sse.write(session, index)
    want = _naive(names, locations, times)
    for name, values in want.items():
        assert [e.values[name] for e in session.events] == values, name
    titles = [e.values["previous_page_title"] for e in session.events]
    assert titles == want["previous_page_location"]
    assert [e.values["session_hit_number"] for e in session.events] == list(range(len(drawn)))
