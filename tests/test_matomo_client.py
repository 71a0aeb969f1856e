"""A real Matomo client against d8a: the PyPI package ``matomopy`` (form POSTs and bulk
JSON) talks to a loopback HTTP server that hands each request dict to
``pipeline.ingest``; the rows carry the site, client, page and event values it sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from matomopy import MatomoHTTPError, MatomoTracker

from d8a.clock import ManualClock
from d8a.pipeline import Pipeline

T0 = 1_764_000_000.0
SITE = "7"
VISITOR = "0123456789abcdef"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"
PAGE = "https://shop.example/products?id=5"


@dataclass
class Collector:
    """A loopback HTTP server feeding ``pipeline``; it keeps what it saw of each request."""

    pipeline: Pipeline
    clock: ManualClock
    seen: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def rows(self) -> list[dict[str, Any]]:
        self.pipeline.flush()
        table = self.pipeline.driver.table("events")  # type: ignore[attr-defined]
        found: list[dict[str, Any]] = table.sort_by("session_hit_number").to_pylist()
        return found


def _handler(collector: Collector) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:  # one request at a time gets the next second of event time
                collector.clock.advance(1.0)
                request = {
                    "method": self.command,
                    "path": path,
                    "query": query,
                    "headers": dict(self.headers.items()),
                    "body": body,
                    "ip": self.client_address[0],
                    "received_at": collector.clock.now(),
                }
                collector.seen.append(request)
                response = collector.pipeline.ingest(request)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def collector() -> Iterator[Collector]:
    clock = ManualClock(T0)
    pipeline = Pipeline.builder(property_id=SITE).protocols("matomo").clock(clock).build()
    found = Collector(pipeline, clock)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    found.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
        pipeline.close()


def tracker(collector: Collector, **options: Any) -> MatomoTracker:
    session = requests.Session()
    session.trust_env = False  # never a proxy from the environment for loopback
    made = MatomoTracker(
        collector.url,
        options.pop("id_site", SITE),
        user_agent=BROWSER,
        accept_language="pl-PL",
        session=session,
        timeout=60,
        **options,
    )
    made.set_visitor_id(VISITOR).set_user_id("user-1").set_url(PAGE)
    made.set_resolution(1920, 1080).set_custom_dimension(3, "gold")
    return made


def track_a_visit(matomo: MatomoTracker) -> None:
    matomo.track_page_view("Product 5")
    matomo.track_event("video", "play", name="intro", value=3.5)
    matomo.track_action("https://shop.example/manual.pdf", "download")
    matomo.track_action("https://partner.example/", "link")
    matomo.track_site_search("red shoes", category="shoes", count_results=4)
    matomo.track_goal(2, revenue=10.0)
    matomo.track_content_impression("banner", piece="spring.jpg", target="/spring")
    matomo.track_content_interaction("click", "banner", piece="spring.jpg")
    matomo.track_ecommerce_order(
        "order-1", 99.5, sub_total=90.0, tax=9.5, items=[["sku-1", "Shoe", "Shoes", 45.0, 2]]
    )


NAMES = [
    "page_view",
    "custom_event",
    "download",
    "outlink",
    "site_search",
    "goal_conversion",
    "content_impression",
    "content_interaction",
    "ecommerce_order",
]


def check_visit(rows: list[dict[str, Any]]) -> None:
    assert [r["name"] for r in rows] == NAMES
    for row in rows:
        assert row["property_id"] == SITE and row["params_site_id"] == SITE
        assert row["client_id"] == VISITOR and row["user_id"] == "user-1"
        assert row["tracking_protocol"] == "matomo"
        assert row["page_location"] == PAGE
        assert (row["page_hostname"], row["page_path"]) == ("shop.example", "/products")
        assert row["device_language"] == "pl-PL"
        assert row["device_screen_resolution"] == "1920x1080"
        assert row["custom_dimensions"] == [{"slot": 3, "value": "gold"}]
        assert row["ip_address"] == "127.0.0.1"
    page, event, download, outlink, search, goal, impression, interaction, order = rows
    assert page["page_title"] == "Product 5"
    assert (event["params_category"], event["params_action"]) == ("video", "play")
    assert (event["params_name"], event["params_value"]) == ("intro", 3.5)
    assert download["params_download_url"] == "https://shop.example/manual.pdf"
    assert outlink["params_link_url"] == "https://partner.example/"
    assert search["params_search_term"] == "red shoes"
    assert (search["params_search_category"], search["params_search_count"]) == ("shoes", 4)
    assert (goal["params_goal_id"], goal["ecommerce_purchase_revenue"]) == ("2", 10.0)
    assert (impression["params_content_name"], impression["params_content_piece"]) == (
        "banner",
        "spring.jpg",
    )
    assert impression["params_content_target"] == "/spring"
    assert interaction["params_content_interaction"] == "click"
    assert order["ecommerce_order_id"] == "order-1"
    assert order["ecommerce_purchase_revenue"] == 99.5
    assert (order["ecommerce_subtotal_value"], order["ecommerce_tax_value"]) == (90.0, 9.5)
    assert order["ecommerce_items_total_quantity"] == 2
    (item,) = order["ecommerce_items"]
    assert (item["sku"], item["name"], item["category_1"]) == ("sku-1", "Shoe", "Shoes")
    assert (item["price"], item["quantity"]) == (45.0, 2.0)
    # one session, with Matomo's session columns
    assert len({r["session_id"] for r in rows}) == 1
    session = rows[0]
    assert session["session_total_events"] == len(NAMES)
    assert session["session_total_purchases"] == 1
    assert session["session_total_goal_conversions"] == 1
    assert session["session_total_outbound_clicks"] == 1
    assert session["session_total_file_downloads"] == 1
    assert session["session_total_site_searches"] == 1
    assert session["session_total_content_impressions"] == 1
    assert session["session_total_content_interactions"] == 1
    assert session["session_custom_dimensions"] == [{"slot": 3, "value": "gold"}]
    assert session["session_entry_page_location"] == PAGE


def test_form_posts_of_matomopy_become_rows(collector: Collector) -> None:
    with tracker(collector) as matomo:
        track_a_visit(matomo)
    assert len(collector.seen) == len(NAMES)
    for request in collector.seen:  # what matomopy sends: a form POST, no query string
        assert (request["method"], request["path"], request["query"]) == (
            "POST",
            "/matomo.php",
            "",
        )
        assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        assert request["headers"]["User-Agent"] == BROWSER
    check_visit(collector.rows())


def test_a_bulk_post_of_matomopy_becomes_rows(collector: Collector) -> None:
    with tracker(collector, token_auth="secret-token") as matomo:
        matomo.enable_bulk_tracking()
        track_a_visit(matomo)
        assert collector.seen == []  # queued until flushed
        matomo.flush()
    (request,) = collector.seen
    assert (request["method"], request["path"]) == ("POST", "/matomo.php")
    payload = json.loads(request["body"])
    assert len(payload["requests"]) == len(NAMES) and payload["token_auth"] == "secret-token"
    rows = collector.rows()
    check_visit(rows)
    assert len({r["id"] for r in rows}) == len(NAMES)


def test_a_rejected_request_reaches_the_client_as_a_400_with_the_reason(
    collector: Collector,
) -> None:
    with tracker(collector, id_site="") as matomo:
        with pytest.raises(MatomoHTTPError) as form_error:
            matomo.track_page_view("no site")
        matomo.enable_bulk_tracking()
        matomo.track_page_view("no site either")
        with pytest.raises(MatomoHTTPError) as bulk_error:
            matomo.flush()
    for error in (form_error.value, bulk_error.value):
        assert error.status_code == 400
        assert "idsite" in (error.response_text or "")
    assert collector.rows() == []
    with tracker(collector) as matomo:  # the collector still works for the next client
        matomo.track_page_view("fine")
    (row,) = collector.rows()
    assert (row["page_title"], row["client_id"]) == ("fine", VISITOR)
