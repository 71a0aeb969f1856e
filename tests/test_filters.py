"""Traffic filters (reference §6.4): exclude, allow, test mode, validation at build()."""

from __future__ import annotations

import logging
import tomllib
from collections import Counter
from typing import Any

import pyarrow as pa
import pytest

import d8a
import d8a.sessions.filters as filters_module
from d8a.clock import ManualClock
from d8a.columns.base import Event, Interface, Session, describe_field
from d8a.columns.simple import EventValue
from d8a.config import Settings
from d8a.errors import ConfigurationError
from d8a.pipeline import Pipeline
from d8a.sessions.filters import NOT_ALLOWED, FilterCondition, TrafficFilters
from d8a.sessions.writer import SessionStats
from tests.conftest import T0, ga4

OFFICE = "192.0.2.10"
VPN = "10.1.2.3"
VISITOR = "203.0.113.7"
OTHER = "198.51.100.9"


def hit(cid: str, ip: str, at: float = T0, **params: Any) -> dict[str, Any]:
    request = ga4(cid=cid, at=at, **params)
    request["ip"] = ip
    return request


def run(
    requests: list[dict[str, Any]], **settings: Any
) -> tuple[list[dict[str, Any]], SessionStats]:
    pipeline = Pipeline.builder(**settings).clock(ManualClock(T0)).pings(False).build()
    for request in requests:
        assert pipeline.ingest(request).status == 204
    pipeline.flush()
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    return table.to_pylist(), pipeline.closer.stats


def condition(name: str, expression: str, type_: str = "exclude", **more: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "expression": expression, **more}


TRAFFIC = [
    hit("office", OFFICE, id="o1"),
    hit("office", OFFICE, T0 + 10, id="o2"),
    hit("vpn", VPN, id="v1"),
    hit("visitor", VISITOR, id="x1"),
    hit("visitor", VISITOR, T0 + 10, id="x2"),
    hit("other", OTHER, id="y1"),
]


def test_exclude_by_ip_and_by_cidr() -> None:
    rows, stats = run(
        TRAFFIC,
        filters={
            "conditions": [
                condition("office", f'ip_address == "{OFFICE}"'),
                condition("vpn", 'inCidr(ip_address, "10.0.0.0/8")'),
            ]
        },
    )
    assert sorted(r["id"] for r in rows) == ["x1", "x2", "y1"]
    assert stats.dropped_events == {"filters: office": 2, "filters: vpn": 1}
    assert stats.sessions == 2 and stats.events == 3


def test_allow_keeps_only_events_some_allow_condition_matches() -> None:
    allow = {
        "conditions": [
            condition("visitors", 'inCidr(ip_address, "203.0.113.0/24")', "allow"),
            condition("other", f'ip_address == "{OTHER}"', "allow"),
            condition("not x2", 'ip_address == "no match"', "exclude"),
        ]
    }
    rows, stats = run(TRAFFIC, filters=allow)
    assert sorted(r["id"] for r in rows) == ["x1", "x2", "y1"]
    assert stats.dropped_events == {NOT_ALLOWED: 3}
    # an exclude wins over an allow, and its name is the reason
    allow["conditions"][2] = condition("visitor out", f'ip_address == "{VISITOR}"')
    rows, stats = run(TRAFFIC, filters=allow)
    assert [r["id"] for r in rows] == ["y1"]
    assert stats.dropped_events == {NOT_ALLOWED: 3, "filters: visitor out": 2}


def test_test_mode_tags_the_last_matching_condition_and_drops_nothing() -> None:
    rows, stats = run(
        TRAFFIC,
        filters={
            "conditions": [
                condition("private", 'inCidr(ip_address, "10.0.0.0/8")', test_mode=True),
                condition("office", f'ip_address == "{OFFICE}"', test_mode=True),
                condition("staff", f'ip_address in ["{OFFICE}", "{VPN}"]', "allow", test_mode=True),
            ]
        },
    )
    tags = {r["id"]: r["traffic_filter_name"] for r in rows}
    assert tags == {"o1": "staff", "o2": "staff", "v1": "staff", "x1": None, "x2": None, "y1": None}
    assert stats.dropped_events == {} and stats.events == len(TRAFFIC)


def test_session_columns_see_only_the_kept_events() -> None:
    requests = [
        hit("a", VISITOR, T0, en="scroll", id="s1"),
        hit("a", VISITOR, T0 + 10, id="p1"),
        hit("a", VISITOR, T0 + 20, en="scroll", id="s2"),
        hit("a", VISITOR, T0 + 30, id="p2"),
    ]
    rows, stats = run(
        requests,
        filters={"fields": ["name"], "conditions": [condition("no scrolls", 'name == "scroll"')]},
    )
    assert [
        (r["id"], r["session_id"], r["session_hit_number"], r["session_total_events"]) for r in rows
    ] == [("p1", "p1", 0, 2), ("p2", "p1", 1, 2)]
    assert {r["session_duration"] for r in rows} == {20}
    assert stats.dropped_events == {"filters: no scrolls": 2}


def test_sessions_left_without_events_are_dropped() -> None:
    requests = [
        hit("a", VISITOR, T0, id="p1"),
        hit("a", VISITOR, T0 + 1, id="p2"),
        hit("a", VISITOR, T0 + 2, en="scroll", id="s1"),
        hit("a", VISITOR, T0 + 3, en="scroll", id="s2"),
    ]
    scrolls = {"fields": ["name"], "conditions": [condition("scrolls", 'name == "scroll"')]}
    rows, stats = run(requests, split_by_max_events=2, filters=scrolls)
    assert [r["id"] for r in rows] == ["p1", "p2"]
    assert stats.sessions == 1 and stats.dropped_events == {"filters: scrolls": 2}
    assert [r["id"] for r in d8a.replay(requests, filters=scrolls)["events"].to_pylist()] == [
        "p1",
        "p2",
    ]


def test_filters_read_event_columns_including_custom_ones_and_the_masked_ip() -> None:
    tier = EventValue(
        Interface("test/tier", describe_field("tier", pa.string())),
        lambda event: "gold" if event.hit.client_id == "vip" else "",
    )
    pipeline = (
        Pipeline.builder(
            ip_masking_level=1,
            join_by_session_stamp=True,
            filters={
                "fields": ["ip_address", "tier", "user_id"],
                "conditions": [
                    condition("gold", 'tier == "gold"', "allow"),
                    condition("masked", f'ip_address == "{VPN}"', "allow"),  # never: masked
                    condition("user", 'user_id startsWith "u-"', "allow"),
                ],
            },
        )
        .columns(tier)
        .pings(False)
        .build()
    )
    for request in [hit("vip", VISITOR), hit("vpn", VPN), hit("u", OTHER, uid="u-1")]:
        pipeline.ingest(request)
    pipeline.flush()
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]
    assert sorted(table.column("client_id").to_pylist()) == ["u", "vip"]


def test_the_forms_of_the_setting_agree() -> None:
    as_dict = {"conditions": [condition("office", f'ip_address == "{OFFICE}"')]}
    as_dataclass = TrafficFilters(
        conditions=(
            FilterCondition(
                name="office", type="exclude", expression=as_dict["conditions"][0]["expression"]
            ),
        )
    )
    as_toml = tomllib.loads(
        f"""
        [filters]
        fields = ["ip_address"]
        [[filters.conditions]]
        name = "office"
        type = "exclude"
        test_mode = false
        expression = 'ip_address == "{OFFICE}"'
        """
    )
    settings = [
        Settings.from_kwargs(filters=f) for f in (as_dict, as_dataclass, as_toml["filters"])
    ]
    assert settings[0].filters == settings[1].filters == settings[2].filters
    assert isinstance(settings[0].filters, TrafficFilters)
    assert settings[0].filters.fields == ("ip_address",)
    expected = d8a.replay(TRAFFIC, filters=as_dict)["events"]
    assert d8a.replay(TRAFFIC, filters=as_dataclass)["events"].equals(expected)
    assert expected.num_rows == len(TRAFFIC) - 2


@pytest.mark.parametrize(
    "value", [None, {}, {"fields": ["ip_address"]}, {"conditions": []}, TrafficFilters()]
)
def test_no_conditions_means_no_filter(value: Any) -> None:
    assert Settings.from_kwargs(filters=value).filters is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"conditions": [condition("broken", 'ip_address == "1" and')]},
            "condition 'broken': invalid expression .*unexpected end",
        ),
        (
            {"conditions": [condition("fn", "isInternal(ip_address)")]},
            "condition 'fn'.*unknown function 'isInternal'",
        ),
        (
            {"conditions": [condition("name", 'user_id == "x"')]},
            "condition 'name'.*unknown name 'user_id'",
        ),
        (
            {"conditions": [condition("type", "not ip_address")]},
            "condition 'type'.*'not' needs a boolean",
        ),
        (
            {"conditions": [condition("cidr", 'inCidr(ip_address, "10/33")')]},
            "condition 'cidr'.*invalid CIDR",
        ),
        (
            {"conditions": [condition("kind", "true", "block")]},
            "condition 'kind': type must be 'exclude' or 'allow'",
        ),
        (
            {"conditions": [condition("tm", "true", test_mode="yes")]},
            "condition 'tm': test_mode must be true or false",
        ),
        (
            {"conditions": [{"name": "half", "type": "exclude"}]},
            r"conditions\[0\] \('half'\): missing expression",
        ),
        ({"conditions": [condition("typo", "true", testmode=True)]}, "unknown key.*testmode"),
        ({"conditions": [condition("", "true")]}, "condition name must be a non-empty string"),
        ({"conditions": ["true"]}, r"conditions\[0\] must be a mapping"),
        ({"conditions": condition("one", "true")}, "conditions must be a list"),
        ({"fields": "ip_address", "conditions": [condition("f", "true")]}, "fields must be a list"),
        ({"fields": 5, "conditions": [condition("f", "true")]}, "fields must be a list"),
        ({"field": ["ip_address"]}, "unknown key.*field"),
        ("ip_address == 1", "filters must be a mapping"),
        (
            {"fields": ["ip"], "conditions": [condition("f", 'ip == ""')]},
            "'ip' is not an event column",
        ),
        (
            {"fields": ["session_id"], "conditions": [condition("f", 'session_id == ""')]},
            "'session_id' is a session column",
        ),
    ],
)
def test_invalid_filters_fail_at_build(value: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Pipeline.builder(filters=value).build()
    with pytest.raises(ConfigurationError, match=message):
        d8a.replay([], filters=value)


def test_expressions_are_compiled_once_per_condition(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = filters_module.compile_expression

    def counting(source: str, names: Any) -> Any:
        calls.append(source)
        return real(source, names)

    monkeypatch.setattr(filters_module, "compile_expression", counting)
    many = [hit(f"c{i}", f"203.0.113.{i}", T0 + i) for i in range(30)]
    rows, stats = run(
        many, filters={"conditions": [condition("odd", 'ip_address matches "[13579]$"')]}
    )
    assert len(rows) == 15 and stats.sessions == 15
    assert calls == ['ip_address matches "[13579]$"']


def test_a_failing_expression_counts_as_no_match_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad_regex = condition("title regex", "matches(ip_address, page_title)")
    requests = [hit(f"c{i}", f"203.0.113.{i}", dt="(") for i in range(3)]
    with caplog.at_level(logging.WARNING, logger="d8a.sessions.filters"):
        rows, stats = run(
            requests, filters={"fields": ["ip_address", "page_title"], "conditions": [bad_regex]}
        )
    assert len(rows) == 3 and stats.dropped_events == {}
    (record,) = caplog.records
    assert "'title regex' counted as no match" in record.getMessage()


def test_apply_filters_sessions_in_place() -> None:
    filters = TrafficFilters(
        fields=("ip_address",),
        conditions=(
            FilterCondition(
                name="private", type="exclude", expression='ip_address startsWith "10."'
            ),
            FilterCondition(name="seen", type="allow", expression="true", test_mode=True),
        ),
    )
    events = [Event(None, {"ip_address": ip}) for ip in ("10.0.0.1", "192.0.2.1", "10.0.0.2")]  # type: ignore[arg-type]
    only_private = Session([events[0], events[2]])
    mixed = Session(list(events))
    dropped: Counter[str] = Counter()
    assert filters.apply([only_private, mixed], dropped) == [mixed]
    assert mixed.events == [events[1]] and events[1].metadata == {"traffic_filter_name": "seen"}
    assert dropped == {"filters: private": 4}
