"""The ASGI collector app and middleware: Starlette, FastAPI and a real uvicorn process."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from d8a import ManualClock, Pipeline
from d8a.batching import Storage
from d8a.errors import ConfigurationError, TransientError
from d8a.hits import Hit
from d8a.integrations.asgi import (
    MAX_BODY_BYTES,
    D8AMiddleware,
    Lifecycle,
    Message,
    Scope,
    _headers,
    collector_app,
)
from d8a.integrations.asgi_batching import BackgroundBatching
from tests.conftest import T0

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

QUERY = {"v": "2", "tid": "G-TEST", "en": "page_view"}


def hit_query(cid: str, n: int) -> str:
    return urlencode({**QUERY, "cid": cid, "dl": f"https://shop.example/p{n}"})


def agent(cid: str) -> dict[str, str]:
    """A user agent per client: clients sharing IP and agent share a session stamp."""
    return {"User-Agent": f"agent-{cid}"}


def events(pipeline: Pipeline) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pipeline.driver.table("events").to_pylist()  # type: ignore[attr-defined]
    return rows


def fastapi_app(pipeline: Pipeline, started: list[str], **options: Any) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        started.append("app startup")
        yield
        started.append("app shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    def home() -> dict[str, str]:
        return {"page": "home"}

    @app.get("/d8a/other")
    def other() -> dict[str, str]:
        return {"page": "other"}

    app.add_middleware(D8AMiddleware, pipeline=pipeline, prefix="/d8a", **options)
    return app


def test_fastapi_middleware_serves_hits_and_passes_the_rest_to_the_app() -> None:
    pipeline = Pipeline.builder().build()
    started: list[str] = []
    app = fastapi_app(pipeline, started)
    with TestClient(app, client=("203.0.113.7", 5000)) as client:
        assert started == ["app startup"]
        assert pipeline.metrics()["worker_running"]
        assert client.get("/").json() == {"page": "home"}
        assert client.get("/d8a/other").json() == {"page": "other"}  # not a collector path
        hit = client.get(f"/d8a/g/collect?{hit_query('1.1', 1)}", headers={"Origin": "https://x"})
        assert hit.status_code == 204
        assert hit.headers["access-control-allow-origin"] == "https://x"
        assert hit.headers["access-control-allow-credentials"] == "true"
        batch = "\n".join(f"en=scroll&dl=https%3A%2F%2Fshop.example%2Fb{i}" for i in range(3))
        posted = client.post(f"/d8a/g/collect?{urlencode({**QUERY, 'cid': '1.1'})}", content=batch)
        assert posted.status_code == 204
        assert client.get("/d8a/healthz").text == "OK"
        assert client.get("/g/collect").status_code == 404  # outside the prefix: the app's
    assert started == ["app startup", "app shutdown"]
    rows = events(pipeline)  # a memory queue is written out at shutdown
    assert len(rows) == 4
    assert {row["ip_address"] for row in rows} == {"203.0.113.7"}
    assert len({row["session_id"] for row in rows}) == 1
    assert pipeline.metrics()["requests"] == {"200": 1, "204": 2}
    assert not pipeline.metrics()["worker_running"]


def test_preflight_bad_method_and_bad_hit_get_the_pipeline_answers() -> None:
    pipeline = Pipeline.builder().build()
    with TestClient(fastapi_app(pipeline, [])) as client:
        preflight = client.options(
            "/d8a/g/collect",
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        assert preflight.headers["access-control-allow-headers"] == "content-type"
        assert preflight.headers["access-control-allow-credentials"] == "true"
        put = client.put(f"/d8a/g/collect?{hit_query('1.1', 1)}")
        assert put.status_code == 405
        assert put.headers["allow"] == "GET, POST"
        bad = client.get("/d8a/g/collect?v=2&tid=G-TEST")
        assert bad.status_code == 400
        assert "cid" in bad.text
        assert client.get(f"/d8a/g/collect?{hit_query('1.2', 2)}").status_code == 204
    assert len(events(pipeline)) == 1  # the bad requests touched nothing
    metrics = pipeline.metrics()
    assert metrics["requests"] == {"204": 2, "400": 1, "405": 1}
    assert metrics["requests_rejected"] == {"invalid_request": 1, "method_not_allowed": 1}


def test_a_body_over_the_limit_is_answered_413_and_counted() -> None:
    pipeline = Pipeline.builder().build()
    app = fastapi_app(pipeline, [], max_body=1000)
    with TestClient(app) as client:
        url = f"/d8a/g/collect?{urlencode({**QUERY, 'cid': '1.1'})}"
        too_big = client.post(url, content=b"en=scroll&x=" + b"a" * 2000)
        assert too_big.status_code == 413
        assert "1000-byte" in too_big.text

        def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
            for _ in range(5):
                yield b"a" * 300

        assert client.post(url, content=chunks()).status_code == 413
        assert client.post(url, content=b"en=scroll").status_code == 204
    assert len(events(pipeline)) == 1
    assert pipeline.metrics()["requests"] == {"204": 1, "413": 2}
    assert MAX_BODY_BYTES == 1024 * 1024


def test_collector_app_under_a_starlette_mount_strips_root_path() -> None:
    pipeline = Pipeline.builder().build()
    collector = collector_app(pipeline, worker=False)

    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("home")

    app = Starlette(routes=[Route("/", home), Mount("/collect-here", app=collector)])
    with TestClient(app) as client:
        assert client.get("/").text == "home"
        url = f"/collect-here/g/collect?{hit_query('1.1', 1)}"
        assert client.get(url).status_code == 204
        missing = client.get("/collect-here/nothing")
        assert missing.status_code == 404
        assert "no endpoint at /nothing" in missing.text
    assert pipeline.receiver.stats.hits == 1
    assert pipeline.metrics()["worker_running"] is False  # Mount sends no lifespan; worker off
    pipeline.flush()
    assert [row["page_location"] for row in events(pipeline)] == ["https://shop.example/p1"]


def test_collector_app_prefix_answers_404_outside_it_and_serves_metrics() -> None:
    pipeline = Pipeline.builder().build()
    app = collector_app(pipeline, prefix="/t/", metrics=True)
    with TestClient(app) as client:
        assert client.get(f"/t/g/collect?{hit_query('1.1', 1)}").status_code == 204
        outside = client.get(f"/g/collect?{hit_query('1.1', 2)}")
        assert outside.status_code == 404
        assert outside.headers["content-type"] == "text/plain; charset=utf-8"
        text = client.get("/t/metrics").text
        assert 'd8a_requests_total{status="204"} 1.0' in text
        assert "d8a_protosessions_open 1.0" in text
    assert pipeline.receiver.stats.hits == 1
    with pytest.raises(ConfigurationError, match="start with '/'"):
        collector_app(pipeline, prefix="t")


def test_websockets_are_refused_by_the_app_and_passed_on_by_the_middleware() -> None:
    pipeline = Pipeline.builder().build()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    scope: Scope = {"type": "websocket", "path": "/d8a/g/collect", "headers": []}
    asyncio.run(collector_app(pipeline)(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]
    seen: list[Scope] = []

    async def inner(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope)

    asyncio.run(D8AMiddleware(inner, pipeline)(scope, receive, send))
    assert seen == [scope]


def test_middleware_runs_the_worker_for_an_app_without_lifespan() -> None:
    pipeline = Pipeline.builder().build()

    async def bare(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"bare"})

    with TestClient(D8AMiddleware(bare, pipeline)) as client:  # type: ignore[arg-type]
        assert client.get("/").text == "bare"
        assert pipeline.metrics()["worker_running"]
        assert client.get(f"/d8a/g/collect?{hit_query('1.1', 1)}").status_code == 204
    assert len(events(pipeline)) == 1


def test_durable_state_keeps_open_protosessions_over_a_restart(tmp_path: Path) -> None:
    def build() -> Pipeline:
        return (
            Pipeline.builder()
            .queue(f"sqlite:///{tmp_path / 'queue.db'}")
            .state(f"sqlite:///{tmp_path / 'state.db'}")
            .warehouse(f"sqlite:///{tmp_path / 'events.db'}")
            .build()
        )

    first = build()
    with TestClient(collector_app(first)) as client:
        for n in range(6):
            cid = f"c{n % 2}"
            assert (
                client.get(f"/g/collect?{hit_query(cid, n)}", headers=agent(cid)).status_code == 204
            )
        wait_until(lambda: first.metrics()["protosessions_open"] == 2)
    assert first.metrics()["protosessions_open"] == 2  # not closed by the shutdown
    assert first.metrics()["rows_written"] == {}
    first.close()
    second = build()
    with TestClient(collector_app(second)) as client:
        for n in range(6, 10):
            cid = f"c{n % 2}"
            assert (
                client.get(f"/g/collect?{hit_query(cid, n)}", headers=agent(cid)).status_code == 204
            )
    second.flush()
    second.close()
    with sqlite3.connect(tmp_path / "events.db") as db:
        rows = db.execute("SELECT client_id, session_id, page_location FROM events").fetchall()
    assert sorted(row[2] for row in rows) == sorted(f"https://shop.example/p{n}" for n in range(10))
    assert {cid: len({s for c, s, _ in rows if c == cid}) for cid, _, _ in rows} == {
        "c0": 1,
        "c1": 1,
    }


def test_lifecycle_startup_and_shutdown_run_once() -> None:
    pipeline = Pipeline.builder().batching(100, 0.05).build()
    lifecycle = Lifecycle(pipeline, worker=True, flush_every=0.05)

    async def run() -> None:
        await lifecycle.startup()
        await lifecycle.startup()
        assert pipeline.ingest(_request("1.1", 1)).status == 204
        # the flusher publishes the batched hit without another request
        for _ in range(200):
            if pipeline.metrics()["protosessions_open"] == 1:
                break
            await asyncio.sleep(0.05)
        assert pipeline.metrics()["protosessions_open"] == 1
        await lifecycle.shutdown()
        await lifecycle.shutdown()

    asyncio.run(run())
    assert len(events(pipeline)) == 1


def _request(cid: str, n: int) -> dict[str, Any]:
    return {"method": "GET", "path": "/g/collect", "query": hit_query(cid, n), "ip": "192.0.2.1"}


def wait_until(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


header_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255), min_size=0, max_size=20
)


@settings(deadline=None)  # the machine is shared: a slow example is not a failure
@given(st.lists(st.tuples(header_names, header_values), max_size=8))
def test_headers_keep_every_value_of_repeated_names(pairs: list[tuple[str, str]]) -> None:
    scope: Scope = {
        "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]
    }
    headers = _headers(scope)
    assert set(headers) == {name for name, _ in pairs}
    for name, joined in headers.items():
        values = [value for n, value in pairs if n == name]
        joiner = "; " if name == "cookie" else ", "
        assert joined == joiner.join(values)


APP = """
from fastapi import FastAPI
from d8a import Pipeline
from d8a.integrations.asgi import D8AMiddleware

pipeline = (
    Pipeline.builder(session_timeout=1)
    .queue("sqlite:///{tmp}/queue.db")
    .state("sqlite:///{tmp}/state.db")
    .warehouse("sqlite:///{tmp}/events.db")
    .build()
)
app = FastAPI()

@app.get("/")
def home() -> dict[str, str]:
    return {{"page": "home"}}

app.add_middleware(D8AMiddleware, pipeline=pipeline, prefix="/d8a", poll=0.05)
"""


def test_fastapi_middleware_on_a_real_uvicorn_process(tmp_path: Path) -> None:
    (tmp_path / "hostapp.py").write_text(textwrap.dedent(APP.format(tmp=tmp_path)))
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "hostapp:app"),
            *("--app-dir", str(tmp_path), "--host", "127.0.0.1", "--port", "0", "--no-access-log"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = read_url(server)
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/").json() == {"page": "home"}

            async def send_all() -> list[int]:
                async with httpx.AsyncClient(base_url=url, timeout=30) as aclient:
                    answers = await asyncio.gather(
                        *(
                            aclient.get(
                                f"/d8a/g/collect?{hit_query(f'c{n % 7}', n)}",
                                headers=agent(f"c{n % 7}"),
                            )
                            for n in range(60)
                        )
                    )
                return [answer.status_code for answer in answers]

            assert asyncio.run(send_all()) == [204] * 60
        # session_timeout=1: the worker's pings close and write every session
        wait_until(lambda: count_rows(tmp_path / "events.db") == 60)
    finally:
        server.send_signal(signal.SIGTERM)
        # uvicorn re-raises SIGTERM after its graceful shutdown: -15 is a clean stop
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
    assert server.stderr is not None
    assert "Application shutdown complete" in server.stderr.read()
    with sqlite3.connect(tmp_path / "events.db") as db:
        (sessions,) = db.execute("SELECT count(DISTINCT session_id) FROM events").fetchone()
    assert sessions == 7


def read_url(server: subprocess.Popen[str]) -> str:
    """The address uvicorn announces (it picks the port with --port 0)."""
    assert server.stderr is not None
    for line in server.stderr:
        if "running on" in line:
            return line.split("running on ")[1].split()[0]
    raise AssertionError(f"uvicorn exited with {server.wait()}")


def count_rows(path: Path) -> int:
    try:
        with sqlite3.connect(path) as db:
            (count,) = db.execute("SELECT count(*) FROM events").fetchone()
            return int(count)
    except sqlite3.OperationalError:  # the table is not there yet
        return 0


class DownQueue(Storage):
    """A storage whose queue is down until ``up`` is set."""

    def __init__(self) -> None:
        self.up = False
        self.pushed: list[list[str]] = []

    def push(self, hits: Sequence[Hit]) -> None:
        if not self.up:
            raise TransientError("queue down")
        self.pushed.append([hit.id for hit in hits])


def test_background_batching_publishes_off_the_request_and_holds_hits_while_down() -> None:
    pipeline = Pipeline.builder().clock(ManualClock(T0)).build()
    inner = DownQueue()
    batching = BackgroundBatching(inner, max_hits=3, max_delay=0.05, max_pending=5)
    pipeline.receiver.storage = batching
    for n in range(4):
        assert pipeline.ingest({**_request("1.1", n), "id": f"h{n}"}).status == 204
    assert batching.pending == 4  # publishing failed: nothing lost, still buffered
    assert pipeline.ingest({**_request("1.1", 4), "id": "h4"}).status == 204
    refused = pipeline.ingest({**_request("1.1", 5), "id": "h5"})
    assert refused.status == 503  # max_pending reached: the client retries later
    inner.up = True
    wait_until(lambda: batching.pending == 0)
    batching.close()
    assert [hit for batch in inner.pushed for hit in batch] == [f"h{n}" for n in range(5)]
    assert pipeline.metrics()["requests_rejected"] == {"storage_unavailable": 1}


def test_background_batching_flushes_on_close_without_waiting_for_the_delay() -> None:
    pipeline = Pipeline.builder().build()
    batching = BackgroundBatching(pipeline.storage, max_hits=1000, max_delay=3600)
    pipeline.receiver.storage = batching
    with TestClient(collector_app(pipeline)) as client:
        assert client.get(f"/g/collect?{hit_query('1.1', 1)}").status_code == 204
        assert batching.pending == 1
    assert batching.pending == 0  # the lifespan shutdown flushed it
    batching.close()
    assert len(events(pipeline)) == 1


def test_a_failed_startup_is_reported_by_the_app_and_the_middleware() -> None:
    pipeline = Pipeline.builder().build()
    pipeline.worker().start()  # someone else runs it already
    try:
        for app in (collector_app(pipeline), fastapi_app(pipeline, [])):
            with pytest.raises(RuntimeError, match="already running"), TestClient(app):
                pass
    finally:
        pipeline.worker().stop()


def test_middleware_metrics_path_and_no_info_log_per_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipeline = Pipeline.builder().build()
    with TestClient(fastapi_app(pipeline, [], metrics=True)) as client:
        with caplog.at_level(logging.INFO, logger="d8a"):
            for n in range(5):
                assert client.get(f"/d8a/g/collect?{hit_query('1.1', n)}").status_code == 204
            assert client.get("/d8a/g/collect").status_code == 400
        answer = client.get("/d8a/metrics")
    assert [r for r in caplog.records if r.name.startswith("d8a")] == []
    assert answer.status_code == 200
    assert 'd8a_requests_total{status="204"} 5.0' in answer.text
    assert 'd8a_requests_rejected_total{reason="invalid_request"} 1.0' in answer.text
