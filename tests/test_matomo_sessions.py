"""Matomo session columns (reference §3.3, §4.7, order §4.10): on hand-built sessions,
then end to end through the Matomo protocol."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import d8a
from d8a.columns.base import Event, Session, SessionColumn
from d8a.columns.session_core import core_session_scoped_columns
from d8a.config import Settings
from d8a.hits import Hit
from d8a.protocols.matomo_columns import CUSTOM_DIMENSIONS_TYPE, CUSTOM_VARIABLES_TYPE
from d8a.protocols.matomo_sessions import (
    matomo_session_columns,
    matomo_session_scoped_columns,
)

T0 = 1_764_000_000.0
AB_Z = [("a", "1"), ("b", "2"), ("z", "9")]
NS = "matomo.protocols.d8a.tech/session/"

BEFORE_SPLIT_CAUSE = [
    "session_total_purchases",
    "session_total_scrolls",
    "session_total_outbound_clicks",
    "session_unique_outbound_clicks",
    "session_total_site_searches",
    "session_unique_site_searches",
    "session_total_form_interactions",
    "session_unique_form_interactions",
    "session_total_video_engagements",
    "session_total_file_downloads",
    "session_unique_file_downloads",
]
AFTER_SPLIT_CAUSE = [
    "session_custom_variables",
    "session_custom_dimensions",
    "session_total_goal_conversions",
    "session_total_content_impressions",
    "session_total_content_interactions",
    "session_returning_user",
]
SSE = [
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


def session(*events: tuple[str, dict[str, Any], dict[str, str]]) -> Session:
    """A session of (event name, column values, request params) events, a second apart."""
    built = []
    for i, (name, values, params) in enumerate(events):
        hit = Hit(f"h{i}", "c", "1", name, None, "matomo", "", "", "", "", {}, params, T0 + i)
        built.append(Event(hit, {"name": name, **values}))
    return Session(built)


def columns(settings: Settings | None = None) -> dict[str, SessionColumn]:
    before, after = matomo_session_columns(settings or Settings())
    return {column.name: column for column in (*before, *after)}


def values(sess: Session, settings: Settings | None = None) -> dict[str, Any]:
    for column in columns(settings).values():
        column.write(sess)
    return sess.values


def test_names_order_types_and_ids_follow_the_reference() -> None:
    before, after = matomo_session_columns(Settings())
    assert [c.name for c in before] == BEFORE_SPLIT_CAUSE
    assert [c.name for c in after] == AFTER_SPLIT_CAUSE
    assert len(before) + len(after) == 17
    for column in before:  # the counters every protocol has keep their core ids
        short = column.name.removeprefix("session_")
        assert column.interface.id == f"core.d8a.tech/sessions/{short}"
        assert column.interface.field.type == pa.int64()
        assert column.interface.field.nullable
    ids = {c.name: c.interface.id.removeprefix(NS) for c in after}
    assert ids == {
        "session_custom_variables": "session_custom_variables",
        "session_custom_dimensions": "session_custom_dimensions",
        "session_total_goal_conversions": "total_goal_conversions",
        "session_total_content_impressions": "total_content_impressions",
        "session_total_content_interactions": "total_content_interactions",
        "session_returning_user": "returning_user",
    }
    types = {c.name: c.interface.field.type for c in after}
    assert types["session_custom_variables"] == CUSTOM_VARIABLES_TYPE
    assert types["session_custom_dimensions"] == CUSTOM_DIMENSIONS_TYPE
    assert types["session_returning_user"] == pa.bool_()
    assert {types[n] for n in AFTER_SPLIT_CAUSE[2:5]} == {pa.int64()}
    assert all(c.interface.description for c in (*before, *after))


def test_session_scoped_columns_are_the_eleven_core_ones() -> None:
    sse = [*core_session_scoped_columns(), *matomo_session_scoped_columns(Settings())]
    assert [c.name for c in sse] == SSE


def test_counters_count_matomo_event_names() -> None:
    sess = session(
        ("page_view", {}, {}),
        ("ecommerce_order", {}, {}),
        ("ecommerce_order", {}, {}),
        ("goal_conversion", {}, {}),
        ("outlink", {"params_link_url": "https://a.example"}, {}),
        ("outlink", {"params_link_url": "https://a.example"}, {}),
        ("outlink", {"params_link_url": "https://b.example"}, {}),
        ("site_search", {"params_search_term": "shoes"}, {}),
        ("site_search", {"params_search_term": "shoes"}, {}),
        ("site_search", {"params_search_term": None}, {}),  # search= with an empty term
        ("content_impression", {}, {}),
        ("content_impression", {}, {}),
        ("content_interaction", {}, {}),
        ("video_play", {}, {}),
        ("download", {"params_download_url": "https://x.example/a.pdf"}, {}),
        ("download", {"params_download_url": "https://x.example/a.pdf"}, {}),
        ("custom_event", {}, {}),
        # GA4 names mean nothing under Matomo
        ("purchase", {}, {}),
        ("click", {"params_link_url": "https://c.example"}, {}),
        ("file_download", {}, {}),
        ("scroll", {}, {}),
    )
    got = values(sess)
    assert {name: got[name] for name in BEFORE_SPLIT_CAUSE + AFTER_SPLIT_CAUSE[2:5]} == {
        "session_total_purchases": 2,
        "session_total_scrolls": None,
        "session_total_outbound_clicks": 3,
        "session_unique_outbound_clicks": 2,
        "session_total_site_searches": 3,
        "session_unique_site_searches": 2,
        "session_total_form_interactions": None,
        "session_unique_form_interactions": None,
        "session_total_video_engagements": 1,
        "session_total_file_downloads": 2,
        "session_unique_file_downloads": 1,
        "session_total_goal_conversions": 1,
        "session_total_content_impressions": 2,
        "session_total_content_interactions": 1,
    }


def test_counters_are_zero_and_merges_null_in_a_plain_session() -> None:
    got = values(session(("page_view", {}, {}), ("page_view", {}, {"url": "https://e.x/"})))
    assert got["session_total_purchases"] == 0
    assert got["session_unique_site_searches"] == 0
    assert got["session_total_goal_conversions"] == 0
    assert got["session_custom_variables"] is None
    assert got["session_custom_dimensions"] is None
    assert got["session_returning_user"] is False


@pytest.mark.parametrize(
    ("idns", "want"),
    [
        (["0"], True),
        (["0", "1"], True),
        (["1", "0"], False),  # only the first event counts
        ([None, "0"], False),
        (["1"], False),
        ([""], False),
        (["00"], False),
    ],
)
def test_returning_user_reads_idn_of_the_first_event(idns: list[str | None], want: bool) -> None:
    sess = session(*(("page_view", {}, {} if idn is None else {"_idn": idn}) for idn in idns))
    assert values(sess)["session_returning_user"] is want


def cvar(**slots: list[str]) -> str:
    return json.dumps({slot.removeprefix("s"): pair for slot, pair in slots.items()})


def test_session_custom_variables_merge_by_name_later_events_win() -> None:
    sess = session(
        ("page_view", {}, {"_cvar": cvar(s1=["plan", "free"], s2=["lang", "pl"])}),
        ("page_view", {}, {"_cvar": "not json"}),
        ("page_view", {}, {"cvar": cvar(s1=["page", "ignored: event scope"])}),
        ("page_view", {}, {"_cvar": cvar(s3=["plan", "pro"], s4=["age"])}),
    )
    assert values(sess)["session_custom_variables"] == [
        {"name": "lang", "value": "pl"},
        {"name": "plan", "value": "pro"},
    ]


def test_session_custom_dimensions_merge_by_slot_later_events_win() -> None:
    sess = session(
        ("page_view", {}, {"dimension2": "b", "dimension10": "x", "dimension1": "a"}),
        ("page_view", {}, {"dimension2": "", "dimension3": "c"}),  # empty: kept "b"
        ("page_view", {}, {"dimension1": "A", "dimensionx": "no", "dimension": "no"}),
    )
    assert values(sess)["session_custom_dimensions"] == [
        {"slot": 1, "value": "A"},
        {"slot": 2, "value": "b"},
        {"slot": 3, "value": "c"},
        {"slot": 10, "value": "x"},
    ]


def test_merged_values_fit_their_arrow_types() -> None:
    sess = session(
        ("page_view", {}, {"_cvar": cvar(s1=["a", "1"]), "dimension4": "d"}),
    )
    got = values(sess)
    pa.array([got["session_custom_variables"], None], type=CUSTOM_VARIABLES_TYPE)
    array = pa.array([got["session_custom_dimensions"], None], type=CUSTOM_DIMENSIONS_TYPE)
    assert array.to_pylist()[0] == [{"slot": 4, "value": "d"}]


def merged_variables(*raws: str | None) -> list[tuple[str, str]] | None:
    """``session_custom_variables`` of a session whose events send these ``_cvar``."""
    sess = session(*(("page_view", {}, {} if raw is None else {"_cvar": raw}) for raw in raws))
    got = values(sess)["session_custom_variables"]
    return None if got is None else [(v["name"], v["value"]) for v in got]


def merged_dimensions(params: dict[str, str]) -> dict[int, str] | None:
    """``session_custom_dimensions`` of a one-event session, as a dict."""
    got = values(session(("page_view", {}, params)))["session_custom_dimensions"]
    if got is None:
        return None
    assert [d["slot"] for d in got] == sorted(d["slot"] for d in got)
    return {d["slot"]: d["value"] for d in got}


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (None, None),
        ("", None),
        ("null", None),
        ("[]", None),
        ('"text"', None),
        ("{", None),
        ('{"1": "ab"}', None),
        ('{"1": null, "2": ["b", null]}', None),
        ('{"1": ["a", "b"]}', [("a", "b")]),
        ('{"2": ["b", "2"], "1": ["a", "1"], "x": ["z", "9"]}', AB_Z),
        ('{"10": ["x", "ten"], "9": ["x", "nine"]}', [("x", "ten")]),  # slots by number
        ('{"x": ["k", "text slot"], "3": ["k", "numeric"]}', [("k", "text slot")]),
        ('{"1": ["a"], "2": ["b", "2", "extra"], "3": ["c", "3"]}', [("c", "3")]),
        ('{"1": ["a", 1], "2": ["b", "2"]}', [("b", "2")]),  # not a pair of strings: skipped
    ],
)
def test_custom_variables_of_one_event(raw: str | None, want: list[tuple[str, str]]) -> None:
    assert merged_variables(raw) == want


@settings(deadline=None)  # a shared, loaded machine
@given(
    st.lists(
        st.dictionaries(
            st.integers(min_value=0, max_value=1000).map(str),
            st.tuples(st.sampled_from(["a", "b", "c"]), st.text()),
            max_size=5,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_custom_variables_equal_a_naive_merge(per_event: list[dict[str, tuple[str, str]]]) -> None:
    merged: dict[str, str] = {}
    for slots in per_event:
        for slot in sorted(slots, key=int):
            name, value = slots[slot]
            merged[name] = value
    raws = [json.dumps({slot: list(pair) for slot, pair in slots.items()}) for slots in per_event]
    assert merged_variables(*raws) == (sorted(merged.items()) or None)


@settings(deadline=None)  # a shared, loaded machine
@given(st.text())
def test_custom_variables_of_any_text_never_raise(raw: str) -> None:
    for name, value in merged_variables(raw) or []:
        assert isinstance(name, str) and isinstance(value, str)


@pytest.mark.parametrize(
    ("params", "want"),
    [
        ({"dimension1": "a", "dimension12": "b"}, {1: "a", 12: "b"}),
        ({"dimension0": "z", "dimension-2": "m", "dimension+3": "p"}, {0: "z", -2: "m", 3: "p"}),
        ({"dimension": "x", "dimensionx": "x", "dimension1_0": "x", "dimension 1": "x"}, None),
        ({"dimension1": ""}, None),
        ({"dimension99999999999999999999": "too big"}, None),
        ({"Dimension1": "case", "xdimension1": "prefix"}, None),
    ],
)
def test_custom_dimensions_of_one_event(params: dict[str, str], want: dict[int, str]) -> None:
    assert merged_dimensions(params) == want


@settings(deadline=None)  # a shared, loaded machine
@given(
    st.dictionaries(
        st.one_of(
            st.text(max_size=15), st.from_regex(r"dimension[+-]?0*[0-9]{1,3}", fullmatch=True)
        ),
        st.text(max_size=5),
    )
)
def test_custom_dimensions_read_only_dimension_params(params: dict[str, str]) -> None:
    sources: dict[int, set[str]] = {}
    for key, value in params.items():
        digits = key.removeprefix("dimension")
        if key != digits and value and re.fullmatch(r"[+-]?[0-9]+", digits, flags=re.ASCII):
            sources.setdefault(int(digits), set()).add(value)
    found = merged_dimensions(params) or {}
    assert set(found) == set(sources)
    assert all(found[slot] in sources[slot] for slot in found)


@settings(deadline=None)  # a shared, loaded machine
@given(
    st.lists(
        st.dictionaries(
            st.integers(min_value=1, max_value=20).map(lambda n: f"dimension{n}"),
            st.text(min_size=1, max_size=3),
            max_size=4,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_session_dimensions_equal_a_naive_merge(per_event: list[dict[str, str]]) -> None:
    sess = session(*(("page_view", {}, params) for params in per_event))
    merged: dict[int, str] = {}
    for params in per_event:
        for key, value in params.items():
            merged[int(key.removeprefix("dimension"))] = value
    want = [{"slot": s, "value": merged[s]} for s in sorted(merged)] or None
    assert values(sess)["session_custom_dimensions"] == want


# --- end to end through the Matomo protocol ---------------------------------------------

# Reference §4.10, Matomo: the 68 session columns.
_MATOMO_SESSION_NAMES = """
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
session_split_cause session_custom_variables session_custom_dimensions
session_total_goal_conversions session_total_content_impressions
session_total_content_interactions session_returning_user
"""
MATOMO_SESSION_ORDER = _MATOMO_SESSION_NAMES.split()


def matomo(
    at: float, cid: str = "0123456789abcdef", ip: str = "2001:db8::9", **params: str
) -> dict[str, Any]:
    """A GET /matomo.php request ``at`` seconds after T0 (a page view unless ``params``
    make it another event)."""
    query = {"idsite": "3", "rec": "1", "_id": cid, "url": "https://shop.example/", **params}
    return {
        "method": "GET",
        "path": "/matomo.php",
        "query": urlencode(query),
        "headers": {"User-Agent": "test-agent"},
        "ip": ip,
        "received_at": T0 + at,
    }


def rows(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = d8a.replay(requests, protocol="matomo")["events"]
    found: list[dict[str, Any]] = table.to_pylist()
    return found


def test_matomo_table_order_follows_the_reference() -> None:
    schema = d8a.replay([matomo(0)], protocol="matomo")["events"].schema
    names = schema.names
    start = names.index("session_hit_number")
    assert names[start : start + 11] == SSE
    assert names[start + 11 :] == MATOMO_SESSION_ORDER
    assert len(MATOMO_SESSION_ORDER) == 68
    assert schema.field("session_returning_user").type == pa.bool_()
    assert schema.field("session_custom_variables").type == CUSTOM_VARIABLES_TYPE
    assert schema.field("session_custom_dimensions").type == CUSTOM_DIMENSIONS_TYPE


def test_a_whole_matomo_session_end_to_end() -> None:
    out = "https://out.example/"
    pdf = "https://shop.example/a.pdf"
    requests = [
        matomo(0, _idn="0", _cvar=cvar(s1=["plan", "free"]), dimension1="a"),
        matomo(1, link=out),
        matomo(2, link=out),
        matomo(3, link="https://other.example/"),
        matomo(4, download=pdf),
        matomo(5, download=pdf),
        matomo(6, search="shoes"),
        matomo(7, search="shoes"),
        matomo(8, search=""),
        matomo(9, idgoal="4"),
        matomo(10, idgoal="0", ec_id="order-1", revenue="9.5"),
        matomo(11, c_n="banner"),
        matomo(12, c_n="banner", c_i="click"),
        matomo(13, ma_id="v1", ma_mt="video"),
        matomo(14, e_c="cat", e_a="act"),
        matomo(15, _idn="1", _cvar=cvar(s2=["plan", "pro"], s3=["lang", "pl"]), dimension2="b"),
    ]
    got = rows(requests)
    assert len(got) == len(requests) and len({r["session_id"] for r in got}) == 1
    names = [r["name"] for r in got]
    assert names[1:6] == ["outlink"] * 3 + ["download"] * 2
    want = {
        "session_total_purchases": 1,
        "session_total_scrolls": None,
        "session_total_outbound_clicks": 3,
        "session_unique_outbound_clicks": 2,
        "session_total_site_searches": 3,
        "session_unique_site_searches": 2,
        "session_total_form_interactions": None,
        "session_unique_form_interactions": None,
        "session_total_video_engagements": 1,
        "session_total_file_downloads": 2,
        "session_unique_file_downloads": 1,
        "session_custom_variables": [
            {"name": "lang", "value": "pl"},
            {"name": "plan", "value": "pro"},
        ],
        "session_custom_dimensions": [{"slot": 1, "value": "a"}, {"slot": 2, "value": "b"}],
        "session_total_goal_conversions": 1,
        "session_total_content_impressions": 1,
        "session_total_content_interactions": 1,
        "session_returning_user": True,
        "session_total_page_views": 2,  # the first and the last request
    }
    for row in got:  # session values are repeated on every row
        assert {key: row[key] for key in want} == want


def test_a_new_visitor_and_a_split_session() -> None:
    requests = [
        matomo(0, _idn="1", dimension5="first"),
        matomo(4000, _idn="0", dimension5="second"),  # past the 30 min timeout
        matomo(4001, cid="fedcba9876543210", ip="2001:db8::10"),  # another visitor, no _idn
    ]
    got = {(r["client_id"], r["session_first_event_time"]): r for r in rows(requests)}
    first, second, other = (got[key] for key in sorted(got, key=lambda k: (k[1], k[0])))
    assert first["session_returning_user"] is False
    assert second["session_returning_user"] is True
    assert other["session_returning_user"] is False
    assert first["session_custom_dimensions"] == [{"slot": 5, "value": "first"}]
    assert second["session_custom_dimensions"] == [{"slot": 5, "value": "second"}]
    assert other["session_custom_dimensions"] is None
