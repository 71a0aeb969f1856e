"""Custom columns: the ``ga4_params`` setting (reference §4.9) and a host's own column."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

import d8a
from d8a.columns.base import Event, EventColumn, Interface, describe_field
from d8a.testing import ManualClock, ga4_request
from tests.conftest import ga4

SETTING = [
    {"name": "page_type"},
    {"name": "items", "column_name": "cart_items", "type": "int64"},
    {"name": "rating", "type": "float64"},
]


def replay(**params: str) -> dict[str, Any]:
    table = d8a.replay([ga4(**params)], ga4_params=SETTING)["events"]
    row: dict[str, Any] = table.to_pylist()[0]
    return row


def test_ga4_params_columns_come_last_with_their_types() -> None:
    schema = d8a.replay([ga4()], ga4_params=SETTING)["events"].schema
    event_names = schema.names[: schema.names.index("session_hit_number")]
    assert event_names[-3:] == ["params_page_type", "cart_items", "params_rating"]
    assert schema.field("cart_items").type == pa.int64()
    assert schema.field("params_rating").type == pa.float64()


def test_ga4_params_values_with_either_prefix() -> None:
    got = replay(**{"ep.page_type": "home", "ep.items": "3", "epn.rating": "0.5"})
    assert (got["params_page_type"], got["cart_items"], got["params_rating"]) == ("home", 3, 0.5)
    got = replay(**{"epn.items": "3.0", "ep.page_type": ""})
    assert (got["params_page_type"], got["cart_items"], got["params_rating"]) == (None, None, None)


def test_ga4_params_work_under_the_d8a_protocol_too() -> None:
    """The original's shortcut depended on a ga4.* interface the d8a protocol renames."""
    request = {**ga4(**{"ep.page_type": "home"}), "path": "/d/c"}
    table = d8a.replay([request], ga4_params=SETTING)["events"]
    assert table.column("params_page_type").to_pylist() == ["home"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ([{"name": "x", "type": "bool"}], "type must be"),
        ([{"column_name": "x"}], "needs a non-empty 'name'"),
        ([{"name": "x", "column_name": "bad name"}], "invalid identifier"),
        ([{"name": "x"}, {"name": "x"}], "defined twice"),
        ([{"name": "value"}], "share the name 'params_value'"),
        ([{"name": "x", "colum_name": "y"}], "unknown key"),
        ({"name": "x"}, "must be a list"),
    ],
)
def test_bad_ga4_params_raise(setting: object, message: str) -> None:
    with pytest.raises(d8a.ConfigurationError, match=message):
        d8a.replay([ga4()], ga4_params=setting)


class PageSection(EventColumn):
    """A host's column (the one of ``examples/custom_column.py`` and ``docs/columns.md``)."""

    interface = Interface(
        "example.com/events/page_section",
        describe_field("page_section", pa.string(), description="First path segment."),
    )
    depends_on = ("core.d8a.tech/events/page_path",)

    def write(self, event: Event) -> None:
        segment = event.values["page_path"].strip("/").split("/")[0]
        event.values["page_section"] = segment or None


def test_a_hosts_column_unit_tested_with_d8a_testing() -> None:
    pipeline = d8a.Pipeline.builder().columns(PageSection()).clock(ManualClock()).build()
    for path in ("/products/shoe", "/"):
        pipeline.ingest(ga4_request(dl=f"https://shop.example{path}"))
    pipeline.flush()
    table = pipeline.driver.table("events")  # type: ignore[attr-defined]  # MemoryDriver
    assert table.column("page_section").to_pylist() == ["products", None]
