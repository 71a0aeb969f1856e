"""``d8a serve``: the collector (and by default the worker) in one process, on uvicorn.

uvicorn (the ``d8a[server]`` extra) serves HTTP; the app is
:func:`d8a.integrations.asgi.collector_app` with ``/metrics`` in the Prometheus text
format. The worker loop runs in a thread from ASGI lifespan startup to
shutdown; ``--no-worker`` leaves the queue to separate ``d8a worker``
processes.

SIGTERM (or Ctrl-C) stops it gracefully: uvicorn stops accepting connections
and finishes the requests in flight, then the lifespan shutdown publishes
batched hits, stops the worker after its step in progress and lets it consume
what is queued. Open protosessions are not closed: they stay in the state
store, and their hits stay unacknowledged in the queue, so the next start (on
the same SQLite or Redis queue and state) goes on with them and a visitor's
session spans the restart. With a memory queue, which dies with the process,
they are closed and written instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from d8a.cli_worker import apply_backend_args, worker_loop
from d8a.config_file import builder_from_config
from d8a.errors import ConfigurationError, MissingDependencyError
from d8a.integrations.asgi_batching import BackgroundBatching
from d8a.pipeline import Pipeline
from d8a.runner import BackgroundLoop

__all__ = [
    "JsonLogFormatter",
    "add_serve_options",
    "batch_in_background",
    "configure_logging",
    "serve",
    "serve_worker",
]

DEFAULT_WAREHOUSE = "sqlite:///events.db"
"""The warehouse ``d8a serve`` writes when neither the config nor ``--warehouse`` names one."""

log = logging.getLogger("d8a.serve")

_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message and every ``extra=`` field."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``d8a serve`` beside the backend ones it shares with ``d8a worker``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port (0: any free port)")
    parser.add_argument("--prefix", default="", help="path prefix of the collector endpoints")
    parser.add_argument("--protocols", help="comma-separated protocol ids (ga4,d8a,matomo)")
    parser.add_argument(
        "--no-worker",
        dest="run_worker",
        action="store_false",
        help="collector only: separate `d8a worker` processes consume the queue",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="collector processes on the one socket (N > 1 needs a SQLite or Redis queue); "
        "the worker runs in the parent process",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        metavar="HITS",
        help="buffer up to HITS hits before publishing (published at least every "
        "--batch-delay seconds and at shutdown; lost if the process is killed). "
        "0, the default, publishes each request before answering it",
    )
    parser.add_argument("--batch-delay", type=float, default=1.0, help="seconds, with --batch")
    parser.add_argument(
        "--http",
        choices=("auto", "h11", "httptools"),
        default="auto",
        help="uvicorn's HTTP parser (httptools when installed, by default)",
    )
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="uvicorn's event loop (uvloop when installed, by default)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request (INFO)")
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")


def configure_logging(level: str, fmt: str) -> None:
    """Log records of every logger to stderr at ``level``, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc}") from None


def serve(args: argparse.Namespace, config: dict[str, object]) -> int:
    """Run the collector (and worker) until SIGTERM/SIGINT; 0 after a clean stop."""
    try:
        import uvicorn  # noqa: F401  # fail early, before the pipeline is built
    except ImportError as exc:
        raise MissingDependencyError("uvicorn", "server") from exc
    apply_backend_args(args, config)
    if args.protocols:
        config["protocols"] = [p.strip() for p in args.protocols.split(",") if p.strip()]
    config.setdefault("warehouse", DEFAULT_WAREHOUSE)
    if args.batch < 0:
        raise ConfigurationError(f"--batch must be 0 or more, not {args.batch}")
    if args.workers < 1:
        raise ConfigurationError(f"--workers must be 1 or more, not {args.workers}")
    configure_logging(args.log_level, args.log_format)
    with builder_from_config(config).build() as pipeline:
        if not pipeline.queue_is_durable and (not args.run_worker or args.workers > 1):
            option = "--no-worker" if not args.run_worker else "--workers"
            raise ConfigurationError(
                f"{option} needs a queue other processes can read: give --queue "
                "sqlite:///... or redis://..."
            )
        sock = _listen(args.host, args.port)
        host, port = sock.getsockname()[:2]
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        if args.workers > 1:
            _serve_processes(args, config, pipeline, sock, url)
        elif not _serve_one(args, config, pipeline, sock, url):
            return 1
    print("d8a serve: stopped", file=sys.stderr, flush=True)
    return 0


def serve_worker(pipeline: Pipeline, config: dict[str, object]) -> Callable[[], BackgroundLoop]:
    """What makes the worker loop of ``d8a serve``: the one ``d8a worker`` runs (a
    ``ScaledWorker`` that leases partitions, on a Redis queue with Redis state)."""
    state = config.get("state")
    return lambda: worker_loop(pipeline, "sessions", state)


def batch_in_background(pipeline: Pipeline, hits: int, delay: float) -> BackgroundBatching | None:
    """With ``hits`` > 0, put a :class:`BackgroundBatching` in front of the pipeline's
    storage (``--batch``), so that no request waits for a publish."""
    if not hits:
        return None
    batching = BackgroundBatching(pipeline.storage, hits, delay)
    pipeline.receiver.storage = batching
    return batching


def _serve_one(
    args: argparse.Namespace,
    config: dict[str, object],
    pipeline: Pipeline,
    sock: socket.socket,
    url: str,
) -> bool:
    """Serve in this process until SIGTERM/SIGINT; False if the lifespan startup failed."""
    import uvicorn

    from d8a.integrations.asgi import collector_app

    batching = batch_in_background(pipeline, args.batch, args.batch_delay)
    worker = serve_worker(pipeline, config) if args.run_worker else False
    app = collector_app(pipeline, prefix=args.prefix, worker=worker, metrics=True)
    server_config = uvicorn.Config(
        app,
        lifespan="on",
        http=args.http,
        loop=args.loop,
        access_log=args.access_log,
        log_config=None,
        log_level=args.log_level.lower(),
        timeout_graceful_shutdown=30,
    )
    server = _announcing_server(server_config, url, args.run_worker)
    # uvicorn re-raises the signal that stopped it once it is done; this handler
    # takes it, so that the caller closes the pipeline and exits 0.
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock])
    except SystemExit:  # uvicorn's exit when the lifespan startup failed
        return False
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        if batching is not None:
            batching.close()
    return True


def _serve_processes(
    args: argparse.Namespace,
    config: dict[str, object],
    pipeline: Pipeline,
    sock: socket.socket,
    url: str,
) -> None:
    from d8a.integrations.asgi_processes import serve_processes

    spec = {
        "config": config,
        "prefix": args.prefix,
        "batch": args.batch,
        "batch_delay": args.batch_delay,
        "log_level": args.log_level,
        "log_format": args.log_format,
    }
    mode = f"{args.workers} collector processes" + (", worker" if args.run_worker else "")
    # The socket listens already: connections wait in its backlog until a process takes them.
    print(f"d8a serve: listening on {url} ({mode})", file=sys.stderr, flush=True)
    options = {
        "http": args.http,
        "loop": args.loop,
        "access_log": args.access_log,
        "log_level": args.log_level.lower(),
        "timeout_graceful_shutdown": 30,
    }
    try:
        serve_processes(
            pipeline,
            sock,
            spec,
            processes=args.workers,
            worker=serve_worker(pipeline, config) if args.run_worker else None,
            uvicorn_options=options,
        )
    finally:
        sock.close()


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """The re-raised stop signal, after uvicorn's graceful shutdown."""


def _announcing_server(config: Any, url: str, worker: bool) -> Any:
    """uvicorn's server, printing the address once the lifespan startup is done (tests
    and scripts wait for that line; with ``--port 0`` it names the port)."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                mode = "collector and worker" if worker else "collector only"
                print(f"d8a serve: listening on {url} ({mode})", file=sys.stderr, flush=True)

    return AnnouncingServer(config)
