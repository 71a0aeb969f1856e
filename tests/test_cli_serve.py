"""``d8a serve`` as a real process on loopback: hits over HTTP, SIGTERM, restart, metrics."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from d8a import Pipeline
from d8a.scaleout.worker import ScaledWorker


def start(*options: str) -> tuple[subprocess.Popen[str], str]:
    """A ``d8a serve`` process on a free loopback port, and its URL once it is ready."""
    process = subprocess.Popen(
        [sys.executable, "-m", "d8a", "serve", "--port", "0", *options],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "d8a serve: listening on" in line:
            return process, line.split("listening on ")[1].split()[0]
    raise AssertionError(f"d8a serve exited with {process.wait()}")


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM; the process must exit 0. Returns the rest of its stderr."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert process.stderr is not None
    rest = process.stderr.read()
    assert "d8a serve: stopped" in rest
    return rest


def send(url: str, hits: range, clients: int, close: bool = False) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in hits:
            cid = f"c{n % clients}"
            query = urlencode(
                {"v": "2", "tid": "G-1", "cid": cid, "en": "page_view", "dl": f"https://x/p{n}"}
            )
            headers = {"User-Agent": f"agent-{cid}"}  # no session stamp shared across clients
            if close:
                headers["Connection"] = "close"
            assert client.get(f"/g/collect?{query}", headers=headers).status_code == 204


def rows(warehouse: Path) -> list[tuple[str, str, str]]:
    """(client_id, session_id, page_location) of every event row."""
    try:
        with sqlite3.connect(warehouse) as db:
            found = db.execute("SELECT client_id, session_id, page_location FROM events")
            return [(str(c), str(s), str(p)) for c, s, p in found.fetchall()]
    except sqlite3.OperationalError:  # no table yet
        return []


def wait_for_rows(warehouse: Path, expected: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(rows(warehouse)) < expected:
        assert time.monotonic() < deadline, f"{len(rows(warehouse))} rows, expected {expected}"
        time.sleep(0.05)


def sessions_per_client(found: list[tuple[str, str, str]]) -> dict[str, int]:
    return {cid: len({s for c, s, _ in found if c == cid}) for cid, _, _ in found}


def test_sigterm_keeps_open_sessions_and_a_restart_goes_on_with_them(tmp_path: Path) -> None:
    backends = (
        *("--queue", f"sqlite:///{tmp_path / 'queue.db'}"),
        *("--state", f"sqlite:///{tmp_path / 'state.db'}"),
        *("--warehouse", f"sqlite:///{tmp_path / 'events.db'}"),
    )
    server, url = start(*backends)
    send(url, range(0, 20), clients=4)
    stop(server)
    assert rows(tmp_path / "events.db") == []  # sessions still open (timeout 1800 s)
    # The second run buffers hits (--batch): SIGTERM must publish them.
    server, url = start(*backends, "--batch", "1000", "--batch-delay", "600")
    send(url, range(20, 40), clients=4)
    stop(server)
    with (
        Pipeline.builder()
        .queue(f"sqlite:///{tmp_path / 'queue.db'}")
        .state(f"sqlite:///{tmp_path / 'state.db'}")
        .warehouse(f"sqlite:///{tmp_path / 'events.db'}")
        .build() as pipeline
    ):
        pipeline.flush()  # close what is open, as the end of the day would
    found = rows(tmp_path / "events.db")
    assert sorted(page for _, _, page in found) == sorted(f"https://x/p{n}" for n in range(40))
    assert sessions_per_client(found) == {"c0": 1, "c1": 1, "c2": 1, "c3": 1}


def test_redis_queue_and_state_with_partitions_over_a_restart(
    tmp_path: Path, redis_url: str
) -> None:
    backends = (
        *("--queue", redis_url, "--state", redis_url, "--partitions", "4"),
        *("--warehouse", f"sqlite:///{tmp_path / 'events.db'}"),
    )
    server, url = start(*backends)
    send(url, range(0, 24), clients=6)
    with redis.Redis.from_url(redis_url) as client:  # the worker in d8a serve leases them
        deadline = time.monotonic() + 60
        while not all(leases := [client.get(f"d8a:queue:hits:lease:{p}") for p in range(4)]):
            assert time.monotonic() < deadline, leases
            time.sleep(0.05)
    assert len(set(leases)) == 1, leases
    assert "d8a_worker_running 1.0" in httpx.get(f"{url}/metrics", timeout=30).text
    stop(server)
    server, url = start(*backends)
    send(url, range(24, 48), clients=6)
    stop(server)
    assert rows(tmp_path / "events.db") == []  # every session still open, in Redis
    with (
        Pipeline.builder()
        .queue(redis_url)
        .state(redis_url)
        .partitions(4)
        .warehouse(f"sqlite:///{tmp_path / 'events.db'}")
        .build()
    ) as pipeline:
        # d8a serve ran the worker d8a worker runs on Redis: a ScaledWorker, which left
        # its partitions at SIGTERM. Another takes them all over and closes the sessions.
        scaled = ScaledWorker(pipeline, pipeline.queue, store=redis_url, pings=False)
        scaled.rebalance()
        assert scaled.partitions == [0, 1, 2, 3]
        scaled.flush()
        scaled.close()
    found = rows(tmp_path / "events.db")
    assert sorted(page for _, _, page in found) == sorted(f"https://x/p{n}" for n in range(48))
    assert sessions_per_client(found) == {f"c{n}": 1 for n in range(6)}


def _requests_204(url: str) -> float:
    """``d8a_requests_total{status="204"}`` of one ``/metrics`` answer, on a new
    connection (so that any collector process may take it)."""
    text = httpx.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=30).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "d8a_requests_total" and sample.labels == {"status": "204"}:
                return sample.value
    return 0.0


def test_metrics_of_several_collector_processes_add_up(tmp_path: Path) -> None:
    backends = (
        *("--queue", f"sqlite:///{tmp_path / 'queue.db'}"),
        *("--warehouse", f"sqlite:///{tmp_path / 'events.db'}"),
    )
    server, url = start(*backends, "--workers", "2")
    try:
        send(url, range(30), clients=3, close=True)  # a connection each: both processes take some
        deadline, seen = time.monotonic() + 30, []
        while time.monotonic() < deadline and seen[-6:] != [30.0] * 6:
            seen.append(_requests_204(url))  # each process's file is rewritten every second
            time.sleep(0.2)
        assert seen[-6:] == [30.0] * 6, seen  # every answer, whichever process gave it
        text = httpx.get(f"{url}/metrics", timeout=30).text
        assert "d8a_worker_running 1.0" in text  # the parent's worker, in a collector's answer
    finally:
        stop(server)


def test_two_collector_processes_and_the_worker_in_the_parent(tmp_path: Path) -> None:
    backends = (
        *("--queue", f"sqlite:///{tmp_path / 'queue.db'}"),
        *("--state", f"sqlite:///{tmp_path / 'state.db'}"),
        *("--warehouse", f"sqlite:///{tmp_path / 'events.db'}"),
    )
    # --batch with a long delay: only the SIGTERM of each collector process publishes
    server, url = start(*backends, "--workers", "2", "--batch", "1000", "--batch-delay", "600")
    send(url, range(40), clients=4, close=True)  # a connection each: both processes take some
    log = stop(server)
    assert log.count("Application shutdown complete") == 2
    with (
        Pipeline.builder()
        .queue(f"sqlite:///{tmp_path / 'queue.db'}")
        .state(f"sqlite:///{tmp_path / 'state.db'}")
        .warehouse(f"sqlite:///{tmp_path / 'events.db'}")
        .build() as pipeline
    ):
        pipeline.flush()
    found = rows(tmp_path / "events.db")
    assert sorted(page for _, _, page in found) == sorted(f"https://x/p{n}" for n in range(40))
    assert sessions_per_client(found) == {"c0": 1, "c1": 1, "c2": 1, "c3": 1}


def test_no_worker_collector_with_a_separate_worker_process(tmp_path: Path) -> None:
    config = tmp_path / "d8a.toml"
    config.write_text(
        "session_timeout = 1\n"
        f'queue = "sqlite:///{tmp_path / "queue.db"}"\n'
        f'state = "sqlite:///{tmp_path / "state.db"}"\n'
        f'warehouse = "sqlite:///{tmp_path / "events.db"}"\n'
        'protocols = ["ga4"]\n'
    )
    server, url = start("--config", str(config), "--no-worker", "--log-format", "json")
    worker = subprocess.Popen(
        [sys.executable, "-m", "d8a", "worker", "--config", str(config), "--poll", "0.05"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        send(url, range(30), clients=3)
        wait_for_rows(tmp_path / "events.db", 30)  # the worker's pings close the sessions
        metrics = httpx.get(f"{url}/metrics", timeout=30)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        log = stop(server)
    found = rows(tmp_path / "events.db")
    assert len(found) == 30
    assert sessions_per_client(found) == {"c0": 1, "c1": 1, "c2": 1}
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.text)
        for sample in family.samples
    }
    assert samples[("d8a_requests_total", (("status", "204"),))] == 30
    assert samples[("d8a_hits_accepted_total", ())] == 30
    assert samples[("d8a_worker_running", ())] == 0
    assert ("d8a_protosessions_open", ()) not in samples  # this process runs no worker
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    stopped = [line for line in lines if line["message"] == "d8a collector stopped"]
    assert stopped == [
        {**stopped[0], "logger": "d8a.integrations.asgi", "level": "INFO", "hits": 30}
    ]


def test_metrics_of_the_worker_in_the_serve_process(tmp_path: Path) -> None:
    server, url = start("--warehouse", f"sqlite:///{tmp_path / 'events.db'}")
    try:
        send(url, range(5), clients=2)
        assert httpx.get(f"{url}/g/collect", timeout=30).status_code == 400
        text = httpx.get(f"{url}/metrics", timeout=30).text
    finally:
        stop(server)
    assert 'd8a_requests_total{status="204"} 5.0' in text
    assert 'd8a_requests_rejected_total{reason="invalid_request"} 1.0' in text
    assert "d8a_protosessions_open 2.0" in text
    assert "d8a_worker_running 1.0" in text
    # a memory queue dies with the process: its sessions were written at shutdown
    assert sessions_per_client(rows(tmp_path / "events.db")) == {"c0": 1, "c1": 1}


def run_serve(cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # in cwd: the default warehouse is ./events.db
        [sys.executable, "-m", "d8a", "serve", *options],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_bad_options_are_clear_errors(tmp_path: Path) -> None:
    memory = run_serve(tmp_path, "--no-worker", "--port", "0")
    assert memory.returncode == 2
    assert "--no-worker needs a queue" in memory.stderr
    processes = run_serve(tmp_path, "--workers", "2", "--port", "0")
    assert processes.returncode == 2
    assert "--workers needs a queue" in processes.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = run_serve(tmp_path, "--port", port, "--warehouse", f"sqlite:///{tmp_path / 'e.db'}")
    assert busy.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr
    unknown = run_serve(tmp_path, "--protocols", "ga4,nope", "--port", "0")
    assert unknown.returncode == 2
    assert "nope" in unknown.stderr


def test_a_missing_server_extra_names_the_install_command() -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "from d8a.cli import main\n"
        "raise SystemExit(main(['serve', '--port', '0']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "pip install 'd8a[server]'" in result.stderr
