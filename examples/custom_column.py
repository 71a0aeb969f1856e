"""A host's own column, unit-tested with d8a.testing in a few lines.

Run: python examples/custom_column.py
"""

from __future__ import annotations

import pyarrow as pa

import d8a
from d8a.columns.base import Event, EventColumn, Interface, describe_field
from d8a.testing import ga4_request


class PageSection(EventColumn):
    """The first path segment of the page: '/products/shoe' -> 'products'."""

    interface = Interface(
        "example.com/events/page_section",
        describe_field("page_section", pa.string(), description="First path segment."),
    )
    depends_on = ("core.d8a.tech/events/page_path",)

    def write(self, event: Event) -> None:
        segment = event.values["page_path"].strip("/").split("/")[0]
        event.values["page_section"] = segment or None


pipeline = d8a.Pipeline.builder().columns(PageSection()).pings(False).build()
for path in ("/products/shoe", "/", "/blog/hello"):
    pipeline.ingest(ga4_request(dl=f"https://shop.example{path}", cid="1.1"))
pipeline.flush()
table = pipeline.driver.table("events")  # type: ignore[attr-defined]
assert table.column("page_section").to_pylist() == ["products", None, "blog"]
print(table.select(["page_path", "page_section"]).to_pylist())
