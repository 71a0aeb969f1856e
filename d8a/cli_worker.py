"""``d8a worker``: the worker loop as a process, stopped cleanly by SIGTERM or SIGINT.

It consumes the configured queue, sessionises and writes until told to stop;
then it finishes the step in progress and exits. Messages not yet written stay
unacknowledged in the queue and open protosessions stay in the state store, so
the next worker (or a restart) goes on where this one stopped: nothing is lost.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from d8a.config_file import builder_from_config

__all__ = ["worker"]


def worker(args: argparse.Namespace, config: dict[str, object]) -> int:
    """Run the worker loop of the configured pipeline until SIGTERM/SIGINT."""
    for key in ("queue", "state", "partitions"):
        value = getattr(args, key, None)
        if value is not None:
            config[key] = value
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with builder_from_config(config).build() as pipeline:
            loop = pipeline.worker()
            print("d8a worker: running (SIGTERM or Ctrl-C stops it)", file=sys.stderr, flush=True)
            handled = 0
            while not stop.is_set():
                handled += loop.step(timeout=min(args.poll, 0.5))
            print(f"d8a worker: stopped after {handled} message(s)", file=sys.stderr, flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
