"""Four gunicorn web processes publish to one SQLite queue file; one ``d8a worker``
process consumes it. Every accepted hit becomes exactly one row, and the sessions
are those ``d8a.replay`` makes of the same requests."""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from d8a import replay
from d8a.testing import ga4_request
from tests.conftest import T0
from tests.test_example_servers import (
    EXAMPLES,
    URL,
    ServerProcess,
    backend_env,
    pipeline_on,
    query_rows,
    send,
    wait_until_up,
)

VISITORS = 100
HITS_PER_VISITOR = 30
CLIENT_THREADS = 8
WEB_PROCESSES = 4
ACCESS = re.compile(r"^access pid=<?(\d+)>? status=(\d+)$", re.MULTILINE)
COMPARED = (
    "page_location",
    "client_id",
    "name",
    "session_hit_number",
    "session_page_number",
    "session_total_events",
    "session_total_page_views",
)


def visitor_hits(v: int) -> list[dict[str, Any]]:
    """One visitor's requests, sent in this order: its own User-Agent (so visitors
    never share a session stamp), a unique page per hit, GET and body-less POST."""
    headers = {"User-Agent": f"load-agent/{v}", "Accept-Language": "en"}
    return [
        ga4_request(
            cid=f"{v}.7",
            dl=f"https://shop.example/v{v}/h{k}",
            en="page_view" if k % 4 != 3 else "scroll",
            method="GET" if k % 2 else "POST",
            received_at=None,
            headers=headers,
        )
        for k in range(HITS_PER_VISITOR)
    ]


def test_four_web_processes_and_one_worker_on_one_sqlite_queue(tmp_path: Path) -> None:
    env = backend_env(tmp_path, D8A_WORKER_THREAD="false", PYTHONUNBUFFERED="1")
    web = ServerProcess(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            str(EXAMPLES),
            "--bind",
            "127.0.0.1:0",
            "--workers",
            str(WEB_PROCESSES),
            "--worker-class",
            "sync",
            "--backlog",
            "2048",
            "--timeout",
            "120",
            "--graceful-timeout",
            "60",
            "--access-logfile",
            "-",
            "--access-logformat",
            "access pid=%(p)s status=%(s)s",
            "flask_app:create_app()",
        ],
        env,
        tmp_path,
    )
    worker = ServerProcess([sys.executable, "-m", "d8a", "worker", "--poll", "0.1"], env, tmp_path)
    sent: list[tuple[dict[str, Any], int]] = []
    try:
        port = int(web.wait_for(URL).group(1))
        worker.wait_for(re.compile(r"d8a worker: .*running"))
        wait_until_up(port)

        def visit(v: int) -> list[tuple[dict[str, Any], int]]:
            return [(request, send(port, request)) for request in visitor_hits(v)]

        started = time.monotonic()
        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            for results in pool.map(visit, range(VISITORS)):
                sent.extend(results)
        elapsed = time.monotonic() - started
        print(f"{len(sent)} requests in {elapsed:.1f} s: {len(sent) / elapsed:.0f} requests/s")
        # The worker has received every task (it acknowledges them once their
        # sessions are written, which the 30-minute timeout keeps for later).
        deadline = time.monotonic() + 120
        unseen = "SELECT count(*) FROM queue_hits WHERE attempts = 0"
        while query_rows(tmp_path, unseen, "queue.db") != [(0,)]:
            assert time.monotonic() < deadline, "the worker did not empty the queue"
            time.sleep(0.1)
    finally:
        web_code = web.stop()
        worker_code = worker.stop()
    assert web_code == 0, web.output
    assert worker_code == 0, worker.output
    assert "Traceback" not in web.output + worker.output
    statuses = [status for _, status in sent]
    print(f"answers: {dict(Counter(statuses))}")
    assert len(statuses) == VISITORS * HITS_PER_VISITOR
    assert set(statuses) <= {204, 503}, set(statuses)  # 503: the queue was busy, retry
    accepted = [request for request, status in sent if status == 204]
    assert len(accepted) >= 0.99 * len(sent)
    served_by = {pid for pid, status in ACCESS.findall(web.output) if status == "204"}
    assert len(served_by) == WEB_PROCESSES, web.output[-2000:]
    assert re.search(r"stopped after [1-9]\d* message", worker.output), worker.output

    # Sessions are still open (30-minute timeout): close them all in one last flush.
    with pipeline_on(tmp_path) as pipeline:
        pipeline.flush()

    pages = query_rows(tmp_path, "SELECT page_location FROM events")
    assert sorted(page for (page,) in pages) == sorted(
        request_page(request) for request in accepted
    )  # every accepted hit exactly once, nothing else
    live = query_rows(tmp_path, f"SELECT {', '.join(COMPARED)} FROM events")
    assert sorted(live) == sorted(replayed(accepted))


def request_page(request: dict[str, Any]) -> str:
    found = re.search(r"(?:^|&)dl=([^&]*)", request["query"])
    assert found is not None
    return unquote(found.group(1))


def replayed(accepted: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The compared columns of ``d8a.replay`` on the accepted requests, each visitor's in
    the order sent, all inside one timeout as on the live server."""
    ordered = sorted(accepted, key=lambda r: (r["headers"]["User-Agent"], request_index(r)))
    requests = [
        {**request, "ip": "127.0.0.1", "received_at": T0 + n * 0.001}
        for n, request in enumerate(ordered)
    ]
    table = replay(requests)["events"]
    columns = [table.column(name).to_pylist() for name in COMPARED]
    return list(zip(*columns, strict=True))


def request_index(request: dict[str, Any]) -> int:
    found = re.search(r"/h(\d+)$", request_page(request))
    assert found is not None
    return int(found.group(1))
