"""A BigQuery emulator for the tests: bqemulator 1.4, in its own virtual environment.

bqemulator needs duckdb 1.5.5 (ours is newer), so it lives in
``<repo>/.venv-bqemulator`` (``$D8A_BQEMULATOR_VENV`` overrides), which the
session fixture creates on first use with ``python -m venv`` and pip. Its
DuckDB extensions (spatial, avro) come from PyPI packages and are installed
into a DuckDB home inside that venv, so nothing is downloaded at run time.
The emulator runs once per test session, in memory, on a free loopback port;
a venv that cannot be built or an emulator that does not become ready fails
the tests with pip's or the emulator's output.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["bigquery_emulator", "emulator_venv"]

PROJECT = "test-project"
REQUIREMENTS = [
    "bqemulator==1.4.*",
    "duckdb==1.5.5",
    "duckdb-extension-spatial==1.5.5",
    "duckdb-extension-avro==1.5.5",
    "numpy",  # duckdb's Python UDFs, which bqemulator registers at start, need it
]
_INSTALL_EXTENSIONS = """
import importlib, pathlib, duckdb
for name in ("spatial", "avro"):
    package = pathlib.Path(importlib.import_module("duckdb_extension_" + name).__file__).parent
    duckdb.execute(f"INSTALL '{next(package.glob('extensions/*/' + name + '.duckdb_extension'))}'")
"""
_READY_TIMEOUT = 120.0


def _venv_path() -> Path:
    configured = os.environ.get("D8A_BQEMULATOR_VENV")
    return Path(configured) if configured else Path(__file__).parents[1] / ".venv-bqemulator"


def _run(args: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=1800)
    if result.returncode:
        output = (result.stdout + result.stderr)[-4000:]
        pytest.fail(f"building the bqemulator venv failed: {' '.join(args)}\n{output}")


def emulator_venv() -> Path:
    """The emulator's venv, built (under a file lock) if it is missing or incomplete."""
    venv = _venv_path()
    try:
        _build(venv)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"building the bqemulator venv in {venv} failed: {exc}")
    return venv


def _build(venv: Path) -> None:
    stamp = venv / ".d8a-ready"
    wanted = "\n".join(REQUIREMENTS)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == wanted:
            return
        python = venv / "bin" / "python"
        if not python.exists():
            _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS])
        _run([str(python), "-c", _INSTALL_EXTENSIONS], env=_emulator_env(venv))
        stamp.write_text(wanted)


def _emulator_env(venv: Path) -> dict[str, str]:
    """The environment of the venv's processes: DuckDB finds its extensions under HOME."""
    home = venv / "duckdb-home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BQEMU_")}
    return {**env, "HOME": str(home)}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _start(venv: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    for _ in range(3):
        port = _free_port()
        args = [str(venv / "bin" / "bqemulator"), "start", "--rest-host", "127.0.0.1"]
        args += ["--rest-port", str(port), "--grpc-host", "127.0.0.1", "--grpc-port", "0"]
        args += ["--ephemeral", "--project", PROJECT, "--log-level", "warning"]
        args += ["--log-format", "console"]
        env = {**_emulator_env(venv), "TMPDIR": str(log.parent)}  # its uploads go there
        with open(log, "ab") as output:
            process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT, env=env)
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if _ready(endpoint):
                return process, endpoint
            time.sleep(0.1)
        process.kill()
        process.wait()
    pytest.fail(f"bqemulator did not become ready; its log:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The REST endpoint (``http://127.0.0.1:<port>``) of an emulator for the session."""
    venv = emulator_venv()
    process, endpoint = _start(venv, tmp_path_factory.mktemp("bqemulator") / "emulator.log")
    try:
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
