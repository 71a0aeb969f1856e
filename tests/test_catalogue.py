"""The column catalogue: ``d8a.columns.describe`` and the generated docs page."""

from __future__ import annotations

from pathlib import Path

import pytest

import d8a
import d8a.columns
from d8a.columns.catalogue import CATALOGUE_SCHEMA, catalogue_markdown
from d8a.protocols import D8AProtocol
from tests.conftest import ga4

PAGE = Path(__file__).parent.parent / "docs" / "columns-catalogue.md"


def test_describe_lists_every_column_in_table_order() -> None:
    table = d8a.columns.describe("ga4")
    assert table.schema.equals(CATALOGUE_SCHEMA)
    assert table.num_rows == 176 + 11 + 65  # reference §4.1
    events = d8a.replay([ga4()])["events"]
    assert table.column("name").to_pylist() == events.schema.names
    assert table.column("type").to_pylist() == [str(f.type) for f in events.schema]
    scopes = table.column("scope").to_pylist()
    assert scopes.count("event") == 176 and scopes.count("session_scoped_event") == 11
    assert all(table.column("description").to_pylist())
    assert set(table.column("version").to_pylist()) == {"1.0.0"}


def test_describe_follows_the_protocol_and_the_settings() -> None:
    table = d8a.columns.describe(D8AProtocol(), ga4_params=[{"name": "page_type"}])
    rows = {row["name"]: row for row in table.to_pylist()}
    assert rows["params_value"]["interface_id"] == "d8a.protocols.d8a.tech/event/params_value"
    assert (
        rows["params_page_type"]["interface_id"] == "customcolumns.d8a.tech/event/params_page_type"
    )
    with pytest.raises(d8a.ConfigurationError):
        d8a.columns.describe("nope")


def test_the_docs_page_is_current() -> None:
    """Regenerate with ``python -m d8a.columns > docs/columns-catalogue.md``."""
    assert PAGE.read_text(encoding="utf-8") == catalogue_markdown(), (
        "docs/columns-catalogue.md is stale: run python -m d8a.columns > docs/columns-catalogue.md"
    )
