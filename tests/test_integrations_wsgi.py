"""The WSGI collector and middleware: request dicts from environs, answers, a real server."""

from __future__ import annotations

import http.client
import io
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.serving import make_server
from werkzeug.test import Client, EnvironBuilder

from d8a import ManualClock, Pipeline
from d8a.errors import ConfigurationError
from d8a.hits import canonical_header
from d8a.integrations.wsgi import (
    BodyError,
    D8AMiddleware,
    collector_app,
    request_from_environ,
    start_worker,
)
from d8a.testing.factories import encode_params
from tests.conftest import T0

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

QUERY = encode_params({"v": "2", "tid": "G-TEST", "cid": "1.1", "en": "page_view"})


def make_pipeline(tmp: Path, **settings: Any) -> Pipeline:
    return (
        Pipeline.builder(**settings)
        .queue(f"sqlite:///{tmp / 'queue.db'}")
        .state(f"sqlite:///{tmp / 'state.db'}")
        .warehouse(f"sqlite:///{tmp / 'events.db'}")
        .clock(ManualClock(T0))
        .build()
    )


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    with make_pipeline(tmp_path) as built:
        yield built


def rows(tmp: Path, columns: str = "client_id, name") -> list[tuple[Any, ...]]:
    try:
        with sqlite3.connect(tmp / "events.db") as db:
            return db.execute(f"SELECT {columns} FROM events ORDER BY timestamp_utc").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return []  # the worker has not created the table yet


def host_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"host {environ['PATH_INFO']}".encode()]


def call(app: WSGIApplication, environ: WSGIEnvironment) -> tuple[str, bytes]:
    """Call a WSGI app directly (test clients rebuild some environ keys)."""
    started: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append(status)

    body = b"".join(app(environ, start_response))
    return started[0], body


def test_a_hit_becomes_a_row(pipeline: Pipeline, tmp_path: Path) -> None:
    client = Client(collector_app(pipeline))
    response = client.get(f"/g/collect?{QUERY}", headers={"User-Agent": "test-agent"})
    assert response.status_code == 204
    assert response.data == b""
    pipeline.flush()
    assert rows(tmp_path) == [("1.1", "page_view")]


def test_request_dict_from_the_environ() -> None:
    environ = EnvironBuilder(
        method="POST",
        path="/g/collect",
        query_string="v=2&tid=G-1",
        headers=[
            ("User-Agent", "ua"),
            ("Accept-Language", "de"),
            ("X-Forwarded-For", "198.51.100.1"),
        ],
        data=b"en=scroll\nen=click",
        content_type="text/plain",
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    ).get_environ()
    request = request_from_environ(environ, received_at=T0)
    assert request == {
        "method": "POST",
        "path": "/g/collect",
        "query": "v=2&tid=G-1",
        "headers": {
            "User-Agent": "ua",
            "Accept-Language": "de",
            "X-Forwarded-For": "198.51.100.1",
            "Content-Type": "text/plain",
            "Content-Length": "18",
            "Host": "localhost",
        },
        "body": b"en=scroll\nen=click",
        "ip": "203.0.113.7",
        "received_at": T0,
    }


def test_the_pipeline_clock_stamps_the_hit(tmp_path: Path) -> None:
    clock = ManualClock(T0 + 3600)
    with (
        Pipeline.builder().warehouse(f"sqlite:///{tmp_path / 'events.db'}").clock(clock).build()
    ) as pipeline:
        assert Client(collector_app(pipeline)).get(f"/g/collect?{QUERY}").status_code == 204
        pipeline.flush()
    assert rows(tmp_path, "CAST(strftime('%s', timestamp_utc) AS INT)") == [(int(T0) + 3600,)]


def test_batched_post_makes_one_row_per_line(pipeline: Pipeline, tmp_path: Path) -> None:
    body = "en=page_view\nen=scroll&epn.percent_scrolled=90\nen=click"
    query = encode_params({"v": "2", "tid": "G-TEST", "cid": "7.7"})
    response = Client(collector_app(pipeline)).post(f"/g/collect?{query}", data=body)
    assert response.status_code == 204
    pipeline.flush()
    assert sorted(rows(tmp_path)) == [("7.7", "click"), ("7.7", "page_view"), ("7.7", "scroll")]


def test_collector_app_under_a_prefix(pipeline: Pipeline) -> None:
    client = Client(collector_app(pipeline, prefix="/collect/"))
    assert client.get(f"/collect/g/collect?{QUERY}").status_code == 204
    outside = client.get(f"/g/collect?{QUERY}")
    assert outside.status_code == 404
    assert b"no endpoint at /g/collect" in outside.data
    assert outside.headers["Content-Type"] == "text/plain; charset=utf-8"  # as the ASGI app's
    assert client.get("/collect/healthz").data == b"OK"
    assert pipeline.receiver.stats.hits == 1


def test_a_prefix_must_start_with_a_slash(pipeline: Pipeline) -> None:
    with pytest.raises(ConfigurationError, match="start with '/'"):
        collector_app(pipeline, prefix="d8a")
    with pytest.raises(ConfigurationError, match="start with '/'"):
        D8AMiddleware(host_app, pipeline, prefix="d8a")


def test_middleware_answers_collector_paths_and_passes_the_rest(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    client = Client(D8AMiddleware(host_app, pipeline))
    assert client.get(f"/d8a/g/collect?{QUERY}").status_code == 204
    assert client.get("/d8a/healthz").data == b"OK"
    for path in ("/", "/g/collect", "/d8a/other", "/d8a"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.data == f"host {path}".encode()
    pipeline.flush()
    assert rows(tmp_path) == [("1.1", "page_view")]


def test_metrics_in_the_prometheus_format(pipeline: Pipeline) -> None:
    client = Client(D8AMiddleware(host_app, pipeline, metrics=True))
    assert client.get(f"/d8a/g/collect?{QUERY}").status_code == 204
    assert client.get("/d8a/g/collect?v=2").status_code == 400
    response = client.get("/d8a/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.get_data(as_text=True)
    assert 'd8a_requests_total{status="204"} 1.0' in text
    assert 'd8a_requests_total{status="400"} 1.0' in text
    assert "d8a_hits_accepted_total 1.0" in text
    # Without metrics=True the path is the host app's.
    assert (
        Client(D8AMiddleware(host_app, pipeline)).get("/d8a/metrics").data == b"host /d8a/metrics"
    )
    assert Client(collector_app(pipeline, metrics=True)).get("/metrics").status_code == 200


def test_flask_app_with_the_middleware(pipeline: Pipeline, tmp_path: Path) -> None:
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return "home"

    app.wsgi_app = D8AMiddleware(app.wsgi_app, pipeline)  # type: ignore[method-assign]
    client = app.test_client()
    assert client.get("/").data == b"home"
    assert client.post(f"/d8a/g/collect?{QUERY}").status_code == 204
    assert client.get("/nowhere").status_code == 404  # Flask's own 404
    pipeline.flush()
    assert rows(tmp_path) == [("1.1", "page_view")]


def test_cors_preflight_and_credentials(pipeline: Pipeline) -> None:
    client = Client(collector_app(pipeline))
    origin = "https://shop.example"
    preflight = client.options(
        "/g/collect",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert preflight.headers["Access-Control-Allow-Headers"] == "content-type"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    hit = client.post(f"/g/collect?{QUERY}", headers={"Origin": origin})
    assert hit.status_code == 204
    assert hit.headers["Access-Control-Allow-Origin"] == origin
    assert hit.headers["Access-Control-Allow-Credentials"] == "true"
    assert pipeline.receiver.stats.hits == 1  # the preflight made no hit


def test_bad_requests_get_a_reason_and_leave_good_ones_alone(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    client = Client(collector_app(pipeline, max_body=1000))
    too_large = client.post(f"/g/collect?{QUERY}", data=b"en=x&ep.a=" + b"a" * 1000)
    assert too_large.status_code == 413
    assert b"1000-byte limit" in too_large.data
    no_tid = client.get("/g/collect?v=2&cid=2.2&en=page_view")
    assert no_tid.status_code == 400
    assert no_tid.data  # the reason
    environ = EnvironBuilder(method="POST", path="/g/collect", query_string=QUERY, data=b"en=x")
    status, body = call(collector_app(pipeline), {**environ.get_environ(), "CONTENT_LENGTH": "4x"})
    assert status.startswith("400 ")
    assert b"invalid Content-Length '4x'" in body
    assert client.get("/nowhere").status_code == 404
    assert client.get(f"/g/collect?{QUERY}").status_code == 204
    assert pipeline.responses.snapshot() == {"204": 1, "400": 2, "404": 1, "413": 1}
    pipeline.flush()
    assert rows(tmp_path) == [("1.1", "page_view")]


def test_a_chunked_body_is_capped_too() -> None:
    def environ(body: bytes) -> dict[str, Any]:
        built = EnvironBuilder(method="POST", path="/g/collect", data=body).get_environ()
        del built["CONTENT_LENGTH"]
        built["wsgi.input_terminated"] = True
        return built

    assert request_from_environ(environ(b"en=a\nen=b"), max_body=9)["body"] == b"en=a\nen=b"
    with pytest.raises(BodyError) as raised:
        request_from_environ(environ(b"en=a\nen=bc"), max_body=9)
    assert raised.value.response.status == 413
    # Without a length and without a terminated stream the body is not read (PEP 3333).
    unterminated = environ(b"en=a")
    del unterminated["wsgi.input_terminated"]
    assert request_from_environ(unterminated)["body"] == b""


def test_a_short_or_unreadable_body_is_a_400() -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise ConnectionResetError("peer went away")

    def environ(length: str, stream: io.BytesIO) -> dict[str, Any]:
        built = EnvironBuilder(method="POST", path="/g/collect").get_environ()
        return {**built, "CONTENT_LENGTH": length, "wsgi.input": stream}

    for length, stream, reason in (
        ("10", io.BytesIO(b"en=a"), "shorter than its Content-Length 10"),
        ("4", Broken(b"en=a"), "could not read the request body"),
        ("²", io.BytesIO(b"en=a"), "invalid Content-Length"),
        ("-1", io.BytesIO(b"en=a"), "invalid Content-Length"),
    ):
        with pytest.raises(BodyError, match=reason) as raised:
            request_from_environ(environ(length, stream))
        assert raised.value.response.status == 400


def test_non_ascii_paths_and_headers_are_decoded_as_utf8() -> None:
    environ = EnvironBuilder(path="/g/collect").get_environ()
    environ["PATH_INFO"] = "/ä".encode().decode("latin-1")
    environ["HTTP_X_TITLE"] = "Café".encode().decode("latin-1")
    request = request_from_environ(environ)
    assert request["path"] == "/ä"
    assert request["headers"]["X-Title"] == "Café"


header_names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=12).filter(
    lambda name: name.strip("_") == name
)


@settings(max_examples=200, deadline=None)
@given(
    headers=st.dictionaries(header_names, st.text(max_size=30), max_size=6),
    body=st.binary(max_size=300),
    query=st.text(max_size=50),
    limit=st.integers(min_value=0, max_value=400),
)
def test_property_environ_to_request_dict(
    headers: dict[str, str], body: bytes, query: str, limit: int
) -> None:
    environ = EnvironBuilder(method="POST", path="/g/collect", data=body).get_environ()
    environ["QUERY_STRING"] = query.encode().decode("latin-1")
    for name, value in headers.items():
        environ[f"HTTP_{name}"] = value.encode().decode("latin-1")
    try:
        request = request_from_environ(environ, max_body=limit)
    except BodyError as exc:
        assert len(body) > limit
        assert exc.response.status == 413
        return
    assert len(body) <= limit
    assert request["body"] == body
    assert request["query"] == query
    for name, value in headers.items():
        assert request["headers"][canonical_header(name.replace("_", "-"))] == value


def test_start_worker_writes_in_the_background_and_stops_once(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path, session_timeout=5)
    worker = start_worker(pipeline, poll=0.05, stop_at_exit=False)
    assert worker.running
    with pytest.raises(RuntimeError, match="already running"):
        worker.start()
    client = Client(collector_app(pipeline))
    assert client.get(f"/g/collect?{QUERY}").status_code == 204
    assert isinstance(pipeline.clock, ManualClock)
    pipeline.clock.advance(60)  # the idle worker's ping closes the session
    deadline = time.monotonic() + 30
    while not rows(tmp_path):
        assert time.monotonic() < deadline, "the background worker wrote nothing"
        time.sleep(0.05)
    worker.stop()
    worker.stop()
    assert not worker.running
    assert rows(tmp_path) == [("1.1", "page_view")]


def test_open_sessions_survive_a_stop_in_sqlite_state(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path)
    worker = start_worker(pipeline, poll=0.05, stop_at_exit=False)
    assert Client(collector_app(pipeline)).get(f"/g/collect?{QUERY}").status_code == 204
    worker.stop()  # the session is still open: kept in the state file, not written
    assert rows(tmp_path) == []
    with make_pipeline(tmp_path) as restarted:
        restarted.flush()
    assert rows(tmp_path) == [("1.1", "page_view")]


def test_stopping_with_a_memory_queue_writes_everything(tmp_path: Path) -> None:
    pipeline = Pipeline.builder().warehouse(f"sqlite:///{tmp_path / 'events.db'}").build()
    worker = start_worker(pipeline, poll=0.05, stop_at_exit=False)
    assert Client(collector_app(pipeline)).get(f"/g/collect?{QUERY}").status_code == 204
    worker.stop()  # the queue dies with the process: the open session is written now
    assert rows(tmp_path) == [("1.1", "page_view")]


def test_a_real_threaded_server(pipeline: Pipeline, tmp_path: Path) -> None:
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return "home"

    app.wsgi_app = D8AMiddleware(app.wsgi_app, pipeline)  # type: ignore[method-assign]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def send(n: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        query = encode_params({"v": "2", "tid": "G-TEST", "cid": f"{n}.1", "en": "page_view"})
        headers = {"User-Agent": f"agent-{n}", "Origin": "http://127.0.0.1"}
        connection.request("POST", f"/d8a/g/collect?{query}", body=b"", headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.getheader("Access-Control-Allow-Origin") == "http://127.0.0.1"
        return response.status

    try:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(send, range(200)))
        home = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        home.request("GET", "/")
        assert home.getresponse().read() == b"home"
        home.close()
    finally:
        server.shutdown()
        thread.join(30)
    assert statuses == [204] * 200
    pipeline.flush()
    found = rows(tmp_path, "client_id, ip_address")
    assert sorted(cid for cid, _ in found) == sorted(f"{n}.1" for n in range(200))
    assert {ip for _, ip in found} == {"127.0.0.1"}
