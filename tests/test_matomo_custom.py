"""Custom Matomo columns: ``matomo_custom_dimensions`` and ``matomo_custom_variables``
(reference §4.9)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import d8a
from d8a.columns.base import Event, Session
from d8a.config import Settings
from d8a.config_file import load_config, pipeline_from_config
from d8a.errors import ConfigurationError
from d8a.hits import Hit
from d8a.protocols.matomo_custom import (
    MatomoCustomDimension,
    MatomoCustomVariable,
    matomo_custom_event_columns,
    matomo_custom_session_columns,
    matomo_custom_session_scoped_columns,
)

T0 = 1_764_000_000.0

DIMENSIONS = [
    {"slot": 1, "name": "plan"},
    {"slot": 2, "name": "tier", "scope": "session"},
    {"slot": 1, "name": "plan_again", "column_name": "visit_plan", "scope": "session"},
]
VARIABLES = [
    {"name": "gender"},
    {"name": "gender", "column_name": "visit_gender", "scope": "session"},
    {"name": "Visitor Type", "column_name": "visitor_type", "type": "string"},
]


def matomo(at: float = T0, cid: str = "0123456789abcdef", **params: str) -> dict[str, Any]:
    """A GET /matomo.php request of one page view (unless ``params`` say otherwise)."""
    query = {"idsite": "1", "rec": "1", "_id": cid, "url": "https://shop.example/", **params}
    return {
        "method": "GET",
        "path": "/matomo.php",
        "query": urlencode(query),
        "headers": {"User-Agent": "test-agent"},
        "ip": "2001:db8::7",
        "received_at": at,
    }


def cvar(*pairs: tuple[str, str]) -> str:
    return json.dumps({str(i + 1): list(pair) for i, pair in enumerate(pairs)})


def replay(requests: list[dict[str, Any]], **settings: Any) -> pa.Table:
    options = {"matomo_custom_dimensions": DIMENSIONS, "matomo_custom_variables": VARIABLES}
    return d8a.replay(requests, protocol="matomo", **{**options, **settings})["events"]


def test_settings_are_read_into_entries_with_default_names_and_scopes() -> None:
    settings = Settings(matomo_custom_dimensions=DIMENSIONS, matomo_custom_variables=VARIABLES)
    assert settings.matomo_custom_dimensions == (
        MatomoCustomDimension(1, "plan", "custom_dimension_plan", "event"),
        MatomoCustomDimension(2, "tier", "custom_dimension_tier", "session"),
        MatomoCustomDimension(1, "plan_again", "visit_plan", "session"),
    )
    assert settings.matomo_custom_variables == (
        MatomoCustomVariable("gender", "custom_variable_gender", "event"),
        MatomoCustomVariable("gender", "visit_gender", "session"),
        MatomoCustomVariable("Visitor Type", "visitor_type", "event"),
    )
    again = Settings(
        matomo_custom_dimensions=settings.matomo_custom_dimensions,
        matomo_custom_variables=list(settings.matomo_custom_variables),
    )
    assert again == settings
    assert Settings().matomo_custom_dimensions == () == Settings().matomo_custom_variables


def test_columns_kinds_ids_and_types() -> None:
    settings = Settings(matomo_custom_dimensions=DIMENSIONS, matomo_custom_variables=VARIABLES)
    event = matomo_custom_event_columns(settings)
    session = matomo_custom_session_columns(settings)
    assert [c.name for c in event] == [
        "custom_dimension_plan",
        "custom_variable_gender",
        "visitor_type",
    ]
    assert [c.name for c in session] == ["custom_dimension_tier", "visit_plan", "visit_gender"]
    assert matomo_custom_session_scoped_columns(settings) == []
    assert event[0].interface.id == "customcolumns.d8a.tech/event/custom_dimension_plan"
    assert session[1].interface.id == "customcolumns.d8a.tech/session/visit_plan"
    assert {c.interface.field.type for c in (*event, *session)} == {pa.string()}
    assert event[0].depends_on == ("matomo.protocols.d8a.tech/event/custom_dimensions",)
    assert event[1].depends_on == ("matomo.protocols.d8a.tech/event/custom_variables",)
    assert session[0].depends_on == ("matomo.protocols.d8a.tech/session/session_custom_dimensions",)
    assert session[2].depends_on == ("matomo.protocols.d8a.tech/session/session_custom_variables",)
    assert all("Custom: Matomo custom" in c.interface.description for c in (*event, *session))


@pytest.mark.parametrize(
    ("dimensions", "variables", "message"),
    [
        ([{"slot": 1}], [], "needs a non-empty 'name'"),
        ([{"slot": 1, "name": ""}], [], "needs a non-empty 'name'"),
        ([{"name": "x"}], [], "slot must be a positive integer"),
        ([{"slot": 0, "name": "x"}], [], "slot must be a positive integer"),
        ([{"slot": -3, "name": "x"}], [], "slot must be a positive integer"),
        ([{"slot": "3", "name": "x"}], [], "slot must be a positive integer"),
        ([{"slot": True, "name": "x"}], [], "slot must be a positive integer"),
        ([{"slot": 1.5, "name": "x"}], [], "slot must be a positive integer"),
        ([{"slot": 1, "name": "x", "scope": "visit"}], [], "scope must be 'event' or 'session'"),
        ([], [{"name": "x", "scope": "action"}], "scope must be 'event' or 'session'"),
        ([{"slot": 1, "name": "x", "type": "int64"}], [], "type must be 'string'"),
        ([], [{"name": "x", "type": "bool"}], "type must be 'string'"),
        ([{"slot": 1, "name": "x", "slots": 2}], [], "unknown key(s) ['slots']"),
        ([], [{"name": "x", "slot": 1}], "unknown key(s) ['slot']"),
        ([{"slot": 1, "name": "a b"}], [], "set 'column_name'"),
        ([], [{"name": "x", "column_name": "1x"}], "invalid identifier"),
        ([], [{"name": "x", "column_name": 'x"; DROP TABLE t; --'}], "invalid identifier"),
        ([{"slot": 1, "name": "x"}, {"slot": 2, "name": "x"}], [], "defined twice"),
        ([], [{"name": "x"}, {"name": "y", "column_name": "custom_variable_x"}], "defined twice"),
        (
            [{"slot": 1, "name": "a", "column_name": "c"}],
            [{"name": "b", "column_name": "c"}],
            "twice",
        ),
        ({"slot": 1, "name": "x"}, [], "must be a list"),
        ("plan", [], "must be a list"),
        ([], [["x"]], "must be a mapping"),
    ],
)
def test_bad_settings_raise_a_clear_configuration_error(
    dimensions: Any, variables: Any, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=r"matomo_custom|Matomo custom|identifier") as err:
        Settings(matomo_custom_dimensions=dimensions, matomo_custom_variables=variables)
    assert message in str(err.value)


def test_a_name_a_matomo_column_has_is_rejected_when_the_pipeline_is_built() -> None:
    with pytest.raises(ConfigurationError, match="share the name 'params_category'"):
        replay(
            [matomo()],
            matomo_custom_variables=[{"name": "x", "column_name": "params_category"}],
        )


def test_settings_from_a_config_file_and_the_environment(tmp_path: Any) -> None:
    path = tmp_path / "d8a.toml"
    path.write_text('[[matomo_custom_dimensions]]\nslot = 4\nname = "plan"\n')
    environ = {"D8A_MATOMO_CUSTOM_VARIABLES": '[{"name": "tier", "scope": "session"}]'}
    config = load_config(str(path), environ)
    pipeline = pipeline_from_config({**config, "protocols": ["matomo"]})
    try:
        settings = pipeline.settings
        assert settings.matomo_custom_dimensions == (
            MatomoCustomDimension(4, "plan", "custom_dimension_plan"),
        )
        assert settings.matomo_custom_variables == (
            MatomoCustomVariable("tier", "custom_variable_tier", "session"),
        )
    finally:
        pipeline.close()


# --- the columns on hand-built events and sessions --------------------------------------


def event(**values: Any) -> Event:
    hit = Hit("h", "c", "1", "page_view", None, "matomo", "", "", "", "", {}, {}, T0)
    return Event(hit, {"name": "page_view", **values})


def test_event_columns_pick_the_last_non_null_match() -> None:
    settings = Settings(matomo_custom_dimensions=DIMENSIONS, matomo_custom_variables=VARIABLES)
    plan, gender, visitor = matomo_custom_event_columns(settings)
    cases: list[tuple[dict[str, Any], tuple[Any, Any, Any]]] = [
        ({}, (None, None, None)),
        ({"custom_dimensions": None, "custom_variables": None}, (None, None, None)),
        (
            {
                "custom_dimensions": [{"slot": 2, "value": "b"}, {"slot": 1, "value": "a"}],
                "custom_variables": [
                    {"name": "gender", "value": "f"},
                    {"name": "Visitor Type", "value": "new"},
                    {"name": "gender", "value": "m"},
                    {"name": "gender", "value": None},
                ],
            },
            ("a", "m", "new"),
        ),
        ({"custom_dimensions": [{"slot": 11, "value": "a"}]}, (None, None, None)),
        ({"custom_dimensions": "not a list", "custom_variables": [1, "x"]}, (None, None, None)),
        ({"custom_variables": [{"name": "Gender", "value": "case matters"}]}, (None, None, None)),
    ]
    for values, want in cases:
        ev = event(**values)
        for column in (plan, gender, visitor):
            column.write(ev)
        got = (ev.values[plan.name], ev.values[gender.name], ev.values[visitor.name])
        assert got == want, values


def test_session_columns_read_the_merged_session_values() -> None:
    settings = Settings(matomo_custom_dimensions=DIMENSIONS, matomo_custom_variables=VARIABLES)
    tier, visit_plan, visit_gender = matomo_custom_session_columns(settings)
    session = Session([event()])
    session.values["session_custom_dimensions"] = [
        {"slot": 1, "value": "pro"},
        {"slot": 2, "value": "gold"},
    ]
    session.values["session_custom_variables"] = [{"name": "gender", "value": "f"}]
    for column in (tier, visit_plan, visit_gender):
        column.write(session)
    assert (session.values["custom_dimension_tier"], session.values["visit_plan"]) == (
        "gold",
        "pro",
    )
    assert session.values["visit_gender"] == "f"
    empty = Session([event()], values={"session_custom_dimensions": None})
    for column in (tier, visit_plan, visit_gender):
        column.write(empty)
    assert [empty.values[c.name] for c in (tier, visit_plan, visit_gender)] == [None] * 3


@settings(deadline=None)  # a shared, loaded machine
@given(
    st.lists(
        st.fixed_dictionaries(
            {"slot": st.integers(min_value=1, max_value=4), "value": st.none() | st.text()}
        ),
        max_size=6,
    )
)
def test_event_dimension_lookup_equals_a_naive_scan(records: list[dict[str, Any]]) -> None:
    (column,) = matomo_custom_event_columns(
        Settings(matomo_custom_dimensions=[{"slot": 2, "name": "x"}])
    )
    ev = event(custom_dimensions=records)
    column.write(ev)
    matches = [r["value"] for r in records if r["slot"] == 2 and r["value"] is not None]
    want = matches[-1] if matches else None
    assert ev.values["custom_dimension_x"] == (want or None)


# --- end to end through the Matomo protocol ---------------------------------------------


def test_custom_columns_come_last_in_their_groups() -> None:
    names = replay([matomo()]).schema.names
    plain = d8a.replay([matomo()], protocol="matomo")["events"].schema.names
    sse, plain_sse = names.index("session_hit_number"), plain.index("session_hit_number")
    customs = ["custom_dimension_plan", "custom_variable_gender", "visitor_type"]
    assert names[:sse] == [*plain[:plain_sse], *customs]
    assert names[sse:-3] == plain[plain_sse:]
    assert names[-4:] == [
        "session_returning_user",  # the last Matomo session column
        "custom_dimension_tier",
        "visit_plan",
        "visit_gender",
    ]


def test_custom_columns_end_to_end() -> None:
    requests = [
        matomo(
            T0,
            dimension1="free",
            dimension2="silver",
            cvar=cvar(("gender", "f"), ("Visitor Type", "new")),
            _cvar=cvar(("gender", "female")),
        ),
        matomo(T0 + 5, dimension1="pro", _cvar=cvar(("gender", "f2"))),
        matomo(T0 + 9, dimension2="gold", cvar=cvar(("other", "x"))),
    ]
    rows = replay(requests).to_pylist()
    assert [r["custom_dimension_plan"] for r in rows] == ["free", "pro", None]
    assert [r["custom_variable_gender"] for r in rows] == ["f", None, None]
    assert [r["visitor_type"] for r in rows] == ["new", None, None]
    # session scope: one value per session, merged over its events, later ones winning
    assert {r["custom_dimension_tier"] for r in rows} == {"gold"}
    assert {r["visit_plan"] for r in rows} == {"pro"}
    assert {r["visit_gender"] for r in rows} == {"f2"}


def test_session_scope_columns_follow_a_split() -> None:
    requests = [
        matomo(T0, dimension2="silver"),
        matomo(T0 + 3 * 3600, dimension2="gold"),  # past the 30 min timeout: a new session
    ]
    rows = replay(requests).to_pylist()
    assert len({r["session_id"] for r in rows}) == 2
    assert [r["custom_dimension_tier"] for r in rows] == ["silver", "gold"]


def test_without_settings_there_are_no_custom_columns() -> None:
    table = d8a.replay([matomo(dimension1="a")], protocol="matomo")["events"]
    assert not [n for n in table.schema.names if n.startswith(("custom_dimension_", "visit_"))]


def test_in_the_split_layout_session_scope_columns_go_to_the_sessions_table() -> None:
    tables = d8a.replay(
        [matomo(dimension1="free", dimension2="gold")],
        protocol="matomo",
        layout="split",
        matomo_custom_dimensions=DIMENSIONS,
    )
    events, sessions = tables["events"], tables["sessions"]
    assert events.column("custom_dimension_plan").to_pylist() == ["free"]
    assert "custom_dimension_tier" not in events.schema.names
    assert sessions.column("custom_dimension_tier").to_pylist() == ["gold"]
    assert sessions.column("visit_plan").to_pylist() == ["free"]
