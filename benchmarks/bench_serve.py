"""HTTP load on ``d8a serve``: requests/s per core and p99 latency of the 204 path.

Starts ``d8a serve`` (collector and worker in one process, on uvicorn) for each
configuration, drives it with ``wrk`` (Debian package ``wrk``) over many
keep-alive connections on loopback with GA4 ``/g/collect`` hits (one page
view each, 5,000 distinct visitors), and prints per configuration:

* ``req/s``: answered requests per wall-clock second;
* ``req/cpu-s``: answered requests per CPU second the server process used
  (user + system, worker thread included): the per-core figure, which does not
  depend on what else the machine runs;
* p50 / p99 latency as wrk reports it, and the count of non-204 answers.

Configurations: the queue (``memory``: hits go to the in-process worker;
``sqlite``: a queue file, as several processes would share), batching
(``--batch 1000``, the receiver buffers hits; ``0``: every request is
published, one SQLite commit each, before its 204) and uvicorn's HTTP parser
(``h11``; ``httptools`` and uvloop when importable, for example after
``pip install httptools uvloop``), and ``--workers 2`` (two collector
processes, the worker in the parent; CPU time summed over the processes).

Run: python benchmarks/bench_serve.py [--duration 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

LUA = """
local n = 0
request = function()
  n = n + 1
  local cid = (n % 5000) .. ".1700000000"
  local path = "/g/collect?v=2&tid=G-BENCH&en=page_view&cid=" .. cid
    .. "&dl=https%3A%2F%2Fshop.example%2Fp" .. (n % 50) .. "&dt=Page&ul=en-us&sr=1920x1080"
  return wrk.format("GET", path, {["User-Agent"] = "Mozilla/5.0 bench " .. (n % 97)})
end
"""

_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_REQUESTS = re.compile(r"(\d+) requests in ([\d.]+)(s|m)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_ERRORS = re.compile(r"Socket errors: (.*)")
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    cpu_seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: str

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def per_cpu_second(self) -> float:
        return self.requests / self.cpu_seconds if self.cpu_seconds else float("nan")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live descendants, every thread
    (from /proc): with ``--workers``, the collector processes count too."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
            except (OSError, IndexError):  # exited meanwhile
                continue
    tree = {pid}
    grew = True
    while grew:
        found = {child for child, parent in parents.items() if parent in tree}
        grew = not found <= tree
        tree |= found
    total = 0
    for member in tree:
        try:
            fields = _stat(member)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def start_serve(options: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "d8a", "serve", "--port", "0", "--log-level", "warning", *options],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "listening on" in line:
            return process, line.split("listening on ")[1].split()[0]
    raise SystemExit(f"d8a serve exited with {process.wait()}")


def run(
    name: str, options: list[str], args: argparse.Namespace, script: Path, env: dict[str, str]
) -> Result:
    server, url = start_serve(options, env)
    try:
        # warm up: imports (with --workers, the collector processes start after the
        # socket listens), the first SQLite pages, the connections
        subprocess.run(
            ["wrk", "-t1", f"-c{args.connections}", "-d3s", "-s", str(script), url],
            check=True,
            capture_output=True,
        )
        before = cpu_seconds(server.pid)
        output = subprocess.run(
            [
                *("wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"),
                *("--latency", "-s", str(script), url),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        used = cpu_seconds(server.pid) - before
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    latency = {pct: float(value) * _UNIT[unit] for pct, value, unit in _LATENCY.findall(output)}
    found = _REQUESTS.search(output)
    if found is None or "50" not in latency:
        raise SystemExit(f"cannot read wrk's output:\n{output}")
    seconds = float(found.group(2)) * (60 if found.group(3) == "m" else 1)
    non_2xx = _NON_2XX.search(output)
    errors = _ERRORS.search(output)
    return Result(
        name,
        int(found.group(1)),
        seconds,
        used,
        latency["50"],
        latency["99"],
        int(non_2xx.group(1)) if non_2xx else 0,
        errors.group(1) if errors else "",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per configuration")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--only", help="run the configurations whose name contains this")
    args = parser.parse_args()
    env = dict(os.environ)
    try:
        import httptools  # noqa: F401  # only whether it is importable
        import uvloop  # noqa: F401

        fast = True
    except ImportError:
        fast = False
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "ga4.lua"
        script.write_text(LUA)

        def backends(queue: str, tag: str) -> list[str]:
            warehouse = ["--warehouse", f"sqlite:///{tmp}/events-{tag}.db"]
            if queue == "memory":
                return warehouse
            return [*warehouse, "--queue", f"sqlite:///{tmp}/queue-{tag}.db"]

        parsers = [("h11", ["--http", "h11", "--loop", "asyncio"])]
        if fast:
            parsers.append(("httptools+uvloop", ["--http", "httptools", "--loop", "uvloop"]))
        configs: list[tuple[str, list[str]]] = []
        for parser_name, parser_options in parsers:
            for queue, batch, workers in (
                ("memory", "1000", "1"),
                ("sqlite", "1000", "1"),
                ("sqlite", "0", "1"),
                ("sqlite", "1000", "2"),
            ):
                name = f"{queue:6} batch={batch:4} workers={workers} {parser_name}"
                tag = f"{queue}-{batch}-{workers}-{parser_name}"
                options = [*backends(queue, tag), "--batch", batch, "--workers", workers]
                configs.append((name, [*options, *parser_options]))
        results = []
        for name, options in configs:
            if args.only and args.only not in name:
                continue
            result = run(name, options, args, script, env)
            results.append(result)
            print(
                f"{result.name}: {result.per_second:8.0f} req/s  "
                f"{result.per_cpu_second:8.0f} req/cpu-s  "
                f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
                f"non-204 {result.non_2xx}  {result.errors}",
                flush=True,
            )
            time.sleep(1)
    print(
        f"\n{os.cpu_count()} cores; wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration}s on loopback; load average before: {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
