"""A real browser: headless Chromium sends GA4 hits with ``navigator.sendBeacon`` and
``fetch(..., {credentials: "include"})`` from a page on one loopback origin to
``d8a serve`` on another, and the rows arrive.

CORS with credentials has to be right: a credentialed ``fetch`` resolves only
when the answer echoes the page's origin in ``Access-Control-Allow-Origin`` and
says ``Access-Control-Allow-Credentials: true``, a preflighted one only when the
preflight says so too, and the page sends its last hit only after both resolved.

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``); nothing outside loopback is contacted.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.test_example_servers import (
    URL,
    ServerProcess,
    backend_env,
    query_rows,
    wait_for_row_count,
    wait_until_up,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "install Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>d8a browser test</title></head>
<body><h1>Shop</h1>
<script>
const collect = "COLLECTOR/g/collect";
const hit = (params) => collect + "?" + new URLSearchParams(
  {v: "2", tid: "G-BROWSER", cid: "555.1", dl: location.href, ...params}).toString();
window.d8aResults = {beacons: [], fetches: [], done: false, error: null};
const results = window.d8aResults;
// gtag's ways: a beacon with everything in the query, a beacon with batched body lines.
results.beacons.push(navigator.sendBeacon(hit({en: "page_view", dt: "Shop"})));
results.beacons.push(navigator.sendBeacon(hit({}), "en=scroll&epn.percent_scrolled=90\\nen=click"));
// A credentialed fetch (no preflight), then a preflighted one (a non-simple header).
fetch(hit({en: "fetch_simple"}), {method: "POST", credentials: "include", body: ""})
  .then((r) => { results.fetches.push([r.status, r.type]);
    return fetch(hit({}), {method: "POST", credentials: "include", keepalive: true,
      headers: {"X-Requested-With": "d8a-test"}, body: "en=fetch_preflighted"}); })
  .then((r) => { results.fetches.push([r.status, r.type]);
    results.beacons.push(navigator.sendBeacon(hit({en: "after_cors"}))); })
  .catch((e) => { results.error = String(e); })
  .finally(() => { results.done = true; });
</script></body></html>
"""


class PageServer:
    """Serves :data:`PAGE` (pointing at ``collector``) from a stdlib HTTP server."""

    def __init__(self, collector: str) -> None:
        body = PAGE.replace("COLLECTOR", collector).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def chromium(profile: Path) -> webdriver.Chrome:
    """Headless Chromium from Debian's packages; no Selenium Manager, no network."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


SERVE = ["serve", "--host", "127.0.0.1", "--port", "0"]
WILDCARD_CORS = """
import sys
import d8a.receiver
from d8a.cli import main

def wildcard(request, preflight=False):  # what breaks credentialed requests
    return {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST"}

d8a.receiver.cors_headers = wildcard
sys.exit(main(sys.argv[1:]))
"""


@contextmanager
def collector(tmp: Path, *, wildcard_cors: bool = False) -> Iterator[tuple[ServerProcess, int]]:
    """``d8a serve`` on a free loopback port; ``wildcard_cors`` answers ``*`` and no
    credentials, as a collector with broken CORS would."""
    command = ["-c", WILDCARD_CORS] if wildcard_cors else ["-m", "d8a"]
    server = ServerProcess(
        [sys.executable, *command, *SERVE], backend_env(tmp, D8A_SESSION_TIMEOUT="2"), tmp
    )
    try:
        port = int(server.wait_for(URL).group(1))
        wait_until_up(port, "/healthz")
        yield server, port
    finally:
        code = server.stop()
    assert code == 0, server.output
    assert "Traceback" not in server.output


def run_page(tmp: Path, port: int) -> tuple[dict[str, Any], str]:
    """Load the page in Chromium until its script is done; its results and URL."""
    page = PageServer(f"http://127.0.0.1:{port}")
    driver = chromium(tmp / "profile")
    try:
        driver.set_page_load_timeout(60)
        driver.get(page.url + "/")
        deadline = time.monotonic() + 60
        results: dict[str, Any] = {}
        while not results.get("done"):
            assert time.monotonic() < deadline, f"the page never finished: {results}"
            time.sleep(0.1)
            results = driver.execute_script("return window.d8aResults") or {}
    finally:
        driver.quit()
        page.close()
    return results, page.url


def test_chromium_sends_beacons_and_credentialed_fetches(tmp_path: Path) -> None:
    with collector(tmp_path) as (_, port):
        results, url = run_page(tmp_path, port)
        wait_for_row_count(tmp_path, 6)
    assert results["error"] is None, json.dumps(results)
    assert results["beacons"] == [True, True, True]  # the browser queued each beacon
    assert results["fetches"] == [[204, "cors"], [204, "cors"]]
    rows = query_rows(
        tmp_path,
        "SELECT name, client_id, page_location, ip_address FROM events ORDER BY session_hit_number",
    )
    names = [name for name, *_ in rows]
    assert sorted(names) == sorted(
        ["page_view", "scroll", "click", "fetch_simple", "fetch_preflighted", "after_cors"]
    )
    assert names[-1] == "after_cors"  # sent only once both fetches passed CORS
    assert {client for _, client, _, _ in rows} == {"555.1"}
    assert {location for _, _, location, _ in rows} == {url + "/"}
    assert {ip for *_, ip in rows} == {"127.0.0.1"}


def test_with_wildcard_cors_credentialed_fetches_fail(tmp_path: Path) -> None:
    """The control: the same page against a collector that answers ``*`` without
    credentials. The browser rejects the credentialed fetch (its hit reached the
    server all the same), never sends the preflighted one, nor the last beacon."""
    with collector(tmp_path, wildcard_cors=True) as (_, port):
        results, _ = run_page(tmp_path, port)
        wait_for_row_count(tmp_path, 4)
        time.sleep(3)  # a session timeout more: nothing else arrives
    assert results["error"] is not None and "TypeError" in results["error"], results
    assert results["fetches"] == []
    assert results["beacons"] == [True, True]
    names = query_rows(tmp_path, "SELECT name FROM events ORDER BY name")
    assert names == [("click",), ("fetch_simple",), ("page_view",), ("scroll",)]


def test_a_missing_chromium_fails_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium chromium-driver"):
        chromium(tmp_path / "profile")
