"""``d8a worker``: the worker loop as a process, stopped cleanly by SIGTERM or SIGINT.

It consumes the configured queue, sessionises and writes until told to stop;
then it finishes the step in progress and exits. Messages not yet written stay
unacknowledged in the queue and open protosessions stay in the state store, so
the next worker (or a restart) goes on where this one stopped: nothing is lost.

On a Redis queue with Redis state it runs a
:class:`~d8a.scaleout.worker.ScaledWorker`: any number of ``d8a worker``
processes share the ``--partitions`` by lease and rebalance as they come and go.
``--role writer`` (or the key ``role = "writer"``, ``D8A_ROLE=writer``) runs a
writer of the asynchronous closer (``closer = "async"``) instead.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from d8a._redis import is_redis_url
from d8a.config_file import builder_from_config
from d8a.errors import ConfigurationError

__all__ = ["ROLES", "add_worker_options", "apply_backend_args", "worker", "worker_loop"]

ROLES = ("sessions", "writer")
"""``sessions``: consume hits, sessionise, close (the default); ``writer``: write
what the asynchronous closer published."""


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """``--role`` of ``d8a worker``."""
    parser.add_argument("--role", choices=ROLES, help="what the process does (default: sessions)")


def apply_backend_args(args: argparse.Namespace, config: dict[str, object]) -> None:
    """``--queue``, ``--state`` and ``--partitions`` (when given) over the config's keys."""
    for key in ("queue", "state", "partitions"):
        value = getattr(args, key, None)
        if value is not None:
            config[key] = value


def worker_loop(pipeline: Any, role: str, state: object) -> Any:
    """The loop a ``d8a worker`` process runs: the writer loop, a scaled worker (Redis
    queue and Redis ``state`` URL), or the pipeline's worker loop."""
    if role == "writer":
        return pipeline.writer()
    from d8a.queue.redis import RedisQueue

    queue = pipeline.queue
    redis_state = isinstance(state, str) and is_redis_url(state)
    if isinstance(queue, RedisQueue) and redis_state:
        from d8a.scaleout.worker import ScaledWorker

        return ScaledWorker(pipeline, queue, store=state, pings=pipeline.pings)
    if isinstance(queue, RedisQueue) and queue.partitions > 1:
        raise ConfigurationError("several partitions on a Redis queue need Redis state too")
    return pipeline.worker()


def worker(args: argparse.Namespace, config: dict[str, object]) -> int:
    """Run the worker loop of the configured pipeline until SIGTERM/SIGINT."""
    apply_backend_args(args, config)
    role = getattr(args, "role", None) or config.pop("role", None) or "sessions"
    config.pop("role", None)
    if role not in ROLES:
        raise ConfigurationError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with builder_from_config(config).build() as pipeline:
            loop = worker_loop(pipeline, role, config.get("state"))
            kind = type(loop).__name__
            print(
                f"d8a worker: {role} ({kind}) running (SIGTERM or Ctrl-C stops it)",
                file=sys.stderr,
                flush=True,
            )
            handled = 0
            try:
                while not stop.is_set():
                    handled += loop.step(timeout=min(args.poll, 0.5))
            finally:
                if role == "sessions" and kind == "ScaledWorker":
                    loop.close()  # hands its partitions back and leaves at once
            print(f"d8a worker: stopped after {handled} message(s)", file=sys.stderr, flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
