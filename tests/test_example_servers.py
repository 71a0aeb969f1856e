"""The Flask, FastAPI and Django examples as real servers on loopback: hits over HTTP
become warehouse rows, and SIGTERM stops each server cleanly.

The helpers here (a server process, sending request dicts over HTTP, reading the
SQLite warehouse) are shared with the other tests of real servers.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from d8a import Pipeline
from d8a.testing import ga4_request

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
URL = re.compile(r"http://127\.0\.0\.1:(\d+)")


class ServerProcess:
    """A server subprocess whose output (stdout and stderr) is collected line by line."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            list(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(env),
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 90.0) -> re.Match[str]:
        """The first match of ``pattern`` in the output; fails if the process exits first."""
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                found = pattern.search(line)
                if found:
                    return found
            exited = self.process.poll()
            assert exited is None, f"server exited with {exited}:\n{self.output}"
            assert time.monotonic() < deadline, f"no {pattern.pattern!r} in:\n{self.output}"
            time.sleep(0.05)

    def stop(self, timeout: float = 90.0) -> int:
        """SIGTERM, then wait for the exit code (and all the output)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self._reader.join(10)
        return code


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any D8A_ variable of the caller, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("D8A_")}
    env.update(extra)
    return env


def backend_env(tmp: Path, **extra: str) -> dict[str, str]:
    """SQLite queue, state and warehouse files in ``tmp``."""
    return clean_env(
        D8A_QUEUE=f"sqlite:///{tmp / 'queue.db'}",
        D8A_STATE=f"sqlite:///{tmp / 'state.db'}",
        D8A_WAREHOUSE=f"sqlite:///{tmp / 'events.db'}",
        **extra,
    )


def http_request(
    port: int,
    method: str,
    target: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection: status, headers (names in Title-Case, as
    servers differ: uvicorn with httptools sends them in lower case), body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, target, body=body or None, headers=dict(headers or {}))
        response = connection.getresponse()
        headers = {name.title(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


def send(port: int, request: Mapping[str, Any], prefix: str = "/d8a") -> int:
    """Send a request dict (DESIGN.md) over HTTP; returns the status."""
    query = request.get("query") or ""
    target = prefix + request["path"] + (f"?{query}" if query else "")
    body = request.get("body") or b""
    status, _, _ = http_request(
        port,
        request["method"],
        target,
        body.encode() if isinstance(body, str) else body,
        request.get("headers"),
    )
    return status


def wait_until_up(port: int, path: str = "/d8a/healthz", timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if http_request(port, "GET", path, timeout=10)[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{path} never answered 200"
        time.sleep(0.1)


def pipeline_on(tmp: Path) -> Pipeline:
    """A pipeline on the SQLite queue, state and warehouse of :func:`backend_env`."""
    return (
        Pipeline.builder()
        .queue(f"sqlite:///{tmp / 'queue.db'}")
        .state(f"sqlite:///{tmp / 'state.db'}")
        .warehouse(f"sqlite:///{tmp / 'events.db'}")
        .build()
    )


def query_rows(tmp: Path, sql: str, database: str = "events.db") -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the warehouse in ``tmp`` ([] before the table exists)."""
    try:
        with sqlite3.connect(tmp / database, timeout=30) as db:
            return db.execute(sql).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc) or "unable to open" in str(exc):
            return []
        raise


def wait_for_row_count(tmp: Path, expected: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = query_rows(tmp, "SELECT count(*) FROM events")
        count = found[0][0] if found else 0
        if count >= expected:
            return
        assert time.monotonic() < deadline, f"{count} rows, expected {expected}"
        time.sleep(0.1)


def visitor_requests(visitors: int, pages: int) -> list[dict[str, Any]]:
    """Each visitor: ``pages`` page views (every third a batched POST with a scroll),
    with its own User-Agent so visitors never share a session stamp."""
    requests = []
    for page in range(pages):
        for v in range(visitors):
            dl = f"https://shop.example/v{v}/p{page}"
            headers = {"User-Agent": f"visitor-agent/{v}", "Accept-Language": "en"}
            if page % 3 == 2:
                lines = [{"en": "page_view"}, {"en": "scroll", "epn.percent_scrolled": "90"}]
                requests.append(
                    ga4_request(
                        cid=f"{v}.1",
                        dl=dl,
                        en=None,
                        body_lines=lines,
                        received_at=None,
                        headers=headers,
                    )
                )
            else:
                requests.append(ga4_request(cid=f"{v}.1", dl=dl, received_at=None, headers=headers))
    return requests


EXAMPLE_COMMANDS = {
    "flask": [sys.executable, str(EXAMPLES / "flask_app.py"), "--port", "0"],
    "fastapi": [sys.executable, str(EXAMPLES / "fastapi_app.py"), "--port", "0"],
    "django": [sys.executable, str(EXAMPLES / "django_app" / "app.py"), "--port", "0"],
    "django-gunicorn": [
        sys.executable,
        "-m",
        "gunicorn",
        "--chdir",
        str(EXAMPLES / "django_app"),
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--graceful-timeout",
        "60",
        "app:create_application()",
    ],
}


@pytest.mark.parametrize("example", list(EXAMPLE_COMMANDS))
def test_example_server_turns_hits_into_rows(example: str, tmp_path: Path) -> None:
    server = ServerProcess(
        EXAMPLE_COMMANDS[example],
        backend_env(tmp_path, D8A_SESSION_TIMEOUT="2", PYTHONUNBUFFERED="1"),
        tmp_path,
    )
    try:
        port = int(server.wait_for(URL).group(1))
        wait_until_up(port)
        status, _, page = http_request(port, "GET", "/")
        assert status == 200
        assert b"d8a collects at" in page  # the host app answers its own paths
        origin = "http://127.0.0.1:9"
        status, headers, _ = http_request(
            port,
            "OPTIONS",
            "/d8a/g/collect",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert (status, headers["Access-Control-Allow-Origin"]) == (204, origin)
        assert headers["Access-Control-Allow-Credentials"] == "true"
        requests = visitor_requests(visitors=4, pages=6)
        assert [send(port, request) for request in requests] == [204] * len(requests)
        assert send(port, ga4_request(tid=None, received_at=None)) == 400
        expected = 4 * 6 + 4 * 2  # two batched requests per visitor carry a second hit
        wait_for_row_count(tmp_path, expected)  # the sessions closed after 2 idle seconds
        # Hits just before SIGTERM: queued or in open sessions, kept for the next start.
        late = [ga4_request(cid="late.1", en=f"late_{n}", received_at=None) for n in range(3)]
        assert [send(port, request) for request in late] == [204] * 3
    finally:
        code = server.stop()
    assert code == 0, server.output
    assert "Traceback" not in server.output
    with pipeline_on(tmp_path) as restarted:  # the next start, closing every session
        restarted.flush()
    late_rows = query_rows(tmp_path, "SELECT name FROM events WHERE client_id = 'late.1'")
    assert sorted(late_rows) == [("late_0",), ("late_1",), ("late_2",)]
    expected += 3
    assert query_rows(tmp_path, "SELECT count(*), count(DISTINCT id) FROM events") == [
        (expected, expected)
    ]
    sessions = query_rows(
        tmp_path,
        "SELECT client_id, count(DISTINCT session_id), max(session_total_events) "
        "FROM events WHERE client_id != 'late.1' GROUP BY client_id ORDER BY client_id",
    )
    assert sessions == [(f"{v}.1", 1, 8) for v in range(4)]
    pages = query_rows(
        tmp_path,
        "SELECT page_location, session_hit_number FROM events "
        "WHERE client_id = '0.1' AND name = 'page_view' ORDER BY session_hit_number",
    )
    numbers = [0, 1, 2, 4, 5, 6]  # a scroll follows each batched page view
    assert pages == [(f"https://shop.example/v0/p{p}", n) for p, n in enumerate(numbers)]
